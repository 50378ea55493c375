"""Exécution des tâches de fond dans le processus du test (sa base de test, sa
transaction) avec le code même du travailleur de django-tasks-db (`Worker.run_task`) ; le
vrai processus `opsn travailleur` est essayé sur une base fichier (tests/billing/
test_taches_file.py)."""

from __future__ import annotations

from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

WORKER_ID = "test-en-processus"


def run_tasks() -> int:
    """Exécute les tâches en attente, une à une, comme un travailleur ; renvoie leur nombre."""
    worker = Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=WORKER_ID,
        excluded_queue_names=[],
    )
    count = 0
    while (result := DBTaskResult.objects.ready().first()) is not None:
        result.claim(WORKER_ID)
        worker.run_task(result)
        count += 1
    return count
