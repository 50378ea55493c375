"""Ligne de commande des pièces : brouillons émis, avoir partiel, journal vérifié puis
altéré hors de l'application, contrôle de conformité — sur une base fichier dédiée."""

from __future__ import annotations

import os
import sqlite3
import zlib
from pathlib import Path

import pytest

from .campagnes import opsn, start


def _run(env: dict, *args: str):
    proc = start(env, *args)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


# Condition vérifiée avant les fixtures : pas de démonstration construite pour rien.
@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="l'altération hors application se fait ici sur le fichier SQLite",
)
def test_drafts_credit_journal_and_conformity_from_the_command_line(demo_db_env) -> None:
    env = demo_db_env
    base = ["--annee", "2021", "--operateur", "cdg82"]
    opsn(env, "facturer", *base, "--apply", "--brouillons", "--date-emission", "2022-01-15")
    out = opsn(env, "factures", "emettre", *base, "--date-emission", "2022-01-15").stdout
    assert "40 pièce(s) émise(s) (2022-000001 à 2022-000040)" in " ".join(out.split())

    code, _, err = _run(
        env,
        "factures",
        "avoir",
        "2022-000003",
        "--operateur",
        "cdg82",
        "--motif",
        "x",
        "--date-emission",
        "2021-12-31",
    )
    assert code != 0 and "Ordre chronologique" in err and "Traceback" not in err
    out = opsn(
        env,
        "factures",
        "avoir",
        "2022-000003",
        "--operateur",
        "cdg82",
        "--motif",
        "Poste",
        "--lignes",
        "1",
        "--date-emission",
        "2022-02-01",
    ).stdout
    assert "Avoir 2022-000041 émis" in out

    out = opsn(env, "factures", "controler", *base).stdout
    assert "41 pièce(s) contrôlée(s) : 0 erreur(s) bloquante(s)" in " ".join(out.split())
    out = opsn(env, "factures", "verifier", "--operateur", "cdg82").stdout
    assert "41 pièce(s) au journal, chaîne intacte" in " ".join(out.split())

    db = Path(env["OPSN_DONNEES"]) / "opsn.sqlite3"
    outsider = sqlite3.connect(db)
    with pytest.raises(sqlite3.OperationalError, match="opsn_garde"):
        outsider.execute("UPDATE gestion_invoice SET total_ttc = 1 WHERE number = '2022-000002'")
    # Un outil qui contourne la garde (fonction factice) : la chaîne le démasque.
    outsider.create_function("opsn_garde", 0, lambda: 0)
    where = (
        "WHERE number = '2022-000002' AND operator_id = "
        "(SELECT id FROM gestion_operator WHERE code = 'cdg82')"
    )
    (stored,) = outsider.execute(f"SELECT xml_compressed FROM gestion_invoice {where}").fetchone()
    xml = zlib.decompress(stored)
    assert b"S1<" in xml
    forged = zlib.compress(xml.replace(b"S1<", b"B1<"))
    outsider.execute(f"UPDATE gestion_invoice SET xml_compressed = ? {where}", (forged,))
    outsider.commit()
    outsider.close()
    code, _, err = _run(env, "factures", "verifier", "--operateur", "cdg82")
    assert code == 1
    assert "première rupture – rang 2, pièce 2022-000002" in " ".join(err.split())
