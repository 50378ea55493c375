"""Pages des tâches de fond : liste, état (rafraîchi sans JavaScript), fichier produit,
relance. Une tâche n'existe que pour le personnel de son opérateur qui a le droit qu'elle
exerce (`visible_tasks`) : pour tout autre, 404."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from opsn.gestion.models import BackgroundTask, Role
from opsn.gestion.permissions import can, memberships
from opsn.plateforme import taches

REFRESH_SECONDS = 2


def _record(request: HttpRequest, task_id: uuid.UUID) -> BackgroundTask:
    record = taches.visible_tasks(request.user).filter(task_id=task_id).first()
    if record is None:
        raise Http404("Tâche introuvable.")
    return record


@login_required
def task_list(request: HttpRequest) -> HttpResponse:
    records = list(taches.visible_tasks(request.user)[:50])
    states = taches.task_states(records)
    importer = any(
        can(request.user, "importer", operator=m.operator_id)
        for m in memberships(request.user)
        if m.role != Role.REFERENT
    )
    return render(
        request,
        "gestion/taches.html",
        {"taches": [(t, states[t.pk]) for t in records], "peut_importer": importer},
    )


@login_required
def task_detail(request: HttpRequest, task_id: uuid.UUID) -> HttpResponse:
    record = _record(request, task_id)
    state = taches.task_state(record)
    retry = record.retries.order_by("-created_at").first()
    return render(
        request,
        "gestion/tache.html",
        {
            "tache": record,
            "etat": state,
            # RGAA 13.1 : l'actualisation automatique peut être arrêtée (?actualiser=non).
            "rafraichir": (
                None
                if state.finished or request.GET.get("actualiser") == "non"
                else REFRESH_SECONDS
            ),
            "en_cours": not state.finished,
            "fichier": taches.output_path(record) if state.status == "SUCCESSFUL" else None,
            "relance": retry,
            "peut_relancer": state.can_retry and retry is None,
            "pourcentage": (
                round(100 * record.progress_done / record.progress_total)
                if record.progress_total
                else None
            ),
        },
    )


@login_required
def task_download(request: HttpRequest, task_id: uuid.UUID) -> FileResponse:
    record = _record(request, task_id)
    path = taches.output_path(record)
    if path is None or taches.task_state(record).status != "SUCCESSFUL":
        raise Http404("Aucun fichier produit par cette tâche.")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


@login_required
@require_POST
def task_retry(request: HttpRequest, task_id: uuid.UUID) -> HttpResponse:
    record = _record(request, task_id)
    try:
        new = taches.retry(record, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("tache", task_id=record.task_id)
    messages.success(request, f"Tâche relancée : {new.label}.")
    return redirect("tache", task_id=new.task_id)
