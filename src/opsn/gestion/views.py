"""Vues minces : elles lisent par les sélecteurs, écrivent par les services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from opsn.core.model import Catalogue
from opsn.core.money import fmt_fr
from opsn.facturation import motifs
from opsn.gestion import bridge, selectors, services
from opsn.gestion.forms import (
    AmendmentForm,
    ChangeRequestCloseForm,
    ChangeRequestForm,
    InterventionForm,
    MemberFilterForm,
    UsageForm,
    YearQueryForm,
)
from opsn.gestion.models import Convention, MemberKind, Operator, Role
from opsn.gestion.permissions import can, memberships
from opsn.plateforme.formulaires import FrenchForm


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
    if getattr(user, "is_authenticated", False):
        links.append((reverse("mot-de-passe"), "Mot de passe"))
    return links


def _today() -> dt.date:
    return timezone.localdate()


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    ms = list(memberships(request.user))
    if ms and all(m.role == Role.REFERENT for m in ms):
        return redirect("portail")  # l'espace du référent (opsn.portail)
    today = _today()
    deadlines = selectors.dashboard_deadlines(user=request.user, today=today)
    from opsn.facturation.views import revenue_chart

    chart = revenue_chart([m.operator_id for m in ms if m.role != Role.REFERENT])
    billing_ops = [
        m.operator
        for m in ms
        if m.role != Role.REFERENT and can(request.user, "facturer", operator=m.operator)
    ]
    todo: dict[str, Any] = {}
    operator = None
    year = today.year
    if billing_ops:
        code = request.GET.get("operateur") or ""
        operator = next((o for o in billing_ops if o.code == code), billing_ops[0])
        year, bills = _dashboard_year(request, operator, today)
        todo = billing_todo(request.user, operator, year, bills)
    return render(
        request,
        "gestion/dashboard.html",
        {
            "echeances": deadlines,
            "today": today,
            "graphique": chart,
            "operateurs": billing_ops,
            "operateur": operator,
            "annee": year,
            "annee_max": today.year + 1,
            "a_completer": todo,
        },
    )


# -- « À compléter avant de facturer » ---------------------------------------------------------

_TODO_SHOWN = 20  # éléments montrés par rubrique (tous sont comptés)


def _missing_month(reason: motifs.Blocking) -> tuple[int, str]:
    """Année et mois (« 11 ») de la valeur d'indice qui manque (motif `motifs.INDEX`)."""
    year, month = reason.data["month"].split("-")
    return int(year), month


# Résumé de la campagne d'une année (motifs de blocage, facturable ou non) pour le tableau de
# bord et l'année proposée : calculé une fois, puis gardé tant que les données ne changent
# pas (empreinte : plus grands identifiants des tables qui le font varier ; toute écriture
# du back-office y ajoute au moins une entrée d'audit), au plus 10 minutes. La campagne,
# elle, recalcule toujours tout.
_SUMMARY_SECONDS = 600


def _data_fingerprint() -> tuple:
    from django.db import connection

    from opsn.gestion import models as m

    tables = [
        model._meta.db_table
        for model in (
            m.AuditEntry,
            m.Member,
            m.Convention,
            m.Subscription,
            m.UsageRecord,
            m.Intervention,
            m.Invoice,
            m.IndexValue,
            m.CatalogueVersion,
            m.ReferentialPopulation,
        )
    ]
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT MAX(id) FROM {quote(t)})" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return tuple(cursor.fetchone())


