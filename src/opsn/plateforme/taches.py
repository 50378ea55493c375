"""Tâches de fond : le travail long (campagnes, archives PDF, imports, exports) quitte la
requête web pour une file en base de données (django-tasks, moteur `django_tasks_db`),
exécutée par un ou plusieurs `opsn travailleur`.

Une tâche est lancée depuis une page (`start`) : la file reçoit la fonction et ses
arguments simples (identifiants de l'utilisateur et de l'opérateur, année…), jamais des
objets ; une fiche `BackgroundTask` note l'opérateur, le droit requis, la progression, le
résumé et le fichier produit. Dans le travailleur (`execute`), l'utilisateur et son droit
sont relus et revérifiés : la tâche s'exécute en son nom, avec ses droits du moment.

Arrêt brutal d'un travailleur (SIGKILL, panne) : le travail lui-même est tout ou rien
(une transaction par opérateur pour une campagne, un import en une transaction, fichiers
écrits sous un nom provisoire puis renommés), mais la file garde la tâche « en cours ».
Chaque `opsn travailleur` tient, toute sa vie, un verrou de fichier (`flock`) à son nom dans
le dossier de données ; le noyau le libère à la mort du processus. Une tâche « en cours »
dont le travailleur ne tient plus son verrou est donc interrompue, sans délai ni
horloge : sa page l'affiche « Interrompue » et propose de la relancer ; tout nouveau
travailleur la marque interrompue à son démarrage (`recover_stale`). Le serveur et les
travailleurs partagent le dossier de données (`OPSN_DONNEES`), comme les fichiers produits.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import get_random_string

from opsn.core.errors import OpsnError
from opsn.gestion.audit import acting_as
from opsn.gestion.models import BackgroundTask, Operator, Role
from opsn.gestion.permissions import ACTIONS, memberships, require

WORKER_PREFIX = "opsn"
WORKER_LOST = "opsn.plateforme.taches.WorkerLost"
INTERRUPTED = "INTERRUPTED"
STATUS_FR = {
    "READY": "En attente",
    "RUNNING": "En cours",
    "SUCCESSFUL": "Terminée",
    "FAILED": "Échec",
    INTERRUPTED: "Interrompue",
    "PURGED": "Résultat purgé",
}
# Point d'arrêt des tests d'arrêt brutal : « motif SQL::fichier témoin ». Quand une requête
# contenant le motif part, le travailleur crée le fichier témoin puis s'endort, au milieu de
# la transaction, jusqu'à ce que le test le tue. Sans effet si la variable est absente.
SUSPEND_ENV = "OPSN_TEST_SUSPENDRE_SQL"


class WorkerLost(Exception):
    """Le travailleur qui exécutait la tâche s'est arrêté pendant celle-ci."""


def exports_dir() -> Path:
    return Path(settings.DATA_DIR) / "exports"


def workers_dir() -> Path:
    return Path(settings.DATA_DIR) / "travailleurs"


# -- Lancement ------------------------------------------------------------------------------


def start(
    task: Any,
    *,
    kind: str,
    label: str,
    operator: Operator,
    user: Any,
    action: str,
    params: dict[str, Any],
    retry_of: BackgroundTask | None = None,
) -> BackgroundTask:
    """Met la tâche en file au nom de `user` (droit `action` vérifié d'abord) et crée sa
    fiche, dans la même transaction : un travailleur ne voit la tâche qu'avec sa fiche."""
    require(user, action, operator=operator)
    with transaction.atomic():
        result = task.enqueue(user_id=user.pk, operator_id=operator.pk, **params)
        return BackgroundTask.objects.create(
            task_id=result.id,
            kind=kind,
            label=label[:300],
            operator=operator,
            action=action,
            created_by=user,
            retry_of=retry_of,
            work_key=retry_of.work_key if retry_of else str(result.id),
        )


def retry(record: BackgroundTask, *, user: Any) -> BackgroundTask:
    """Relance une tâche en échec ou interrompue, avec les mêmes paramètres, au nom de
    `user`. Une tâche interrompue est d'abord marquée comme telle dans la file."""
    from django_tasks_db.models import DBTaskResult

    require(user, record.action, operator=record.operator_id)
    with transaction.atomic():
        record = BackgroundTask.objects.select_for_update().get(pk=record.pk)
        current = task_state(record)
        if not current.can_retry or record.retries.exists():
            raise ValidationError(
                "Seule une tâche en échec ou interrompue, pas encore relancée, peut l'être."
            )
        result = DBTaskResult.objects.get(id=record.task_id)
        if current.status == INTERRUPTED:
            _mark_lost(result)
        kwargs = {
            k: v
            for k, v in result.args_kwargs["kwargs"].items()
            if k not in ("user_id", "operator_id")
        }
        return start(
            result.task,
            kind=record.kind,
            label=record.label,
            operator=record.operator,
            user=user,
            action=record.action,
            params=kwargs,
            retry_of=record,
        )


