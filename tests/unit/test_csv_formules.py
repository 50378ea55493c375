"""Neutralisation des formules de tableur dans les CSV (helper partagé, sans base)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from opsn.plateforme.csv import FORMULA_TRIGGERS, cell, csv_text, neutralise

HYPERLINK = '=HYPERLINK("http://x","y")'


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_each_trigger_is_prefixed_with_an_apostrophe() -> None:
    for value in (HYPERLINK, "+33 5 56", "-2+3", "@SUM(A1)", "\t=1", "\r=1"):
        assert neutralise(value) == "'" + value
    assert neutralise("Commune de Bordeaux") == "Commune de Bordeaux"
    assert neutralise("") == ""


def test_generated_numbers_stay_numbers_text_in_numeric_column_does_not() -> None:
    text = csv_text(
        ("nom", "montant", "variation"),
        [
            (HYPERLINK, "-12.50", "+5,3 %"),
            ("Bordeaux", Decimal("-0.01"), "—"),
            ("-Belin", "-1+1", "=1+1"),
        ],
        numeric=("montant", "variation"),
    )
    assert _read(text) == [
        ["nom", "montant", "variation"],
        ["'" + HYPERLINK, "-12.50", "+5,3 %"],
        ["Bordeaux", "-0.01", "—"],
        ["'-Belin", "'-1+1", "'=1+1"],
    ]


def test_dict_rows_follow_the_header() -> None:
    text = csv_text(("a", "b"), [{"b": "@x", "a": 3}])
    assert _read(text) == [["a", "b"], ["3", "'@x"]]


@given(st.text())
def test_no_text_cell_can_start_a_formula(value: str) -> None:
    out = cell(value)
    assert not out.startswith(FORMULA_TRIGGERS)
    assert out in (value, "'" + value)
