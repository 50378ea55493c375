"""Dates de convention (R21, R22) : échéances, préavis, années facturées.

001 art. 6.4 : la convention prend effet à la signature pour un an, puis se
renouvelle tacitement chaque année ; la dénonciation doit parvenir au moins
trois mois avant l'échéance. 001 art. 6.3 : aucun prorata temporis, une année
commencée est due en entier (R21).
"""

from __future__ import annotations

import calendar
import datetime as dt

from opsn.core.model import ConventionRules


def add_months(day: dt.date, months: int) -> dt.date:
    """Ajoute des mois ; le 31 devient le dernier jour du mois d'arrivée."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def anniversary_after(signature: dt.date, day: dt.date, rules: ConventionRules) -> dt.date:
    """Première échéance (signature + k × durée, k ≥ 1) strictement postérieure à `day`."""
    k = 1
    while True:
        candidate = add_months(signature, k * rules.duration_months)
        if candidate > day:
            return candidate
        k += 1


def effective_end(
    signature: dt.date, notice_received: dt.date | None, rules: ConventionRules
) -> dt.date | None:
    """Date de fin d'une convention dénoncée : la première échéance que le préavis permet.

    Signée le 2019-06-15, préavis reçu le 2021-03-01 : fin le 2021-06-15 (reçu au
    moins 3 mois avant). Reçu le 2021-04-01 : trop tard, fin le 2022-06-15.
    """
    if notice_received is None:
        return None
    if not rules.tacit_renewal:
        return add_months(signature, rules.duration_months)
    k = 1
    while True:
        anniversary = add_months(signature, k * rules.duration_months)
        if notice_received <= add_months(anniversary, -rules.notice_months):
            return anniversary
        k += 1


def notice_deadline(signature: dt.date, today: dt.date, rules: ConventionRules) -> dt.date:
    """Dernier jour pour dénoncer avant la prochaine échéance utile."""
    anniversary = anniversary_after(signature, today, rules)
    deadline = add_months(anniversary, -rules.notice_months)
    if deadline < today:
        deadline = add_months(
            anniversary_after(signature, anniversary, rules), -rules.notice_months
        )
    return deadline


def active_in_year(start: dt.date, end: dt.date | None, year: int) -> bool:
    """Vrai si la période [start, end[ touche l'année civile : due en entier (R21)."""
    if start > dt.date(year, 12, 31):
        return False
    return end is None or end > dt.date(year, 1, 1)


def last_billed_year(end: dt.date | None) -> int | None:
    """Dernière année facturée d'une période qui s'arrête le jour `end` (exclu)."""
    return None if end is None else (end - dt.timedelta(days=1)).year
