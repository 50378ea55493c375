"""Écritures du portail (style HackSoft : `<entité>_<action>`, arguments nommés) : devis et
demandes de contact du public, demandes de modification du référent et leur suite, avis au
référent (sur son espace et par courriel, par le moteur de courriel de Django)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import get_connection, send_mail
from django.core.mail.message import EmailMessage
from django.db import IntegrityError, transaction
from django.urls import reverse

from opsn.core import dates
from opsn.gestion.audit import acting_as
from opsn.gestion.models import (
    Amendment,
    ChangeRequest,
    ChangeRequestKind,
    ChangeRequestStatus,
    Convention,
    Invoice,
    Lead,
    Member,
    Notification,
    Quote,
    Role,
    StaffMembership,
    Subscription,
)
from opsn.gestion.permissions import can, memberships, require
from opsn.portail import simulation as sim
from opsn.portail.selectors import PublicCatalogue, PublicOperator

logger = logging.getLogger(__name__)

VALIDITY_MONTHS = 3
# Alphabet de Crockford sans I, L, O, U : une référence se dicte et se recopie sans confusion.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def quote_reference(year: int) -> str:
    """« D2026-7KQ4-M2XA » : l'année et 40 bits tirés au hasard (une référence ne se devine
    pas : elle seule rouvre le devis)."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"D{year}-{body[:4]}-{body[4:]}"


def quote_create(
    *,
    operator: PublicOperator,
    catalogue: PublicCatalogue,
    simulation: sim.Simulation,
    today: dt.date,
    note: str | None = None,
) -> Quote:
    """Enregistre le devis : la collectivité, le choix et le chiffrage tels qu'affichés."""
    if not simulation.selection.services and not simulation.selection.intervention_days:
        raise ValidationError("Choisissez au moins un service pour établir un devis.")
    result = sim.simulation_dict(simulation)
    result["operateur"] = {
        "code": operator.code,
        "nom": operator.name,
        "adresse": operator.address,
        "courriel": operator.email,
        "siren": operator.siren,
    }
    result["note_annee"] = note
    result["revision"] = (
        simulation.catalogue.revision.clause if simulation.catalogue.revision else None
    )
    for _ in range(5):
        try:
            with transaction.atomic():
                return Quote.objects.create(
                    reference=quote_reference(today.year),
                    operator_id=operator.pk,
                    catalogue_id=catalogue.pk,
                    issued_on=today,
                    valid_until=dates.add_months(today, VALIDITY_MONTHS),
                    year=simulation.year,
                    subject=simulation.subject.as_dict(),
                    selection=simulation.selection.as_dict(),
                    result=result,
                )
        except IntegrityError:  # référence déjà prise (une chance sur 10^12) : une autre
            continue
    raise ValidationError("Impossible d'attribuer une référence au devis : réessayez.")


def lead_create(
    *, quote: Quote, name: str, role: str, email: str, phone: str, message: str
) -> Lead:
    """Demande de contact d'un visiteur : le personnel de l'opérateur la voit (Prospects)."""
    return Lead.objects.create(
        quote=quote,
        operator_id=quote.operator_id,
        name=name,
        role=role,
        email=email,
        phone=phone,
        message=message,
    )


def lead_handle(*, actor: Any, lead: Lead, now: dt.datetime) -> Lead:
    membership = next((m for m in memberships(actor) if m.operator_id == lead.operator_id), None)
    if membership is None or membership.role == Role.REFERENT:
        raise PermissionDenied("Seul le personnel de l'opérateur traite ses prospects.")
    lead.handled_at, lead.handled_by = now, actor
    lead.save(update_fields=["handled_at", "handled_by"])
    return lead


# -- demandes de modification du référent ----------------------------------------------------


