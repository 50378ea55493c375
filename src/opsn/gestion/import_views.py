"""Import des conventions en trois temps : modèle à remplir, aperçu, confirmation.

1. La page d'import propose le modèle (CSV ou XLSX, généré pour l'opérateur choisi : en-tête,
   une ligne d'exemple, les codes de services de son catalogue en cours) et reçoit le fichier.
2. Le fichier déposé est rangé dans le dossier des imports (`opsn.gestion.taches`) puis
   vérifié sans rien écrire (`conventions_import(..., dry_run=True)`) : la page d'aperçu
   montre ce qui serait créé ou déjà présent et chaque erreur, par ligne et colonne.
3. Sans erreur, « Confirmer l'import » met en file la tâche d'import (tout ou rien) sur le
   fichier rangé ; sa page montre l'avancement puis le résultat.

Un dépôt n'est vu et confirmé que par le personnel de son opérateur qui a le droit
d'importer (404 pour les autres) ; le navigateur ne désigne le fichier que par son jeton."""

from __future__ import annotations

import csv
import io
import time
import uuid
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone

from opsn.core.errors import OpsnError
from opsn.gestion import bridge
from opsn.gestion.imports import (
    OPTIONAL,
    REQUIRED,
    ImportRejected,
    ImportReport,
    RowProblem,
    conventions_import,
)
from opsn.gestion.models import CatalogueVersion, Member, Operator, Role
from opsn.gestion.permissions import can, memberships
from opsn.gestion.taches import (
    IMPORT_SUFFIXES,
    MAX_IMPORT_BYTES,
    conventions_import_task,
    deposit_create,
    deposit_file,
    deposit_read,
    deposit_update,
)
from opsn.plateforme import taches

SHOWN_ROWS = 500  # lignes sans erreur montrées dans l'aperçu (toutes sont comptées)
EXAMPLE_MARK = "#"  # la ligne d'exemple du modèle commence par « # » : jamais importée telle quelle

# colonne → (obligatoire ?, description)
COLUMNS: dict[str, tuple[bool, str]] = {
    "adherent": (True, "Code INSEE de la commune ou SIREN de l'EPCI ou de l'organisme."),
    "reference": (True, "Référence de la convention, unique chez l'opérateur."),
    "signature": (True, "Date de signature (AAAA-MM-JJ ou JJ/MM/AAAA)."),
    "service": (True, "Code du service (feuille « services » ou liste de la page d'import)."),
    "quantites": (
        False,
        "Quantités du service : « nom=valeur », séparées par « | » (une seule quantité : "
        "la valeur seule).",
    ),
    "debut": (False, "Début de l'abonnement (par défaut : la date de signature)."),
    "catalogue": (False, "Version du catalogue (par défaut : celle en vigueur à la signature)."),
    "siret": (False, "SIRET du débiteur (14 chiffres, commence par son SIREN)."),
    "code_service": (False, "Code service exécutant du débiteur (Chorus Pro)."),
    "numero_engagement": (False, "Numéro d'engagement juridique du débiteur."),
    "adresse": (False, "Adresse du débiteur (numéro et voie)."),
    "complement_adresse": (False, "Complément d'adresse."),
    "code_postal": (False, "Code postal (5 chiffres)."),
    "ville": (False, "Commune de l'adresse."),
    "courriel": (False, "Courriel de contact du débiteur."),
    "adresse_electronique": (False, "Adresse de facturation électronique (le SIREN, 9 chiffres)."),
    "engagement_exige": (False, "Le débiteur exige-t-il un numéro d'engagement ? oui ou non."),
}
assert set(COLUMNS) == set(REQUIRED) | set(OPTIONAL)


def _importing_operators(request: HttpRequest) -> list[Operator]:
    ops = [m.operator for m in memberships(request.user) if m.role != Role.REFERENT]
    return [o for o in ops if can(request.user, "importer", operator=o)]


