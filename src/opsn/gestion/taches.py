"""Tâches de fond du back-office : import des conventions existantes (CSV/XLSX), déposé
depuis la page d'import et exécuté par `opsn travailleur` au nom de qui l'a déposé.

Un dépôt (`deposit_create`) range le fichier sous un nom tiré au hasard
(`imports/<32 chiffres hexadécimaux>/<nom>`) avec une fiche `depot.json` : opérateur, compte
qui l'a déposé, résultat du dernier aperçu, tâche lancée. Le navigateur ne transmet que ce
jeton ; le chemin du fichier n'est jamais lu dans la requête."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse
from django.utils.text import get_valid_filename
from django_tasks import task

from opsn.plateforme.taches import Outcome, Run, execute

IMPORT_SUFFIXES = (".csv", ".xlsx")
MAX_IMPORT_BYTES = 20 * 1024 * 1024


def imports_dir() -> Path:
    return Path(settings.DATA_DIR) / "imports"


def store_upload(upload: UploadedFile) -> str:
    """Range le fichier déposé dans le dossier de données ; renvoie son chemin relatif
    (c'est lui, pas le fichier, que la file transmet au travailleur)."""
    name = get_valid_filename(Path(upload.name or "import.csv").name) or "import.csv"
    relative = Path(uuid.uuid4().hex) / name
    target = imports_dir() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return relative.as_posix()


DEPOSIT_META = "depot.json"
TOKEN_RE = re.compile(r"[0-9a-f]{32}")


def deposit_create(upload: UploadedFile, *, operator_code: str, user_id: int) -> str:
    """Range le fichier déposé et sa fiche ; renvoie le jeton du dépôt."""
    relative = store_upload(upload)
    token = relative.split("/", 1)[0]
    meta = {
        "operateur": operator_code,
        "utilisateur": user_id,
        "fichier": relative,
        "nom": Path(relative).name,
        "original": (upload.name or "")[:200],
        "erreurs": None,
        "tache": None,
    }
    _meta_path(token).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return token


def _meta_path(token: str) -> Path:
    if not TOKEN_RE.fullmatch(token):
        raise PermissionDenied("Dépôt inconnu.")
    return imports_dir() / token / DEPOSIT_META


def deposit_read(token: str) -> dict[str, Any] | None:
    """Fiche du dépôt, ou None (jeton mal formé, dépôt absent ou fiche illisible)."""
    try:
        path = _meta_path(token)
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (PermissionDenied, OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not str(meta.get("fichier", "")).startswith(f"{token}/"):
        return None
    return meta


def deposit_update(token: str, **changes: Any) -> None:
    meta = deposit_read(token)
    if meta is None:
        return
    meta.update(changes)
    _meta_path(token).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def deposit_file(meta: dict[str, Any]) -> Path:
    return _stored(str(meta["fichier"]))


def _stored(relative: str) -> Path:
    root = imports_dir().resolve()
    path = (root / relative).resolve()
    if root not in path.parents:
        raise PermissionDenied("Fichier d'import hors du dossier des imports.")
    return path


@task(takes_context=True)
def conventions_import_task(
    context: Any, *, user_id: int, operator_id: int, file: str
) -> dict[str, Any]:
    """Import tout ou rien (une transaction) ; les erreurs par ligne et colonne vont sur la
    page de la tâche. Relancer le même fichier ne crée rien de plus."""
    from opsn.gestion.imports import conventions_import

    def body(run: Run) -> Outcome:
        path = _stored(file)
        run.step("Lecture, validation puis écriture des conventions")
        report = conventions_import(actor=run.user, operator=run.operator, path=path)
        return Outcome(
            f"{path.name} : {report.summary()}",
            link=f"{reverse('adherents')}?operateur={run.operator.code}",
            data={
                "conventions": report.conventions_created,
                "abonnements": report.subscriptions_created,
                "adherents": report.members_created,
                "inchanges": report.unchanged,
            },
        )

    return execute(context, user_id=user_id, operator_id=operator_id, body=body)
