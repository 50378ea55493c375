"""Outils communs des bancs de charge (`charge.py`, `simulateur.py`) : environnement d'un
processus `opsn` sur un dossier de données, port libre, serveur de production démarré et
arrêté, percentile. Bibliothèque standard seulement."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
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


@dataclass
class Results:
    """Latences (ms) et erreurs par page ou appel, requêtes envoyées."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    sent: int = 0


def latency_table(
    results: Results,
    names: list[str],
    elapsed: float,
    target_p99_ms: float,
    title: str,
    width: int,
) -> str:
    """Imprime p50, p99, max et erreurs par nom puis au total, la moyenne, les requêtes par
    seconde et le verdict (p99 sous la cible, aucune erreur) ; rend la ligne lisible par une
    machine."""
    print(
        f"{title:<{width}}{'requêtes':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'erreurs':>9}"
    )
    every: list[float] = []
    errors = 0
    for name in names:
        values = results.latencies.get(name, [])
        errs = results.errors.get(name, [])
        every.extend(values)
        errors += len(errs)
        print(
            f"{name:<{width}}{len(values) + len(errs):>10}{percentile(values, 50):>10.1f}"
            f"{percentile(values, 99):>10.1f}{max(values, default=float('nan')):>10.1f}"
            f"{len(errs):>9}"
        )
    total = len(every) + errors
    p50, p99 = percentile(every, 50), percentile(every, 99)
    rps = total / elapsed if elapsed else 0.0
    print(
        f"{'total':<{width}}{total:>10}{p50:>10.1f}{p99:>10.1f}"
        f"{max(every, default=float('nan')):>10.1f}{errors:>9}"
    )
    if every:
        print(f"\nmoyenne {statistics.fmean(every):.1f} ms ; {rps:.1f} requêtes/s")
    for name, errs in results.errors.items():
        for message in sorted(set(errs))[:5]:
            print(f"erreur ({name}) : {message}")
    verdict = "atteinte" if p99 < target_p99_ms and errors == 0 else "NON atteinte"
    print(f"Cible p99 < {target_p99_ms:.0f} ms et 0 erreur : {verdict}")
    return f"p50_ms={p50:.1f} p99_ms={p99:.1f} rps={rps:.1f} errors={errors}"