def _chosen(request: HttpRequest) -> tuple[list[Operator], Operator]:
    operators = _importing_operators(request)
    if not operators:
        raise PermissionDenied("Réservé aux administrateurs et chargés de facturation.")
    code = request.POST.get("operateur") or request.GET.get("operateur")
    return operators, next((o for o in operators if o.code == code), operators[0])


# -- modèle à remplir ---------------------------------------------------------------------------


def _current_catalogue(operator: Operator) -> tuple[CatalogueVersion | None, Any]:
    """Version en vigueur (la plus récente) et son catalogue lu ; (None, None) sans catalogue."""
    today = timezone.localdate()
    versions = list(CatalogueVersion.objects.filter(operator=operator).order_by("valid_from", "pk"))
    current = [v for v in versions if v.valid_from is None or v.valid_from <= today] or versions
    if not current:
        return None, None
    try:
        return current[-1], bridge.catalogue_of(current[-1])
    except OpsnError:
        return current[-1], None


def service_codes(operator: Operator) -> list[dict[str, str]]:
    """Services du catalogue en cours : code, libellé, famille, quantités et exemple."""
    _, catalogue = _current_catalogue(operator)
    if catalogue is None:
        return []
    families = {f.code: f.label for f in catalogue.families}
    result = []
    for code, service in catalogue.services.items():
        result.append(
            {
                "code": code,
                "libelle": service.label,
                "famille": families.get(service.family, service.family),
                "quantites": " ; ".join(f"{q.code} : {q.label}" for q in service.quantities),
                "exemple": " | ".join(f"{q.code}=1" for q in service.quantities),
            }
        )
    return result


def _example_row(operator: Operator) -> dict[str, str]:
    version, _ = _current_catalogue(operator)
    services = service_codes(operator)
    service = next((s for s in services if s["exemple"]), services[0] if services else None)
    member = Member.objects.filter(operator=operator).exclude(insee="").order_by("pk").first()
    code = member.insee if member is not None else "33042"
    signed = (
        version.valid_from if version and version.valid_from else timezone.localdate()
    ).replace(day=1)
    return {
        "adherent": f"{EXAMPLE_MARK} {code}",
        "reference": f"{operator.code.upper()}-{signed.year}-{code}",
        "signature": signed.isoformat(),
        "service": service["code"] if service else "",
        "quantites": service["exemple"] if service else "",
        "debut": "",
        "catalogue": version.version if version else "",
        "code_postal": "",
        "engagement_exige": "non",
    }


def _safe(value: str) -> str:
    """Texte d'une cellule jamais lu comme une formule par un tableur."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def _template_csv(operator: Operator) -> bytes:
    columns = list(COLUMNS)
    example = _example_row(operator)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerow([_safe(example.get(c, "")) for c in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _template_xlsx(operator: Operator) -> bytes:
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "conventions"
    example = _example_row(operator)
    for i, (column, (required, text)) in enumerate(COLUMNS.items(), start=1):
        head = sheet.cell(row=1, column=i, value=column)
        head.font = Font(bold=True)
        head.comment = Comment(
            f"{'Obligatoire' if required else 'Facultative'}. {text} Exemple : "
            f"{example.get(column, '') or '(vide)'}",
            "opsn",
        )
        cell = sheet.cell(row=2, column=i)
        cell.value = example.get(column, "")
        cell.data_type = "s"  # texte : ni date convertie ni formule
        cell.font = Font(italic=True, color="555555")
        sheet.column_dimensions[head.column_letter].width = max(14, len(column) + 4)
    sheet.freeze_panes = "A2"
    doc = book.create_sheet("colonnes")
    doc.append(["colonne", "obligatoire", "description", "exemple"])
    for column, (required, text) in COLUMNS.items():
        doc.append([column, "oui" if required else "non", text, example.get(column, "")])
    doc.append([])
    doc.append(
        [
            f"La ligne 2 de la feuille « conventions » est un exemple (elle commence par "
            f"« {EXAMPLE_MARK} ») : remplacez-la par vos lignes. Seule la première feuille "
            "est importée."
        ]
    )
    codes = book.create_sheet("services")
    codes.append(["code", "libellé", "famille", "quantités (code : libellé)", "exemple"])
    for s in service_codes(operator):
        codes.append([s["code"], s["libelle"], s["famille"], s["quantites"], s["exemple"]])
    for ws in (doc, codes):
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@login_required
def conventions_import_template(request: HttpRequest, kind: str) -> HttpResponse:
    """Modèle à remplir, pour l'opérateur choisi (`?operateur=`)."""
    _, operator = _chosen(request)
    if kind == "csv":
        data, content_type = _template_csv(operator), "text/csv; charset=utf-8"
    elif kind == "xlsx":
        data = _template_xlsx(operator)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        raise Http404("Modèle au format .csv ou .xlsx.")
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="modele-conventions-{operator.code}.{kind}"'
    )
    return response


