"""Courriel « console » de la démonstration, écrit sur la sortie d'erreur : la sortie
standard des commandes reste réservée à leurs résultats (`opsn facturer --format json`
émet des factures, donc des avis aux référents, sans mêler les courriels au JSON)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.mail.backends.console import EmailBackend


class StderrEmailBackend(EmailBackend):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream", sys.stderr)
        super().__init__(*args, **kwargs)
