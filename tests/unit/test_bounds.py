"""Domaines de saisie (opsn.core.bounds) : une saisie est lue dans son domaine ou refusée
avec un message français, jamais autre chose."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsn.core import bounds
from opsn.core.bounds import BoundError

TODAY = dt.date(2025, 6, 1)
ALL = [
    bounds.QUANTITY,
    bounds.DAYS,
    bounds.GB,
    bounds.USAGE,
    bounds.POPULATION,
    bounds.AGENTS,
    bounds.BUDGET_KEUR,
    bounds.INDEX,
    bounds.AMOUNT,
]
numbers_as_text = st.one_of(
    st.text(max_size=30),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**60), max_value=10**60).map(str),
    st.sampled_from(["1e400", "-1e400", "1e-400", "NaN", "sNaN", "Infinity", "1 234,5", "0,5"]),
)


@settings(max_examples=300, deadline=None)
@given(bound=st.sampled_from(ALL), raw=numbers_as_text)
def test_a_value_is_in_its_domain_or_refused_in_french(bound, raw) -> None:
    try:
        value = bound.parse(raw)
    except BoundError as exc:
        assert str(exc)  # un message à lire
        return
    assert value.is_finite()
    low_ok = value > bound.minimum if bound.min_exclusive else value >= bound.minimum
    assert low_ok and value <= bound.maximum
    assert -value.as_tuple().exponent <= bound.places or value == value.to_integral()


@pytest.mark.parametrize(
    ("bound", "raw", "message"),
    [
        (bounds.QUANTITY, "1e400", "« 1E+400 » est hors limites : un nombre de 0 à 100 000"),
        (bounds.QUANTITY, "1" + "0" * 29, "« 1E+29 » est hors limites"),
        (bounds.QUANTITY, "NaN", "n'est pas un nombre"),
        (bounds.QUANTITY, "Infinity", "n'est pas un nombre"),
        (bounds.DAYS, "99999", "de 0,5 à 366 jour(s)"),
        (bounds.DAYS, "1,25", "demi-journées"),
        (bounds.AGENTS, str(10**40), "« 1E+40 » est hors limites"),
        (bounds.POPULATION, "2,5", "un nombre entier est attendu"),
        (bounds.INDEX, "0", "de 50 à 1 000"),
        (bounds.INDEX, "-5", "hors limites"),
    ],
)
def test_messages(bound, raw, message) -> None:
    with pytest.raises(BoundError) as info:
        bound.parse(raw)
    assert message in str(info.value)


def test_french_numbers_are_read() -> None:
    assert bounds.QUANTITY.parse(" 1 234,5 ") == Decimal("1234.5")
    assert bounds.DAYS.parse("0,5") == Decimal("0.5")
    assert bounds.GB is bounds.usage_bound("donnees_go")
    assert bounds.USAGE is bounds.usage_bound("sms")


@pytest.mark.parametrize("raw", ["0", "-5", "99999", "1999", "2027", "abc", "", "２０２５"])
def test_billing_years_go_from_2000_to_next_year(raw) -> None:
    with pytest.raises(BoundError):
        bounds.check_year(raw, TODAY)


def test_billing_year_bounds() -> None:
    assert bounds.check_year("2000", TODAY) == 2000
    assert bounds.check_year(" 2026 ", TODAY) == 2026


@pytest.mark.parametrize("raw", ["2023-02-30", "30/02/2023", "9999-12-31", "1979-12-31", "x"])
def test_impossible_or_far_dates_are_refused(raw) -> None:
    with pytest.raises(BoundError):
        bounds.parse_date(raw, TODAY)


def test_codes_and_texts() -> None:
    assert bounds.check_siret("218 200 010 00019") == "21820001000019"
    assert bounds.check_insee("2a004") == "2A004"
    for bad in ("1" * 58, "1234567890123", "٢١٨٢٠٠٠١٠٠٠٠١٩"):
        with pytest.raises(BoundError, match="SIRET"):
            bounds.check_siret(bad)
    with pytest.raises(BoundError, match="200 au plus"):
        bounds.check_text("x" * 201, 200)
    with pytest.raises(BoundError, match="contrôle"):
        bounds.check_text("a\x00b", 200)
    assert bounds.check_text("deux\nlignes", 200, multiline=True) == "deux\nlignes"