def campaign_summary(operator: Operator, year: int) -> list[SimpleNamespace]:
    """Pour chaque adhérent de la campagne de l'année : `member` (pk, name), `blocking`,
    `billable`, `already_invoiced`, `catalogue` (pk) et `conventions` (pk), tirés de
    `billing_preview`."""
    from django.core.cache import cache

    from opsn.facturation import billing

    stamp = "-".join(str(v or 0) for v in _data_fingerprint())
    key = f"opsn:campagne:v2:{operator.pk}:{year}:{stamp}"  # v2 : motifs rangés (`motifs`)
    summary = cache.get(key)
    if summary is None:
        summary = [
            SimpleNamespace(
                member=SimpleNamespace(pk=b.member.pk, name=b.member.name),
                blocking=list(b.blocking),
                billable=b.billable,
                already_invoiced=b.already_invoiced,
                catalogue=SimpleNamespace(pk=b.catalogue.pk) if b.catalogue else None,
                conventions=[SimpleNamespace(pk=c.pk) for c in b.conventions],
            )
            for b in billing.billing_preview(operator=operator, year=year)
        ]
        cache.set(key, summary, _SUMMARY_SECONDS)
    return summary


def _dashboard_year(
    request: HttpRequest, operator: Operator, today: dt.date
) -> tuple[int, list[SimpleNamespace]]:
    """Année demandée (`annee`, bornée) ou, à défaut, l'année à facturer par défaut."""
    from opsn.core import bounds

    raw = request.GET.get("annee") or ""
    if raw:
        try:
            year = bounds.check_year(raw, today)
        except bounds.BoundError as exc:
            request.annee_ignoree = f"{exc} Année par défaut affichée."  # type: ignore[attr-defined]
        else:
            return year, campaign_summary(operator, year)
    return default_billing_year(operator, today)


def default_billing_year(operator: Operator, today: dt.date) -> tuple[int, list[SimpleNamespace]]:
    """Année à facturer proposée pour l'opérateur, et le calcul de la campagne de cette année.

    L'année en cours si au moins un adhérent y est facturable ; sinon, quand des valeurs
    d'indice manquent (révision SYNTEC), la dernière année que les valeurs publiées
    permettent de réviser (une révision de l'année A lit novembre A−1 : la première valeur
    manquante M donne l'année de M), si elle est facturable ; à défaut, l'année en cours,
    dont le tableau de bord liste ce qui manque. Les motifs viennent du calcul de la
    campagne lui-même (`billing_preview`, par `campaign_summary`), aucune règle n'est refaite
    ici."""
    from opsn.core.bounds import YEAR_MIN

    first = campaign_summary(operator, today.year)
    bills, year = first, today.year
    tried = {year}
    for _ in range(5):
        if any(b.billable for b in bills):
            return year, bills
        missing = [
            _missing_month(reason)
            for b in bills
            for reason in b.blocking
            if reason.kind == motifs.INDEX
        ]
        if not missing:
            break
        candidate = min(missing)[0]
        if candidate in tried or candidate < YEAR_MIN:
            break
        tried.add(candidate)
        year, bills = candidate, campaign_summary(operator, candidate)
    return today.year, first


