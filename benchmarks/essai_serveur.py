"""Outils communs des bancs de charge (`charge.py`, `simulateur.py`) : environnement d'un
processus `opsn` sur un dossier de données, port libre, serveur de production démarré et
arrêté, percentile. Bibliothèque standard seulement."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    """Percentile par rang le plus proche (q entre 0 et 100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "OPSN_DEBUG", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        OPSN_DONNEES=str(data_dir),
        DJANGO_SETTINGS_MODULE="opsn.web.settings",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def run(env: dict[str, str], *args: str) -> None:
    out = subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.exit(f"échec de « {' '.join(args[:4])} … » :\n{out.stdout[-2000:]}{out.stderr[-3000:]}")


def start_server(
    env: dict[str, str], port: int, processes: int, log: Path, *, probe: str
) -> subprocess.Popen:
    """`opsn serveur` (gunicorn, sans travailleur), attendu jusqu'à ce que `probe` réponde."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "opsn",
                "serveur",
                "--port",
                str(port),
                "--processus",
                str(processes),
                "--sans-travailleur",
            ],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"le serveur s'est arrêté :\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=5):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    sys.exit("le serveur n'a pas répondu en 180 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
