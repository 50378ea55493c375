"""`opsn serveur` et `opsn demo` servent avec gunicorn (jamais le serveur de développement),
les fichiers statiques par WhiteNoise, et s'arrêtent proprement sur SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from opsn.cli.serveur import worker_available

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 240  # migrations, collectstatic (et base de démonstration) sur 2 cœurs chargés


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OPSN_DEBUG")}
    env.update(OPSN_DONNEES=str(tmp_path / "donnees"), PYTHONUNBUFFERED="1")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def start(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "opsn", *args],
        env=env_for(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_until_served(proc: subprocess.Popen, port: int) -> tuple[int, dict[str, str], bytes]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"arrêt prématuré ({proc.returncode}) : {out[-2000:]} {err[-3000:]}")
        try:
            return get(f"http://127.0.0.1:{port}/connexion/")
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail("le back-office n'a jamais répondu")


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err[-3000:]
    return out, err


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


def check_production_server(port: int, status: int, headers: dict[str, str], body: bytes):
    assert status == 200
    assert headers.get("Server") == "gunicorn", headers
    page = body.decode()
    assert '<html lang="fr">' in page
    css = re.search(r'href="(/static/gestion/style\.[0-9a-f]{12}\.css)"', page)
    assert css, "feuille de style sans empreinte : collectstatic/manifeste absent"
    s_status, s_headers, s_body = get(f"http://127.0.0.1:{port}{css.group(1)}")
    assert s_status == 200 and b"--accent" in s_body
    assert "immutable" in s_headers.get("Cache-Control", "")


def test_serveur_runs_gunicorn_with_whitenoise_and_stops_on_sigterm(tmp_path) -> None:
    port = free_port()
    proc = start(tmp_path, "serveur", "--port", str(port), "--processus", "2", "--sans-travailleur")
    status, headers, body = wait_until_served(proc, port)
    check_production_server(port, status, headers, body)
    out, err = stop(proc)
    assert "gunicorn, 2 processus" in out and "Arrêté." in out
    assert "--sans-travailleur" in out
    assert "runserver" not in out + err and "development server" not in out + err
    assert port_is_free(port)


@pytest.mark.skipif(not worker_available(), reason="commande `opsn travailleur` pas encore livrée")
def test_serveur_starts_and_stops_a_task_worker_beside_gunicorn(tmp_path) -> None:
    port = free_port()
    proc = start(tmp_path, "serveur", "--port", str(port), "--processus", "1")
    wait_until_served(proc, port)
    ps = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(proc.pid)], capture_output=True, text=True
    ).stdout
    workers = [int(line.split()[0]) for line in ps.splitlines() if "opsn travailleur" in line]
    assert len(workers) == 1, ps
    out, _ = stop(proc)
    assert f"Travailleur de tâches : démarré (processus {workers[0]})" in out
    assert not alive(workers[0])
    assert port_is_free(port)


def test_port_already_in_use_is_a_french_error(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = start(tmp_path, "serveur", "--port", str(port), "--sans-travailleur")
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert f"impossible d'écouter sur 127.0.0.1:{port}" in err
    assert "Traceback" not in err


def test_demo_uses_the_same_production_server(tmp_path) -> None:
    port = free_port()
    proc = start(
        tmp_path,
        "demo",
        "--port",
        str(port),
        "--processus",
        "1",
        "--sans-travailleur",
        "--sans-millesimes",
    )
    status, headers, body = wait_until_served(proc, port)
    check_production_server(port, status, headers, body)
    out, _ = stop(proc)
    assert "Comptes de démonstration" in out and "gunicorn, 1 processus" in out
