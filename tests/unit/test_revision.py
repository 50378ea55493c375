"""Révision SYNTEC (R9–R11) avec la table d'indices livrée.

Valeurs de novembre utilisées : 2018 = 270.2, 2019 = 274.7, 2020 = 274.8, 2021 = 276.9
(ancienne série) ; la série a changé de base en août 2022 (coefficient 0.97975).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from opsn.core.errors import IndexMissingError
from opsn.core.index import IndexFileError, IndexTable, IndexValue, load_index, parse_index_csv

CENT = Decimal("0.01")


def half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def syntec() -> IndexTable:
    return load_index("syntec")


# -- R10 : prix révisés des acceptations CDG82 ---------------------------------


@pytest.mark.parametrize(
    ("year", "expected"),
    [(2019, "126.40"), (2020, "128.51"), (2021, "128.56"), (2022, "129.54")],
)
def test_t2_revised_year_by_year(syntec: IndexTable, year: int, expected: str) -> None:
    # T2 = 126,40 € « pour 2019* » (001 art. 1.4)
    revision = syntec.revise(Decimal("126.40"), 2019, year)
    assert revision.price == Decimal(expected)
    assert len(revision.steps) == year - 2019


@pytest.mark.parametrize(("year", "expected"), [(2019, "93.18"), (2020, "94.73"), (2021, "94.76")])
def test_demat_per_user_fee_revised(syntec: IndexTable, year: int, expected: str) -> None:
    assert syntec.revise(Decimal("93.18"), 2019, year).price == Decimal(expected)


def test_each_step_uses_november_values_of_the_two_previous_years(syntec: IndexTable) -> None:
    revision = syntec.revise(Decimal("126.40"), 2019, 2022)
    steps = [(s.year, s.numerator_month, s.denominator_month, s.price) for s in revision.steps]
    assert steps == [
        (2020, "2019-11", "2018-11", Decimal("128.51")),
        (2021, "2020-11", "2019-11", Decimal("128.56")),
        (2022, "2021-11", "2020-11", Decimal("129.54")),
    ]
    assert revision.steps[0].numerator == Decimal("274.7")
    assert revision.steps[0].denominator == Decimal("270.2")
    assert not any(s.converted for s in revision.steps)


def test_rounding_happens_at_each_yearly_step(syntec: IndexTable) -> None:
    # 1,00 € pour 2019, révisé jusqu'en 2022 :
    #   2020 : 1.00 × 274.7 / 270.2 = 1.01665… → 1.02
    #   2021 : 1.02 × 274.8 / 274.7 = 1.02037… → 1.02
    #   2022 : 1.02 × 276.9 / 274.8 = 1.02779… → 1.03
    # alors qu'une seule multiplication donnerait 1.00 × 276.9 / 270.2 = 1.02479… → 1.02.
    single = half_up(Decimal("1.00") * Decimal("276.9") / Decimal("270.2"))
    assert single == Decimal("1.02")
    revision = syntec.revise(Decimal("1.00"), 2019, 2022)
    assert [s.price for s in revision.steps] == [
        Decimal("1.02"),
        Decimal("1.02"),
        Decimal("1.03"),
    ]
    assert revision.price == Decimal("1.03")


def test_no_revision_in_the_base_year(syntec: IndexTable) -> None:
    revision = syntec.revise(Decimal("40.00"), 2020, 2020)
    assert revision.price == Decimal("40.00")
    assert revision.steps == ()


# -- R11 : rupture de série d'août 2022 ------------------------------------------


def with_november_2022(table: IndexTable, value: str = "292.5") -> IndexTable:
    return table.with_values([IndexValue("2022-11", Decimal(value), "revisee", "test")])


def test_ratio_across_the_2022_series_break_converts_the_old_value(syntec: IndexTable) -> None:
    table = with_november_2022(syntec)
    # 2023 : S(nov. 2022, révisée) / (S(nov. 2021, ancienne) × 0.97975)
    old_nov_2021 = Decimal("276.9")
    converted = old_nov_2021 * Decimal("0.97975")
    assert converted == Decimal("271.292775")
    expected = half_up(Decimal("129.54") * Decimal("292.5") / converted)
    assert expected == Decimal("139.67")

    revision = table.revise(Decimal("129.54"), 2022, 2023)
    assert revision.price == expected
    (step,) = revision.steps
    assert step.converted is True
    assert step.numerator == Decimal("292.5")
    assert step.denominator == converted
    assert "raccordement" in step.explain()


def test_ratio_after_the_break_uses_revised_values_only(syntec: IndexTable) -> None:
    table = with_november_2022(syntec)
    # 2024 : S(nov. 2023) / S(nov. 2022), toutes deux dans la série révisée
    revision = table.revise(Decimal("139.67"), 2023, 2024)
    (step,) = revision.steps
    assert step.converted is False
    assert (step.numerator, step.denominator) == (Decimal("307.0"), Decimal("292.5"))
    assert revision.price == half_up(Decimal("139.67") * Decimal("307.0") / Decimal("292.5"))


def test_the_original_table_is_not_changed_by_with_values(syntec: IndexTable) -> None:
    with_november_2022(syntec)
    assert ("2022-11", "revisee") not in syntec.values


def test_missing_month_names_it_in_french(syntec: IndexTable) -> None:
    # novembre 2022 n'est pas dans la table livrée : la révision pour 2023 est impossible
    with pytest.raises(IndexMissingError) as info:
        syntec.revise(Decimal("129.54"), 2022, 2023, what="le tarif T2")
    message = str(info.value)
    assert "novembre 2022" in message
    assert "2022-11" in message
    assert "le tarif T2" in message
    assert info.value.month == "2022-11"


def test_missing_denominator_month_is_reported(syntec: IndexTable) -> None:
    # base 2017 → 2018 : novembre 2017 est connu, mais pas novembre 2016 (dénominateur)
    with pytest.raises(IndexMissingError) as info:
        syntec.revise(Decimal("100.00"), 2017, 2018)
    assert "novembre 2016" in str(info.value)
    assert info.value.month == "2016-11"


# -- lecture du CSV des indices --------------------------------------------------

SERIES = ("ancienne", "revisee")
HEADER = "mois,valeur,serie,source\n"


def test_parse_index_csv_reads_values_as_decimals() -> None:
    text = HEADER + '2019-11,274.7,ancienne,src\n\n2022-11,"292,5",revisee,src\n'
    values = parse_index_csv(Path("indices.csv"), SERIES, text=text)
    assert [(v.month, v.value, v.series) for v in values] == [
        ("2019-11", Decimal("274.7"), "ancienne"),
        ("2022-11", Decimal("292.5"), "revisee"),
    ]


@pytest.mark.parametrize(
    ("bad_line", "fragment"),
    [
        ("2019-13,274.7,ancienne,src", "mois « 2019-13 » invalide"),
        ("2019-11,deux cents,ancienne,src", "n'est pas un nombre"),
        ("2019-11,-3,ancienne,src", "non positive"),
        ("2019-11,274.7,nouvelle,src", "série « nouvelle » inconnue"),
        ("2019-11,274.7", "4 colonnes attendues"),
        ("2018-11,270.2,ancienne,src", "figure deux fois"),
    ],
)
def test_parse_index_csv_errors_name_the_line(bad_line: str, fragment: str) -> None:
    # ligne 1 : en-tête, ligne 2 : valeur correcte, ligne 3 : vide, ligne 4 : la faute
    text = HEADER + "2018-11,270.2,ancienne,src\n\n" + bad_line + "\n"
    with pytest.raises(IndexFileError) as info:
        parse_index_csv(Path("indices.csv"), SERIES, text=text)
    assert info.value.line == 4
    assert info.value.file == "indices.csv"
    assert fragment in str(info.value)
    assert "ligne 4" in str(info.value)


def test_parse_index_csv_requires_the_header() -> None:
    with pytest.raises(IndexFileError) as info:
        parse_index_csv(Path("indices.csv"), SERIES, text="2019-11,274.7,ancienne,src\n")
    assert info.value.line == 1
    assert "en-tête attendu" in str(info.value)