def billing_todo(user: Any, operator: Operator, year: int, bills: list) -> dict[str, Any]:
    """Ce qui bloque la campagne de l'année, par rubrique, avec le lien du formulaire qui
    le règle : valeurs d'indice, prix « à renseigner », montants sur devis, identités."""
    from django.urls import reverse

    from opsn.plateforme.comptes import is_platform_admin

    sections: dict[str, dict[str, Any]] = {}

    def add(section: str, key: Any, item: dict[str, Any]) -> None:
        entries = sections.setdefault(section, {})
        if key in entries:
            entries[key]["adherents"] += 1
        else:
            entries[key] = {**item, "adherents": 1}

    platform = is_platform_admin(user)
    catalogues = can(user, "gerer_catalogues", operator=operator)
    conventions = can(user, "modifier_conventions", operator=operator)
    index_table = None
    for bill in bills:
        member = bill.member
        member_url = reverse("adherent", args=[member.pk])
        debtor: list[str] = []
        for reason in bill.blocking:
            if reason.kind == motifs.INDEX:
                from opsn.core.errors import month_fr
                from opsn.gestion import bridge

                code = reason.data["index"]
                index_table = index_table or bridge.index_table(code.lower())
                first, month = _missing_month(reason)
                for y in range(first, year):
                    ym = f"{y}-{month}"
                    if y != first and index_table.latest_series_for(ym) is not None:
                        continue
                    add(
                        "indices",
                        ym,
                        {
                            "texte": f"Indice {code.upper()} de {month_fr(ym)} "
                            f"({ym}) : valeur publiée à saisir.",
                            "lien": reverse("indices"),
                            "action": "Saisir la valeur" if platform else "Voir les indices",
                            "qui": ""
                            if platform
                            else "Donnée de la plateforme : seul son administrateur la saisit "
                            "(demandez-la lui, avec la source publiée).",
                        },
                    )
            elif reason.kind == motifs.PRICE:
                version = bill.catalogue
                add(
                    "prix",
                    (version.pk if version else None, reason),
                    {
                        "texte": reason,
                        "lien": reverse("catalogue-nouvelle-version", args=[version.pk])
                        + "?mode=prix"
                        if version
                        else reverse("catalogues"),
                        "action": "Compléter les prix",
                        "qui": ""
                        if catalogues
                        else "À faire par un administrateur ou un chargé de facturation.",
                    },
                )
            elif reason.kind == motifs.QUOTE:
                link = (
                    reverse("convention-montants", args=[bill.conventions[0].pk])
                    if len(bill.conventions) == 1
                    else member_url
                )
                add(
                    "devis",
                    (member.pk, reason),
                    {
                        "texte": f"{member.name} : {reason}",
                        "lien": link,
                        "action": "Saisir le montant",
                        "qui": "" if conventions else "À faire par un administrateur.",
                    },
                )
            elif reason.kind == motifs.DEBTOR:
                debtor.append(reason.data["detail"])
            elif reason.kind == motifs.ISSUER:
                add(
                    "emetteur",
                    reason,
                    {
                        "texte": reason,
                        "lien": reverse("operateur-identite") + f"?operateur={operator.code}",
                        "action": "Compléter l'identité de l'opérateur",
                        "qui": "",
                    },
                )
            else:
                add(
                    "autres",
                    (member.pk, reason),
                    {
                        "texte": f"{member.name} : {reason}",
                        "lien": member_url,
                        "action": "Voir l'adhérent",
                        "qui": "",
                    },
                )
        if debtor:
            add(
                "identites",
                member.pk,
                {
                    "texte": f"{member.name} : {' ; '.join(debtor)}",
                    "lien": reverse("adherent-identite", args=[member.pk]),
                    "action": "Compléter l'identité",
                    "qui": "",
                },
            )
    titles = {
        "indices": "Valeurs d'indice manquantes (révision des prix)",
        "prix": "Prix « à renseigner » dans le catalogue (R15)",
        "devis": "Montants sur devis non saisis (R14)",
        "identites": "Identités des débiteurs incomplètes",
        "emetteur": "Identité de l'opérateur (émetteur) incomplète",
        "autres": "Autres motifs",
    }
    result = []
    for code, title in titles.items():
        entries = list(sections.get(code, {}).values())
        if entries:
            result.append(
                {
                    "code": code,
                    "titre": title,
                    "elements": entries[:_TODO_SHOWN],
                    "caches": max(0, len(entries) - _TODO_SHOWN),
                }
            )
    billable = sum(1 for b in bills if b.billable)
    blocked = sum(1 for b in bills if b.blocking)
    invoiced = sum(1 for b in bills if b.already_invoiced)
    summary = (
        f"{billable} adhérent{'s' if billable > 1 else ''} facturable"
        f"{'s' if billable > 1 else ''} sur {len(bills)} pour {year}"
    )
    if blocked:
        summary += f", {blocked} bloqué{'s' if blocked > 1 else ''}"
    if invoiced:
        summary += f", {invoiced} déjà facturé{'s' if invoiced > 1 else ''}"
    for section in result:
        for entry in section["elements"]:
            n = entry["adherents"]
            entry["concernes"] = (
                f"{n} adhérent{'s' if n > 1 else ''} concerné{'s' if n > 1 else ''}"
            )
    return {
        "rubriques": result,
        "resume": summary + ".",
        "lien_campagne": reverse("facturation") + f"?operateur={operator.code}&annee={year}",
    }


