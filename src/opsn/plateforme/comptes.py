"""Comptes et rôles : administrateurs de la plateforme, opérateurs, équipe d'un opérateur.

Deux mondes séparés :
- l'**administrateur de la plateforme** (`PlatformAdmin`) crée les opérateurs (avec leur
  premier administrateur), tient les données de référence (indices) et seul entre dans
  l'administration Django, limitée aux données de la plateforme. Il n'est personnel
  d'aucun opérateur ;
- le **personnel d'un opérateur** (`StaffMembership`) n'est jamais superutilisateur ni
  `is_staff` ; l'administrateur de l'opérateur gère son équipe dans l'application
  (inviter, changer un rôle, retirer), sans jamais toucher un compte ou une habilitation
  d'un autre opérateur.

Pourquoi un modèle `PlatformAdmin` plutôt que `is_superuser` : un superutilisateur a toutes
les permissions Django, partout (c'est ainsi que l'administrateur d'un opérateur lisait et
modifiait les autres) ; `is_staff` ouvre l'administration à quiconque le reçoit. Une table
dédiée dit exactement qui est administrateur de la plateforme, se vérifie en une requête,
et l'administration Django ne consulte qu'elle (`opsn.plateforme.admin`).

Toute écriture est notée au journal d'audit (qui, quand, avant, après), sans jamais y
copier un mot de passe.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet

from opsn.gestion import audit
from opsn.gestion.models import Member, Operator, PlatformAdmin, Role, StaffMembership
from opsn.gestion.permissions import SYSTEM, require

ROLE_LABELS = dict(Role.choices)
OPERATOR_CODE_MAX = Operator._meta.get_field("code").max_length
OPERATOR_NAME_MAX = Operator._meta.get_field("name").max_length


def is_platform_admin(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    return PlatformAdmin.objects.filter(user_id=user.pk).exists()


def _require_platform_admin(actor: Any) -> None:
    if actor is SYSTEM:
        return
    if not is_platform_admin(actor):
        raise PermissionDenied("Réservé à l'administrateur de la plateforme.")


def new_password() -> str:
    """Mot de passe initial, affiché une seule fois à qui crée le compte."""
    return secrets.token_urlsafe(12)


def _user_snapshot(user: Any) -> dict[str, Any]:
    return {
        "identifiant": user.username,
        "prenom": user.first_name,
        "nom": user.last_name,
        "courriel": user.email,
        "actif": user.is_active,
    }


def _membership_snapshot(m: StaffMembership) -> dict[str, Any]:
    return {
        "utilisateur": m.user.username,
        "operateur": m.operator.code,
        "role": m.role,
        "adherent": m.member_id,
    }


def _clean_username(username: str) -> str:
    username = (username or "").strip()
    if not username:
        raise ValidationError({"username": "Identifiant : obligatoire."})
    if len(username) > 150:
        raise ValidationError({"username": "Identifiant : 150 caractères au plus."})
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError:
        raise ValidationError(
            {"username": "Identifiant : lettres, chiffres et @ . + - _ seulement."}
        ) from None
    if get_user_model().objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": f"Identifiant : « {username} » est déjà pris."})
    return username


def _create_user(
    username: str, *, first_name: str = "", last_name: str = "", email: str = ""
) -> tuple[Any, str]:
    if email:
        from django.core.validators import validate_email

        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError({"email": f"Courriel : « {email} » n'est pas valide."}) from None
    for key, value, label in (
        ("first_name", first_name, "Prénom"),
        ("last_name", last_name, "Nom"),
    ):
        if len(value) > 150:
            raise ValidationError({key: f"{label} : 150 caractères au plus."})
    password = new_password()
    user = get_user_model().objects.create_user(
        username,
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        is_staff=False,
        is_superuser=False,
    )
    return user, password


# -- administrateurs de la plateforme ------------------------------------------------------


def platform_admin_create(
    *, actor: Any, username: str, password: str | None = None, email: str = ""
) -> tuple[Any, str]:
    """Crée un compte administrateur de la plateforme ; renvoie (compte, mot de passe)."""
    _require_platform_admin(actor)
    username = _clean_username(username)
    with audit.acting_as(actor), transaction.atomic():
        user, generated = _create_user(username, email=email)
        if password is not None:
            user.set_password(password)
            user.save(update_fields=["password"])
        PlatformAdmin.objects.create(
            user=user, granted_by=actor if getattr(actor, "is_authenticated", False) else None
        )
        audit.record(
            action="création",
            object_type="platformadmin",
            object_id=user.pk,
            object_repr=f"Administrateur de la plateforme {user.username}",
            after=_user_snapshot(user),
        )
    return user, password if password is not None else generated


# -- opérateurs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    membership: StaffMembership
    password: str  # à transmettre à la personne ; jamais stocké en clair


def operator_create(
    *,
    actor: Any,
    code: str,
    name: str,
    siren: str = "",
    admin_username: str,
    admin_email: str = "",
) -> Invitation:
    """Nouvel opérateur et son premier administrateur (mot de passe initial renvoyé)."""
    _require_platform_admin(actor)
    code = (code or "").strip().lower()
    name = (name or "").strip()
    siren = (siren or "").strip().replace(" ", "")
    errors: dict[str, str] = {}
    from django.utils.text import slugify

    if not code or slugify(code) != code or len(code) > OPERATOR_CODE_MAX:
        errors["code"] = (
            f"Code : lettres minuscules, chiffres et tirets, {OPERATOR_CODE_MAX} caractères au "
            "plus (par exemple cdg82)."
        )
    elif Operator.objects.filter(code=code).exists():
        errors["code"] = f"Code : l'opérateur « {code} » existe déjà."
    if not name or len(name) > OPERATOR_NAME_MAX:
        errors["name"] = f"Raison sociale : obligatoire, {OPERATOR_NAME_MAX} caractères au plus."
    if siren and not (siren.isdigit() and len(siren) == 9):
        errors["siren"] = "SIREN : 9 chiffres."
    if errors:
        raise ValidationError(errors)
    with audit.acting_as(actor), transaction.atomic():
        operator = Operator.objects.create(code=code, name=name, siren=siren)  # audité (signal)
        return _invite(
            operator=operator,
            username=admin_username,
            role=Role.ADMIN,
            member=None,
            email=admin_email,
        )


# -- équipe d'un opérateur -------------------------------------------------------------------


def managed_operators(user: Any) -> list[Operator]:
    """Opérateurs dont l'utilisateur administre l'équipe."""
    if not getattr(user, "is_authenticated", False):
        return []
    return [
        m.operator
        for m in StaffMembership.objects.filter(user=user, role=Role.ADMIN).select_related(
            "operator"
        )
    ]


def staff_of(*, actor: Any, operator: Operator) -> QuerySet[StaffMembership]:
    require(actor, "gerer_equipe", operator=operator)
    return (
        StaffMembership.objects.filter(operator=operator)
        .select_related("user", "member")
        .order_by("user__username")
    )


def _check_role(operator: Operator, role: str, member: Member | None) -> Member | None:
    if role not in Role.values:
        raise ValidationError({"role": "Rôle : choisissez un rôle de la liste."})
    if role == Role.REFERENT:
        if member is None or member.operator_id != operator.pk:
            raise ValidationError(
                {"member": "Adhérent : un référent est rattaché à un adhérent de l'opérateur."}
            )
        return member
    return None


def _invite(
    *,
    operator: Operator,
    username: str,
    role: str,
    member: Member | None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> Invitation:
    member = _check_role(operator, role, member)
    username = _clean_username(username)
    user, password = _create_user(
        username, first_name=first_name.strip(), last_name=last_name.strip(), email=email.strip()
    )
    membership = StaffMembership.objects.create(
        user=user, operator=operator, role=role, member=member
    )
    audit.record(
        action="invitation",
        object_type="staffmembership",
        object_id=membership.pk,
        object_repr=f"{user.username} – {ROLE_LABELS[role]} ({operator.code})",
        operator_id=operator.pk,
        after={**_user_snapshot(user), **_membership_snapshot(membership)},
    )
    return Invitation(membership, password)


def staff_invite(
    *,
    actor: Any,
    operator: Operator,
    username: str,
    role: str,
    member: Member | None = None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> Invitation:
    """Crée un compte avec un rôle chez l'opérateur ; le mot de passe initial est renvoyé
    une fois, pour être transmis à la personne."""
    require(actor, "gerer_equipe", operator=operator)
    with audit.acting_as(actor), transaction.atomic():
        return _invite(
            operator=operator,
            username=username,
            role=role,
            member=member,
            first_name=first_name,
            last_name=last_name,
            email=email,
        )


def _other_admins(membership: StaffMembership) -> bool:
    return (
        StaffMembership.objects.filter(
            operator_id=membership.operator_id, role=Role.ADMIN, user__is_active=True
        )
        .exclude(pk=membership.pk)
        .exists()
    )


def staff_change_role(
    *, actor: Any, membership: StaffMembership, role: str, member: Member | None = None
) -> StaffMembership:
    require(actor, "gerer_equipe", operator=membership.operator_id)
    operator = membership.operator
    member = _check_role(operator, role, member)
    with audit.acting_as(actor), transaction.atomic():
        membership = StaffMembership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == role and membership.member_id == (member.pk if member else None):
            return membership
        if membership.role == Role.ADMIN and role != Role.ADMIN and not _other_admins(membership):
            raise ValidationError(
                {"role": "L'opérateur garde au moins un administrateur : nommez-en un autre avant."}
            )
        before = _membership_snapshot(membership)
        membership.role, membership.member = role, member
        membership.save(update_fields=["role", "member"])
        audit.record(
            action="changement de rôle",
            object_type="staffmembership",
            object_id=membership.pk,
            object_repr=f"{membership.user.username} – {ROLE_LABELS[role]} ({operator.code})",
            operator_id=operator.pk,
            before=before,
            after=_membership_snapshot(membership),
        )
    return membership


def staff_remove(*, actor: Any, membership: StaffMembership) -> bool:
    """Retire l'habilitation ; désactive le compte s'il n'en a plus aucune (et n'est pas
    administrateur de la plateforme). Renvoie True si le compte a été désactivé."""
    require(actor, "gerer_equipe", operator=membership.operator_id)
    with audit.acting_as(actor), transaction.atomic():
        membership = (
            StaffMembership.objects.select_for_update()
            .select_related("user", "operator")
            .get(pk=membership.pk)
        )
        if membership.role == Role.ADMIN and not _other_admins(membership):
            raise ValidationError(
                {"role": "L'opérateur garde au moins un administrateur : nommez-en un autre avant."}
            )
        user, operator = membership.user, membership.operator
        before = _membership_snapshot(membership)
        membership_id = membership.pk
        membership.delete()
        deactivated = False
        if (
            not StaffMembership.objects.filter(user=user).exists()
            and not PlatformAdmin.objects.filter(user=user).exists()
        ):
            user.is_active = False
            user.save(update_fields=["is_active"])
            deactivated = True
        audit.record(
            action="retrait",
            object_type="staffmembership",
            object_id=membership_id,
            object_repr=f"{user.username} – {ROLE_LABELS[before['role']]} ({operator.code})",
            operator_id=operator.pk,
            before=before,
            after={"compte_desactive": deactivated},
        )
    return deactivated


def staff_new_password(*, actor: Any, membership: StaffMembership) -> str:
    """Nouveau mot de passe initial, seulement pour un compte qui n'appartient qu'à cet
    opérateur (le compte d'une personne habilitée ailleurs ne se touche pas d'ici)."""
    require(actor, "gerer_equipe", operator=membership.operator_id)
    user = membership.user
    elsewhere = (
        StaffMembership.objects.filter(user=user).exclude(operator_id=membership.operator_id)
    ).exists() or PlatformAdmin.objects.filter(user=user).exists()
    if elsewhere:
        raise ValidationError(
            "Ce compte est aussi habilité ailleurs : son mot de passe ne se change pas d'ici."
        )
    if user.pk == getattr(actor, "pk", None):
        raise ValidationError("Changez votre propre mot de passe depuis votre compte.")
    password = new_password()
    with audit.acting_as(actor), transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit.record(
            action="mot de passe",
            object_type="staffmembership",
            object_id=membership.pk,
            object_repr=f"{user.username} ({membership.operator.code})",
            operator_id=membership.operator_id,
            after={"mot_de_passe": "réinitialisé"},
        )
    return password
