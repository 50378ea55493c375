"""Écritures métier (style HackSoft : `<entité>_<action>`, arguments nommés).

Chaque service vérifie les droits de l'acteur, valide contre le catalogue, écrit dans une
transaction et laisse l'audit (signaux) noter avant/après avec l'auteur.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from opsn.core import bounds
from opsn.core.catalogue import catalogue_files, load_cached
from opsn.core.index import load_index
from opsn.core.model import Catalogue
from opsn.gestion import bridge
from opsn.gestion.audit import acting_as, with_reason
from opsn.gestion.models import (
    Amendment,
    CatalogueVersion,
    ChangeRequest,
    Convention,
    IndexValue,
    Intervention,
    Member,
    Operator,
    Subscription,
    UsageRecord,
)
from opsn.gestion.permissions import require

# -- catalogues et indices livrés ------------------------------------------------


def _split_address(text: str) -> dict[str, str]:
    """« 23, boulevard Vincent Auriol, 82000 Montauban » → voie, code postal, commune."""
    match = re.match(r"^(?P<street>.*?),?\s*(?P<postcode>\d{5})\s+(?P<city>[^,]+)$", text.strip())
    if not match:
        return {"address": text.strip()[:200]}
    street = match["street"].strip().rstrip(",").replace(", ", " ", 1)
    return {"address": street, "postcode": match["postcode"], "city": match["city"].strip()}


@transaction.atomic
def catalogues_load_shipped() -> list[CatalogueVersion]:
    """Charge (ou met à jour) les catalogues livrés ; idempotent ; refuse de changer une
    version figée."""
    result = []
    for path in catalogue_files():
        cat = load_cached(path)
        operator, _ = Operator.objects.get_or_create(
            code=cat.operator.code,
            defaults={
                "name": cat.operator.name,
                "siren": cat.operator.siren or "",
                **_split_address(cat.operator.address or ""),
            },
        )
        content = path.read_text(encoding="utf-8")
        version = CatalogueVersion.objects.filter(operator=operator, version=cat.version).first()
        if version is None:
            version = CatalogueVersion(operator=operator, version=cat.version)
        if version.content != content or version.label != cat.label:
            version.label = cat.label
            version.source_file = str(path.relative_to(path.parents[2]))
            version.content = content
            version.valid_from = cat.valid_from
            version.save()
        result.append(version)
    return result


@transaction.atomic
def index_values_load_shipped() -> int:
    """Reprend les valeurs d'indice livrées (avec leurs sources) ; idempotent."""
    table = load_index("syntec")
    created = 0
    for value in table.values.values():
        _, was_created = IndexValue.objects.get_or_create(
            index="syntec",
            month=value.month,
            series=value.series,
            defaults={"value": value.value, "source": value.source},
        )
        created += was_created
    return created


# la saisie d'une valeur d'indice (données de la plateforme) : opsn.plateforme.indices


# -- conventions et avenants --------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionChange:
    """Une ligne d'avenant : ajout, modification de quantités ou fin d'un abonnement."""

    action: str  # "ajout", "modification", "fin"
    service_code: str
    quantities: dict[str, Decimal] = field(default_factory=dict)
    subscription_id: int | None = None


def _validate_quantities(
    catalogue: Catalogue, service_code: str, quantities: dict[str, Decimal]
) -> None:
    service = catalogue.services.get(service_code)
    if service is None:
        raise ValidationError(f"Service « {service_code} » absent du catalogue {catalogue.ident}.")
    declared = {q.code for q in service.quantities}
    for key, value in quantities.items():
        if key not in declared:
            raise ValidationError(
                f"« {service.label} » : quantité « {key} » inconnue "
                f"({', '.join(sorted(declared)) or 'aucune'})."
            )
        if value < 0:
            raise ValidationError(f"« {service.label} » : la quantité « {key} » est négative.")
        try:
            bounds.QUANTITY.check(value)
        except bounds.BoundError as exc:
            raise ValidationError(f"« {service.label} » : quantité « {key} » : {exc}") from None
    required = sorted(q.code for q in service.quantities if not q.optional)
    if required and not quantities:
        raise ValidationError(
            f"« {service.label} » : quantités à renseigner ({', '.join(required)})."
        )


