"""Échéances, préavis et années facturées (R21, R22 ; 001 art. 6.3 et 6.4)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from opsn.core.catalogue import find_catalogue
from opsn.core.dates import (
    active_in_year,
    add_months,
    anniversary_after,
    effective_end,
    last_billed_year,
    notice_deadline,
)
from opsn.core.index import load_index
from opsn.core.members import Convention, Member, Subscription
from opsn.core.model import ConventionRules
from opsn.core.pricing import Pricer

D = dt.date
RULES = ConventionRules(
    duration_months=12, tacit_renewal=True, notice_months=3, pro_rata=False, clause="test"
)
SIGNED = D(2019, 6, 15)


# -- R22 : préavis de trois mois avant l'échéance anniversaire -------------------


@pytest.mark.parametrize(
    ("notice", "end"),
    [
        (D(2019, 7, 1), D(2020, 6, 15)),  # dès la 1re année, bien avant le 15 mars 2020
        (D(2021, 3, 1), D(2021, 6, 15)),  # cas P08 : reçu à temps
        (D(2021, 3, 15), D(2021, 6, 15)),  # exactement trois mois avant : encore à temps
        (D(2021, 3, 16), D(2022, 6, 15)),  # un jour trop tard
        (D(2021, 4, 1), D(2022, 6, 15)),  # cas P08 bis : trop tard
        (D(2021, 6, 15), D(2022, 6, 15)),  # le jour de l'échéance : l'année suivante
    ],
)
def test_notice_ends_the_convention_at_the_first_anniversary_it_allows(
    notice: dt.date, end: dt.date
) -> None:
    assert effective_end(SIGNED, notice, RULES) == end


def test_no_notice_means_no_end() -> None:
    assert effective_end(SIGNED, None, RULES) is None


def test_without_tacit_renewal_the_convention_ends_after_its_duration() -> None:
    rules = ConventionRules(12, False, 3, False, "test")
    assert effective_end(SIGNED, D(2019, 12, 1), rules) == D(2020, 6, 15)


def test_shipped_cdg82_rules_are_one_year_tacit_three_months_notice() -> None:
    rules = find_catalogue("cdg82", 2020).convention
    assert (rules.duration_months, rules.tacit_renewal, rules.notice_months) == (12, True, 3)
    assert rules.pro_rata is False


def test_notice_deadline() -> None:
    assert notice_deadline(SIGNED, D(2021, 1, 10), RULES) == D(2021, 3, 15)
    assert notice_deadline(SIGNED, D(2021, 3, 15), RULES) == D(2021, 3, 15)
    # le 16 mars 2021, il est trop tard pour juin 2021 : prochaine limite, mars 2022
    assert notice_deadline(SIGNED, D(2021, 3, 16), RULES) == D(2022, 3, 15)


def test_anniversary_after_is_strictly_later() -> None:
    assert anniversary_after(SIGNED, D(2021, 6, 14), RULES) == D(2021, 6, 15)
    assert anniversary_after(SIGNED, D(2021, 6, 15), RULES) == D(2022, 6, 15)


# -- fins de mois ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2020, 1, 31), 1, D(2020, 2, 29)),  # année bissextile
        (D(2021, 1, 31), 1, D(2021, 2, 28)),
        (D(2021, 1, 31), 2, D(2021, 3, 31)),  # pas de « 28 » qui colle : on repart du 31
        (D(2020, 2, 29), 12, D(2021, 2, 28)),
        (D(2020, 2, 29), 48, D(2024, 2, 29)),
        (D(2021, 5, 31), -3, D(2021, 2, 28)),
        (D(2021, 12, 15), 1, D(2022, 1, 15)),
        (D(2021, 1, 15), -1, D(2020, 12, 15)),
    ],
)
def test_add_months_clamps_to_the_end_of_month(
    day: dt.date, months: int, expected: dt.date
) -> None:
    assert add_months(day, months) == expected


def test_month_end_signature_notice_deadline_is_clamped() -> None:
    # signée le 31 mai 2020 : échéance le 31 mai 2021, préavis au plus tard le 28 février 2021
    signed = D(2020, 5, 31)
    assert effective_end(signed, D(2021, 2, 28), RULES) == D(2021, 5, 31)
    assert effective_end(signed, D(2021, 3, 1), RULES) == D(2022, 5, 31)


def test_leap_day_signature_anniversaries() -> None:
    # signée le 29 février 2020 : échéance le 28 février 2021, préavis jusqu'au 28 novembre 2020
    signed = D(2020, 2, 29)
    assert effective_end(signed, D(2020, 11, 28), RULES) == D(2021, 2, 28)
    assert effective_end(signed, D(2020, 11, 29), RULES) == D(2022, 2, 28)
    # les échéances se comptent depuis la signature : le 29 février revient en 2024
    assert effective_end(signed, D(2023, 6, 1), RULES) == D(2024, 2, 29)


# -- R21 : années facturées, sans prorata --------------------------------------------


def test_period_ending_on_1_january_is_not_billed_that_year() -> None:
    assert active_in_year(D(2020, 3, 1), D(2022, 1, 1), 2021) is True
    assert active_in_year(D(2020, 3, 1), D(2022, 1, 1), 2022) is False
    assert last_billed_year(D(2022, 1, 1)) == 2021


def test_period_ending_on_2_january_is_billed_for_the_whole_year() -> None:
    assert active_in_year(D(2020, 3, 1), D(2022, 1, 2), 2022) is True
    assert last_billed_year(D(2022, 1, 2)) == 2022


def test_period_starting_on_31_december_is_billed_that_year() -> None:
    assert active_in_year(D(2020, 12, 31), None, 2020) is True
    assert active_in_year(D(2021, 1, 1), None, 2020) is False
    assert active_in_year(D(2020, 12, 31), None, 2035) is True


def cdg82_quote(member: Member, year: int):
    return Pricer(find_catalogue("cdg82", year), load_index(), year).quote(member)


def test_subscription_started_on_31_december_is_billed_in_full_for_that_year() -> None:
    member = Member(
        "c",
        "Commune",
        "commune",
        population_totale=850,
        subscriptions=(
            Subscription("assistance_srb", D(2020, 12, 31), quantities={"postes_n1": Decimal(5)}),
        ),
    )
    quote = cdg82_quote(member, 2020)
    (line,) = quote.lines
    assert line.amount == Decimal("200.00")  # 5 × 40,00 €, aucun prorata
    assert quote.totals.gross == Decimal("200.00")


def test_subscription_ended_on_2_january_is_billed_in_full_for_that_year() -> None:
    member = Member(
        "c",
        "Commune",
        "commune",
        subscriptions=(
            Subscription(
                "assistance_srb",
                D(2019, 6, 1),
                quantities={"postes_n1": Decimal(1)},
                end=D(2020, 1, 2),
            ),
        ),
    )
    assert cdg82_quote(member, 2020).totals.gross == Decimal("40.00")


def p08_member(notice: dt.date) -> Member:
    return Member(
        "c",
        "Commune P08",
        "commune",
        convention=Convention(signature=SIGNED, notice_received=notice),
        subscriptions=(
            Subscription("assistance_srb", SIGNED, quantities={"postes_n2": Decimal(1)}),
        ),
    )


def test_p08_notice_in_time_last_year_billed_in_full_and_nothing_after() -> None:
    member = p08_member(D(2021, 3, 1))
    quote_2021 = cdg82_quote(member, 2021)
    assert quote_2021.totals.gross == Decimal("128.56")
    quote_2022 = cdg82_quote(member, 2022)
    assert quote_2022.lines == ()
    assert quote_2022.totals.gross == 0


def test_p08_notice_too_late_2022_is_billed() -> None:
    member = p08_member(D(2021, 4, 1))
    assert cdg82_quote(member, 2022).totals.gross == Decimal("129.54")
