"""Banc de charge de l'API publique du simulateur, servie en production (gunicorn).

Exigence (issue 11) : 50 clients simultanés, p99 < 100 ms sur la machine à 2 cœurs, avec le
serveur de production. Le banc mélange les trois appels que fait la page du simulateur :
- `GET /api/simulateur/collectivites?q=…` (propositions pendant la saisie) ;
- `GET /api/simulateur/offres?operateur=gironde-numerique&code=…` (chaque service chiffré) ;
- `POST /api/simulateur/simulation` (un choix de services, trois années, avec les offres).

Usage :
    python3 -m uv run python benchmarks/simulateur.py [--duree 30] [--clients 50]
        [--processus 3] [--pause 0] [--communes 40] [--dossier DOSSIER] [--garder]

Déroulé :
1. base neuve (SQLite) dans un dossier de données temporaire : migrations, catalogues et
   indices livrés, territoires des opérateurs ;
2. `opsn serveur` (gunicorn, N processus, sans travailleur) sur 127.0.0.1, port libre, le
   débit de l'API relevé (`OPSN_API_DEBIT`) : tous les clients du banc ont la même adresse,
   la limite par adresse les refuserait (429) au lieu de mesurer le service ;
3. C clients en boucle fermée pendant D secondes (chacun envoie sa requête suivante dès la
   réponse reçue, après `--pause` secondes : 0, le pire cas ; 0,5 à 1 s, une personne qui
   tape ou coche), sur les communes de Gironde tirées tour à
   tour (les `--communes` premières par code INSEE) ; une requête de chauffe par commune
   d'abord, hors mesure (premier chargement du référentiel et des catalogues par processus) ;
4. p50, p99, requêtes par seconde et erreurs par appel et au total ; dernière ligne lisible
   par une machine : `p50_ms=… p99_ms=… rps=… errors=…`.

Le générateur de charge tourne sur la même machine (asyncio, un seul fil) et prend sa part
des deux cœurs : les chiffres sont prudents.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from essai_serveur import (  # même dossier : lancé comme script
    Results,
    child_env,
    free_port,
    latency_table,
    run,
    start_server,
    stop_server,
)

ROOT = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 100.0
REQUEST_TIMEOUT = 30.0
CALLS = ("collectivites", "offres", "simulation")

PREPARE = """
import django
django.setup()
import os, shutil, sys
from pathlib import Path
from django.conf import settings
from django.core.management import call_command
try:
    call_command("makemigrations", "gestion", check=True, dry_run=True, verbosity=0)
except SystemExit:
    # modèles en avance sur leurs migrations (migration en attente de relecture) : une copie
    # des migrations dans le dossier de données du banc reçoit la migration manquante
    import opsn.gestion.migrations as shipped
    copy = Path(os.environ["OPSN_DONNEES"]) / "migrations_banc" / "gestion_banc"
    shutil.rmtree(copy.parent, ignore_errors=True)
    shutil.copytree(Path(shipped.__file__).parent, copy)
    sys.path.insert(0, str(copy.parent))
    settings.MIGRATION_MODULES = {"gestion": "gestion_banc"}
    call_command("makemigrations", "gestion", verbosity=0)
    print("migration de gestion en attente : appliquée depuis une copie temporaire")
call_command("migrate", interactive=False, verbosity=0)
from opsn.gestion import services
from opsn.gestion.models import Operator
services.catalogues_load_shipped()
services.index_values_load_shipped()
for code, deps in (("cdg82", ["82"]), ("cdg47", ["47"]), ("gironde-numerique", ["33"])):
    Operator.objects.filter(code=code).update(territory=deps)