# -- dépôt ------------------------------------------------------------------------------------


@login_required
def conventions_import_page(request: HttpRequest) -> HttpResponse:
    operators, operator = _chosen(request)
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("fichier")
        if upload is None:
            error = "Choisissez un fichier CSV ou XLSX."
        elif Path(upload.name or "").suffix.lower() not in IMPORT_SUFFIXES:
            error = "Format non pris en charge : déposez un fichier .csv ou .xlsx."
        elif upload.size is not None and upload.size > MAX_IMPORT_BYTES:
            error = f"Fichier trop volumineux (au plus {MAX_IMPORT_BYTES // 1024 // 1024} Mo)."
        elif not upload.size:
            error = "Le fichier est vide."
        else:
            token = deposit_create(upload, operator_code=operator.code, user_id=request.user.pk)
            return redirect("import-apercu", depot=uuid.UUID(token))
    return render(
        request,
        "gestion/import_conventions.html",
        {
            "operateurs": operators,
            "operateur": operator,
            "erreur": error,
            "colonnes": [(c, req, text) for c, (req, text) in COLUMNS.items()],
            "services": service_codes(operator),
            "depots": _pending_deposits(operator),
            "recentes": taches.visible_tasks(request.user).filter(
                kind="import_conventions", operator=operator
            )[:10],
        },
        status=400 if error else 200,
    )


