"""Banc de charge du back-office servi en production (gunicorn + WhiteNoise).

Exigence : serveur de production, 50 clients simultanés pendant 60 s sur le tableau de bord,
la liste des adhérents, une fiche adhérent et une facture, connectés comme chargé de
facturation ; p50, p99 et erreurs. Cible : p99 < 300 ms et 0 erreur sur la machine à 2 cœurs.

Usage :
    python3 -m uv run python benchmarks/charge.py [--duree 60] [--clients 50]
        [--processus 3] [--pause 0] [--dossier DOSSIER] [--garder]

Déroulé :
1. base de démonstration (`opsn.gestion.demo.build_demo`) dans un dossier de données neuf
   (SQLite), puis `opsn facturer --annee 2021 --operateur cdg82 --apply` ;
2. `opsn serveur` (gunicorn, N processus, sans travailleur) sur 127.0.0.1, port libre ;
3. connexion de `facturation-cdg82` (mot de passe `demo-opsn`) : une session, partagée par
   les clients (une connexion par client coûterait 50 hachages PBKDF2 avant la mesure) ;
4. les pages : tableau de bord `/`, liste `/adherents/`, 10 fiches adhérent et 10 factures
   2021 relevées dans les listes, tirées tour à tour ;
5. C clients (boucle fermée : chacun envoie sa requête suivante dès la réponse reçue, après
   `--pause` secondes) pendant D secondes ; chaque requête a un délai maximal de 30 s,
   le nombre total de requêtes est borné (`--max-requetes`), le banc s'arrête seul ;
6. arrêt du serveur (SIGTERM), puis p50, p99, requêtes par seconde et erreurs, par page
   et au total ; dernière ligne lisible par une machine :
   `p50_ms=… p99_ms=… rps=… errors=…`.

Une erreur est toute réponse autre que 200 (une redirection vers la connexion en est une),
une page sans son titre attendu, un délai dépassé ou une connexion refusée.
Le générateur de charge tourne sur la même machine (asyncio, un seul fil) : il prend une
part des deux cœurs, les chiffres sont donc prudents.
"""

from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import os
import platform
import re
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
USERNAME = "facturation-cdg82"
PASSWORD = "demo-opsn"
TARGET_P99_MS = 300.0
REQUEST_TIMEOUT = 30.0
SAMPLE = 10  # fiches adhérent et factures tirées tour à tour

PAGES = {
    "tableau de bord": "<h1>Tableau de bord</h1>",
    "liste des adhérents": "<h1>Adhérents</h1>",
    "fiche adhérent": 'class="fiche"',
    "facture": "<h1>Facture ",
}

PREPARE = """
import datetime as dt
import django
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from opsn.gestion.demo import build_demo, demo_exists
if not demo_exists():  # --dossier réutilisé : la base est déjà prête
    build_demo(today=dt.date.today())
"""