"""


def communes(count: int) -> list[tuple[str, str]]:
    from opsn.referentiel import Referentiel

    found = [c for c in Referentiel.charger().communes() if c.departement == "33"][:count]
    return [(c.insee, c.nom) for c in found]


def plan(towns: list[tuple[str, str]]) -> list[tuple[str, str, str, bytes | None]]:
    """(appel, méthode, chemin, corps) : les trois appels pour chaque commune, tour à tour."""
    items = []
    for code, name in towns:
        query = urllib.parse.quote(name.lower().replace("-", " ")[:12])
        items.append(("collectivites", "GET", f"/api/simulateur/collectivites?q={query}", None))
        items.append(
            (
                "offres",
                "GET",
                f"/api/simulateur/offres?operateur=gironde-numerique&code={code}",
                None,
            )
        )
        body = {
            "operateur": "gironde-numerique",
            "collectivite": {"code": code},
            "services": [
                {"service": "nas_50go"},
                {"service": "certificat_rgs", "quantites": {"certificats": "2"}},
                {"service": "alerte_sms"},
            ],
            "usages": {"sms": "2500"},
            "offres": True,
        }
        items.append(
            ("simulation", "POST", "/api/simulateur/simulation", json.dumps(body).encode())
        )
    return items


async def fetch(port: int, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Accept: application/json\r\nAccept-Encoding: identity\r\nConnection: close\r\n"
        )
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"\r\n" + (body or b""))
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head_raw, _, content = raw.partition(b"\r\n\r\n")
    status = int(head_raw.split(b" ", 2)[1]) if head_raw.startswith(b"HTTP/") else 0
    return status, content


async def client(
    port: int,
    items: list,
    offset: int,
    deadline: float,
    pause: float,
    results: Results,
) -> None:
    i = offset
    while time.monotonic() < deadline:
        call, method, path, body = items[i % len(items)]
        i += 1
        results.sent += 1
        t0 = time.perf_counter()
        try:
            status, _ = await asyncio.wait_for(fetch(port, method, path, body), REQUEST_TIMEOUT)
        except (TimeoutError, OSError) as exc:
            results.errors[call].append(f"{path} : {type(exc).__name__}")
            continue
        elapsed = (time.perf_counter() - t0) * 1000
        if status != 200:
            results.errors[call].append(f"{path} : statut {status}")
        else:
            results.latencies[call].append(elapsed)
        if pause:
            await asyncio.sleep(pause)


async def warm_up(port: int, items: list) -> None:
    for _, method, path, body in items:
        status, content = await fetch(port, method, path, body)
        if status != 200:
            sys.exit(f"chauffe : {method} {path} → {status} {content[:300]!r}")


async def load(
    port: int, items: list, clients: int, duration: float, pause: float
) -> tuple[Results, float]:
    results = Results()
    t0 = time.monotonic()
    deadline = t0 + duration
    tasks = [client(port, items, n * 5, deadline, pause, results) for n in range(clients)]
    await asyncio.wait_for(asyncio.gather(*tasks), duration + REQUEST_TIMEOUT + 30)
    return results, time.monotonic() - t0


def report(results: Results, elapsed: float, args: argparse.Namespace) -> str:
    print(
        f"\nAPI du simulateur : {args.clients} clients, {args.duree:.0f} s, gunicorn "
        f"{args.processus} processus, pause {args.pause:g} s ; {args.communes} communes ; Python "
        f"{platform.python_version()}, {os.cpu_count()} cœurs\n"
    )
    return latency_table(results, list(CALLS), elapsed, TARGET_P99_MS, "appel", 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duree", type=float, default=30.0, help="secondes de charge")
    parser.add_argument("--clients", type=int, default=50, help="clients simultanés")
    parser.add_argument("--processus", type=int, default=3, help="processus gunicorn")
    parser.add_argument("--pause", type=float, default=0.0, help="pause entre deux requêtes")
    parser.add_argument("--communes", type=int, default=40, help="communes de Gironde tirées")
    parser.add_argument("--dossier", type=Path, help="dossier de données (temporaire sinon)")
    parser.add_argument("--garder", action="store_true", help="garder le dossier de données")
    args = parser.parse_args()
    if not 1 <= args.clients <= 1000 or not 1 <= args.duree <= 3600:
        parser.error("--clients entre 1 et 1000, --duree entre 1 et 3600 s")
    data_dir = args.dossier or Path(tempfile.mkdtemp(prefix="opsn-simulateur-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    env = child_env(data_dir, OPSN_API_DEBIT="100000000/m")
    try:
        print(f"Données : {data_dir}", flush=True)
        print("Préparation : base, catalogues et indices livrés…", flush=True)
        run(env, "-c", PREPARE)
        items = plan(communes(args.communes))
        port = free_port()
        server = start_server(
            env, port, args.processus, data_dir / "serveur.log", probe="/api/simulateur/"
        )
        try:
            asyncio.run(warm_up(port, items))
            print(f"Charge sur http://127.0.0.1:{port} pendant {args.duree:.0f} s…", flush=True)
            load_before = os.getloadavg()[0]
            results, elapsed = asyncio.run(load(port, items, args.clients, args.duree, args.pause))
        finally:
            stop_server(server)
        print(
            f"\nCharge de la machine (moyenne sur 1 min, autres processus compris) : "
            f"{load_before:.2f} avant la mesure, {os.getloadavg()[0]:.2f} à la fin"
        )
        print(report(results, elapsed, args))
    finally:
        if not args.garder and args.dossier is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
