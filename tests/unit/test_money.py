"""Argent (R26) : arrondi au centime, demi supérieur, en Decimal ; jamais de float."""

from __future__ import annotations

from decimal import Decimal

import pytest

from opsn.core.money import round_cents, to_decimal


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7.505", "7.51"),  # le demi-centime monte
        ("7.504999", "7.50"),  # juste en dessous du demi : descend
        ("0.005", "0.01"),
        ("0.004", "0.00"),
        ("-7.505", "-7.51"),  # demi « loin de zéro » pour un avoir
        ("2.675", "2.68"),  # 2.675 en float vaut 2.67499… : le Decimal, lui, monte
        ("128.505", "128.51"),
        ("10", "10.00"),
        ("7.5", "7.50"),
    ],
)
def test_round_cents_half_up(value: str, expected: str) -> None:
    result = round_cents(Decimal(value))
    assert result == Decimal(expected)
    # toujours exactement deux décimales, pour les sorties et les factures
    assert str(result) == expected


def test_round_cents_returns_two_decimals_even_for_integers() -> None:
    assert str(round_cents(Decimal(500))) == "500.00"


def test_round_cents_refuses_a_float() -> None:
    # 2.675 écrit en float arrondirait à 2.67 : le module refuse de jouer à ce jeu
    with pytest.raises(TypeError, match="non décimal"):
        round_cents(2.675)  # type: ignore[arg-type]


def test_to_decimal_accepts_french_amount_with_spaces_and_comma() -> None:
    assert to_decimal("1 150,00") == Decimal("1150.00")
    assert to_decimal("33\u202f461,00 €") == Decimal("33461.00")
    assert to_decimal("12\xa0000") == Decimal("12000")


def test_to_decimal_keeps_decimals_and_ints_exact() -> None:
    assert to_decimal("126.40") == Decimal("126.40")
    assert to_decimal(250) == Decimal(250)
    value = Decimal("0.55")
    assert to_decimal(value) is value


def test_to_decimal_refuses_floats_with_a_french_message() -> None:
    with pytest.raises(ValueError, match="virgule flottante refusé") as info:
        to_decimal(126.4)
    assert "guillemets" in str(info.value)


@pytest.mark.parametrize("garbage", ["douze euros", "", "1,2,3", "NaN", "Infinity", True, None])
def test_to_decimal_refuses_garbage_with_a_french_message(garbage: object) -> None:
    with pytest.raises(ValueError, match="n'est pas un nombre"):
        to_decimal(garbage)