def _num(value: Decimal) -> str:
    return f"{value.normalize():f}"


def convention_create(
    *,
    actor: Any,
    member: Member,
    reference: str,
    catalogue: CatalogueVersion,
    signed_on: dt.date,
    subscriptions: list[tuple[str, dict[str, Decimal], dt.date]] = (),
) -> Convention:
    require(actor, "modifier_conventions", operator=member.operator)
    core_cat = bridge.catalogue_of(catalogue)
    for service_code, quantities, _ in subscriptions:
        _validate_quantities(core_cat, service_code, quantities)
    with acting_as(actor), transaction.atomic():
        convention = Convention.objects.create(
            operator=member.operator,
            member=member,
            reference=reference,
            catalogue=catalogue,
            signed_on=signed_on,
        )
        for service_code, quantities, start in subscriptions:
            Subscription.objects.create(
                convention=convention,
                service_code=service_code,
                started_on=start,
                quantities={k: _num(v) for k, v in quantities.items()},
            )
    return convention


def convention_amend(
    *,
    actor: Any,
    convention: Convention,
    effective_on: dt.date,
    changes: list[SubscriptionChange],
    reason: str = "",
    notice_received_on: dt.date | str | None = "inchangé",
) -> Amendment:
    """Enregistre un avenant : applique les changements et garde leur historique."""
    require(actor, "modifier_conventions", operator=convention.operator, member=convention.member)
    if effective_on < convention.signed_on:
        raise ValidationError("L'avenant ne peut pas prendre effet avant la signature.")
    core_cat = bridge.catalogue_of(convention.catalogue)
    recorded: list[dict[str, Any]] = []
    with acting_as(actor), transaction.atomic():
        convention = Convention.objects.select_for_update().get(pk=convention.pk)
        for change in changes:
            if change.action == "ajout":
                _validate_quantities(core_cat, change.service_code, change.quantities)
                sub = Subscription.objects.create(
                    convention=convention,
                    service_code=change.service_code,
                    started_on=effective_on,
                    quantities={k: _num(v) for k, v in change.quantities.items()},
                )
                recorded.append(
                    {
                        "action": "ajout",
                        "service": sub.service_code,
                        "avant": None,
                        "apres": sub.quantities,
                    }
                )
                continue
            sub = convention.subscriptions.filter(pk=change.subscription_id).first()
            if sub is None:
                raise ValidationError("Abonnement introuvable dans cette convention.")
            if change.action == "modification":
                _validate_quantities(core_cat, sub.service_code, change.quantities)
                new = {k: _num(v) for k, v in change.quantities.items()}
                if new == sub.quantities:
                    continue
                recorded.append(
                    {
                        "action": "modification",
                        "service": sub.service_code,
                        "avant": sub.quantities,
                        "apres": new,
                    }
                )
                if effective_on <= sub.started_on:
                    sub.quantities = new  # avant tout effet : on corrige la version elle-même
                    sub.save()
                else:
                    # nouvelle version à la date d'effet ; l'ancienne reste pour les années
                    # passées (R21 : l'année de l'avenant est facturée sur la nouvelle)
                    sub.ended_on = effective_on
                    sub.save()
                    Subscription.objects.create(
                        convention=convention,
                        service_code=sub.service_code,
                        started_on=effective_on,
                        quantities=new,
                        amounts=sub.amounts,
                        previous=sub,
                    )
            elif change.action == "fin":
                if effective_on <= sub.started_on:
                    raise ValidationError(
                        f"« {sub.service_code} » : la fin doit suivre le début "
                        f"({sub.started_on:%d/%m/%Y})."
                    )
                recorded.append(
                    {
                        "action": "fin",
                        "service": sub.service_code,
                        "avant": sub.quantities,
                        "apres": None,
                        "fin": effective_on.isoformat(),
                    }
                )
                sub.ended_on = effective_on
                sub.save()
            else:
                raise ValidationError(f"Action « {change.action} » inconnue.")
        if notice_received_on != "inchangé" and notice_received_on != convention.notice_received_on:
            recorded.append(
                {
                    "action": "preavis",
                    "service": None,
                    "avant": _iso(convention.notice_received_on),
                    "apres": _iso(notice_received_on),
                }
            )
            convention.notice_received_on = notice_received_on
            convention.full_clean(exclude=["member", "operator", "catalogue"])
            convention.save()
        if not recorded:
            raise ValidationError("Aucune modification : l'avenant serait vide.")
        number = (
            convention.amendments.order_by("-number").values_list("number", flat=True).first() or 0
        ) + 1
        return Amendment.objects.create(
            convention=convention,
            number=number,
            effective_on=effective_on,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            reason=reason,
            changes=recorded,
        )


