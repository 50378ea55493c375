"""Campagnes simultanées sur la même base (fichier SQLite ou PostgreSQL dédiée) : le verrou
de la séquence (ligne verrouillée, transactions IMMEDIATE sous SQLite, verrou consultatif
sous PostgreSQL) les sérialise : un seul jeu de factures, aucun numéro en double."""

from __future__ import annotations

import json
from collections import Counter

from .campagnes import APPLY, check_final_state, dry_run, start, state

PROCESSES = 3


def test_simultaneous_billing_runs_issue_one_set_of_invoices(demo_db_env) -> None:
    env = demo_db_env
    expected, _ = dry_run(env)
    procs = [start(env, *APPLY) for _ in range(PROCESSES)]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, f"campagne en échec : {err[-3000:]}"
    created: Counter = Counter()
    for out, _ in outputs:
        for op in json.loads(out)["operateurs"]:
            created.update((op["operateur"], n) for n in op["factures_creees"])
    assert all(n == 1 for n in created.values()), f"numéros émis deux fois : {created}"
    data = state(env)
    counts = check_final_state(data, expected)
    assert sum(counts.values()) == len(created) == sum(expected.values())
    assert set(created) == {(i["operateur"], i["numero"]) for i in data["factures"]}
    runs = Counter(r["operateur"] for r in data["campagnes"])
    assert set(runs.values()) == {PROCESSES}, (
        f"une campagne par processus et par opérateur : {runs}"
    )
