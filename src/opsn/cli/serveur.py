"""Commandes `opsn demo`, `opsn serveur` et `opsn gerer`.

Le back-office est servi par gunicorn (serveur WSGI de production, docs/exploitation.md) et
ses fichiers statiques par WhiteNoise ; jamais par le serveur de développement de Django.
Un travailleur de tâches (`opsn travailleur`) tourne à côté quand la commande existe.
`opsn serveur` est un superviseur : il lance les deux sous-processus, les surveille, et les
arrête proprement (SIGTERM, puis SIGKILL après un délai) sur Ctrl+C, SIGTERM ou l'arrêt de
l'un d'eux.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from opsn.cli.base import _django, _fail, _migrate, app, console, err
from opsn.cli.catalogue import catalogue_lister
from opsn.cli.simulation import DEMO_SCENARIO, simuler

STOP_GRACE_SECONDS = 30.0


def default_processes() -> int:
    """Processus gunicorn : OPSN_PROCESSUS, sinon 2 × cœurs + 1 (conseil de gunicorn), 8 au
    plus (chaque processus garde Django en mémoire, ≈ 80 Mo)."""
    if os.environ.get("OPSN_PROCESSUS"):
        return max(1, int(os.environ["OPSN_PROCESSUS"]))
    return min(8, 2 * (os.cpu_count() or 1) + 1)


PortOption = Annotated[int, typer.Option("--port", help="Port d'écoute.", min=1, max=65535)]
HostOption = Annotated[
    str,
    typer.Option(
        "--hote",
        help="Adresse d'écoute (127.0.0.1 derrière un mandataire inverse ; 0.0.0.0 pour "
        "toutes les interfaces).",
    ),
]
ProcessesOption = Annotated[
    int | None,
    typer.Option(
        "--processus",
        help="Processus gunicorn (défaut : OPSN_PROCESSUS, sinon 2 × cœurs + 1, 8 au plus).",
        min=1,
        max=64,
    ),
]
WorkerOption = Annotated[
    bool,
    typer.Option(
        "--travailleur/--sans-travailleur",
        help="Lancer aussi un travailleur de tâches de fond (opsn travailleur).",
    ),
]


@app.command("demo")
def demo(
    serveur: Annotated[
        bool,
        typer.Option(
            "--serveur/--sans-serveur", help="Démarrer le back-office après la préparation."
        ),
    ] = True,
    port: PortOption = 8000,
    reinitialiser: Annotated[
        bool,
        typer.Option("--reinitialiser", help="Vider la base de démonstration et la reconstruire."),
    ] = False,
    processus: ProcessesOption = None,
    travailleur: WorkerOption = True,
    factures: Annotated[
        bool,
        typer.Option(
            "--factures/--sans-factures",
            help="Émettre les factures 2020 du CDG82 (que voient les référents).",
        ),
    ] = True,
    millesimes: Annotated[
        bool,
        typer.Option(
            "--millesimes/--sans-millesimes",
            help="Charger les populations et EPCI en vigueur par année (R4, ≈ 5 s).",
        ),
    ] = True,
) -> None:
    """Catalogues et simulation de démonstration, puis base de démonstration et back-office."""
    import datetime as dt

    if serveur:
        _check_port("127.0.0.1", port)
    # Cœur de tarification compilé là où la machine le peut (opsn.core.native), pendant
    # la préparation : le back-office et le travailleur démarrés ensuite s'en servent.
    from opsn.core.native import BackgroundBuild

    core = BackgroundBuild()
    catalogue_lister()
    console.print()
    simuler(DEMO_SCENARIO, None, "table")
    _django()
    from django.conf import settings
    from django.core.management import call_command

    from opsn.gestion.demo import DEMO_PASSWORD, build_demo, demo_exists

    console.print(
        f"\n[bold]Base de démonstration[/] : {settings.DATABASES['default']['NAME']}",
        highlight=False,
    )
    _migrate()
    if reinitialiser:
        call_command("flush", interactive=False, verbosity=0)
    if demo_exists():
        console.print("Base déjà préparée (relancez avec --reinitialiser pour la reconstruire).")
        from django.contrib.auth import get_user_model

        names = list(
            get_user_model().objects.order_by("username").values_list("username", flat=True)
        )
        console.print(
            f"Comptes : {', '.join(names)} – mot de passe « {DEMO_PASSWORD} »", highlight=False
        )
    else:
        from opsn.referentiel.chargement import importer_millesimes

        # R4 : populations et EPCI en vigueur chaque année facturée, avant les factures
        if millesimes:
            with console.status("Populations et EPCI par année (millésimes du référentiel)…"):
                bilan = importer_millesimes()
            console.print(f"Millésimes : {bilan.resume()}", highlight=False)
        with console.status("Préparation des adhérents, conventions et usages…"):
            users = build_demo(today=dt.date.today(), issue_invoices=factures)
        table = Table(title="Comptes de démonstration", header_style="bold")
        for col in ("Identifiant", "Mot de passe", "Rôle", "Opérateur", "Adhérent"):
            table.add_column(col)
        for u in users:
            table.add_row(u.username, u.password, u.role, u.operator, u.member or "–")
        console.print(table)
    if core.running():
        with console.status("Compilation du cœur de tarification…"):
            core.wait()
    console.print(core.wait(), highlight=False)
    if serveur:
        code = serve(host="127.0.0.1", port=port, processes=processus, worker=travailleur)
        raise typer.Exit(code)


@app.command("serveur")
def serveur(
    port: PortOption = 8000,
    hote: HostOption = "127.0.0.1",
    processus: ProcessesOption = None,
    travailleur: WorkerOption = True,
) -> None:
    """Démarre le back-office avec gunicorn (migrations et fichiers statiques au préalable)."""
    _check_port(hote, port)
    _django()
    _migrate()
    code = serve(host=hote, port=port, processes=processus, worker=travailleur)
    raise typer.Exit(code)


def _check_port(host: str, port: int) -> None:
    """Message français plutôt que l'erreur de gunicorn si le port est déjà pris."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            _fail(
                f"impossible d'écouter sur {host}:{port} ({exc.strerror or exc}) : port déjà "
                "utilisé par un autre programme ? Choisissez-en un autre avec --port."
            )


