"""Commande `opsn travailleur` : exécute les tâches de fond mises en file par le
back-office (campagnes, archives PDF, titres, imports). Plusieurs travailleurs peuvent
tourner en même temps, sur une file ou sur toutes : chaque tâche n'est prise que par un
seul (verrou de ligne dans la file). Voir docs/backoffice.md, « Tâches de fond »."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from opsn.cli.base import _django, _fail, app, console, err


def _pending_migrations() -> bool:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _queues(value: str | None) -> str:
    from django.conf import settings

    known = list(settings.TASKS["default"].get("QUEUES") or ["default"])
    if not value:
        return "*"
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        _fail(
            f"file « {', '.join(unknown) or value} » inconnue ; files possibles : "
            f"{', '.join(known)}."
        )
    return ",".join(names)


EXPECTED_ERRORS = {
    "django.core.exceptions.PermissionDenied",
    "django.core.exceptions.ValidationError",
    "opsn.gestion.imports.ImportRejected",
}


def _announce(verb: str) -> Any:
    def handler(sender: Any, task_result: Any, **kwargs: Any) -> None:
        # Jamais d'exception ici : le travailleur noterait « échec » une tâche réussie.
        try:
            _print_event(verb, task_result)
        except Exception as exc:
            err.print(f"(suivi du travailleur : {exc!r})", highlight=False, markup=False)

    return handler


def _print_event(verb: str, task_result: Any) -> None:
    from opsn.gestion.models import BackgroundTask
    from opsn.plateforme.taches import STATUS_FR

    record = BackgroundTask.objects.filter(task_id=task_result.id).first()
    label = record.label if record else task_result.task.name
    state = "" if verb == "début" else f" ({STATUS_FR.get(task_result.status, '?')})"
    console.print(f"{time.strftime('%H:%M:%S')} {verb}{state} : {label}", highlight=False)
    if verb == "fin" and task_result.errors:
        error = task_result.errors[0]
        if error.exception_class_path in EXPECTED_ERRORS:
            for message in record.errors if record else []:
                console.print(f"  {message}", highlight=False, markup=False)
        else:
            # Détail d'une erreur inattendue, pour l'exploitant (la page n'en dit rien).
            err.print(error.traceback, highlight=False, markup=False)


@app.command("travailleur")
def travailleur(
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            help="File(s) à traiter, séparées par des virgules (default, documents) ; "
            "par défaut toutes.",
        ),
    ] = None,
    une_fois: Annotated[
        bool,
        typer.Option("--une-fois", help="Exécuter les tâches en attente puis s'arrêter."),
    ] = False,
    intervalle: Annotated[
        float,
        typer.Option(
            "--intervalle", min=0.1, max=60, help="Secondes entre deux regards sur la file vide."
        ),
    ] = 1.0,
) -> None:
    """Travailleur des tâches de fond (à lancer à côté du serveur, une ou plusieurs fois)."""
    _django()
    from django.core.management import call_command
    from django_tasks.signals import task_finished, task_started

    from opsn.plateforme.taches import hold_worker_lock, new_worker_id, recover_stale

    queues = _queues(file)
    if _pending_migrations():
        if une_fois:
            _fail("la base n'est pas à jour : lancez d'abord « opsn gerer migrate ».")
        console.print("En attente des migrations de la base (appliquées par le serveur)…")
        while _pending_migrations():
            time.sleep(intervalle)
    lost = recover_stale()
    if lost:
        console.print(
            f"{lost} tâche(s) laissée(s) en cours par un travailleur arrêté : marquée(s) "
            "« Interrompue », à relancer depuis leur page.",
            highlight=False,
        )
    worker_id = new_worker_id()
    task_started.connect(_announce("début"), weak=False)
    task_finished.connect(_announce("fin"), weak=False)
    with hold_worker_lock(worker_id):
        console.print(
            f"Travailleur {worker_id} : files {queues.replace('*', 'toutes')}"
            + (", tâches en attente puis arrêt." if une_fois else " (Ctrl+C pour arrêter).")
        )
        call_command(
            "db_worker",
            queue_name=queues,
            batch=une_fois,
            reload=False,
            worker_id=worker_id,
            startup_delay=not une_fois,
            interval=intervalle,
            verbosity=0,
        )
