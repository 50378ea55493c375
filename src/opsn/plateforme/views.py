"""Pages de la plateforme : indices (données de référence), équipe d'un opérateur (son
administrateur), opérateurs (administrateur de la plateforme). Vues minces : les écritures
passent par `opsn.plateforme.comptes` et `opsn.plateforme.indices`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from opsn.gestion.models import IndexValue, Operator, Role, StaffMembership
from opsn.plateforme import comptes, indices
from opsn.plateforme.formulaires import IndexValueForm, InviteForm, OperatorForm, RoleForm


def _status(form: Any) -> int:
    return 400 if form.is_bound and form.errors else 200


# -- indices ---------------------------------------------------------------------------------


@login_required
def index_values(request: HttpRequest) -> HttpResponse:
    """Valeurs SYNTEC : consultation (tous) ; saisie et correction (administrateur de la
    plateforme)."""
    may_write = comptes.is_platform_admin(request.user)
    today = timezone.localdate()
    form = IndexValueForm(request.POST or None, today=today) if may_write else None
    if request.method == "POST":
        if not may_write:
            raise PermissionDenied(
                "Les indices sont des données de la plateforme : seul son administrateur les "
                "saisit."
            )
        assert form is not None
        if form.is_valid():
            data = form.cleaned_data
            try:
                item = indices.index_value_set(
                    actor=request.user,
                    month=data["mois"],
                    value=data["valeur"],
                    series=data["serie"],
                    source=data["source"],
                    reason=data["motif"],
                    today=today,
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"Indice SYNTEC {item.month} ({item.series}) enregistré.")
                return redirect("indices")
    return render(
        request,
        "plateforme/indices.html",
        {
            "valeurs": IndexValue.objects.order_by("-month", "series"),
            "mois_factures": indices.months_used_by_issued_invoices(),
            "form": form.mark_errors() if form is not None else None,
        },
        status=_status(form) if form is not None else 200,
    )


# -- équipe d'un opérateur --------------------------------------------------------------------


def _managed(request: HttpRequest) -> tuple[list[Operator], Operator]:
    operators = comptes.managed_operators(request.user)
    if not operators:
        raise PermissionDenied("Réservé à l'administrateur de l'opérateur.")
    code = request.GET.get("operateur") or request.POST.get("operateur")
    for op in operators:
        if op.code == code:
            return operators, op
    return operators, operators[0]


@never_cache
@login_required
def team(request: HttpRequest) -> HttpResponse:
    """Équipe de l'opérateur : comptes, rôles, invitation d'une personne."""
    operators, operator = _managed(request)
    form = InviteForm(request.POST or None, operator=operator)
    created = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = comptes.staff_invite(
                actor=request.user,
                operator=operator,
                username=data["identifiant"],
                role=data["role"],
                member=data["adherent"],
                first_name=data["prenom"],
                last_name=data["nom"],
                email=data["courriel"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            form = InviteForm(operator=operator)  # compte créé : formulaire vierge
    return render(
        request,
        "plateforme/equipe.html",
        {
            "operateurs": operators,
            "operateur": operator,
            "habilitations": comptes.staff_of(actor=request.user, operator=operator),
            "form": form.mark_errors(),
            "cree": created,
        },
        status=_status(form),
    )


@never_cache
@login_required
def team_membership(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Une habilitation de l'équipe : changer le rôle, retirer, nouveau mot de passe."""
    operators = comptes.managed_operators(request.user)
    if not operators:
        raise PermissionDenied("Réservé à l'administrateur de l'opérateur.")
    membership = (
        StaffMembership.objects.select_related("user", "operator", "member")
        .filter(pk=membership_id, operator__in=operators)
        .first()
    )
    if membership is None:
        raise Http404("Habilitation introuvable.")
    operator = membership.operator
    action = request.POST.get("action", "") if request.method == "POST" else ""
    role_form = RoleForm(
        request.POST if action == "role" else None,
        operator=operator,
        initial={"role": membership.role, "adherent": membership.member_id},
    )
    password = None
    errors: list[str] = []
    try:
        if action == "role":
            if role_form.is_valid():
                try:
                    comptes.staff_change_role(
                        actor=request.user,
                        membership=membership,
                        role=role_form.cleaned_data["role"],
                        member=role_form.cleaned_data["adherent"],
                    )
                except ValidationError as exc:
                    role_form.add_service_errors(exc)
                else:
                    messages.success(request, f"Rôle de {membership.user.username} modifié.")
                    return redirect("equipe-habilitation", membership_id=membership.pk)
        elif action == "retirer":
            deactivated = comptes.staff_remove(actor=request.user, membership=membership)
            messages.success(
                request,
                f"{membership.user.username} n'a plus de rôle chez {operator.name}"
                + (" ; son compte est désactivé." if deactivated else "."),
            )
            return redirect(f"{reverse('equipe')}?{urlencode({'operateur': operator.code})}")
        elif action == "mot_de_passe":
            password = comptes.staff_new_password(actor=request.user, membership=membership)
        elif action:
            errors.append("Action inconnue.")
    except ValidationError as exc:
        errors.extend(exc.messages)
    bad = bool(errors) or (role_form.is_bound and bool(role_form.errors))
    return render(
        request,
        "plateforme/habilitation.html",
        {
            "h": membership,
            "operateur": operator,
            "form": role_form.mark_errors(),
            "mot_de_passe": password,
            "erreurs": errors,
        },
        status=400 if bad else 200,
    )


# -- opérateurs (administrateur de la plateforme) ----------------------------------------------


@never_cache
@login_required
def operators(request: HttpRequest) -> HttpResponse:
    """Opérateurs de la plateforme ; création d'un opérateur et de son administrateur."""
    if not comptes.is_platform_admin(request.user):
        raise PermissionDenied("Réservé à l'administrateur de la plateforme.")
    form = OperatorForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = comptes.operator_create(
                actor=request.user,
                code=data["code"],
                name=data["raison_sociale"],
                siren=data["siren"],
                admin_username=data["identifiant_admin"],
                admin_email=data["courriel_admin"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            form = OperatorForm()
    rows = Operator.objects.annotate(
        comptes=Count("staff", filter=Q(staff__user__is_active=True)),
        administrateurs=Count("staff", filter=Q(staff__role=Role.ADMIN)),
    ).order_by("code")
    return render(
        request,
        "plateforme/operateurs.html",
        {"operateurs": rows, "form": form.mark_errors(), "cree": created},
        status=_status(form),
    )