def worker_available() -> bool:
    """Le travailleur de tâches existe-t-il (commande `opsn travailleur`, module
    `opsn.cli.taches`) ?"""
    try:
        return importlib.util.find_spec("opsn.cli.taches") is not None
    except ImportError:
        return False


def gunicorn_command(host: str, port: int, processes: int) -> list[str]:
    """Ligne de commande gunicorn : processus synchrones (pages rendues par le processeur,
    sans attente réseau ; un mandataire inverse tamponne les clients lents), redémarrage
    après 1 000 requêtes contre toute fuite de mémoire. GUNICORN_CMD_ARGS complète ces
    options (documentation de gunicorn)."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "opsn.web.wsgi:application",
        "--bind",
        bind,
        "--workers",
        str(processes),
        "--worker-class",
        "sync",
        "--timeout",
        "120",
        "--graceful-timeout",
        "20",
        "--max-requests",
        "1000",
        "--max-requests-jitter",
        "100",
        # Django chargé une fois par le maître : un processus remplacé (--max-requests) est un
        # simple fork, au lieu de ≈ 1 s de démarrage pris sur les requêtes en cours.
        "--preload",
        "--worker-tmp-dir",
        "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp",
        "--name",
        "opsn",
        "--no-control-socket",  # pas de socket de contrôle partagée entre plusieurs instances
    ]


def _child_env() -> dict[str, str]:
    from django.conf import settings

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = os.environ.get("DJANGO_SETTINGS_MODULE", "opsn.web.settings")
    env["OPSN_DONNEES"] = str(settings.DATA_DIR)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _die_with_parent() -> None:  # pragma: no cover - exécuté dans l'enfant
    """Linux : l'enfant reçoit SIGTERM si le superviseur disparaît (même tué par SIGKILL),
    pour ne pas laisser un serveur orphelin sur le port."""
    os.setpgrp()
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError):  # 1 = PR_SET_PDEATHSIG
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _collectstatic() -> None:
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


def serve(
    *,
    host: str,
    port: int,
    processes: int | None = None,
    worker: bool = True,
    on_ready: Callable[[dict[str, subprocess.Popen]], None] | None = None,
) -> int:
    """Sert le back-office jusqu'à Ctrl+C ou SIGTERM ; renvoie le code de sortie (0 si arrêt
    demandé, 1 si un sous-processus s'est arrêté de lui-même)."""
    processes = processes or default_processes()
    with console.status("Fichiers statiques (collectstatic)…"):
        _collectstatic()
    env = _child_env()
    children: dict[str, subprocess.Popen] = {}
    children["serveur web"] = subprocess.Popen(
        gunicorn_command(host, port, processes), env=env, preexec_fn=_die_with_parent
    )
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"\nBack-office : [bold]http://{shown}:{port}/[/] (gunicorn, {processes} processus ; "
        "Ctrl+C pour arrêter)",
        highlight=False,
    )
    if worker and worker_available():
        children["travailleur"] = subprocess.Popen(
            [sys.executable, "-m", "opsn", "travailleur"], env=env, preexec_fn=_die_with_parent
        )
        console.print(
            f"Travailleur de tâches : démarré (processus {children['travailleur'].pid}).",
            highlight=False,
        )
    elif worker:
        console.print("Travailleur de tâches : non disponible dans cette version.")
    else:
        console.print("Travailleur de tâches : non démarré (--sans-travailleur).")
    if on_ready:
        on_ready(children)
    return _supervise(children)


def _supervise(children: dict[str, subprocess.Popen]) -> int:
    stop = threading.Event()
    requested: list[str] = []

    def handler(signum: int, frame: object) -> None:
        requested.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    died: str | None = None
    try:
        while not stop.is_set():
            for name, proc in children.items():
                if proc.poll() is not None:
                    died = name
                    stop.set()
                    break
            stop.wait(0.5)
    finally:
        if died:
            err.print(
                f"[bold red]Erreur[/] : le {died} s'est arrêté (code "
                f"{children[died].returncode}) ; arrêt des autres processus.",
                highlight=False,
            )
        else:
            console.print("\nArrêt demandé : arrêt du serveur web et du travailleur…")
        _stop_all(children)
        for sig, old in previous.items():
            signal.signal(sig, old)
    if died:
        return 1
    console.print("Arrêté.")
    return 0


def _stop_all(children: dict[str, subprocess.Popen]) -> None:
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # gunicorn : arrêt gracieux des requêtes en cours
    for name, proc in children.items():
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            err.print(f"Le {name} ne s'arrête pas : arrêt forcé.", highlight=False)
            proc.kill()
            proc.wait()


@app.command("gerer", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def gerer(ctx: typer.Context) -> None:
    """Commandes d'administration Django (migrate, createsuperuser, shell…)."""
    _django()
    from django.core.management import execute_from_command_line, get_commands

    name = ctx.args[0] if ctx.args else ""
    if name and not name.startswith("-") and name not in {*get_commands(), "help"}:
        _fail(f"commande d'administration « {name} » inconnue (opsn gerer help pour la liste).")
    execute_from_command_line(["opsn gerer", *ctx.args])
