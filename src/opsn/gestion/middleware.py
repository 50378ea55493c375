"""Intergiciels du back-office."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse


class RejectNulMiddleware:
    """Refuse (400) toute requête dont l'adresse, un paramètre ou un champ de formulaire
    contient le caractère NUL.

    Aucune saisie de l'application n'en contient, et PostgreSQL ne peut ni le stocker ni le
    comparer : une vue qui filtre sur un paramètre brut (`Operator.objects.filter(code=…)`)
    répondrait 500. Les formulaires Django le refusent déjà champ par champ ; ce garde-fou
    couvre aussi les lectures directes de `request.GET` et `request.POST`. Les fichiers
    déposés ne sont pas concernés (leur contenu est validé par leur import).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            "\x00" in request.path
            or _has_nul(request.GET)
            or (request.method == "POST" and _has_nul(request.POST))
        ):
            raise BadRequest("Caractère NUL dans la requête.")
        return self.get_response(request)


def _has_nul(data: object) -> bool:
    return any(
        "\x00" in key or any("\x00" in value for value in data.getlist(key))  # type: ignore[attr-defined]
        for key in data  # type: ignore[attr-defined]
    )