# -- État, vu des pages -----------------------------------------------------------------------


@dataclass
class TaskState:
    status: str
    started_at: Any = None
    finished_at: Any = None
    worker: str = ""

    @property
    def label(self) -> str:
        return STATUS_FR.get(self.status, self.status)

    @property
    def finished(self) -> bool:
        return self.status not in ("READY", "RUNNING")

    @property
    def can_retry(self) -> bool:
        return self.status in ("FAILED", INTERRUPTED)


def _state_of(result: Any) -> TaskState:
    if result is None:
        return TaskState("PURGED")
    worker = result.worker_ids[-1] if result.worker_ids else ""
    status = result.status
    if (status == "RUNNING" and worker_alive(worker) is False) or (
        status == "FAILED" and result.exception_class_path == WORKER_LOST
    ):
        status = INTERRUPTED
    return TaskState(status, result.started_at, result.finished_at, worker)


def task_state(record: BackgroundTask) -> TaskState:
    from django_tasks_db.models import DBTaskResult

    return _state_of(DBTaskResult.objects.filter(id=record.task_id).first())


def task_states(records: list[BackgroundTask]) -> dict[int, TaskState]:
    """États de plusieurs fiches en une requête (liste des tâches)."""
    from django_tasks_db.models import DBTaskResult

    results = {r.id: r for r in DBTaskResult.objects.filter(id__in=[t.task_id for t in records])}
    return {t.pk: _state_of(results.get(t.task_id)) for t in records}


def visible_tasks(user: Any) -> QuerySet[BackgroundTask]:
    """Fiches que l'utilisateur peut voir : celles des opérateurs dont il fait partie du
    personnel, et seulement si son rôle y donne le droit que la tâche exerce."""
    allowed = Q(pk__in=[])
    for membership in memberships(user).exclude(role=Role.REFERENT):
        actions = [a for a, roles in ACTIONS.items() if membership.role in roles]
        allowed |= Q(operator_id=membership.operator_id, action__in=actions)
    return BackgroundTask.objects.filter(allowed).select_related("operator", "created_by")


def output_path(record: BackgroundTask) -> Path | None:
    """Fichier produit par la tâche, s'il existe (dans le dossier de données)."""
    if not record.output_name:
        return None
    path = exports_dir() / record.work_key / record.output_name
    return path if path.is_file() else None


# -- Travailleurs : identité et vie -------------------------------------------------------------


def new_worker_id() -> str:
    host = socket.gethostname().replace(":", "_")[:24]
    return f"{WORKER_PREFIX}:{host}:{os.getpid()}:{get_random_string(8)}"


@contextlib.contextmanager
def hold_worker_lock(worker_id: str) -> Iterator[Path]:
    """Verrou tenu par un travailleur toute sa vie ; libéré par le noyau à sa mort, même
    brutale. Il est pris avant que le travailleur ne réclame la moindre tâche."""
    folder = workers_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{worker_id.replace(':', '_')}.verrou"
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{worker_id}\n".encode())
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def worker_alive(worker_id: str) -> bool | None:
    """Vrai si le travailleur vit, faux s'il est mort, None si on ne peut pas le savoir
    d'ici (autre machine, travailleur lancé hors `opsn travailleur`)."""
    parts = worker_id.split(":")
    if len(parts) != 4 or parts[0] != WORKER_PREFIX:
        return None
    path = workers_dir() / f"{worker_id.replace(':', '_')}.verrou"
    if not path.exists():
        # Sur cette machine, un travailleur vivant a toujours son fichier ; ailleurs, on ne
        # sait pas (dossier de données non partagé : configuration non prise en charge).
        return False if parts[1] == socket.gethostname().replace(":", "_")[:24] else None
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _mark_lost(result: Any) -> bool:
    from django_tasks_db.models import DBTaskResult

    return bool(
        DBTaskResult.objects.filter(id=result.id, status="RUNNING").update(
            status="FAILED",
            finished_at=timezone.now(),
            exception_class_path=WORKER_LOST,
            traceback=(
                f"Le travailleur {result.worker_ids[-1] if result.worker_ids else '?'} "
                "s'est arrêté pendant la tâche."
            ),
        )
    )