ENTERED_PRICE_KINDS = ("sur_devis", "a_renseigner", "bon_de_commande", "table", "grille")


def amount_components(catalogue: Catalogue, service_code: str) -> list[Any]:
    """Composantes d'un service dont le montant peut être saisi pour un adhérent : prix sur
    devis, à renseigner, au bon de commande, ou lu dans une table ou une grille (dont une
    case peut être « sur devis »). Un prix fixe de l'annexe ne se remplace pas."""
    service = catalogue.services.get(service_code)
    if service is None:
        return []
    return [c for c in service.components if c.price.kind in ENTERED_PRICE_KINDS]


def subscription_amounts_set(
    *,
    actor: Any,
    subscription: Subscription,
    amounts: dict[str, Decimal | None],
    reference: str = "",
) -> Subscription:
    """Montants saisis d'un abonnement (devis accepté, bon de commande : R14, R15) : une
    composante sans montant reprend le prix du catalogue. Noté au journal (avant, après,
    référence du devis en motif) ; la campagne ne bloque plus sur ces composantes."""
    convention = subscription.convention
    require(actor, "modifier_conventions", operator=convention.operator, member=convention.member)
    catalogue = bridge.catalogue_of(convention.catalogue)
    allowed = {c.code: c for c in amount_components(catalogue, subscription.service_code)}
    errors: dict[str, list[str]] = {}
    new = {k: v for k, v in (subscription.amounts or {}).items() if k not in allowed}
    for code, value in amounts.items():
        component = allowed.get(code)
        if component is None:
            errors.setdefault(code, []).append(
                f"composante « {code} » : son prix est fixé par le catalogue."
            )
            continue
        if value is None:
            continue
        try:
            bounds.AMOUNT.check(value)
        except bounds.BoundError as exc:
            errors.setdefault(code, []).append(f"« {component.label} » : {exc}")
            continue
        new[code] = str(value.quantize(Decimal("0.01")))
    if errors:
        raise ValidationError(errors)
    if new == (subscription.amounts or {}):
        raise ValidationError("Aucun montant n'a changé.")
    reason = f"Devis ou bon de commande : {reference}" if reference else ""
    with acting_as(actor), with_reason(reason), transaction.atomic():
        subscription.amounts = new
        subscription.save(update_fields=["amounts"])
    return subscription


def _iso(value: dt.date | str | None) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else None


# -- usages et interventions -----------------------------------------------------------


def usage_record(
    *, actor: Any, member: Member, year: int, counter: str, quantity: Decimal
) -> UsageRecord:
    require(actor, "saisir_usages", operator=member.operator, member=member)
    if quantity < 0:
        raise ValidationError("Un usage ne peut pas être négatif.")
    errors = {}
    try:
        bounds.usage_bound(counter).check(quantity)
    except bounds.BoundError as exc:
        errors["quantity"] = [str(exc)]
    if not bounds.YEAR_MIN <= year <= bounds.YEAR_DB_MAX:
        errors["year"] = [
            f"année {year} hors limites : de {bounds.YEAR_MIN} à {bounds.YEAR_DB_MAX}."
        ]
    if not counter or len(counter) > UsageRecord._meta.get_field("counter").max_length:
        errors["counter"] = ["compteur absent ou trop long."]
    if errors:
        raise ValidationError(errors)
    number = invoiced_year(member, year)
    if number:
        # comme la suppression : une année facturée ne change plus ; un avoir la corrige
        raise ValidationError(
            {
                "year": [
                    f"L'année {year} est déjà facturée (facture {number}) : ses relevés ne se "
                    "modifient plus ; corrigez la facture par un avoir."
                ]
            }
        )
    with acting_as(actor), transaction.atomic():
        record, _ = UsageRecord.objects.update_or_create(
            member=member,
            year=year,
            counter=counter,
            defaults={"quantity": quantity, "recorded_by": actor},
        )
    return record