@login_required
def member_list(request: HttpRequest) -> HttpResponse:
    filters = MemberFilterForm(request.GET)
    query, kind, operator = (filters.value(n) for n in ("q", "type", "operateur"))
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
            "filtres_ignores": filters.problems,
            "peut_ajouter": any(
                can(request.user, "gerer_adherents", operator=o) for o in operators
            ),
        },
    )


@login_required
def member_detail(request: HttpRequest, member_id: int) -> HttpResponse:
    member = selectors.member_get(user=request.user, member_id=member_id)
    return _member_page(request, member)


def _member_page(
    request: HttpRequest,
    member: Any,
    *,
    forms_in_error: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    """Fiche adhérent ; après une saisie refusée, le formulaire garde les valeurs saisies et
    montre l'erreur à côté du champ (réponse 400)."""
    today = _today()
    year_query = YearQueryForm(request.GET, today=today, default=today.year)
    year = year_query.year
    given = forms_in_error or {}
    # Chaque section lue une fois, partagée par les devis (bridge) et le gabarit : abonnements,
    # rattachés, interventions et relevés préchargés, catalogue avec son opérateur.
    conventions = list(
        member.conventions.select_related("catalogue__operator").prefetch_related("subscriptions")
    )
    prefetch_related_objects([member], "attached", "interventions")
    usages = list(member.usage_records.order_by("-year", "counter"))
    member.usage_of_year = [u for u in usages if u.year == year]
    overviews = [selectors.convention_overview(c, year=year, today=today) for c in conventions]
    return render(
        request,
        "gestion/member_detail.html",
        {
            "adherent": member,
            "annee": year,
            "syntheses": overviews,
            "interventions": member.interventions.all()[:50],
            "certificats": member.certificates.all(),
            "usages": usages,
            "rattaches": member.attached.all(),
            "audit": _labelled(
                selectors.member_audit(member)[:30],
                [bridge.catalogue_of(c.catalogue) for c in conventions],
            ),
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
            "annee_ignoree": year_query.problem,
            "libelles": _code_labels([bridge.catalogue_of(c.catalogue) for c in conventions]),
            "form_intervention": given.get("intervention") or InterventionForm(today=today),
            "form_usage": given.get("usage") or UsageForm(today=today, year=year),
            "form_demande": given.get("demande") or ChangeRequestForm(member=member),
        },
        status=status,
    )


@login_required
def convention_detail(request: HttpRequest, convention_id: int) -> HttpResponse:
    convention = selectors.convention_get(user=request.user, convention_id=convention_id)
    today = _today()
    overview = selectors.convention_overview(convention, year=today.year, today=today)
    sub_ids = [str(s.pk) for s in convention.subscriptions.all()]
    catalogue = bridge.catalogue_of(convention.catalogue)
    with_amounts = any(
        services.amount_components(catalogue, s.service_code)
        for s in convention.subscriptions.all()
        if s.ended_on is None
    )
    return render(
        request,
        "gestion/convention_detail.html",
        {
            "convention": convention,
            "synthese": overview,
            "abonnements": _subscription_rows(convention, catalogue),
            "avenants": convention.amendments.select_related("created_by").all(),
            "audit": _labelled(
                selectors.audit_for(convention, extra=[("subscription", sub_ids)])[:50],
                [catalogue],
            ),
            "peut_modifier": can(
                request.user,
                "modifier_conventions",
                operator=convention.operator_id,
                member=convention.member,
            ),
            "montants_a_saisir": with_amounts,
        },
    )


def _code_labels(catalogues: list[Catalogue]) -> dict[str, str]:
    """Droits inclus, compteurs d'usage et dotations → libellés (fiche adhérent)."""
    from opsn.portail.simulation import entitlement_labels, usage_counters

    labels: dict[str, str] = {}
    for cat in catalogues:
        for counter in usage_counters(cat):
            labels.setdefault(counter.code, f"{counter.label} ({counter.unit})")
        labels.update(entitlement_labels(cat))
        for service in cat.services.values():
            for allowance in service.allowances:
                labels.setdefault(allowance.code, allowance.label)
    return labels


def _labelled(entries: Any, catalogues: list[Catalogue]) -> list[Any]:
    """Entrées d'audit en libellés, pas en codes : champs, choix, oui/non, dates, services et
    quantités du catalogue (`opsn.portail.libelles`)."""
    from opsn.portail.libelles import Labeller

    labeller = Labeller.of(catalogues)
    result = list(entries)
    for entry in result:
        entry.lignes = labeller.audit(entry)
        entry.titre = labeller.title(entry)
    return result


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
                "montants": [
                    f"{_component_label(service, code)} : "
                    f"{fmt_fr(Decimal(str(value)))} (montant saisi)"
                    for code, value in sorted((sub.amounts or {}).items())
                ],
            }
        )
    return rows


