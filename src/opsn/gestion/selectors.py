"""Lectures (style HackSoft) : toujours filtrées par les droits de l'utilisateur."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from opsn.core import dates
from opsn.core.errors import OpsnError
from opsn.core.pricing import MemberQuote
from opsn.gestion import bridge
from opsn.gestion.models import (
    AuditEntry,
    Certificate,
    Convention,
    IndexValue,
    Member,
    MemberKind,
)
from opsn.gestion.permissions import visible_members


def member_list(
    *, user: Any, query: str = "", kind: str = "", operator: str = ""
) -> QuerySet[Member]:
    members = visible_members(user).select_related("operator", "parent")
    if query:
        members = members.filter(member_search(query))
    if kind in MemberKind.values:
        members = members.filter(kind=kind)
    if operator:
        members = members.filter(operator__code=operator)
    return members.order_by("name")


def member_search(query: str) -> Q:
    """Nom (accents, tirets, apostrophes et casse ignorés : « saint magne », « beliet »
    trouvent Saint-Magne et Béliet), code INSEE ou SIREN. Le nom normalisé (`search_name`)
    est comparé par `LIKE` sur SQLite comme sur PostgreSQL ; une ligne écrite sans passer par
    `save` (insertion en masse) est encore trouvée par son nom brut."""
    from opsn.referentiel.normalisation import normaliser, normaliser_code

    code = normaliser_code(query)
    condition = Q(name__icontains=query) | Q(insee=code) | Q(siren=code)
    target = normaliser(query)
    if target:
        condition |= Q(search_name__contains=target)
    return condition


def member_get(*, user: Any, member_id: int) -> Member:
    """L'adhérent, s'il est visible ; sinon 404 (sans révéler qu'il existe)."""
    member = visible_members(user).select_related("operator", "parent").filter(pk=member_id).first()
    if member is None:
        raise Http404("Adhérent introuvable.")
    return member


def convention_get(*, user: Any, convention_id: int) -> Convention:
    convention = (
        Convention.objects.select_related("member", "operator", "catalogue")
        .filter(pk=convention_id, member__in=visible_members(user))
        .first()
    )
    if convention is None:
        raise Http404("Convention introuvable.")
    return convention


def audit_for(obj: Any, *, extra: list[tuple[str, list[str]]] = ()) -> QuerySet[AuditEntry]:
    cond = Q(object_type=obj._meta.model_name, object_id=str(obj.pk))
    for model_name, ids in extra:
        cond |= Q(object_type=model_name, object_id__in=ids)
    return AuditEntry.objects.filter(cond).select_related("actor")


def member_audit(member: Member) -> QuerySet[AuditEntry]:
    """Journal de la fiche adhérent : l'adhérent lui-même, ses relevés d'usage et ses
    interventions (saisies, corrections, suppressions : l'identifiant de l'adhérent est dans
    la copie avant ou après de chaque entrée)."""
    records = Q(object_type__in=("usagerecord", "intervention")) & (
        Q(after__member_id=member.pk) | Q(before__member_id=member.pk)
    )
    own = Q(object_type="member", object_id=str(member.pk))
    return AuditEntry.objects.filter(own | records).select_related("actor")


@dataclass(frozen=True)
class QuotaUse:
    code: str
    included: int
    used: Decimal | None


@dataclass(frozen=True)
class ConventionOverview:
    convention: Convention
    quote: MemberQuote | None
    error: str | None
    quotas: list[QuotaUse]
    end: dt.date | None
    next_anniversary: dt.date | None
    notice_deadline: dt.date | None


def convention_overview(convention: Convention, *, year: int, today: dt.date) -> ConventionOverview:
    catalogue = bridge.catalogue_of(convention.catalogue)
    rules = catalogue.convention
    end = convention.ended_on or dates.effective_end(
        convention.signed_on, convention.notice_received_on, rules
    )
    deadline = None if end else dates.notice_deadline(convention.signed_on, today, rules)
    # prochaine échéance à laquelle on peut encore mettre fin (préavis compris)
    anniversary = (
        dates.add_months(deadline, rules.notice_months)
        if deadline
        else dates.anniversary_after(convention.signed_on, today, rules)
    )
    try:
        quote = bridge.quote(convention, year)
        error = None
    except OpsnError as exc:
        quote, error = None, str(exc)
    quotas = []
    if quote is not None:
        records = getattr(convention.member, "usage_of_year", None)  # préchargés par la page
        if records is None:
            records = convention.member.usage_records.filter(year=year)
        usage = {u.counter: u.quantity for u in records}
        for code, included in quote.entitlements.items():
            quotas.append(QuotaUse(code, included, usage.get(code)))
    return ConventionOverview(convention, quote, error, quotas, end, anniversary, deadline)


DEADLINE_KINDS = {
    "fin": "Fin de convention",
    "preavis": "Préavis",
    "certificat": "Certificat",
    "indice": "Indice",
    "demande": "Demande à traiter",
}


@dataclass(frozen=True)
class Deadline:
    day: dt.date
    kind: str
    label: str
    member: Member | None

    @property
    def kind_label(self) -> str:
        return DEADLINE_KINDS.get(self.kind, self.kind)


def dashboard_deadlines(*, user: Any, today: dt.date, horizon_days: int = 120) -> list[Deadline]:
    """Échéances à venir : préavis avant échéance, certificats qui expirent sous 90 jours,
    valeurs d'indice manquantes pour la révision de l'an prochain."""
    members = visible_members(user)
    result: list[Deadline] = []
    limit = today + dt.timedelta(days=horizon_days)
    conventions = Convention.objects.filter(member__in=members).select_related(
        "member", "catalogue"
    )
    for conv in conventions:
        rules = bridge.catalogue_of(conv.catalogue).convention
        end = conv.ended_on or dates.effective_end(conv.signed_on, conv.notice_received_on, rules)
        if end is not None:
            if today <= end <= limit:
                result.append(
                    Deadline(end, "fin", f"Fin de la convention {conv.reference}", conv.member)
                )
            continue
        deadline = dates.notice_deadline(conv.signed_on, today, rules)
        if deadline <= limit:
            anniversary = dates.add_months(deadline, rules.notice_months)
            result.append(
                Deadline(
                    deadline,
                    "preavis",
                    f"Dernier jour pour dénoncer la convention {conv.reference} "
                    "avant l'échéance du "
                    f"{anniversary:%d/%m/%Y}",
                    conv.member,
                )
            )
    for cert in Certificate.objects.filter(
        member__in=members, expires_on__lte=today + dt.timedelta(days=90), expires_on__gte=today
    ).select_related("member"):
        result.append(
            Deadline(
                cert.expires_on,
                "certificat",
                f"Certificat {cert.kind} de {cert.holder} expire",
                cert.member,
            )
        )
    from opsn.gestion.models import ChangeRequest

    for item in ChangeRequest.objects.filter(
        member__in=members, handled_at__isnull=True
    ).select_related("member"):
        result.append(
            Deadline(
                item.created_at.date(),
                "demande",
                f"Demande du référent : {item.message[:120]}",
                item.member,
            )
        )
    needed = f"{today.year}-11"
    if not IndexValue.objects.filter(index="syntec", month=needed).exists():
        result.append(
            Deadline(
                dt.date(today.year, 12, 1),
                "indice",
                f"Indice SYNTEC de novembre {today.year} à saisir (administrateur de la "
                f"plateforme) : nécessaire pour réviser les tarifs {today.year + 1}",
                None,
            )
        )
    previous = f"{today.year - 1}-11"
    if not IndexValue.objects.filter(index="syntec", month=previous).exists():
        result.append(
            Deadline(
                today,
                "indice",
                f"Indice SYNTEC de novembre {today.year - 1} manquant : les tarifs {today.year} ne "
                "peuvent pas être révisés (saisie par l'administrateur de la plateforme)",
                None,
            )
        )
    return sorted(result, key=lambda d: (d.day, d.label))