def intervention_record(
    *, actor: Any, member: Member, day: dt.date, days: Decimal, label: str, allowance: str = ""
) -> Intervention:
    require(actor, "saisir_interventions", operator=member.operator, member=member)
    try:
        bounds.DAYS.check(days)
    except bounds.BoundError as exc:
        raise ValidationError({"days": [f"Durée : {exc}"]}) from None
    with acting_as(actor), transaction.atomic():
        return Intervention.objects.create(
            member=member, day=day, days=days, label=label, allowance=allowance, technician=actor
        )


def invoiced_year(member: Member, year: int) -> str | None:
    """Numéro de la facture émise de l'année pour l'adhérent (ou l'EPCI qui le facture), si
    elle existe : les relevés et interventions de cette année ne se suppriment plus."""
    from opsn.gestion.models import Invoice, InvoiceKind, InvoiceStatus

    debtors = [member.pk] + ([member.parent_id] if member.parent_id else [])
    return (
        Invoice.objects.filter(
            member_id__in=debtors,
            year=year,
            kind=InvoiceKind.INVOICE,
            status=InvoiceStatus.ISSUED,
        )
        .order_by("pk")
        .values_list("number", flat=True)
        .first()
    )


def usage_delete(*, actor: Any, record: UsageRecord, reason: str = "") -> None:
    """Supprime un relevé d'usage saisi par erreur ; noté au journal de l'adhérent (avant,
    auteur, motif). Refusé si l'année est déjà facturée : corrigez alors par un avoir."""
    member = record.member
    require(actor, "saisir_usages", operator=member.operator, member=member)
    number = invoiced_year(member, record.year)
    if number:
        raise ValidationError(
            f"L'année {record.year} est déjà facturée (facture {number}) : ce relevé ne se "
            "supprime plus ; corrigez la facture par un avoir."
        )
    with acting_as(actor), with_reason(reason), transaction.atomic():
        record.delete()


def intervention_delete(*, actor: Any, intervention: Intervention, reason: str = "") -> None:
    """Supprime une intervention saisie par erreur ; notée au journal de l'adhérent. Refusé
    si son année est déjà facturée."""
    member = intervention.member
    require(actor, "saisir_interventions", operator=member.operator, member=member)
    number = invoiced_year(member, intervention.day.year)
    if number:
        raise ValidationError(
            f"L'année {intervention.day.year} est déjà facturée (facture {number}) : cette "
            "intervention ne se supprime plus ; corrigez la facture par un avoir."
        )
    with acting_as(actor), with_reason(reason), transaction.atomic():
        intervention.delete()


def change_request_submit(
    *, actor: Any, member: Member, message: str, convention: Convention | None = None
) -> ChangeRequest:
    """Le référent (ou le personnel) dépose une demande de modification de la convention."""
    require(actor, "voir", operator=member.operator, member=member)
    if not message.strip():
        raise ValidationError("Décrivez la modification demandée.")
    return ChangeRequest.objects.create(
        member=member, convention=convention, author=actor, message=message.strip()
    )


def change_request_close(*, actor: Any, request: ChangeRequest, now: dt.datetime) -> ChangeRequest:
    require(actor, "modifier_conventions", operator=request.member.operator)
    request.handled_at, request.handled_by = now, actor
    request.status = "traitee"  # ChangeRequestStatus.CLOSED : traitée sans avenant ni refus
    request.save(update_fields=["handled_at", "handled_by", "status"])
    return request
