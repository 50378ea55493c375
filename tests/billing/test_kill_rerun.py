"""Arrêt brutal d'une campagne (SIGKILL à un instant aléatoire), relances, puis campagne
complète : ni trou, ni doublon, ni brouillon, ni campagne orpheline ; exactement les
factures annoncées par la simulation. Sur une base fichier (SQLite) ou une base PostgreSQL
créée pour le test (jamais la base en mémoire de pytest)."""

from __future__ import annotations

import random
import time
from collections import Counter

from .campagnes import (
    APPLY,
    check_final_state,
    check_intermediate_state,
    dry_run,
    opsn,
    start,
    state,
)

KILLS = 22
SEED = 20220115


def test_kill_and_rerun_billing(demo_db_env) -> None:
    env = demo_db_env
    expected, dry_seconds = dry_run(env)
    assert sum(expected.values()) >= 20, "la démonstration doit donner de quoi facturer"
    full = dry_seconds * 1.2  # une campagne réelle ≈ la simulation + l'écriture
    per_operator = Counter()
    for op, _, _ in expected.elements():
        per_operator[op] += 1
    rng = random.Random(SEED)
    # Instants d'arrêt tirés par strates : tout l'intervalle [0, durée] est couvert.
    delays = [full * (k + rng.random()) / KILLS for k in range(KILLS)]
    rng.shuffle(delays)
    killed_running = 0
    completed = 0
    partial = 0
    for delay in delays:
        proc = start(env, *APPLY)
        time.sleep(delay)
        if proc.poll() is None:
            proc.kill()  # SIGKILL
            killed_running += 1
        proc.communicate(timeout=60)
        if proc.returncode == 0:
            completed += 1
        else:
            assert proc.returncode == -9, f"échec inattendu (code {proc.returncode})"
        counts = check_intermediate_state(env, per_operator)
        partial += 0 < sum(counts.values()) < sum(per_operator.values())
    assert killed_running >= KILLS // 2, f"trop peu d'arrêts en cours : {killed_running}"
    print(f"{killed_running} arrêts en cours, {completed} terminés, {partial} états partiels")
    final = opsn(env, *APPLY)
    completed += 1
    assert '"factures_creees"' in final.stdout
    data = state(env)
    counts = check_final_state(data, expected)
    assert set(counts) == {op for op, _, _ in expected}
    runs = Counter(r["operateur"] for r in data["campagnes"])
    for code, n in runs.items():
        assert completed <= n <= KILLS + 1, (
            f"{code} : {n} campagne(s) pour {completed} processus terminés sur {KILLS + 1}"
        )
    # Une relance après succès ne crée rien.
    again = opsn(env, *APPLY)
    assert '"factures_creees": []' in again.stdout
    assert state(env)["factures"] == data["factures"]
