"""Pages du portail : simulateur public et devis (sans connexion), espace du référent,
prospects et suite des demandes (personnel). Vues minces : lectures par `selectors`,
écritures par `services`, chiffrage par `simulation` (le même que l'API et `opsn simuler`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from opsn.comparison import build_comparison
from opsn.core import dates
from opsn.core.errors import OpsnError
from opsn.core.members import Subscription as CoreSubscription
from opsn.core.money import ZERO
from opsn.core.pricing import Pricer
from opsn.gestion import bridge
from opsn.gestion.forms import YearQueryForm
from opsn.gestion.models import (
    ChangeRequest,
    ChangeRequestKind,
    ChangeRequestStatus,
    Convention,
    MemberKind,
    Role,
)
from opsn.gestion.permissions import can, memberships
from opsn.gestion.selectors import audit_for
from opsn.portail import documents, limites, selectors, services
from opsn.portail import simulation as sim
from opsn.portail.api import search
from opsn.portail.estimation import change_estimate
from opsn.portail.forms import (
    ChangeRequestForm,
    LeadForm,
    RefuseForm,
    SimulatorInput,
    offer_quantities,
    quote_reference_text,
    read_simulator,
    selection_for,
)
from opsn.portail.libelles import ACTION_LABELS, OBJECT_LABELS, Labeller


def public(view: Callable) -> Callable:
    """Page publique : le cloisonnement (tests/web/test_tenancy.py) admet qu'elle montre
    l'identité publiée des opérateurs (raison sociale, SIREN), jamais leurs adhérents."""
    view.opsn_public = True  # type: ignore[attr-defined]
    return view


def _today() -> dt.date:
    return timezone.localdate()


# -- simulateur --------------------------------------------


def _subject(inp: SimulatorInput) -> tuple[sim.Subject | None, str | None]:
    try:
        if inp.code:
            return (
                sim.subject_from_code(
                    inp.code, selectors.referentiel(), agents=inp.agents, budget_keur=inp.budget
                ),
                None,
            )
        if inp.described:
            return (
                sim.subject_described(
                    inp.kind, population=inp.population, agents=inp.agents, budget_keur=inp.budget
                ),
                None,
            )
    except sim.SimulationError as exc:
        return None, str(exc)
    return None, None


def simulator_context(inp: SimulatorInput, today: dt.date) -> dict[str, Any]:
    """Tout ce que la page (et le devis) montrent pour ces paramètres."""
    offer = selectors.public_offer()
    subject, subject_error = _subject(inp)
    ctx: dict[str, Any] = {
        "entree": inp,
        "collectivite": subject,
        "erreur_collectivite": subject_error,
        "types": [(k, v) for k, v in sim.KIND_LABELS.items() if k != "commune"],
        "types_tous": list(sim.KIND_LABELS.items()),
        "resultats": search(inp.q) if inp.q and subject is None else [],
        "operateurs_proches": [],
        "operateurs_autres": list(offer.operators),
    }
    if subject is None:
        return ctx
    near = [o for o in offer.operators if o.covers(subject.departements)]
    ctx["operateurs_proches"] = near
    ctx["operateurs_autres"] = [o for o in offer.operators if o not in near]
    ctx["lien_collectivite"] = urlencode(inp.subject_query())
    operator = offer.operator(inp.operator)
    if inp.operator and operator is None:
        inp.errors["operateur"] = "opérateur inconnu."
    if operator is None:
        return ctx
    item = operator.catalogue(inp.version)
    catalogue = item.catalogue
    ty = sim.tariff_year(catalogue, offer.index, today.year)
    selection = selection_for(catalogue, inp)
    offers = sim.offers(
        catalogue,
        offer.index,
        ty.year,
        subject,
        quantities=offer_quantities(catalogue, inp),
        usage=selection.usage,
    )
    families = {f.code: f.label for f in catalogue.families}
    grouped: dict[str, list[sim.Offer]] = {}
    for o in offers:
        grouped.setdefault(o.service.family, []).append(o)
    ctx.update(
        operateur=operator,
        catalogue=item,
        annee=ty.year,
        note_annee=ty.note,
        familles=[(families.get(code, code), items) for code, items in grouped.items()],
        compteurs=sim.usage_counters(catalogue),
        tarif_journalier=catalogue.services.get(catalogue.day_rate_service or ""),
        choisis={c.service for c in selection.services},
        comparatif=_comparison(catalogue, subject),
        revision=catalogue.revision,
    )
    if selection.services or selection.intervention_days:
        try:
            ctx["simulation"] = sim.simulate(catalogue, offer.index, ty.year, subject, selection)
        except OpsnError as exc:
            ctx["erreur_simulation"] = str(exc)
    return ctx