def recover_stale() -> int:
    """Marque « interrompues » les tâches en cours dont le travailleur est mort ; efface
    les verrous des travailleurs morts. Renvoie le nombre de tâches marquées."""
    from django_tasks_db.models import DBTaskResult

    count = 0
    for result in DBTaskResult.objects.running():
        worker = result.worker_ids[-1] if result.worker_ids else ""
        if worker_alive(worker) is False:
            count += _mark_lost(result)
    folder = workers_dir()
    if folder.is_dir():
        for path in folder.glob("*.verrou"):
            try:
                worker = path.read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if worker and worker_alive(worker) is False:
                path.unlink(missing_ok=True)
    return count


# -- Dans le travailleur ----------------------------------------------------------------------


@dataclass
class Outcome:
    """Ce qu'une tâche rapporte : un résumé pour sa page, un lien, un fichier produit."""

    summary: str
    link: str = ""
    output: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    """Une tâche en cours d'exécution, au nom de son utilisateur."""

    record: BackgroundTask
    user: Any
    operator: Operator

    @property
    def work_dir(self) -> Path:
        """Dossier de travail de la tâche (partagé par ses relances : un rendu PDF
        interrompu reprend là où il en était)."""
        path = exports_dir() / self.record.work_key
        path.mkdir(parents=True, exist_ok=True)
        return path

    def step(self, label: str, total: int | None = None) -> None:
        self._save(step=label[:200], progress_done=0, progress_total=total)

    def progress(self, done: int, total: int) -> None:
        """Rappel de progression des services (`progress=run.progress`)."""
        self._save(progress_done=max(done, 0), progress_total=max(total, 0))

    def _save(self, **values: Any) -> None:
        BackgroundTask.objects.filter(pk=self.record.pk).update(**values)
        for key, value in values.items():
            setattr(self.record, key, value)


def _messages(exc: BaseException) -> list[str]:
    if isinstance(getattr(exc, "errors", None), list):
        return [str(m) for m in exc.errors]
    if isinstance(exc, ValidationError):
        return [str(m) for m in exc.messages]
    if isinstance(exc, PermissionDenied | OpsnError):
        return [str(exc) or "Action non autorisée."]
    if isinstance(exc, SystemExit | KeyboardInterrupt):
        return [
            "Travailleur arrêté pendant la tâche : ce qu'elle écrivait a été annulé ; relancez-la."
        ]
    return [
        f"Erreur inattendue ({type(exc).__name__}) : l'exploitant en trouvera le détail "
        "dans la sortie du travailleur (opsn travailleur)."
    ]


@contextlib.contextmanager
def _suspend_point() -> Iterator[None]:
    spec = os.environ.get(SUSPEND_ENV, "")
    if "::" not in spec:
        yield
        return
    pattern, marker = spec.split("::", 1)

    def hook(execute: Callable, sql: str, params: Any, many: bool, context: Any) -> Any:
        if pattern in sql:
            Path(marker).write_text(str(os.getpid()), encoding="utf-8")
            while True:  # le test tue le processus ici, au milieu de la transaction
                time.sleep(60)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(hook):
        yield


def execute(
    context: Any, *, user_id: int, operator_id: int, body: Callable[[Run], Outcome]
) -> dict[str, Any]:
    """Corps commun des tâches : relit l'utilisateur et l'opérateur, revérifie le droit,
    exécute `body`, note le résultat (ou les erreurs, en français) sur la fiche."""
    record = BackgroundTask.objects.select_related("operator").get(task_id=context.task_result.id)
    try:
        if record.operator_id != operator_id:
            raise PermissionDenied("Tâche incohérente : opérateur différent de sa fiche.")
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            raise PermissionDenied(
                "Le compte qui a lancé la tâche n'existe plus ou a été désactivé."
            )
        require(user, record.action, operator=record.operator)
        with acting_as(user), _suspend_point():
            outcome = body(Run(record, user, record.operator))
    except BaseException as exc:
        BackgroundTask.objects.filter(pk=record.pk).update(errors=_messages(exc))
        raise
    output_name = ""
    if outcome.output is not None:
        output_name = str(outcome.output.relative_to(exports_dir() / record.work_key))
    BackgroundTask.objects.filter(pk=record.pk).update(
        summary=outcome.summary, link=outcome.link[:300], output_name=output_name, step=""
    )
    return {"resume": outcome.summary, "lien": outcome.link, "fichier": output_name, **outcome.data}


def write_atomically(path: Path, data: bytes) -> Path:
    """Écrit sous un nom provisoire puis renomme : un arrêt brutal ne laisse jamais un
    fichier tronqué sous le nom final."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
