"""Droits par rôle, vérifiés dans les services et les sélecteurs (pas seulement dans les
gabarits). Un référent ne voit que son adhérent ; le personnel ne voit que son opérateur."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from opsn.gestion.models import Member, Operator, Role, StaffMembership

ACTIONS: dict[str, set[str]] = {
    "voir": {Role.ADMIN, Role.BILLING, Role.TECHNICIAN, Role.REFERENT},
    "modifier_conventions": {Role.ADMIN, Role.BILLING},
    "saisir_usages": {Role.ADMIN, Role.BILLING, Role.TECHNICIAN},
    "saisir_interventions": {Role.ADMIN, Role.TECHNICIAN},
    "gerer_equipe": {Role.ADMIN},
    "facturer": {Role.ADMIN, Role.BILLING},
    "importer": {Role.ADMIN, Role.BILLING},
    "gerer_adherents": {Role.ADMIN, Role.BILLING},
    "gerer_catalogues": {Role.ADMIN, Role.BILLING},
}
ACTION_FR = {
    "voir": "consulter",
    "modifier_conventions": "modifier les conventions",
    "saisir_usages": "saisir des usages",
    "saisir_interventions": "saisir des interventions",
    "gerer_equipe": "gérer l'équipe de l'opérateur",
    "facturer": "facturer",
    "importer": "importer des conventions",
    "gerer_adherents": "ajouter des adhérents",
    "gerer_catalogues": "gérer les catalogues",
}


class SystemActor:
    """La ligne de commande sur le serveur : l'exploitant a déjà accès à la base ; ses actions
    sont journalisées sans auteur nominatif (« système »)."""

    is_authenticated = False
    username = "système (ligne de commande)"

    def __str__(self) -> str:
        return self.username


SYSTEM = SystemActor()


# Habilitations lues une seule fois par requête web : `opsn.plateforme.middleware` pose cet
# attribut (None) sur `request.user`, le premier appel de `memberships` y range le jeu de
# résultats, les suivants (menu, vues, `can`) le relisent sans requête SQL. Hors requête web
# (ligne de commande, services appelés par les tests), chaque appel relit la base.
REQUEST_CACHE = "_opsn_habilitations"


def memberships(user: Any) -> QuerySet[StaffMembership]:
    if not getattr(user, "is_authenticated", False):
        return StaffMembership.objects.none()
    cached = getattr(user, REQUEST_CACHE, False)
    if cached is not False and cached is not None:
        return cached
    query = StaffMembership.objects.filter(user=user).select_related("operator", "member")
    if cached is None:
        len(query)  # évalue et garde les résultats pour le reste de la requête
        setattr(user, REQUEST_CACHE, query)
    return query


def forget_memberships(user: Any) -> None:
    """À appeler après avoir changé les habilitations de l'utilisateur de la requête."""
    if getattr(user, REQUEST_CACHE, False) is not False:
        setattr(user, REQUEST_CACHE, None)


def role_for(user: Any, operator: Operator | int) -> StaffMembership | None:
    operator_id = operator if isinstance(operator, int) else operator.pk
    return next((m for m in memberships(user) if m.operator_id == operator_id), None)


def can(user: Any, action: str, *, operator: Operator | int, member: Member | None = None) -> bool:
    membership = role_for(user, operator)
    if membership is None or membership.role not in ACTIONS[action]:
        return False
    if membership.role == Role.REFERENT:
        return member is not None and member.pk == membership.member_id
    return True


def require(
    user: Any, action: str, *, operator: Operator | int, member: Member | None = None
) -> None:
    if user is SYSTEM:
        return
    if not can(user, action, operator=operator, member=member):
        verb = ACTION_FR[action]
        de = "d'" if verb[0] in "aeiouyéè" else "de "
        raise PermissionDenied(
            f"Votre rôle ne vous permet pas {de}{verb} pour cet adhérent ou cet opérateur."
        )


def visible_members(user: Any) -> QuerySet[Member]:
    """Adhérents qu'un utilisateur peut consulter."""
    staff_ops = []
    referent_members = []
    for m in memberships(user):
        if m.role == Role.REFERENT:
            referent_members.append(m.member_id)
        else:
            staff_ops.append(m.operator_id)
    from django.db.models import Q

    return Member.objects.filter(Q(operator_id__in=staff_ops) | Q(pk__in=referent_members))


def is_staff_of_any(user: Any) -> bool:
    return memberships(user).exclude(role=Role.REFERENT).exists()