def prepare(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    run(env, "-c", PREPARE)
    run(env, "-m", "opsn", "facturer", "--annee", "2021", "--operateur", "cdg82", "--apply")
    return time.perf_counter() - t0


def login(base: str) -> tuple[str, urllib.request.OpenerDirector]:
    """Cookie de session du chargé de facturation (et un client urllib connecté)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/connexion/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if token is None:
        sys.exit("jeton CSRF absent de la page de connexion")
    data = urllib.parse.urlencode(
        {"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token[1]}
    ).encode()
    request = urllib.request.Request(
        f"{base}/connexion/", data=data, headers={"Referer": f"{base}/connexion/"}
    )
    opener.open(request, timeout=30).read()
    cookies = {c.name: c.value for c in jar}
    if "sessionid" not in cookies:
        sys.exit(f"connexion de {USERNAME} refusée")
    return "; ".join(f"{k}={v}" for k, v in cookies.items()), opener


def discover(base: str, opener: urllib.request.OpenerDirector) -> dict[str, list[str]]:
    """Adresses de chaque page : fiches adhérent et factures relevées dans les listes."""
    members = opener.open(f"{base}/adherents/", timeout=60).read().decode()
    member_urls = sorted(set(re.findall(r'href="(/adherents/\d+/)"', members)))
    invoices = opener.open(f"{base}/factures/?annee=2021&operateur=cdg82", timeout=60)
    invoice_urls = sorted(set(re.findall(r'href="(/factures/\d+/)"', invoices.read().decode())))
    if not member_urls or not invoice_urls:
        sys.exit("aucun adhérent ou aucune facture 2021 : la campagne a-t-elle émis ?")
    step_m = max(1, len(member_urls) // SAMPLE)
    step_i = max(1, len(invoice_urls) // SAMPLE)
    return {
        "tableau de bord": ["/"],
        "liste des adhérents": ["/adherents/"],
        "fiche adhérent": member_urls[::step_m][:SAMPLE],
        "facture": invoice_urls[::step_i][:SAMPLE],
    }


async def fetch(port: int, path: str, cookie: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
                "Accept-Encoding: identity\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body


async def client(
    port: int,
    cookie: str,
    plan: list[tuple[str, str]],
    offset: int,
    deadline: float,
    pause: float,
    max_requests: int,
    results: Results,
) -> None:
    i = offset
    while time.monotonic() < deadline and results.sent < max_requests:
        page, path = plan[i % len(plan)]
        i += 1
        results.sent += 1
        t0 = time.perf_counter()
        try:
            status, body = await asyncio.wait_for(fetch(port, path, cookie), REQUEST_TIMEOUT)
        except (TimeoutError, OSError) as exc:
            results.errors[page].append(f"{path} : {type(exc).__name__}")
            continue
        elapsed = (time.perf_counter() - t0) * 1000
        if status != 200:
            results.errors[page].append(f"{path} : statut {status}")
        elif PAGES[page].encode() not in body:
            results.errors[page].append(f"{path} : contenu inattendu")
        else:
            results.latencies[page].append(elapsed)
        if pause:
            await asyncio.sleep(pause)


async def load(
    port: int,
    cookie: str,
    urls: dict[str, list[str]],
    clients: int,
    duration: float,
    pause: float,
    max_requests: int,
) -> tuple[Results, float]:
    # Tour de rôle : les quatre pages à parts égales, fiches et factures variées.
    plan = [(page, urls[page][k % len(urls[page])]) for k in range(SAMPLE) for page in PAGES]
    results = Results()
    t0 = time.monotonic()
    deadline = t0 + duration
    tasks = [
        client(port, cookie, plan, n * 7, deadline, pause, max_requests, results)
        for n in range(clients)
    ]
    await asyncio.wait_for(asyncio.gather(*tasks), duration + REQUEST_TIMEOUT + 30)
    return results, time.monotonic() - t0


def report(results: Results, elapsed: float, args: argparse.Namespace, prep: float) -> str:
    print(
        f"\nCharge : {args.clients} clients, {args.duree:.0f} s, gunicorn {args.processus} "
        f"processus, pause {args.pause:g} s ; Python {platform.python_version()}, "
        f"{os.cpu_count()} cœurs ; préparation (hors mesure) {prep:.1f} s\n"
    )
    return latency_table(results, list(PAGES), elapsed, TARGET_P99_MS, "page", 22)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duree", type=float, default=60.0, help="secondes de charge")
    parser.add_argument("--clients", type=int, default=50, help="clients simultanés")
    parser.add_argument("--processus", type=int, default=3, help="processus gunicorn (2 à 4)")
    parser.add_argument("--pause", type=float, default=0.0, help="pause entre deux requêtes")
    parser.add_argument("--max-requetes", type=int, default=1_000_000)
    parser.add_argument("--dossier", type=Path, help="dossier de données (temporaire sinon)")
    parser.add_argument("--garder", action="store_true", help="garder le dossier de données")
    args = parser.parse_args()
    if not 1 <= args.clients <= 1000 or not 1 <= args.duree <= 3600:
        parser.error("--clients entre 1 et 1000, --duree entre 1 et 3600 s")
    data_dir = args.dossier or Path(tempfile.mkdtemp(prefix="opsn-charge-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    env = child_env(data_dir)
    try:
        print(f"Données : {data_dir}", flush=True)
        print("Préparation : base de démonstration et campagne 2021 du CDG82…", flush=True)
        prep = prepare(env)
        port = free_port()
        server = start_server(
            env, port, args.processus, data_dir / "serveur.log", probe="/connexion/"
        )
        try:
            base = f"http://127.0.0.1:{port}"
            cookie, opener = login(base)
            urls = discover(base, opener)
            print(f"Charge sur {base} pendant {args.duree:.0f} s…", flush=True)
            load_before = os.getloadavg()[0]
            results, elapsed = asyncio.run(
                load(
                    port,
                    cookie,
                    urls,
                    args.clients,
                    args.duree,
                    args.pause,
                    args.max_requetes,
                )
            )
        finally:
            stop_server(server)
        print(
            f"\nCharge de la machine (moyenne sur 1 min, autres processus compris) : "
            f"{load_before:.2f} avant la mesure, {os.getloadavg()[0]:.2f} à la fin"
        )
        print(report(results, elapsed, args, prep))
    finally:
        if not args.garder and args.dossier is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
