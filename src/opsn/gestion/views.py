"""Vues minces : elles lisent par les sélecteurs, écrivent par les services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone

from opsn.core.model import Catalogue
from opsn.gestion import bridge, selectors, services
from opsn.gestion.models import Convention, MemberKind, Operator, Role
from opsn.gestion.permissions import can, memberships


def context(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    ms = list(memberships(user)) if user is not None else []
    return {
        "habilitations": ms,
        "est_personnel": any(m.role != Role.REFERENT for m in ms),
        "liens_comptes": _account_links(user, ms),
    }


def _account_links(user: Any, ms: list[Any]) -> list[tuple[str, str]]:
    """Liens de gestion des comptes : équipe (administrateur d'un opérateur), opérateurs,
    indices et administration (administrateur de la plateforme)."""
    from django.urls import reverse

    from opsn.plateforme.comptes import is_platform_admin

    links = []
    if any(m.role == Role.ADMIN for m in ms):
        links.append((reverse("equipe"), "Équipe"))
    if is_platform_admin(user):
        links += [
            (reverse("plateforme"), "Opérateurs"),
            (reverse("indices"), "Indices"),
            (reverse("admin:index"), "Administration de la plateforme"),
        ]
    return links


def _today() -> dt.date:
    return timezone.localdate()


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    if getattr(user, "is_authenticated", False):
        links.append((reverse("mot-de-passe"), "Mot de passe"))
    ms = list(memberships(request.user))
    if ms and all(m.role == Role.REFERENT for m in ms):
        return redirect("adherent", member_id=ms[0].member_id)
    today = _today()
    deadlines = selectors.dashboard_deadlines(user=request.user, today=today)
    from opsn.facturation.views import revenue_chart

    chart = revenue_chart([m.operator_id for m in ms if m.role != Role.REFERENT])
    return render(
        request,
        "gestion/dashboard.html",
        {"echeances": deadlines, "today": today, "graphique": chart},
    )


@login_required
def member_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    kind = request.GET.get("type", "")
    operator = request.GET.get("operateur", "")
    members = selectors.member_list(user=request.user, query=query, kind=kind, operator=operator)
    operators = Operator.objects.filter(pk__in={m.operator_id for m in memberships(request.user)})
    return render(
        request,
        "gestion/member_list.html",
        {
            "adherents": members[:500],
            "total": members.count(),
            "q": query,
            "type": kind,
            "operateur": operator,
            "types": MemberKind.choices,
            "operateurs": operators,
        },
    )


@login_required
def member_detail(request: HttpRequest, member_id: int) -> HttpResponse:
    member = selectors.member_get(user=request.user, member_id=member_id)
    today = _today()
    year = int(request.GET.get("annee", today.year))
    overviews = [
        selectors.convention_overview(c, year=year, today=today)
        for c in member.conventions.select_related("catalogue").all()
    ]
    return render(
        request,
        "gestion/member_detail.html",
        {
            "adherent": member,
            "annee": year,
            "syntheses": overviews,
            "interventions": member.interventions.all()[:50],
            "certificats": member.certificates.all(),
            "usages": member.usage_records.order_by("-year", "counter"),
            "rattaches": member.attached.all(),
            "audit": selectors.audit_for(member)[:30],
            "demandes": member.requests.select_related("author", "handled_by")[:20],
            "today": today,
            "peut_modifier": can(
                request.user, "modifier_conventions", operator=member.operator_id, member=member
            ),
            "peut_intervenir": can(
                request.user, "saisir_interventions", operator=member.operator_id, member=member
            ),
            "peut_saisir_usage": can(
                request.user, "saisir_usages", operator=member.operator_id, member=member
            ),
        },
    )


@login_required
def convention_detail(request: HttpRequest, convention_id: int) -> HttpResponse:
    convention = selectors.convention_get(user=request.user, convention_id=convention_id)
    today = _today()
    overview = selectors.convention_overview(convention, year=today.year, today=today)
    sub_ids = [str(s.pk) for s in convention.subscriptions.all()]
    catalogue = bridge.catalogue_of(convention.catalogue)
    return render(
        request,
        "gestion/convention_detail.html",
        {
            "convention": convention,
            "synthese": overview,
            "abonnements": _subscription_rows(convention, catalogue),
            "avenants": convention.amendments.select_related("created_by").all(),
            "audit": selectors.audit_for(convention, extra=[("subscription", sub_ids)])[:50],
            "peut_modifier": can(
                request.user,
                "modifier_conventions",
                operator=convention.operator_id,
                member=convention.member,
            ),
        },
    )


def _subscription_rows(convention: Convention, catalogue: Catalogue) -> list[dict[str, Any]]:
    rows = []
    for sub in convention.subscriptions.all():
        service = catalogue.services.get(sub.service_code)
        rows.append(
            {
                "obj": sub,
                "libelle": service.label if service else sub.service_code,
                "quantites": [
                    {"code": q.code, "libelle": q.label, "valeur": sub.quantities.get(q.code, "0")}
                    for q in (service.quantities if service else ())
                ],
            }
        )
    return rows


@login_required
def convention_edit(request: HttpRequest, convention_id: int) -> HttpResponse:
    convention = selectors.convention_get(user=request.user, convention_id=convention_id)
    if not can(
        request.user,
        "modifier_conventions",
        operator=convention.operator_id,
        member=convention.member,
    ):
        raise PermissionDenied("Vous n'avez pas le droit de modifier cette convention.")
    catalogue = bridge.catalogue_of(convention.catalogue)
    rows = _subscription_rows(convention, catalogue)
    errors: list[str] = []
    if request.method == "POST":
        try:
            changes, effective_on, notice = _parse_edit(request.POST, rows, catalogue)
            amendment = services.convention_amend(
                actor=request.user,
                convention=convention,
                effective_on=effective_on,
                changes=changes,
                reason=request.POST.get("motif", "").strip(),
                notice_received_on=notice,
            )
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, f"Avenant n° {amendment.number} enregistré.")
            return redirect("convention", convention_id=convention.pk)
    services_choices = sorted(
        ((s.code, s.label) for s in catalogue.services.values() if not s.day_rate),
        key=lambda x: x[1],
    )
    return render(
        request,
        "gestion/convention_edit.html",
        {
            "convention": convention,
            "abonnements": rows,
            "erreurs": errors,
            "services": services_choices,
            "post": request.POST,
            "date_effet": request.POST.get("date_effet") or _today().isoformat(),
            "quantites_services": {
                s.code: [(q.code, q.label) for q in s.quantities]
                for s in catalogue.services.values()
            },
        },
        status=400 if errors else 200,
    )


def _decimal(text: str, label: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", ".").strip() or "0")
    except InvalidOperation:
        raise ValidationError(f"{label} : « {text} » n'est pas un nombre.") from None
    if not value.is_finite():
        raise ValidationError(f"{label} : « {text} » n'est pas un nombre.")
    return value


def _parse_edit(
    post: QueryDict, rows: list[dict[str, Any]], catalogue: Catalogue
) -> tuple[list[services.SubscriptionChange], dt.date, dt.date | None]:
    try:
        effective_on = dt.date.fromisoformat(post.get("date_effet", ""))
    except ValueError:
        raise ValidationError("Date d'effet : une date AAAA-MM-JJ est attendue.") from None
    notice_text = post.get("preavis_recu", "").strip()
    try:
        notice = dt.date.fromisoformat(notice_text) if notice_text else None
    except ValueError:
        raise ValidationError("Préavis reçu le : une date AAAA-MM-JJ est attendue.") from None
    changes = []
    for row in rows:
        sub = row["obj"]
        if sub.ended_on is not None:
            continue
        if post.get(f"fin_{sub.pk}"):
            changes.append(
                services.SubscriptionChange("fin", sub.service_code, subscription_id=sub.pk)
            )
            continue
        quantities = {
            q["code"]: _decimal(
                post.get(f"q_{sub.pk}_{q['code']}", str(q["valeur"])),
                f"{row['libelle']} – {q['libelle']}",
            )
            for q in row["quantites"]
        }
        if quantities:
            changes.append(
                services.SubscriptionChange(
                    "modification", sub.service_code, quantities, subscription_id=sub.pk
                )
            )
    new_service = post.get("nouveau_service", "").strip()
    if new_service:
        service = catalogue.services.get(new_service)
        if service is None:
            raise ValidationError(f"Service « {new_service} » inconnu.")
        quantities = {
            q.code: _decimal(
                post.get(f"nouveau_{new_service}_{q.code}", ""), f"{service.label} – {q.label}"
            )
            for q in service.quantities
            if post.get(f"nouveau_{new_service}_{q.code}", "").strip()
        }
        changes.append(services.SubscriptionChange("ajout", new_service, quantities))
    return changes, effective_on, notice


@login_required
def member_record(request: HttpRequest, member_id: int, what: str) -> HttpResponse:
    """Saisie d'une intervention (technicien) ou d'un relevé d'usage depuis la fiche."""
    member = selectors.member_get(user=request.user, member_id=member_id)
    if request.method != "POST":
        return redirect("adherent", member_id=member.pk)
    try:
        if what == "intervention":
            services.intervention_record(
                actor=request.user,
                member=member,
                day=_date_field(request.POST.get("date", ""), "Date"),
                days=_decimal(request.POST.get("jours", ""), "Durée"),
                label=request.POST.get("objet", "").strip() or "Intervention",
                allowance=request.POST.get("dotation", "").strip(),
            )
            messages.success(request, "Intervention enregistrée.")
        elif what == "usage":
            services.usage_record(
                actor=request.user,
                member=member,
                year=int(request.POST.get("annee") or _today().year),
                counter=request.POST.get("compteur", "").strip(),
                quantity=_decimal(request.POST.get("quantite", ""), "Quantité"),
            )
            messages.success(request, "Relevé d'usage enregistré.")
        else:
            raise PermissionDenied
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except ValueError:
        messages.error(request, "Année invalide.")
    return redirect("adherent", member_id=member.pk)


def _date_field(text: str, label: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{label} : une date AAAA-MM-JJ est attendue.") from None


@login_required
def change_request(request: HttpRequest, member_id: int) -> HttpResponse:
    """Dépôt (référent) ou clôture (personnel) d'une demande de modification."""
    from opsn.gestion.models import ChangeRequest

    member = selectors.member_get(user=request.user, member_id=member_id)
    if request.method == "POST":
        try:
            if request.POST.get("cloturer"):
                item = ChangeRequest.objects.get(pk=request.POST["cloturer"], member=member)
                services.change_request_close(actor=request.user, request=item, now=timezone.now())
                messages.success(request, "Demande marquée comme traitée.")
            else:
                convention = member.conventions.filter(
                    pk=request.POST.get("convention") or 0
                ).first()
                services.change_request_submit(
                    actor=request.user,
                    member=member,
                    convention=convention,
                    message=request.POST.get("message", ""),
                )
                messages.success(request, "Demande transmise à l'opérateur.")
        except (ValidationError, ChangeRequest.DoesNotExist) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", ["Demande inconnue."])))
    return redirect("adherent", member_id=member.pk)
