"""Ce qu'une demande de modification coûterait, montré au référent avant l'envoi et gardé
avec la demande : coût annuel avant et après (R21 : une année commencée est due en entière),
coût d'un service ajouté (1re année, années suivantes), et pour un préavis la date de fin et
la dernière année facturée (R22)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Any

from opsn.core.errors import OpsnError
from opsn.core.members import Convention as CoreConvention
from opsn.core.members import Subscription as CoreSubscription
from opsn.core.money import ZERO, fmt, fmt_fr
from opsn.core.pricing import Pricer
from opsn.gestion import bridge
from opsn.gestion.models import ChangeRequestKind, Convention, Subscription
from opsn.portail import simulation as sim
from opsn.portail.selectors import notice_dates, public_offer


def change_estimate(
    convention: Convention,
    *,
    kind: str,
    service_code: str = "",
    subscription: Subscription | None = None,
    quantities: dict[str, Decimal] | None = None,
    today: dt.date,
) -> dict[str, Any]:
    """Estimation en phrases et montants (textes prêts à afficher, montants en chaînes)."""
    quantities = quantities or {}
    if kind == ChangeRequestKind.NOTICE:
        nd = notice_dates(convention, today)
        return {
            "nature": kind,
            "preavis_recu": nd.received.isoformat(),
            "fin": nd.end.isoformat(),
            "derniere_annee": nd.last_billed_year,
            "texte": [
                f"Préavis reçu le {nd.received:%d/%m/%Y} : la convention prendrait fin le "
                f"{nd.end:%d/%m/%Y} (préavis de trois mois avant l'échéance, R22).",
                f"{nd.last_billed_year} serait facturée en entier (aucun prorata, R21) ; "
                f"rien n'est facturé après.",
            ],
        }
    if kind == ChangeRequestKind.OTHER:
        return {}
    catalogue = bridge.catalogue_of(convention.catalogue)
    index = public_offer().index
    ty = sim.tariff_year(catalogue, index, today.year)
    year = ty.year
    try:
        pricer = Pricer(catalogue, index, year)
        member = bridge.core_member(convention, year)
        before = pricer.quote(member)
        result: dict[str, Any] = {"nature": kind, "annee": year, "texte": []}
        if ty.note:
            result["texte"].append(f"Tarifs {year} : {ty.note}")
        result["avant"] = fmt(before.totals.gross)
        if kind == ChangeRequestKind.ADD:
            service = catalogue.services[service_code]
            qty = {**sim.default_quantities(service), **quantities}
            alone = replace(member, subscriptions=())
            first_alone = _alone(pricer, alone, service_code, qty, year, 0)
            later_alone = _alone(pricer, alone, service_code, qty, year, 1)
            added, later = first_alone.totals.gross, later_alone.totals.gross
            start = CoreSubscription(service_code, dt.date(year, 1, 1), qty)
            first = pricer.quote(replace(member, subscriptions=(*member.subscriptions, start)))
            result.update(premiere_annee=fmt(added), annees_suivantes=fmt(later))
            result["texte"] += [
                f"« {service.label} » : {fmt_fr(added)} TTC la première année (année entière, "
                f"R21), puis {fmt_fr(later)} TTC par an aux tarifs {year}.",
                f"Total annuel de la convention : {fmt_fr(before.totals.gross)} → "
                f"{fmt_fr(first.totals.gross)} TTC.",
            ]
            result["apres"] = fmt(first.totals.gross)
            result["texte"] += _notes(first, before)
        elif subscription is not None:
            service = catalogue.services.get(subscription.service_code)
            label = service.label if service else subscription.service_code
            subs = list(member.subscriptions)
            target = _match(subs, subscription)
            if kind == ChangeRequestKind.QUANTITY:
                if target is not None:
                    subs[target] = replace(
                        subs[target], quantities={**subs[target].quantities, **quantities}
                    )
                after = pricer.quote(replace(member, subscriptions=tuple(subs)))
                delta = after.totals.gross - before.totals.gross
                result.update(apres=fmt(after.totals.gross), difference=fmt(delta))
                result["texte"] += [
                    f"« {label} » : total annuel {fmt_fr(before.totals.gross)} → "
                    f"{fmt_fr(after.totals.gross)} TTC ({_signed(delta)} par an, l'année de "
                    "l'avenant comprise : pas de prorata, R21)."
                ]
                result["texte"] += _notes(after, before)
            else:  # arrêt d'un service
                if target is not None:
                    del subs[target]
                after = pricer.quote(replace(member, subscriptions=tuple(subs)))
                delta = after.totals.gross - before.totals.gross
                result.update(apres=fmt(after.totals.gross), difference=fmt(delta))
                result["texte"] += [
                    f"« {label} » reste dû pour l'année en cours (R21) ; à partir de "
                    f"l'année suivante, total annuel {fmt_fr(after.totals.gross)} TTC "
                    f"({_signed(delta)} par an aux tarifs {year})."
                ]
        return result
    except (OpsnError, KeyError) as exc:
        return {"nature": kind, "erreur": f"Estimation impossible : {exc}"}


def _alone(pricer: Pricer, member: Any, service: str, qty: dict, year: int, rank: int) -> Any:
    """Le service seul, sa convention commencée `rank` années plus tôt (1re année, suivantes)."""
    start = dt.date(year - rank, 1, 1)
    return pricer.quote(
        replace(
            member,
            subscriptions=(CoreSubscription(service, start, qty),),
            convention=CoreConvention(start),
        )
    )


def _match(subs: list[CoreSubscription], subscription: Subscription) -> int | None:
    for i, sub in enumerate(subs):
        if sub.service == subscription.service_code and sub.start == subscription.started_on:
            return i
    for i, sub in enumerate(subs):
        if sub.service == subscription.service_code and sub.end is None:
            return i
    return None


def _signed(value: Decimal) -> str:
    if value > ZERO:
        return f"+{fmt_fr(value)}"
    return fmt_fr(value)


def _notes(after: Any, before: Any) -> list[str]:
    notes = [w for w in after.warnings if w not in before.warnings]
    notes += [
        f"« {line.service_label} – {line.label} » : {sim.STATUS_LABELS[line.status]}, non compté."
        for line in after.lines
        if line.status in ("sur_devis", "prix_manquant")
        and not any(
            b.service == line.service and b.component == line.component for b in before.lines
        )
    ]
    return notes
