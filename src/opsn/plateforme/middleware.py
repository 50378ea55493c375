"""Intergiciel des habilitations : une seule lecture des rôles de l'utilisateur par requête.

Le menu, le processeur de contexte, les vues et `permissions.can` demandent tous les rôles de
l'utilisateur ; sans ce cache, une page en relisait 5 à 8 fois la table (jointe aux
opérateurs et aux adhérents). Le cache vit sur `request.user`, objet neuf à chaque requête :
il ne survit pas à la requête."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from opsn.gestion.permissions import REQUEST_CACHE


class HabilitationsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            setattr(user, REQUEST_CACHE, None)
        return self.get_response(request)
