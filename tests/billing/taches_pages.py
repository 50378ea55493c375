"""Le back-office vu d'un sous-processus, sur la base fichier (ou PostgreSQL dédiée) des
tests multi-processus : requêtes par le client de test de Django, connecté sans mot de
passe sous le compte de démonstration donné.

- `python tests/billing/taches_pages.py poster COMPTE URL [cle=valeur …]`
- `python tests/billing/taches_pages.py lire COMPTE URL`
- `python tests/billing/taches_pages.py telecharger COMPTE URL FICHIER`

Chaque commande écrit une ligne JSON : code HTTP, redirection, texte de la page.
"""

from __future__ import annotations

import html
import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> dict:
    os.environ.setdefault("OPSN_HOTES", "testserver")
    from opsn.web.bootstrap import setup

    setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.signals import user_logged_in
    from django.test import Client

    # Une page lue n'écrit rien en base, même pendant la transaction d'un travailleur
    # (SQLite : un seul écrivain) : session en cookie signé, connexion sans trace.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    user_logged_in.receivers.clear()

    command, username, url, *rest = argv
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    if command == "poster":
        response = client.post(url, dict(item.split("=", 1) for item in rest))
    else:
        response = client.get(url)
    result = {"code": response.status_code, "location": response.get("Location", "")}
    if command == "telecharger":
        body = b"".join(response.streaming_content) if response.streaming else response.content
        response.close()
        Path(rest[0]).write_bytes(body)
    else:
        result["page"] = html.unescape(response.content.decode("utf-8", "replace"))
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), ensure_ascii=False))