def change_request_file(
    *,
    actor: Any,
    member: Member,
    kind: str,
    convention: Convention | None,
    message: str,
    service_code: str = "",
    subscription: Subscription | None = None,
    quantities: dict[str, Decimal] | None = None,
    estimate: dict[str, Any] | None = None,
) -> ChangeRequest:
    """Le référent (ou le personnel) dépose une demande typée ; l'estimation montrée est
    gardée avec elle."""
    require(actor, "voir", operator=member.operator, member=member)
    if convention is not None and convention.member_id != member.pk:
        raise ValidationError("Cette convention n'est pas celle de l'adhérent.")
    if subscription is not None and (
        convention is None or subscription.convention_id != convention.pk
    ):
        raise ValidationError("Ce service n'est pas souscrit par cette convention.")
    if kind not in ChangeRequestKind.values:
        raise ValidationError("Nature de demande inconnue.")
    if kind == ChangeRequestKind.OTHER and not message.strip():
        raise ValidationError("Décrivez la modification demandée.")
    return ChangeRequest.objects.create(
        member=member,
        convention=convention,
        author=actor,
        kind=kind,
        service_code=service_code,
        subscription=subscription,
        quantities={k: f"{v.normalize():f}" for k, v in (quantities or {}).items()},
        estimate=estimate or {},
        message=message.strip() or ChangeRequestKind(kind).label,
    )


def _require_staff(actor: Any, request: ChangeRequest) -> None:
    require(actor, "modifier_conventions", operator=request.member.operator_id)
    if request.status != ChangeRequestStatus.PENDING or request.handled_at is not None:
        raise ValidationError("Cette demande a déjà reçu une suite.")


def change_request_refuse(
    *, actor: Any, request: ChangeRequest, reason: str, now: dt.datetime
) -> ChangeRequest:
    """Refus motivé : le référent lit le motif sur son espace et le reçoit par courriel."""
    _require_staff(actor, request)
    if not reason.strip():
        raise ValidationError({"response": ["Le motif du refus est obligatoire."]})
    with transaction.atomic():
        request.status = ChangeRequestStatus.REFUSED
        request.response = reason.strip()
        request.handled_at, request.handled_by = now, actor
        request.save(update_fields=["status", "response", "handled_at", "handled_by"])
        notify(
            member=request.member,
            kind="demande_refusee",
            message=f"Votre demande du {request.created_at:%d/%m/%Y} "
            f"(« {_short(request.message)} ») a été refusée : {request.response}",
            link=reverse("portail") + "#demandes",
        )
    return request


def change_request_accept(
    *, actor: Any, request: ChangeRequest, amendment: Amendment, now: dt.datetime
) -> ChangeRequest:
    """Acceptation : l'avenant enregistré depuis la demande (formulaire pré-rempli)."""
    _require_staff(actor, request)
    if amendment.convention.member_id != request.member_id:
        raise ValidationError("L'avenant ne concerne pas l'adhérent de la demande.")
    with transaction.atomic():
        request.status = ChangeRequestStatus.ACCEPTED
        request.amendment = amendment
        request.response = f"Avenant n° {amendment.number} du {amendment.effective_on:%d/%m/%Y}"
        request.handled_at, request.handled_by = now, actor
        request.save(update_fields=["status", "amendment", "response", "handled_at", "handled_by"])
        notify(
            member=request.member,
            kind="demande_acceptee",
            message=f"Votre demande du {request.created_at:%d/%m/%Y} "
            f"(« {_short(request.message)} ») est acceptée : avenant n° {amendment.number} à "
            f"la convention {amendment.convention.reference}, effet le "
            f"{amendment.effective_on:%d/%m/%Y}.",
            link=reverse("portail") + "#convention",
        )
    return request


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- avis au référent ------------------------------------------------------------------------------


def notify(*, member: Member, kind: str, message: str, link: str = "") -> Notification:
    """Avis sur l'espace du référent, et courriel à chacun de ses référents (après la
    validation de la transaction : un refus annulé n'envoie rien)."""
    item = Notification.objects.create(
        member=member, kind=kind, message=message[:500], link=link[:300]
    )
    transaction.on_commit(lambda: _mail([item.pk]))
    return item