def _comparison(catalogue: Any, subject: sim.Subject) -> Any:
    """Tableaux d'inclusion des annexes (forfaits), avec les quotas de la strate."""
    if not catalogue.matrices:
        return None
    m = subject.member
    if m.kind == "commune" and m.population_totale is not None:
        return build_comparison(catalogue, population=m.population_totale)
    if m.agents is not None:
        return build_comparison(catalogue, agents=m.agents)
    return build_comparison(catalogue)


@public
def simulator(request: HttpRequest) -> HttpResponse:
    inp = read_simulator(request.GET)
    ctx = simulator_context(inp, _today())
    status = 400 if inp.errors or ctx.get("erreur_collectivite") else 200
    return render(request, "portail/simulateur.html", ctx, status=status)


@public
def tariffs(request: HttpRequest) -> HttpResponse:
    """Opérateurs et leurs catalogues : liens vers le simulateur et les comparatifs."""
    offer = selectors.public_offer()
    code = str(request.GET.get("operateur", ""))[:60]
    operator = offer.operator(code)
    comparison = None
    if operator is not None:
        comparison = _comparison(
            operator.current.catalogue, sim.subject_described("commune", population=1000)
        )
    return render(
        request,
        "portail/tarifs.html",
        {"operateurs": offer.operators, "operateur": operator, "comparatif": comparison},
    )


# -- devis --------------------------------------------


