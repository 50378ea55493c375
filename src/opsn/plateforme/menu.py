"""Menu principal selon les droits : un lien n'apparaît que si la page répond à ce rôle.

Chaque entrée est décidée par `opsn.gestion.permissions.can` (table `ACTIONS`) pour au moins
un opérateur de l'utilisateur, comme le font les vues elles-mêmes : un technicien ne voit pas
« Facturation » (la page lui répondrait 403), un référent ne voit que ses pages."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from opsn.gestion.models import Role
from opsn.gestion.permissions import can, memberships


def menu(request: HttpRequest) -> dict[str, Any]:
    """Processeur de contexte : `menu.<entrée>` vaut True si le lien est à afficher."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"menu": {}}
    staff_ops = [m.operator_id for m in memberships(user) if m.role != Role.REFERENT]

    def any_operator(action: str) -> bool:
        return any(can(user, action, operator=op) for op in staff_ops)

    voir = any_operator("voir")
    return {
        "menu": {
            "tableau_de_bord": voir,
            "adherents": True,
            "facturation": any_operator("facturer"),
            "factures": True,
            "evolution": voir,
            "indices": voir,
            "catalogues": any_operator("gerer_catalogues"),
        }
    }