def notify_invoices(invoices: Iterable[Invoice]) -> list[Notification]:
    """Une pièce (facture ou avoir) émise : un avis à l'adhérent qui a un référent, une
    seule fois par pièce (le lien de l'avis désigne la pièce)."""
    items = [i for i in invoices if i.number]
    with_referent = set(
        StaffMembership.objects.filter(
            role=Role.REFERENT, member_id__in={i.member_id for i in items}
        ).values_list("member_id", flat=True)
    )
    items = [i for i in items if i.member_id in with_referent]
    if not items:
        return []
    base = reverse("portail")
    links = {i.pk: f"{base}#facture-{i.pk}" for i in items}
    done = set(
        Notification.objects.filter(kind="facture_emise", link__in=links.values()).values_list(
            "link", flat=True
        )
    )
    created = Notification.objects.bulk_create(
        [
            Notification(
                member_id=invoice.member_id,
                kind="facture_emise",
                message=f"{invoice.get_kind_display()} n° {invoice.number} émise le "
                f"{invoice.issued_on:%d/%m/%Y} ({invoice.year}) : "
                f"{_euros(invoice.total_ttc)} TTC.",
                link=links[invoice.pk],
            )
            for invoice in items
            if links[invoice.pk] not in done
        ],
        batch_size=500,
    )
    if created:
        pks = [n.pk for n in created]
        if all(pks):
            transaction.on_commit(lambda: _mail(pks))
        else:  # base qui ne renvoie pas les clés créées : relues par leurs liens
            wanted = [n.link for n in created]
            transaction.on_commit(
                lambda: _mail(
                    list(Notification.objects.filter(link__in=wanted).values_list("pk", flat=True))
                )
            )
    return created


def _euros(value: Decimal) -> str:
    from opsn.core.money import fmt_fr

    return fmt_fr(value)


def _mail(ids: list[int]) -> None:
    """Un courriel par avis et par référent qui a une adresse ; une panne d'envoi est
    journalisée, l'avis reste sur l'espace du référent."""
    items = Notification.objects.filter(pk__in=ids).select_related("member__operator")
    by_member: dict[int, list[str]] = {}
    for m in StaffMembership.objects.filter(
        role=Role.REFERENT, member_id__in={n.member_id for n in items}
    ).select_related("user"):
        if m.user.email:
            by_member.setdefault(m.member_id, []).append(m.user.email)
    messages = []
    site = getattr(settings, "OPSN_ADRESSE_SITE", "").rstrip("/")
    for item in items:
        recipients = by_member.get(item.member_id)
        if not recipients:
            continue
        body = (
            f"Bonjour,\n\n{item.message}\n\n"
            f"Votre espace adhérent : {site}{item.link or reverse('portail')}\n\n"
            f"{item.member.operator.name}\n"
        )
        messages.append(
            EmailMessage(
                subject=f"[{item.member.operator.name}] {_SUBJECTS.get(item.kind, 'Avis')}",
                body=body,
                from_email=None,
                to=recipients,
            )
        )
    if not messages:
        return
    try:
        get_connection().send_messages(messages)
    except Exception:
        logger.exception("Envoi des avis par courriel impossible (%s avis).", len(messages))


_SUBJECTS = {
    "demande_acceptee": "Votre demande de modification est acceptée",
    "demande_refusee": "Votre demande de modification est refusée",
    "facture_emise": "Nouvelle facture",
}


def notifications_mark_read(*, actor: Any, member: Member, ids: list[int], now: dt.datetime) -> int:
    if not can(actor, "voir", operator=member.operator_id, member=member):
        raise PermissionDenied("Ces avis ne sont pas les vôtres.")
    with acting_as(actor):
        return Notification.objects.filter(member=member, pk__in=ids, read_at__isnull=True).update(
            read_at=now
        )


def contact_mail(*, lead: Lead, operator_email: str) -> None:
    """Prévient l'opérateur (son courriel de contact, s'il en a un) d'une demande de contact."""
    if not operator_email:
        return
    try:
        send_mail(
            subject=f"Demande de contact – devis {lead.quote.reference}",
            message=f"{lead.name} ({lead.role or 'fonction non précisée'}) demande à être "
            f"contacté(e) : {lead.email} {lead.phone}\n\n{lead.message}\n\n"
            f"Devis {lead.quote.reference} pour {lead.quote.subject.get('nom', '')}.",
            from_email=None,
            recipient_list=[operator_email],
        )
    except Exception:
        logger.exception("Courriel de demande de contact non envoyé (devis %s).", lead.quote_id)
