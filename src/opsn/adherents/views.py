"""Pages des adhérents : ajout depuis le référentiel (avec propositions pendant la saisie),
organisme saisi, montants sur devis d'une convention, suppression d'un relevé d'usage ou
d'une intervention. Vues minces : lectures par les sélecteurs, écritures par les services."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from opsn.adherents import services
from opsn.adherents.forms import (
    AmountsForm,
    BodyForm,
    DeleteForm,
    ReferentialAddForm,
    ReferentialSearchForm,
)
from opsn.gestion import bridge, selectors
from opsn.gestion import services as gestion_services
from opsn.gestion.models import Intervention, Member, Operator, Role, UsageRecord
from opsn.gestion.permissions import can, memberships
from opsn.referentiel import Commune, Epci, Organisme, Referentiel

SUGGESTIONS_MAX = 10
CENT = Decimal("0.01")
TYPE_LABELS = {"commune": "Commune", "epci": "EPCI"}


def _operators(request: HttpRequest, action: str) -> list[Operator]:
    ops = [m.operator for m in memberships(request.user) if m.role != Role.REFERENT]
    found = [o for o in ops if can(request.user, action, operator=o)]
    if not found:
        raise PermissionDenied("Réservé aux administrateurs et chargés de facturation.")
    return found


def _pick(request: HttpRequest, operators: list[Operator]) -> Operator:
    code = request.POST.get("operateur") or request.GET.get("operateur") or ""
    return next((o for o in operators if o.code == code), operators[0])


def _referentiel() -> Referentiel:
    from opsn.portail.selectors import referentiel

    return referentiel()


def _describe(entity: Commune | Epci | Organisme, ref: Referentiel) -> dict[str, Any]:
    """Une proposition : code, nom, type, population, départements, EPCI de la commune."""
    if isinstance(entity, Organisme):
        kind, label = entity.type, entity.type.replace("_", " ").capitalize()
        population = entity.population_desservie
    else:
        kind = "commune" if isinstance(entity, Commune) else "epci"
        label, population = TYPE_LABELS[kind], entity.population_totale
    epci = ref.epci_de(entity.insee) if isinstance(entity, Commune) else None
    return {
        "code": entity.code,
        "nom": entity.nom,
        "type": kind,
        "type_libelle": label,
        "population": population,
        "agents": entity.agents if isinstance(entity, Organisme) else None,
        "departements": sorted(ref.departements(entity)),
        "epci": epci.nom if epci is not None else None,
        "codes_postaux": list(entity.codes_postaux) if isinstance(entity, Commune) else [],
    }


@login_required
def member_add(request: HttpRequest) -> HttpResponse:
    """Ajouter une commune ou un EPCI en tapant son nom (accents, tirets et casse ignorés)
    ou son code. Sans JavaScript, la recherche se soumet et la page liste les résultats ;
    avec, le champ propose les collectivités pendant la saisie (`?format=json`)."""
    operators = _operators(request, "gerer_adherents")
    operator = _pick(request, operators)
    ref = _referentiel()
    search = ReferentialSearchForm(request.GET)
    query = search.value("q")
    if request.GET.get("format") == "json":
        found = ref.chercher(query, limite=SUGGESTIONS_MAX) if len(query) >= 2 else []
        return JsonResponse([_describe(e, ref) for e in found], safe=False)
    results = [_describe(e, ref) for e in ref.chercher(query, limite=20)] if query else []
    posted = request.method == "POST"
    code = str(request.POST.get("code") or "")[:40] if posted else search.value("code")
    form = ReferentialAddForm(request.POST if posted else None, initial={"code": code})
    candidate, problem = None, ""
    if code.strip():
        try:
            candidate = services.member_candidate(operator=operator, code=code, referentiel=ref)
        except ValidationError as exc:
            problem = " ".join(exc.messages)
    if posted:
        if form.is_valid() and candidate is not None:
            try:
                member = services.member_create_from_referential(
                    actor=request.user,
                    operator=operator,
                    code=form.cleaned_data["code"],
                    referentiel=ref,
                    attach_communes=form.cleaned_data["rattacher"],
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"{member.name} ajouté aux adhérents de {operator.name}.")
                return redirect("adherent", member_id=member.pk)
        elif "code" not in form.errors:
            form.add_error("code", problem or "Choisissez une collectivité dans les résultats.")
    return render(
        request,
        "adherents/ajout.html",
        {
            "operateurs": operators,
            "operateur": operator,
            "q": query,
            "resultats": results,
            "candidat": candidate,
            "apercu": _describe(candidate.entity, ref) if candidate else None,
            "form": form.mark_errors(),
            "probleme": problem,
            "millesime": ref.millesime,
        },
        status=400 if form.errors else 200,
    )


@login_required
def member_add_body(request: HttpRequest) -> HttpResponse:
    """Ajouter un syndicat, un CCAS, un établissement public ou un budget annexe."""
    operators = _operators(request, "gerer_adherents")
    operator = _pick(request, operators)
    form = BodyForm(request.POST if request.method == "POST" else None, operator=operator)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            member = services.member_create_body(
                actor=request.user,
                operator=operator,
                kind=data["type"],
                name=data["nom"],
                agents=BodyForm.as_int(data["agents"]),
                siren=data["siren"],
                parent=data["rattache_a"],
                population=BodyForm.as_int(data["population"]),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"{member.name} ajouté aux adhérents de {operator.name}.")
            return redirect("adherent", member_id=member.pk)
    return render(
        request,
        "adherents/ajout_organisme.html",
        {"operateurs": operators, "operateur": operator, "form": form.mark_errors()},
        status=400 if form.errors else 200,
    )


# -- montants sur devis ---------------------------------------------------------------------


def _amount_rows(convention: Any) -> list[dict[str, Any]]:
    catalogue = bridge.catalogue_of(convention.catalogue)
    rows = []
    for sub in convention.subscriptions.filter(ended_on__isnull=True):
        components = gestion_services.amount_components(catalogue, sub.service_code)
        if not components:
            continue
        service = catalogue.services[sub.service_code]
        items = []
        for comp in components:
            kind = comp.price.kind
            hint = {
                "sur_devis": "Prix sur devis",
                "a_renseigner": "Prix absent du catalogue (à renseigner)",
                "bon_de_commande": "Prix du bon de commande",
            }.get(kind, "Pris en compte seulement si la grille du catalogue ne donne pas de prix")
            if comp.price.text:
                hint += f" : {comp.price.text}"
            hint += ". Vide : prix du catalogue. Jamais révisé."
            value = (sub.amounts or {}).get(comp.code, "")
            items.append(
                {
                    "champ": f"m_{sub.pk}_{comp.code}",
                    "code": comp.code,
                    "libelle": f"{comp.label} (€)",
                    "aide": hint,
                    "valeur": str(value).replace(".", ",") if value != "" else "",
                }
            )
        rows.append({"obj": sub, "libelle": service.label, "composantes": items})
    return rows


@login_required
def convention_amounts(request: HttpRequest, convention_id: int) -> HttpResponse:
    """Montant d'une prestation sur devis (ou sans prix au catalogue) pour cet adhérent :
    la campagne de facturation ne la bloque plus."""
    convention = selectors.convention_get(user=request.user, convention_id=convention_id)
    if not can(
        request.user,
        "modifier_conventions",
        operator=convention.operator_id,
        member=convention.member,
    ):
        raise PermissionDenied("Vous n'avez pas le droit de modifier cette convention.")
    rows = _amount_rows(convention)
    form = AmountsForm(request.POST if request.method == "POST" else None, rows=rows)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changed = 0
        for row in rows:
            sub = row["obj"]
            values = {item["code"]: data.get(item["champ"]) for item in row["composantes"]}
            current = {k: v for k, v in (sub.amounts or {}).items() if k in values}
            wanted = {k: str(v.quantize(CENT)) for k, v in values.items() if v is not None}
            if wanted == current:
                continue
            try:
                gestion_services.subscription_amounts_set(
                    actor=request.user,
                    subscription=sub,
                    amounts=values,
                    reference=data["reference"],
                )
            except ValidationError as exc:
                errors = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
                for key, found in errors.items():
                    name = f"m_{sub.pk}_{key}"
                    for message in found:
                        form.add_error(name if name in form.fields else None, message)
            else:
                changed += 1
        if not form.errors:
            if changed:
                messages.success(request, "Montants enregistrés (notés au journal).")
            else:
                messages.info(request, "Aucun montant n'a changé.")
            return redirect("convention", convention_id=convention.pk)
    return render(
        request,
        "adherents/montants.html",
        {
            "convention": convention,
            "lignes": [{**row, "champs": form.row_fields(row)} for row in rows],
            "form": form.mark_errors(),
        },
        status=400 if form.errors else 200,
    )


# -- suppression d'un relevé d'usage ou d'une intervention ------------------------------------


def _delete_page(
    request: HttpRequest, *, obj: Any, member: Member, what: str, action: str, describe: str
) -> HttpResponse:
    if not can(request.user, action, operator=member.operator_id, member=member):
        raise PermissionDenied("Votre rôle ne permet pas cette suppression.")
    form = DeleteForm(request.POST if request.method == "POST" else None)
    year = obj.year if what == "releve" else obj.day.year
    invoiced = gestion_services.invoiced_year(member, year)
    if request.method == "POST" and form.is_valid():
        try:
            if what == "releve":
                gestion_services.usage_delete(
                    actor=request.user, record=obj, reason=form.cleaned_data["motif"]
                )
            else:
                gestion_services.intervention_delete(
                    actor=request.user, intervention=obj, reason=form.cleaned_data["motif"]
                )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"{describe} supprimé(e) ; la suppression est au journal.")
            return redirect("adherent", member_id=member.pk)
    return render(
        request,
        "adherents/supprimer.html",
        {
            "adherent": member,
            "objet": describe,
            "deja_facturee": invoiced,
            "annee": year,
            "form": form.mark_errors(),
            "today": timezone.localdate(),
        },
        status=400 if form.errors else 200,
    )


@login_required
def usage_delete(request: HttpRequest, usagerecord_id: int) -> HttpResponse:
    record = UsageRecord.objects.filter(pk=usagerecord_id).select_related("member").first()
    if record is None:
        raise Http404("Relevé introuvable.")
    member = selectors.member_get(user=request.user, member_id=record.member_id)
    from opsn.gestion.views import _code_labels

    catalogues = [bridge.catalogue_of(c.catalogue) for c in member.conventions.all()]
    label = _code_labels(catalogues).get(record.counter, record.counter)
    quantity = f"{record.quantity.normalize():f}".replace(".", ",")
    describe = f"Relevé d'usage {record.year} – {label} : {quantity}"
    return _delete_page(
        request, obj=record, member=member, what="releve", action="saisir_usages", describe=describe
    )


@login_required
def intervention_delete(request: HttpRequest, intervention_id: int) -> HttpResponse:
    item = Intervention.objects.filter(pk=intervention_id).select_related("member").first()
    if item is None:
        raise Http404("Intervention introuvable.")
    member = selectors.member_get(user=request.user, member_id=item.member_id)
    days = f"{item.days.normalize():f}".replace(".", ",")
    describe = f"Intervention du {item.day:%d/%m/%Y} – {item.label} ({days} j)"
    return _delete_page(
        request,
        obj=item,
        member=member,
        what="intervention",
        action="saisir_interventions",
        describe=describe,
    )