def _pending_deposits(operator: Operator, limit: int = 10) -> list[dict[str, Any]]:
    """Derniers dépôts de l'opérateur dont l'import n'est pas confirmé (lien vers l'aperçu)."""
    import datetime as dt

    from opsn.gestion.taches import imports_dir

    root = imports_dir()
    if not root.is_dir():
        return []
    folders = sorted(
        (p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    found = []
    for folder in folders[:200]:
        meta = deposit_read(folder.name)
        if meta is None or meta.get("operateur") != operator.code or meta.get("tache"):
            continue
        meta["uuid"] = uuid.UUID(folder.name)
        meta["depose"] = dt.datetime.fromtimestamp(
            folder.stat().st_mtime, tz=timezone.get_current_timezone()
        )
        found.append(meta)
        if len(found) >= limit:
            break
    return found


def _deposit(request: HttpRequest, depot: Any) -> tuple[dict[str, Any], Operator]:
    """Dépôt du jeton, s'il appartient à un opérateur où l'utilisateur peut importer."""
    token = getattr(depot, "hex", str(depot))
    meta = deposit_read(token)
    if meta is None:
        raise Http404("Dépôt introuvable.")
    operator = next(
        (o for o in _importing_operators(request) if o.code == meta.get("operateur")), None
    )
    if operator is None:
        raise Http404("Dépôt introuvable.")
    meta["jeton"] = token
    meta["uuid"] = uuid.UUID(token)
    return meta, operator


def _count(n: int, singular: str, plural: str) -> str:
    """« 0 abonnement créé », « 1 234 abonnements créés » (accord à la française)."""
    return f"{n:,}".replace(",", "\u00a0") + " " + (plural if n > 1 else singular)


def _summary(report: ImportReport) -> list[str]:
    return [
        _count(report.members_created, "adhérent ajouté", "adhérents ajoutés")
        + " depuis le référentiel",
        _count(report.conventions_created, "convention créée", "conventions créées"),
        _count(report.subscriptions_created, "abonnement créé", "abonnements créés"),
        _count(report.unchanged, "ligne déjà importée", "lignes déjà importées")
        + " (inchangée"
        + ("s" if report.unchanged > 1 else "")
        + ")",
    ]


def _example_hint(report: ImportReport) -> None:
    """La ligne d'exemple du modèle laissée dans le fichier : motif explicite."""
    for row in report.rows:
        if row.member_code.startswith(EXAMPLE_MARK):
            row.problems.insert(
                0,
                RowProblem(
                    row.number,
                    "adherent",
                    "ligne d'exemple du modèle (elle commence par « # ») : supprimez-la ou "
                    "remplacez-la par une vraie ligne.",
                ),
            )


@login_required
def conventions_import_preview(request: HttpRequest, depot: Any) -> HttpResponse:
    meta, operator = _deposit(request, depot)
    started = time.perf_counter()
    file_errors: list[str] = []
    report = ImportReport()
    try:
        report = conventions_import(
            actor=request.user, operator=operator, path=deposit_file(meta), dry_run=True
        )
    except ImportRejected as exc:
        file_errors = list(exc.errors)
    except OpsnError as exc:  # fichier illisible, en-tête incomplet, encodage…
        file_errors = [str(exc)]
    _example_hint(report)
    file_errors += [p.message for p in report.problems if p.row is None]
    error_count = len(file_errors) + sum(1 for p in report.problems if p.row is not None)
    seconds = time.perf_counter() - started
    deposit_update(meta["jeton"], erreurs=error_count)
    rows_in_error = [r for r in report.rows if r.problems]
    clean_rows = [r for r in report.rows if not r.problems]
    return render(
        request,
        "gestion/import_apercu.html",
        {
            "operateur": operator,
            "depot": meta,
            "rapport": report,
            "lues": _count(report.row_count, "ligne lue", "lignes lues"),
            "bilan": _summary(report),
            "erreurs_titre": _count(error_count, "erreur", "erreurs"),
            "erreurs_fichier": file_errors,
            "nb_erreurs": error_count,
            "lignes_erreur": rows_in_error,
            "lignes": clean_rows[:SHOWN_ROWS],
            "lignes_cachees": max(0, len(clean_rows) - SHOWN_ROWS),
            "duree": f"{seconds:.1f}".replace(".", ","),
            "tache": meta.get("tache"),
        },
        status=200,
    )


@login_required
def conventions_import_confirm(request: HttpRequest, depot: Any) -> HttpResponse:
    """Met en file l'import d'un dépôt dont l'aperçu est sans erreur (une seule fois)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    meta, operator = _deposit(request, depot)
    if meta.get("tache"):
        return redirect("tache", task_id=meta["tache"])
    if meta.get("erreurs") != 0:
        messages.error(
            request,
            "Import non confirmé : l'aperçu du fichier montre des erreurs. Corrigez le "
            "fichier puis déposez-le de nouveau.",
        )
        return redirect("import-apercu", depot=meta["uuid"])
    record = taches.start(
        conventions_import_task,
        kind="import_conventions",
        label=f"Import des conventions « {meta.get('nom', '')} » – {operator.name}",
        operator=operator,
        user=request.user,
        action="importer",
        params={"file": meta["fichier"]},
    )
    deposit_update(meta["jeton"], tache=str(record.task_id))
    messages.success(request, "Import mis en file : suivez-le ci-dessous.")
    return redirect("tache", task_id=record.task_id)
