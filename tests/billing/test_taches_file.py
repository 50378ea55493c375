"""Tâches de fond avec de vrais processus `opsn travailleur`, sur une base fichier (SQLite)
ou une base PostgreSQL créée pour le test : la page met en file, le travailleur exécute,
la page montre le résultat ; un travailleur tué (SIGKILL) au milieu de la transaction
d'une campagne ne laisse rien (ni facture, ni numéro consommé, ni campagne), la tâche
apparaît interrompue, sa relance depuis la page va au bout ; deux travailleurs se
partagent la file sans exécuter deux fois une tâche."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter

from opsn.plateforme.taches import SUSPEND_ENV

from .campagnes import HERE, ROOT, dry_run, opsn, sql, start, state

YEAR = "2021"
BILLING_USERS = {
    "cdg82": "facturation-cdg82",
    "gironde-numerique": "facturation-gironde",
    "cdg47": "facturation-cdg47",
}
WAIT = 300  # secondes : garde-fou contre un blocage, jamais une mesure


def pages(env: dict, command: str, user: str, url: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(HERE / "taches_pages.py"), command, user, url, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def launch_billing(env: dict, operator: str) -> str:
    response = pages(
        env,
        "poster",
        BILLING_USERS[operator],
        "/facturation/",
        f"annee={YEAR}",
        f"operateur={operator}",
    )
    assert response["code"] == 302 and response["location"].startswith("/taches/"), response
    return response["location"]


def expected_for(expected: Counter, operator: str) -> Counter:
    return Counter({k: n for k, n in expected.items() if k[0] == operator})


def check_operator_billed(env: dict, operator: str, expected: Counter) -> int:
    """Factures de l'opérateur = simulation ; numéros sans trou ; séquence et campagne
    cohérentes. Renvoie le nombre de factures."""
    data = state(env)
    invoices = [i for i in data["factures"] if i["operateur"] == operator]
    got = Counter((i["operateur"], i["adherent"], i["total_ttc"]) for i in invoices)
    assert got == expected, f"en trop {got - expected}, manquantes {expected - got}"
    year = dt.date.today().year
    numbers = sorted(i["numero"] for i in invoices)
    assert numbers == [f"{year}-{k:06d}" for k in range(1, len(invoices) + 1)], numbers
    assert data["sequences"].get(f"{operator}/{year}", 0) == len(invoices)
    runs = [r for r in data["campagnes"] if r["operateur"] == operator and r["factures_creees"]]
    if invoices:
        assert len(runs) == 1 and runs[0]["factures_creees"] == len(invoices), runs
    else:
        assert not runs, runs
    return len(invoices)


def test_killed_worker_leaves_nothing_and_the_task_reruns_from_its_page(
    demo_db_env, tmp_path
) -> None:
    env = demo_db_env
    expected, _ = dry_run(env)
    operator = max(BILLING_USERS, key=lambda op: sum(expected_for(expected, op).values()))
    mine = expected_for(expected, operator)
    assert sum(mine.values()) >= 5, "la démonstration doit donner de quoi facturer"
    user = BILLING_USERS[operator]
    url = launch_billing(env, operator)
    assert "En attente" in pages(env, "lire", user, url)["page"]

    marker = tmp_path / "suspendu"
    worker = start({**env, SUSPEND_ENV: f'INSERT INTO "gestion_invoice"::{marker}'}, "travailleur")
    deadline = time.monotonic() + WAIT
    while not marker.exists() and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), f"le travailleur n'a pas atteint l'écriture : {worker.poll()}"
    running = pages(env, "lire", user, url)["page"]
    assert "En cours" in running and 'http-equiv="refresh"' in running
    # Au milieu de la transaction : campagne créée, numéros réservés, factures en cours
    # d'écriture. Arrêt brutal.
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=WAIT)
    assert worker.returncode == -signal.SIGKILL

    data = state(env)
    assert not [i for i in data["factures"] if i["operateur"] == operator]
    assert not [r for r in data["campagnes"] if r["operateur"] == operator]
    assert not any(n for key, n in data["sequences"].items() if key.startswith(f"{operator}/"))
    interrupted = pages(env, "lire", user, url)["page"]
    assert "Interrompue" in interrupted and "Relancer la tâche" in interrupted
    assert 'http-equiv="refresh"' not in interrupted

    # Un nouveau travailleur ne la reprend pas seul : il la marque interrompue.
    out = opsn(env, "travailleur", "--une-fois")
    assert "1 tâche(s) laissée(s) en cours par un travailleur arrêté" in out.stdout
    assert not [i for i in state(env)["factures"] if i["operateur"] == operator]
    (status,) = sql(env, "SELECT status FROM django_tasks_database_dbtaskresult")
    assert status == ("FAILED",)

    other = next(u for op, u in BILLING_USERS.items() if op != operator)
    assert pages(env, "poster", other, f"{url}relancer/")["code"] == 404
    retried = pages(env, "poster", user, f"{url}relancer/")
    assert retried["code"] == 302 and retried["location"] != url
    opsn(env, "travailleur", "--une-fois")
    count = check_operator_billed(env, operator, mine)
    done = pages(env, "lire", user, retried["location"])["page"]
    assert "Terminée" in done and f"{count} facture(s) émise(s) pour {YEAR}" in done
    assert "voir la relance" in pages(env, "lire", user, url)["page"]


def test_two_workers_share_the_queue_and_the_archive_is_downloadable(demo_db_env, tmp_path) -> None:
    env = demo_db_env
    expected, _ = dry_run(env)
    urls = {op: launch_billing(env, op) for op in BILLING_USERS}
    workers = [start(env, "travailleur", "--une-fois") for _ in range(2)]
    for worker in workers:
        _out, err = worker.communicate(timeout=WAIT)
        assert worker.returncode == 0, err[-3000:]
    rows = sql(env, "SELECT status, worker_ids FROM django_tasks_database_dbtaskresult")
    assert len(rows) == len(BILLING_USERS)
    for status, worker_ids in rows:
        ids = json.loads(worker_ids) if isinstance(worker_ids, str) else worker_ids
        assert status == "SUCCESSFUL" and len(ids) == 1, (status, ids)
    for op, url in urls.items():
        n = check_operator_billed(env, op, expected_for(expected, op))
        page = pages(env, "lire", BILLING_USERS[op], url)["page"]
        assert "Terminée" in page
        assert (f"{n} facture(s) émise(s) pour {YEAR}" if n else "Aucune facture à émettre") in page

    user = BILLING_USERS["cdg82"]
    response = pages(
        env, "poster", user, "/factures/archive.zip", f"annee={YEAR}", "operateur=cdg82"
    )
    assert response["code"] == 302
    url = response["location"]
    opsn(env, "travailleur", "--une-fois", "--file", "documents")
    page = pages(env, "lire", user, url)["page"]
    numbers = sorted(i["numero"] for i in state(env)["factures"] if i["operateur"] == "cdg82")
    assert "Terminée" in page and f"Archive de {len(numbers)} PDF prête." in page
    target = tmp_path / "archive.zip"
    assert pages(env, "telecharger", user, f"{url}fichier/", str(target))["code"] == 200
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == [f"{n}.pdf" for n in numbers]
        assert all(archive.read(n).startswith(b"%PDF") for n in archive.namelist())
    for other in ("facturation-gironde", "facturation-cdg47"):
        assert pages(env, "lire", other, url)["code"] == 404
        assert pages(env, "telecharger", other, f"{url}fichier/", str(target))["code"] == 404
