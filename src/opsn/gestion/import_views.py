"""Page d'import des conventions : le fichier est déposé, rangé dans le dossier de données
et importé par une tâche de fond (`opsn.gestion.taches`) ; la page de la tâche montre le
résumé ou les erreurs par ligne et colonne."""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from opsn.gestion.models import Operator, Role
from opsn.gestion.permissions import can, memberships
from opsn.gestion.taches import (
    IMPORT_SUFFIXES,
    MAX_IMPORT_BYTES,
    conventions_import_task,
    store_upload,
)
from opsn.plateforme import taches


def _importing_operators(request: HttpRequest) -> list[Operator]:
    ops = [m.operator for m in memberships(request.user) if m.role != Role.REFERENT]
    return [o for o in ops if can(request.user, "importer", operator=o)]


@login_required
def conventions_import_page(request: HttpRequest) -> HttpResponse:
    operators = _importing_operators(request)
    if not operators:
        raise PermissionDenied("Réservé aux administrateurs et chargés de facturation.")
    code = request.POST.get("operateur") or request.GET.get("operateur")
    operator = next((o for o in operators if o.code == code), operators[0])
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("fichier")
        if upload is None:
            error = "Choisissez un fichier CSV ou XLSX."
        elif Path(upload.name or "").suffix.lower() not in IMPORT_SUFFIXES:
            error = "Format non pris en charge : déposez un fichier .csv ou .xlsx."
        elif upload.size is not None and upload.size > MAX_IMPORT_BYTES:
            error = f"Fichier trop volumineux (au plus {MAX_IMPORT_BYTES // 1024 // 1024} Mo)."
        else:
            relative = store_upload(upload)
            record = taches.start(
                conventions_import_task,
                kind="import_conventions",
                label=f"Import des conventions « {Path(relative).name} » – {operator.name}",
                operator=operator,
                user=request.user,
                action="importer",
                params={"file": relative},
            )
            messages.success(request, "Import mis en file : suivez-le ci-dessous.")
            return redirect("tache", task_id=record.task_id)
    return render(
        request,
        "gestion/import_conventions.html",
        {
            "operateurs": operators,
            "operateur": operator,
            "erreur": error,
            "recentes": taches.visible_tasks(request.user).filter(
                kind="import_conventions", operator=operator
            )[:10],
        },
        status=400 if error else 200,
    )