@public
@csrf_exempt  # formulaire public sans session (le simulateur est en GET) ; débit limité
def quote_create(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("simulateur")
    verdict = limites.hit(request, "devis")
    if not verdict.allowed:
        response = render(request, "portail/trop.html", {"message": verdict.message}, status=429)
        response["Retry-After"] = str(verdict.retry_after)
        return response
    inp = read_simulator(request.POST)
    today = _today()
    ctx = simulator_context(inp, today)
    simulation = ctx.get("simulation")
    if simulation is None or inp.errors:
        if not inp.errors and not ctx.get("erreur_simulation"):
            ctx["erreur_devis"] = "Choisissez au moins un service pour établir un devis."
        return render(request, "portail/simulateur.html", ctx, status=400)
    quote = services.quote_create(
        operator=ctx["operateur"],
        catalogue=ctx["catalogue"],
        simulation=simulation,
        today=today,
        note=ctx.get("note_annee"),
    )
    return redirect("devis", ref=quote.reference)


@public
def quote_lookup(request: HttpRequest) -> HttpResponse:
    reference = quote_reference_text(request.GET.get("reference", ""))
    if not reference:
        return render(request, "portail/devis_retrouver.html", {})
    quote = selectors.quote_get(reference)
    if quote is None:
        return render(
            request,
            "portail/devis_retrouver.html",
            {"reference": reference, "introuvable": True},
            status=404,
        )
    return redirect("devis", ref=quote.reference)


def _quote(ref: str) -> Any:
    quote = selectors.quote_get(ref)
    if quote is None:
        raise Http404("Devis introuvable.")
    return quote


@public
def quote_detail(request: HttpRequest, ref: str) -> HttpResponse:
    quote = _quote(ref)
    return _quote_page(request, quote, LeadForm())


def _quote_page(request: HttpRequest, quote: Any, form: LeadForm, status: int = 200) -> Any:
    data = documents.quote_document_data(quote)
    return render(
        request,
        "portail/devis.html",
        {
            "devis": quote,
            "doc": data,
            "expire": quote.valid_until < _today(),
            "form": form,
            "envoye": request.GET.get("contact") == "envoye",
        },
        status=status,
    )


@public
def quote_pdf(request: HttpRequest, ref: str) -> HttpResponse:
    quote = _quote(ref)
    response = HttpResponse(documents.quote_pdf(quote), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="devis-{quote.reference}.pdf"'
    return response


@public
def quote_contact(request: HttpRequest, ref: str) -> HttpResponse:
    quote = _quote(ref)
    if request.method != "POST":
        return redirect("devis", ref=quote.reference)
    form = LeadForm(request.POST)
    if not form.is_valid():
        return _quote_page(request, quote, form, status=400)
    verdict = limites.hit(request, "contact")
    if not verdict.allowed:
        response = render(request, "portail/trop.html", {"message": verdict.message}, status=429)
        response["Retry-After"] = str(verdict.retry_after)
        return response
    data = form.cleaned_data
    lead = services.lead_create(
        quote=quote,
        name=data["nom"],
        role=data["fonction"],
        email=data["courriel"],
        phone=data["telephone"],
        message=data["message"],
    )
    services.contact_mail(lead=lead, operator_email=quote.operator.email)
    return redirect(reverse("devis", kwargs={"ref": quote.reference}) + "?contact=envoye#contact")


# -- prospects (personnel) --------------------------------------------


@login_required
def leads(request: HttpRequest) -> HttpResponse:
    staff = [m for m in memberships(request.user) if m.role != Role.REFERENT]
    if not staff:
        raise PermissionDenied("Les prospects sont réservés au personnel des opérateurs.")
    if request.method == "POST":
        lead_id = str(request.POST.get("traiter", ""))
        found = next(
            (x for x in selectors.leads_for(user=request.user) if str(x.pk) == lead_id), None
        )
        if found is None or found.handled_at is not None:
            messages.error(request, "Demande de contact inconnue ou déjà traitée.")
        else:
            services.lead_handle(actor=request.user, lead=found, now=timezone.now())
            messages.success(request, f"Demande de {found.name} marquée comme traitée.")
        return redirect("prospects")
    return render(
        request, "portail/prospects.html", {"prospects": selectors.leads_for(user=request.user)}
    )


# -- espace du référent --------------------------------------------


def _referent(request: HttpRequest) -> Any:
    if not request.user.is_authenticated:
        return None
    member = selectors.referent_member(user=request.user)
    return member


@login_required
def portal(request: HttpRequest) -> HttpResponse:
    member = _referent(request)
    if member is None:
        return redirect("tableau-de-bord")
    today = _today()
    year_query = YearQueryForm(request.GET, today=today, default=today.year)
    return render(
        request,
        "portail/espace.html",
        portal_context(member, year_query.year, today) | {"annee_ignoree": year_query.problem},
    )


def portal_context(member: Any, year: int, today: dt.date) -> dict[str, Any]:
    conventions = list(
        member.conventions.select_related("catalogue").prefetch_related(
            "subscriptions", "amendments"
        )
    )
    catalogues = {c.catalogue_id: bridge.catalogue_of(c.catalogue) for c in conventions}
    labeller = Labeller.of(list(catalogues.values()))
    index = selectors.public_offer().index
    interventions = list(member.interventions.all())
    usage = selectors.usage_of(member, year)
    counters = {
        c.code: f"{c.label} ({c.unit})"
        for cat in catalogues.values()
        for c in sim.usage_counters(cat)
    }
    blocks = []
    for conv in conventions:
        cat = catalogues[conv.catalogue_id]
        blocks.append(
            _convention_block(conv, cat, labeller, index, year, today, usage, interventions)
        )
    certificates = [
        {
            "obj": c,
            "jours": (c.expires_on - today).days,
            "bientot": 0 <= (c.expires_on - today).days <= 90,
            "expire": c.expires_on < today,
        }
        for c in member.certificates.all()
    ]
    sub_ids = [str(s.pk) for conv in conventions for s in conv.subscriptions.all()]
    audit = audit_for(
        member,
        extra=[("convention", [str(c.pk) for c in conventions]), ("subscription", sub_ids)],
    )[:40]
    return {
        "adherent": member,
        "annee": year,
        "conventions": blocks,
        "certificats": certificates,
        "interventions": [i for i in interventions if i.day.year == year],
        "jours_interventions": sum((i.days for i in interventions if i.day.year == year), ZERO),
        "releves": [
            (counters.get(code, code), quantity) for code, quantity in sorted(usage.items())
        ],
        "factures": selectors.member_invoices(member),
        "avis": selectors.member_notifications(member),
        "avis_non_lus": [n for n in selectors.member_notifications(member) if n.read_at is None],
        "demandes": [_request_row(r, labeller) for r in selectors.member_requests(member)],
        "journal": [
            {
                "entree": e,
                "objet": OBJECT_LABELS.get(e.object_type, e.object_type),
                "action": ACTION_LABELS.get(e.action, e.action),
                "changements": labeller.audit(e),
                "titre": labeller.title(e),
            }
            for e in audit
        ],
        "today": today,
    }


BAR_WIDTH = 300


def _convention_block(
    conv: Convention,
    cat: Any,
    labeller: Labeller,
    index: Any,
    year: int,
    today: dt.date,
    usage: dict[str, Decimal],
    interventions: list[Any],
) -> dict[str, Any]:
    rules = cat.convention
    end = conv.ended_on or dates.effective_end(conv.signed_on, conv.notice_received_on, rules)
    deadline = None if end else dates.notice_deadline(conv.signed_on, today, rules)
    anniversary = dates.add_months(deadline, rules.notice_months) if deadline else None
    core = bridge.core_member(conv, year)
    active = [s for s in core.subscriptions if dates.active_in_year(s.start, s.end, year)]
    rights: dict[str, int] = {}
    stratum = None
    error = None
    try:
        rights, stratum = Pricer(cat, index, year).entitlements(core, active)
    except OpsnError as exc:
        error = str(exc)
    labels = sim.entitlement_labels(cat)
    charts = [
        _chart(labels.get(code, code), included, usage.get(code))
        for code, included in rights.items()
    ]
    allowances = _allowances(cat, active, interventions, year)
    subs = []
    for s in conv.subscriptions.all():
        service = cat.services.get(s.service_code)
        subs.append(
            {
                "obj": s,
                "libelle": service.label if service else labeller.service(s.service_code),
                "quantites": labeller.quantities_text(s.quantities) if s.quantities else "",
                "en_cours": s.ended_on is None or s.ended_on > today,
            }
        )
    return {
        "obj": conv,
        "catalogue": cat,
        "fin": end,
        "echeance": anniversary,
        "date_limite": deadline,
        "abonnements": subs,
        "avenants": [
            {"obj": a, "lignes": [labeller.amendment(ch) for ch in a.changes]}
            for a in conv.amendments.all()
        ],
        "strate": stratum,
        "droits": charts,
        "dotations": allowances,
        "erreur": error,
        "regles": rules,
    }


def _chart(label: str, included: int, used: Decimal | None) -> dict[str, Any]:
    """Barre horizontale SVG : quantité incluse (cadre) et consommée (remplie), avec son
    texte équivalent (RGAA : l'image a une alternative, le texte est aussi visible)."""
    used_value = used if used is not None else None
    top = max(Decimal(included), used_value or ZERO, Decimal(1))
    scale = Decimal(BAR_WIDTH) / top
    over = used_value is not None and used_value > included
    text = f"{label} : {included} inclus"
    if used_value is None:
        text += ", consommation non relevée"
    else:
        shown = f"{used_value.normalize():f}".replace(".", ",")
        text += f", {shown} consommé(s)"
        if over:
            extra = f"{(used_value - included).normalize():f}".replace(".", ",")
            text += f" : dépassement de {extra}, facturé au tarif du catalogue"
    return {
        "libelle": label,
        "inclus": included,
        "consomme": used_value,
        "depasse": over,
        "texte": text,
        "largeur_inclus": int(Decimal(included) * scale),
        "largeur_consomme": int((used_value or ZERO) * scale),
        "largeur": BAR_WIDTH,
    }


def _allowances(
    cat: Any, active: list[CoreSubscription], interventions: list[Any], year: int
) -> list[dict[str, Any]]:
    """R20 : dotations périodiques (demi-journées de formation, audit…) et leur consommation."""
    result = []
    seen = set()
    for sub in active:
        service = cat.services.get(sub.service)
        for a in service.allowances if service else ():
            if a.code in seen:
                continue
            seen.add(a.code)
            used = sum(
                (
                    i.days
                    for i in interventions
                    if i.allowance == a.code and year - a.period_years < i.day.year <= year
                ),
                ZERO,
            )
            chart = _chart(
                f"{a.label} (tous les {a.period_years} an(s), en jours)",
                int(a.quantity) if a.quantity == int(a.quantity) else a.quantity,
                used,
            )
            result.append(chart)
    return result


def _request_row(item: ChangeRequest, labeller: Labeller) -> dict[str, Any]:
    detail = ""
    if item.kind == ChangeRequestKind.ADD:
        detail = labeller.service(item.service_code)
        if item.quantities:
            detail += f" ({labeller.quantities_text(item.quantities)})"
    elif item.kind in (ChangeRequestKind.QUANTITY, ChangeRequestKind.STOP):
        detail = labeller.service(item.service_code)
        if item.quantities:
            detail += f" → {labeller.quantities_text(item.quantities)}"
    return {"obj": item, "detail": detail, "estimation": item.estimate.get("texte", [])}


def _request_form(member: Any, data: Any = None) -> ChangeRequestForm:
    conventions = list(member.conventions.select_related("catalogue"))
    services_choices: dict[str, str] = {}
    subs: list[tuple[str, str]] = []
    quantities: dict[str, str] = {}
    for conv in conventions:
        cat = bridge.catalogue_of(conv.catalogue)
        for service in cat.services.values():
            if not service.day_rate:
                services_choices.setdefault(service.code, service.label)
            for q in service.quantities:
                quantities.setdefault(q.code, f"{q.label} ({q.unit})")
        for s in conv.subscriptions.all():
            if s.ended_on is None:
                service = cat.services.get(s.service_code)
                label = service.label if service else s.service_code
                subs.append((str(s.pk), f"{label} – convention {conv.reference}"))
    return ChangeRequestForm(
        data,
        member=member,
        services=sorted(services_choices.items(), key=lambda x: x[1]),
        subscriptions=subs,
        quantity_labels=quantities,
    )


@login_required
def portal_request(request: HttpRequest) -> HttpResponse:
    """Formulaire de demande : « Estimer » (GET) montre le coût et, pour un préavis, la date de
    fin (R22) ; « Envoyer » (POST) dépose la demande avec cette estimation."""
    member = _referent(request)
    if member is None:
        return redirect("tableau-de-bord")
    today = _today()
    posted = request.method == "POST"
    data = request.POST if posted else (request.GET if "nature" in request.GET else None)
    form = _request_form(member, data)
    estimate: dict[str, Any] = {}
    status = 200
    if data is not None:
        if form.is_valid():
            d = form.cleaned_data
            convention = d.get("convention")
            subscription = None
            if d.get("abonnement") and convention is not None:
                subscription = convention.subscriptions.filter(pk=d["abonnement"]).first()
                if subscription is None:
                    form.add_error(
                        "abonnement", "Ce service n'est pas souscrit par la convention choisie."
                    )
            service_code = d.get("service") or (subscription.service_code if subscription else "")
            if convention is not None and not form.errors:
                estimate = change_estimate(
                    convention,
                    kind=d["nature"],
                    service_code=service_code,
                    subscription=subscription,
                    quantities=d["quantites"],
                    today=today,
                )
            if posted and "estimer" not in request.POST and not form.errors:
                try:
                    services.change_request_file(
                        actor=request.user,
                        member=member,
                        kind=d["nature"],
                        convention=convention,
                        message=d.get("message") or "",
                        service_code=service_code,
                        subscription=subscription,
                        quantities=d["quantites"],
                        estimate=estimate,
                    )
                except ValidationError as exc:
                    form.add_service_errors(exc)
                else:
                    messages.success(request, "Demande transmise à l'opérateur.")
                    return redirect(reverse("portail") + "#demandes")
        if form.errors:
            status = 400
    return render(
        request,
        "portail/demande.html",
        {"adherent": member, "form": form, "estimation": estimate, "today": today},
        status=status,
    )


@login_required
def portal_read(request: HttpRequest) -> HttpResponse:
    member = _referent(request)
    if member is None:
        return redirect("tableau-de-bord")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    ids = [int(x) for x in request.POST.getlist("lues") if str(x).isdigit() and len(str(x)) < 12]
    if ids:
        services.notifications_mark_read(
            actor=request.user, member=member, ids=ids, now=timezone.now()
        )
    return redirect(reverse("portail") + "#avis")


# -- suite d'une demande (personnel) --------------------------------------------


def _staff_request(request: HttpRequest, change_request_id: int) -> ChangeRequest:
    item = (
        ChangeRequest.objects.select_related("member__operator", "convention")
        .filter(pk=change_request_id)
        .first()
    )
    if item is None or not can(
        request.user, "voir", operator=item.member.operator_id, member=item.member
    ):
        raise Http404("Demande introuvable.")
    if not can(request.user, "modifier_conventions", operator=item.member.operator_id):
        raise PermissionDenied("Votre rôle ne permet pas de répondre aux demandes.")
    return item


@login_required
def request_refuse(request: HttpRequest, change_request_id: int) -> HttpResponse:
    item = _staff_request(request, change_request_id)
    if request.method != "POST":
        return redirect(reverse("adherent", kwargs={"member_id": item.member_id}) + "#demandes")
    form = RefuseForm(request.POST)
    if form.is_valid():
        try:
            services.change_request_refuse(
                actor=request.user,
                request=item,
                reason=form.cleaned_data["motif"],
                now=timezone.now(),
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Demande refusée ; le référent est prévenu.")
    else:
        messages.error(request, "Refus non enregistré : " + " ".join(form.errors.get("motif", [])))
    return redirect(reverse("adherent", kwargs={"member_id": item.member_id}) + "#demandes")


@login_required
def request_accept(request: HttpRequest, change_request_id: int) -> HttpResponse:
    """Ouvre l'avenant pré-rempli d'après la demande (la demande est acceptée quand
    l'avenant est enregistré)."""
    item = _staff_request(request, change_request_id)
    if item.status != ChangeRequestStatus.PENDING or item.handled_at is not None:
        messages.error(request, "Cette demande a déjà reçu une suite.")
        return redirect(reverse("adherent", kwargs={"member_id": item.member_id}) + "#demandes")
    if item.convention_id is None:
        messages.error(request, "Demande sans convention : créez l'avenant depuis la convention.")
        return redirect(reverse("adherent", kwargs={"member_id": item.member_id}) + "#demandes")
    return redirect(
        reverse("convention-modifier", kwargs={"convention_id": item.convention_id})
        + f"?demande={item.pk}"
    )


def amendment_prefill(
    item: ChangeRequest, convention: Convention, today: dt.date
) -> dict[str, Any]:
    """Valeurs initiales du formulaire d'avenant (`gestion.forms.AmendmentForm`) tirées d'une
    demande du référent."""
    initial: dict[str, Any] = {
        "date_effet": max(today, convention.signed_on).isoformat(),
        "motif": f"Demande du référent du {item.created_at:%d/%m/%Y} : {item.message}"[:5000],
    }
    if item.kind == ChangeRequestKind.ADD and item.service_code:
        initial["nouveau_service"] = item.service_code
        for code, value in item.quantities.items():
            initial[f"nouveau_{item.service_code}_{code}"] = str(value).replace(".", ",")
    elif item.kind == ChangeRequestKind.QUANTITY and item.subscription_id:
        for code, value in item.quantities.items():
            initial[f"q_{item.subscription_id}_{code}"] = str(value).replace(".", ",")
    elif item.kind == ChangeRequestKind.STOP and item.subscription_id:
        initial[f"fin_{item.subscription_id}"] = True
    elif item.kind == ChangeRequestKind.NOTICE:
        initial["preavis_recu"] = item.created_at.date().isoformat()
    return initial


MEMBER_KINDS = dict(MemberKind.choices)


@public
def api_docs(request: HttpRequest) -> HttpResponse:
    """Documentation de l'API publique (en français), à côté de son schéma OpenAPI."""
    return render(request, "portail/api.html", {"operateurs": selectors.public_offer().operators})
