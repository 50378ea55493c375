"""Outils des tests multi-processus : lancer `opsn` sur une base dédiée et relire son état."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
YEAR = "2021"
ISSUED_ON = "2022-01-15"
APPLY = ["facturer", "--annee", YEAR, "--apply", "--date-emission", ISSUED_ON, "--format", "json"]


def opsn(env: dict, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "opsn", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, f"opsn {' '.join(args)} : {out.stderr[-3000:]}"
    return out


def start(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "opsn", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def prepare_demo(env: dict) -> None:
    # aucune pièce avant la campagne ; les millésimes (R4) sont éprouvés ailleurs
    opsn(env, "demo", "--sans-serveur", "--sans-factures", "--sans-millesimes")


def dry_run(env: dict) -> tuple[Counter, float]:
    """Ensemble attendu (opérateur, adhérent, total TTC) et durée de la simulation."""
    t0 = time.monotonic()
    out = opsn(env, "facturer", "--annee", YEAR, "--format", "json")
    elapsed = time.monotonic() - t0
    data = json.loads(out.stdout)
    expected = Counter(
        (op["operateur"], a["adherent"], a["total_ttc"])
        for op in data["operateurs"]
        for a in op["adherents"]
        if not a["bloquants"] and not a["deja_facture"] and a["total_ttc"] != "0.00"
    )
    return expected, elapsed


def sql(env: dict, query: str) -> list[tuple]:
    """Requête directe sur la base du sous-processus (SQLite fichier ou PostgreSQL)."""
    url = env.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import dj_database_url
        import psycopg

        cfg = dj_database_url.parse(url)
        with psycopg.connect(
            host=cfg["HOST"] or None,
            port=cfg["PORT"] or None,
            user=cfg["USER"] or None,
            password=cfg["PASSWORD"] or None,
            dbname=cfg["NAME"],
        ) as conn:
            return list(conn.execute(query).fetchall())
    import sqlite3

    conn = sqlite3.connect(Path(env["OPSN_DONNEES"]) / "opsn.sqlite3", timeout=30)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


INVOICES_SQL = (
    "SELECT o.code, i.number, i.status FROM gestion_invoice i "
    "JOIN gestion_operator o ON o.id = i.operator_id"
)


def check_intermediate_state(env: dict, expected_per_operator: Counter) -> Counter:
    """Après un arrêt brutal : chaque opérateur a toutes ses factures ou aucune (tout ou
    rien), numérotées sans trou, aucune non émise. Renvoie le nombre par opérateur."""
    rows = sql(env, INVOICES_SQL)
    assert all(status == "emise" for _, _, status in rows), f"pièce non émise : {rows}"
    counts = Counter(code for code, _, _ in rows)
    for code, n in counts.items():
        numbers = sorted(number for c, number, _ in rows if c == code)
        assert numbers == [f"2022-{k:06d}" for k in range(1, n + 1)], f"{code} : {numbers}"
        assert n == expected_per_operator[code], (
            f"{code} : {n} facture(s) sur {expected_per_operator[code]} après arrêt brutal"
        )
    return counts


def state(env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, str(HERE / "taches.py"), "etat"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_final_state(data: dict, expected: Counter) -> dict[str, int]:
    """Invariants d'une campagne terminée ; renvoie le nombre de factures par opérateur."""
    invoices = data["factures"]
    assert invoices, "aucune facture"
    got = Counter((i["operateur"], i["adherent"], i["total_ttc"]) for i in invoices)
    assert got == expected, (
        f"factures ≠ simulation : en trop {got - expected}, manquantes {expected - got}"
    )
    drafts = [i for i in invoices if i["statut"] != "emise"]
    assert not drafts, f"brouillons ou pièces non émises restants : {drafts}"
    per_operator: dict[str, list[dict]] = {}
    for i in invoices:
        per_operator.setdefault(i["operateur"], []).append(i)
    for code, items in per_operator.items():
        numbers = [i["numero"] for i in items]
        assert len(set(numbers)) == len(numbers), f"{code} : numéro en double"
        assert sorted(numbers) == [f"2022-{n:06d}" for n in range(1, len(items) + 1)], (
            f"{code} : numérotation avec trou : {sorted(numbers)}"
        )
        assert sorted(i["rang"] for i in items) == list(range(1, len(items) + 1))
        assert data["sequences"][f"{code}/2022"] == len(items), f"{code} : séquence"
        assert {i["emise_le"] for i in items} == {ISSUED_ON}
    for i in invoices:
        assert i["lignes"] > 0, f"{i['numero']} sans ligne"
        assert i["somme_lignes"] == i["total_ht"], f"{i['numero']} : lignes ≠ total HT"
        assert i["xml"], f"{i['numero']} : XML manquant"
        assert i["annee"] == int(YEAR) and i["nature"] == "facture"
    for run in data["campagnes"]:
        assert run["factures_creees"] == run["factures_liees"], f"campagne incohérente {run}"
    for code, items in per_operator.items():
        runs = [r for r in data["campagnes"] if r["operateur"] == code and r["factures_creees"]]
        assert len(runs) == 1, f"{code} : tout ou rien, une seule campagne a créé : {runs}"
        assert runs[0]["factures_creees"] == len(items)
    return {code: len(items) for code, items in per_operator.items()}