def _component_label(service: Any, code: str) -> str:
    """Libellé d'une composante (montant saisi d'un abonnement)."""
    if service is None:
        return code
    return next((c.label for c in service.components if c.code == code), code)


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
    # avenant ouvert depuis une demande du référent : formulaire pré-rempli, demande acceptée
    # à l'enregistrement (opsn.portail)
    demande = _pending_request(request, convention)
    services_choices = sorted(
        ((s.code, s.label) for s in catalogue.services.values() if not s.day_rate),
        key=lambda x: x[1],
    )
    form = AmendmentForm(
        request.POST if request.method == "POST" else None,
        rows=rows,
        new_services={
            s.code: [(q.code, q.label) for q in s.quantities]
            for s in catalogue.services.values()
            if not s.day_rate
        },
        service_choices=services_choices,
        today=_today(),
        convention=convention,
        initial=_prefill(demande, convention) if demande and request.method != "POST" else None,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            amendment = services.convention_amend(
                actor=request.user,
                convention=convention,
                effective_on=data["date_effet"],
                changes=_amendment_changes(data, rows, catalogue),
                reason=data["motif"],
                notice_received_on=data["preavis_recu"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Avenant n° {amendment.number} enregistré.")
            if demande is not None:
                from opsn.portail.services import change_request_accept

                change_request_accept(
                    actor=request.user, request=demande, amendment=amendment, now=timezone.now()
                )
                messages.success(request, "Demande du référent acceptée ; il en est avisé.")
            return redirect("convention", convention_id=convention.pk)
    for row in rows:
        if row["obj"].ended_on is None:
            row["champs"] = form.subscription_fields(row)
            row["fin"] = form[f"fin_{row['obj'].pk}"]
    return render(
        request,
        "gestion/convention_edit.html",
        {"convention": convention, "abonnements": rows, "form": form, "demande": demande},
        status=400 if form.errors else 200,
    )


def _pending_request(request: HttpRequest, convention: Convention) -> Any:
    """La demande du référent en attente désignée par `?demande=` (ou le champ caché du
    formulaire), si elle porte sur cette convention ; sinon None."""
    raw = str(request.POST.get("demande") or request.GET.get("demande") or "")
    if not raw.isdigit() or len(raw) > 12:
        return None
    from opsn.gestion.models import ChangeRequest, ChangeRequestStatus

    return (
        ChangeRequest.objects.filter(
            pk=int(raw),
            convention=convention,
            status=ChangeRequestStatus.PENDING,
            handled_at__isnull=True,
        )
        .select_related("member")
        .first()
    )


def _prefill(demande: Any, convention: Convention) -> dict[str, Any]:
    from opsn.portail.views import amendment_prefill

    return amendment_prefill(demande, convention, _today())


def _amendment_changes(
    data: dict[str, Any], rows: list[dict[str, Any]], catalogue: Catalogue
) -> list[services.SubscriptionChange]:
    """Lignes d'avenant tirées du formulaire validé (quantités déjà bornées)."""
    changes = []
    for row in rows:
        sub = row["obj"]
        if sub.ended_on is not None:
            continue
        if data.get(f"fin_{sub.pk}"):
            changes.append(
                services.SubscriptionChange("fin", sub.service_code, subscription_id=sub.pk)
            )
            continue
        quantities = {q["code"]: data[f"q_{sub.pk}_{q['code']}"] for q in row["quantites"]}
        if quantities:
            changes.append(
                services.SubscriptionChange(
                    "modification", sub.service_code, quantities, subscription_id=sub.pk
                )
            )
    new_service = data.get("nouveau_service")
    if new_service:
        service = catalogue.services[new_service]
        quantities = {
            q.code: data[f"nouveau_{new_service}_{q.code}"]
            for q in service.quantities
            if data.get(f"nouveau_{new_service}_{q.code}") is not None
        }
        changes.append(services.SubscriptionChange("ajout", new_service, quantities))
    return changes


@login_required
def member_record(request: HttpRequest, member_id: int, what: str) -> HttpResponse:
    """Saisie d'une intervention (technicien) ou d'un relevé d'usage depuis la fiche."""
    member = selectors.member_get(user=request.user, member_id=member_id)
    if request.method != "POST":
        return redirect("adherent", member_id=member.pk)
    today = _today()
    action = {"intervention": "saisir_interventions", "usage": "saisir_usages"}.get(what)
    if action is None:
        raise Http404("Saisie inconnue.")
    if not can(request.user, action, operator=member.operator_id, member=member):
        raise PermissionDenied("Votre rôle ne permet pas cette saisie.")
    if what == "intervention":
        form: FrenchForm = InterventionForm(request.POST, today=today)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.intervention_record(
                    actor=request.user,
                    member=member,
                    day=data["date"],
                    days=data["jours"],
                    label=data["objet"],
                    allowance=data["dotation"],
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, "Intervention enregistrée.")
                return redirect("adherent", member_id=member.pk)
    else:
        form = UsageForm(request.POST, today=today, year=today.year)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.usage_record(
                    actor=request.user,
                    member=member,
                    year=data["annee"],
                    counter=data["compteur"],
                    quantity=data["quantite"],
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, "Relevé d'usage enregistré.")
                return redirect("adherent", member_id=member.pk)
    return _member_page(request, member, forms_in_error={what: form}, status=400)


@login_required
def change_request(request: HttpRequest, member_id: int) -> HttpResponse:
    """Dépôt (référent) ou clôture (personnel) d'une demande de modification."""
    member = selectors.member_get(user=request.user, member_id=member_id)
    if request.method != "POST":
        return redirect("adherent", member_id=member.pk)
    if "cloturer" in request.POST:
        closing = ChangeRequestCloseForm(request.POST, member=member)
        if not closing.is_valid():
            messages.error(request, " ".join(closing.errors["cloturer"]))
            return redirect("adherent", member_id=member.pk)
        services.change_request_close(
            actor=request.user, request=closing.cleaned_data["cloturer"], now=timezone.now()
        )
        messages.success(request, "Demande marquée comme traitée.")
        return redirect("adherent", member_id=member.pk)
    form = ChangeRequestForm(request.POST, member=member)
    if form.is_valid():
        try:
            services.change_request_submit(
                actor=request.user,
                member=member,
                convention=form.cleaned_data["convention"],
                message=form.cleaned_data["message"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Demande transmise à l'opérateur.")
            return redirect("adherent", member_id=member.pk)
    return _member_page(request, member, forms_in_error={"demande": form}, status=400)
