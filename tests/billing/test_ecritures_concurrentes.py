"""Deux écritures concurrentes dans deux processus : la seconde attend le verrou (SQLite en
WAL avec busy_timeout et transactions IMMEDIATE ; verrou de ligne sous PostgreSQL) au lieu
d'échouer sur « database is locked »."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "ecrivain.py"


def _run(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        env={**env, "DJANGO_SETTINGS_MODULE": "opsn.web.settings"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_concurrent_write_waits_for_the_lock_instead_of_failing(file_db_env, tmp_path):
    prep = _run(file_db_env, "preparer")
    _, err = prep.communicate(timeout=300)
    assert prep.returncode == 0, err[-3000:]
    signals = tmp_path / "signaux"
    signals.mkdir()
    first = _run(file_db_env, "premier", str(signals))
    second = _run(file_db_env, "second", str(signals))
    out1, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)
    assert "locked" not in err1 + err2, err1 + err2
    assert first.returncode == 0, err1[-3000:]
    assert second.returncode == 0, err2[-3000:]
    # Le second a commencé sa tentative pendant que le premier tenait le verrou, et a lu le
    # numéro validé par le premier : il a attendu, puis pris le numéro suivant.
    assert (int(out1), int(out2)) == (1, 2)
