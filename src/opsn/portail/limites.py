"""Limitation du débit des pages et de l'API publiques, par adresse IP.

Fenêtre fixe comptée dans le cache de Django (mémoire du processus par défaut : avec
plusieurs processus gunicorn, chacun compte pour lui ; un cache partagé, Redis ou base,
compte pour tous, voir docs/portail.md). Les débits se règlent dans l'environnement :
`OPSN_API_DEBIT` (API du simulateur, 300 requêtes par minute par défaut),
`OPSN_DEVIS_DEBIT` (devis établis, 30 par heure) et `OPSN_CONTACT_DEBIT` (demandes de
contact, 10 par heure). L'adresse est celle de la connexion (REMOTE_ADDR) ; derrière un
mandataire (`OPSN_PROXY=1`), la dernière de X-Forwarded-For, celle que le mandataire a vue.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

PERIODS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
DEFAULTS = {"api": "300/m", "devis": "30/h", "contact": "10/h"}
SETTINGS = {"api": "OPSN_API_DEBIT", "devis": "OPSN_DEVIS_DEBIT", "contact": "OPSN_CONTACT_DEBIT"}
PERIOD_FR = {1: "seconde", 60: "minute", 3600: "heure", 86400: "jour"}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        number, _, period = text.strip().partition("/")
        return cls(int(number), PERIODS[period.strip() or "m"])

    def describe(self) -> str:
        return f"{self.count} par {PERIOD_FR.get(self.seconds, f'{self.seconds} s')}"


def rate(scope: str) -> Rate:
    return Rate.parse(getattr(settings, SETTINGS[scope], None) or DEFAULTS[scope])


def client_ip(request: HttpRequest) -> str:
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()[:64]
    return str(request.META.get("REMOTE_ADDR") or "inconnue")[:64]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int
    rate: Rate

    @property
    def message(self) -> str:
        return (
            f"Trop de requêtes depuis votre adresse ({self.rate.describe()} au plus) : "
            f"réessayez dans {self.retry_after} seconde(s)."
        )


def hit(request: HttpRequest, scope: str) -> Verdict:
    """Compte une requête de `scope` pour l'adresse du client ; refusée au-delà du débit."""
    limit = rate(scope)
    now = time.time()
    window = int(now // limit.seconds)
    key = f"opsn-debit:{scope}:{client_ip(request)}:{window}"
    cache.add(key, 0, timeout=limit.seconds + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expirée entre add et incr
        cache.set(key, 1, timeout=limit.seconds + 1)
        count = 1
    retry = max(1, int((window + 1) * limit.seconds - now) + 1)
    return Verdict(count <= limit.count, retry, limit)
