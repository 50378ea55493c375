"""Initialise Django pour la ligne de commande (le cœur n'en a pas besoin)."""

import os


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsn.web.settings")
    import django

    django.setup()
