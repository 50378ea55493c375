"""Catalogues mal formés : le chargement échoue en entier, avec fichier, ligne et clé.

Chaque cas part du texte réel d'un catalogue livré et y introduit une seule faute.
Les numéros de ligne cités renvoient au fichier livré (cdg82/2020.yaml ou
gironde-numerique/2021.yaml), que la faute ne décale pas sauf mention contraire.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from opsn.core.catalogue import CATALOGUE_DIR, load_catalogue
from opsn.core.errors import CatalogueError
from opsn.core.members import Member
from opsn.core.model import Catalogue
from opsn.core.pricing import resolve_stratum

FAKE = Path("faux.yaml")
CDG82 = (CATALOGUE_DIR / "cdg82" / "2020.yaml").read_text(encoding="utf-8")
GIRONDE = (CATALOGUE_DIR / "gironde-numerique" / "2021.yaml").read_text(encoding="utf-8")


def mutate(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"fragment à remplacer introuvable ou ambigu : {old!r}"
    return text.replace(old, new)


def line_of(text: str, fragment: str) -> int:
    """Numéro (à partir de 1) de la ligne qui contient `fragment` (unique)."""
    lines = [i for i, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(lines) == 1, fragment
    return lines[0]


def load_error(text: str) -> CatalogueError:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(FAKE, text=text)
    error = info.value
    assert error.file == "faux.yaml"
    assert str(error).startswith("faux.yaml")
    if error.line is not None:
        assert f"ligne {error.line}" in str(error)
    return error


def test_the_shipped_texts_load_unchanged() -> None:
    # garde-fou : les fautes ci-dessous sont bien la cause des erreurs
    assert isinstance(load_catalogue(FAKE, text=CDG82), Catalogue)
    assert isinstance(load_catalogue(FAKE, text=GIRONDE), Catalogue)


def test_unknown_key_is_named_with_a_suggestion() -> None:
    text = mutate(CDG82, "    libelle: Grille tarifaire RGPD", "    libele: Grille tarifaire RGPD")
    error = load_error(text)
    assert error.line == line_of(text, "libele: Grille tarifaire RGPD")
    assert error.key == "tables.rgpd_tranches.libele"
    assert "clé inconnue « libele »" in str(error)
    assert "vouliez-vous dire « libelle »" in str(error)


def test_unknown_key_in_a_service_suggests_the_right_one() -> None:
    text = mutate(CDG82, "    famille: rgpd\n", "    famille: rgpd\n    factur_a: epci\n")
    error = load_error(text)
    assert error.line == line_of(text, "factur_a: epci")
    assert error.key == "services.rgpd_dpd.factur_a"
    assert "vouliez-vous dire « facture_a »" in str(error)


def test_missing_price_is_refused_and_suggests_a_renseigner() -> None:
    text = mutate(CDG82, '        prix: {montant: "40.00", annee: 2020}\n', "")
    error = load_error(text)
    # la composante T1 commence à « - code: T1 » ; sa clé prix manque
    assert error.line == line_of(text, "- code: T1")
    assert error.key == "services.assistance_srb.composantes[1].prix"
    assert "prix absent" in str(error)
    assert "a_renseigner" in str(error)


def test_negative_amount_is_refused() -> None:
    text = mutate(CDG82, 'prix: {montant: "40.00"', 'prix: {montant: "-40.00"')
    error = load_error(text)
    assert error.line == line_of(text, '"-40.00"')
    assert error.key == "services.assistance_srb.composantes[1].prix.montant"
    assert "montant négatif" in str(error)


def test_negative_cell_in_a_strata_table_is_refused() -> None:
    text = mutate(
        CDG82,
        "valeurs: {mise_en_place: 400, accompagnement: 250}",
        "valeurs: {mise_en_place: -400, accompagnement: 250}",
    )
    error = load_error(text)
    assert error.line == line_of(text, "mise_en_place: -400")
    assert "valeur négative -400" in str(error)


def test_unquoted_decimal_is_read_exactly_not_as_a_float() -> None:
    text = mutate(
        CDG82, 'prix: {montant: "12.26", annee: 2020}', "prix: {montant: 12.26, annee: 2020}"
    )
    text = mutate(
        text, 'prix: {montant: "40.00", annee: 2020}', "prix: {montant: 40.15, annee: 2020}"
    )
    catalogue = load_catalogue(FAKE, text=text)
    mailbox = catalogue.services["adresse_mel_5go"].components[0].price.amount
    t1 = catalogue.services["assistance_srb"].components[0].price.amount
    assert isinstance(mailbox, Decimal)
    assert mailbox == Decimal("12.26")  # pas 12.2599999999999997868371792719699442386627197265625
    assert t1 == Decimal("40.15")
    assert str(t1) == "40.15"


def test_gap_between_tiers_is_refused_r8() -> None:
    # « 0-300 » puis « 302-500 » : 301 habitants ne relève d'aucune ligne
    text = mutate(CDG82, "population: {de: 301, a: 500}", "population: {de: 302, a: 500}")
    error = load_error(text)
    assert "trou" in str(error)
    assert "population = 301" in str(error)
    assert "(R8)" in str(error)
    assert error.key == "tables.rgpd_tranches"
    # la ligne citée est dans la table fautive (de son en-tête à la ligne modifiée)
    assert line_of(text, "rgpd_tranches:") <= error.line <= line_of(text, "de: 302")


def test_logilibre_gap_at_exactly_5_agents_must_be_stated_r8() -> None:
    # La source dit « < 5 agents » puis « > 5 agents » ; le catalogue tranche « de: 5 ».
    # Écrire la lecture littérale (« plus_de: 5 ») laisse 5 agents sans ligne : refusé.
    text = mutate(
        GIRONDE, "quantite.agents_police: {de: 5}", "quantite.agents_police: {plus_de: 5}"
    )
    error = load_error(text)
    assert "trou" in str(error)
    assert "quantite.agents_police = 5" in str(error)
    assert error.key == "tables.classes_logilibre"


def test_overlap_without_nesting_is_refused_r2() -> None:
    # « 301-500 » et « 450-700 » se chevauchent sans que l'une contienne l'autre
    text = mutate(CDG82, "population: {de: 501, a: 700}", "population: {de: 450, a: 700}")
    error = load_error(text)
    assert "se chevauchent sans que l'une contienne l'autre" in str(error)
    assert "« 301-500 » et « 501-700 »" in str(error)
    assert "(R2)" in str(error)
    assert error.line == line_of(text, '- libelle: "501-700"')


def test_two_rows_covering_the_same_sizes_are_ambiguous_r2() -> None:
    text = mutate(CDG82, "population: {de: 301, a: 500}", "population: {de: 0, a: 300}")
    error = load_error(text)
    assert "couvrent exactement les mêmes" in str(error)
    assert "ambiguïté" in str(error)
    assert error.line == line_of(text, '- libelle: "301-500"')


def test_nested_overlap_is_accepted_r2() -> None:
    # « 5 001 et plus » contient « plus de 10 000 » : permis, la plus spécifique gagne
    text = mutate(
        CDG82,
        "criteres: [{types: [commune], population: {de: 5001, a: 10000}}]",
        "criteres: [{types: [commune], population: {de: 5001}}]",
    )
    catalogue = load_catalogue(FAKE, text=text)
    table = catalogue.tables["rgpd_tranches"]
    big = Member("c", "Grande commune", "commune", population_totale=12000)
    mid = Member("c", "Commune moyenne", "commune", population_totale=8000)
    assert resolve_stratum(table, big).values["mise_en_place"] == "sur_devis"
    assert resolve_stratum(table, mid).values["mise_en_place"] == Decimal(2080)


def test_duplicated_key_is_refused() -> None:
    text = mutate(CDG82, "  code: cdg82\n", "  code: cdg82\n  code: cdg83\n")
    error = load_error(text)
    assert error.line == line_of(text, "code: cdg83")
    assert error.key == "code"
    assert "clé en double" in str(error)


def test_yaml_syntax_error_gives_the_line() -> None:
    text = mutate(CDG82, 'version: "2020"\n', 'version: "2020" x\n')
    error = load_error(text)
    assert error.line == line_of(text, 'version: "2020" x')
    assert "YAML invalide" in str(error)


def test_tab_indentation_gives_the_line() -> None:
    text = mutate(CDG82, "  defaut: ttc\n", "  defaut: ttc\n\tregimes: {}\n")
    error = load_error(text)
    assert error.line == line_of(text, "\tregimes: {}")
    assert "YAML invalide" in str(error)


def test_unknown_family_reference() -> None:
    text = mutate(CDG82, "    famille: rgpd\n", "    famille: rgdp\n")
    error = load_error(text)
    assert error.line == line_of(text, "famille: rgdp")
    assert error.key == "services.rgpd_dpd.famille"
    assert "famille « rgdp » inconnue" in str(error)


def test_unknown_table_reference() -> None:
    text = mutate(
        CDG82,
        "prix: {table: rgpd_tranches, colonne: mise_en_place}",
        "prix: {table: rgpd_tranche, colonne: mise_en_place}",
    )
    error = load_error(text)
    assert error.line == line_of(text, "rgpd_tranche, colonne")
    assert error.key == "services.rgpd_dpd.composantes[1].prix.table"
    assert "table « rgpd_tranche » inconnue" in str(error)


def test_unknown_table_column_reference() -> None:
    text = mutate(
        CDG82,
        "prix: {table: rgpd_tranches, colonne: accompagnement}",
        "prix: {table: rgpd_tranches, colonne: suivi}",
    )
    error = load_error(text)
    assert error.line == line_of(text, "colonne: suivi")
    assert "colonne de montants « suivi » absente" in str(error)


def test_unknown_grid_reference() -> None:
    text = mutate(GIRONDE, "prix: {grille: adhesion_mutualisee}", "prix: {grille: adhesion}")
    error = load_error(text)
    assert error.line == line_of(text, "prix: {grille: adhesion}")
    assert "grille « adhesion » inconnue" in str(error)


def test_unknown_day_rate_service() -> None:
    text = mutate(CDG82, "journee: intervention_hors_convention\n", "journee: intervention\n")
    error = load_error(text)
    assert error.line == line_of(text, "journee: intervention")
    assert "service « intervention » inconnu" in str(error)


def test_grid_row_with_a_missing_cell() -> None:
    text = mutate(GIRONDE, "[5802, 7912, ", "[5802, ")
    error = load_error(text)
    assert error.line == line_of(text, "[5802, 10549")
    assert error.key == "grilles.adhesion_mutualisee.cellules[1]"
    assert "14 cellules pour 15 colonnes" in str(error)


def test_grid_with_a_missing_row_of_cells() -> None:
    last_row = (
        "      - [21098, 23735, 26373, 29010, 31647, 34285, 36922, 39559, 42196, 44834, 47471, "
        "50108, 52745, 55383, 58020]\n"
    )
    text = mutate(GIRONDE, last_row, "")
    error = load_error(text)
    assert error.key == "grilles.adhesion_mutualisee.cellules"
    assert "6 rangée(s) de cellules pour 7 palier(s)" in str(error)


def test_unknown_member_type_in_a_criterion() -> None:
    text = mutate(
        CDG82,
        "criteres: [{types: [commune], population: {de: 0, a: 300}}]",
        "criteres: [{types: [mairie], population: {de: 0, a: 300}}]",
    )
    error = load_error(text)
    assert error.line == line_of(text, "types: [mairie]")
    assert "type d'adhérent « mairie » inconnu" in str(error)


def test_unknown_table_population_is_refused() -> None:
    text = mutate(
        CDG82,
        "    population: totale\n    annee: 2020\n",
        "    population: totalle\n    annee: 2020\n",
    )
    error = load_error(text)
    assert error.line == line_of(text, "population: totalle")
    assert error.key == "tables.rgpd_tranches.population"
    assert "population « totalle » inconnue" in str(error)
    assert "« totale » ou « municipale »" in str(error)


def test_unknown_grid_population_is_refused() -> None:
    text = mutate(
        GIRONDE,
        "    types: [commune]\n    au_dela: sur_devis\n",
        "    types: [commune]\n    population: totalle\n    au_dela: sur_devis\n",
    )
    error = load_error(text)
    assert error.line == line_of(text, "population: totalle")
    assert "population « totalle » inconnue" in str(error)


def test_unknown_counting_population_is_refused() -> None:
    text = mutate(
        GIRONDE, "    population: totale\n    exclure:", "    population: totalle\n    exclure:"
    )
    error = load_error(text)
    assert error.line == line_of(text, "population: totalle")
    assert "population « totalle » inconnue" in str(error)


def test_unknown_grid_dimension_is_refused() -> None:
    text = mutate(GIRONDE, "      dimension: usage.donnees_go", "      dimension: volume_go")
    error = load_error(text)
    assert error.line == line_of(text, "dimension: volume_go")
    assert error.key == "grilles.adhesion_mutualisee.lignes.dimension"
    assert "dimension « volume_go » inconnue" in str(error)


@pytest.mark.parametrize("depth", [100, 100_000])
def test_too_deep_yaml_is_refused_with_its_line_before_composing(depth: int) -> None:
    # Composé par libyaml (récursif, en C), 100 000 niveaux épuiseraient la pile du
    # processus ; la profondeur est vérifiée avant, sur le fil des événements.
    text = "code: x\nservices:\n  - " + "[" * depth + "]" * depth + "\n"
    error = load_error(text)
    assert "YAML trop imbriqué (plus de 50 niveaux)" in str(error)
    assert error.line == 3


def test_fifty_levels_are_read_and_fifty_one_are_not() -> None:
    from opsn.core.yamlsrc import MAX_DEPTH, load_yaml

    def nested(levels: int) -> str:  # racine + listes imbriquées + scalaire
        return "[" * (levels - 1) + "1" + "]" * (levels - 1) + "\n"

    value = load_yaml(FAKE, CatalogueError, text=nested(MAX_DEPTH))
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == 1
    with pytest.raises(CatalogueError, match="trop imbriqué"):
        load_yaml(FAKE, CatalogueError, text=nested(MAX_DEPTH + 1))


@pytest.mark.parametrize("prefix", ["", "\ufeff"], ids=["sans-bom", "bom"])
def test_composed_positions_index_the_text_itself(prefix: str) -> None:
    # L'édition des prix remplace le texte entre ces positions : elles doivent désigner la
    # valeur dans le texte tel qu'il est, accents et marque d'ordre des octets compris.
    from opsn.core.yamlsrc import compose

    text = prefix + CDG82.replace("cdg82", "cdg82-é😀", 1)
    root = compose(text)
    seen = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node.value, list):
            for item in node.value:
                stack.extend(item if isinstance(item, tuple) else (item,))
        elif not node.style and node.value:  # scalaire écrit tel quel (sans guillemets)
            assert text[node.start_mark.index : node.end_mark.index] == node.value
            seen += 1
    assert seen > 500


def test_a_lone_surrogate_is_refused_with_its_line() -> None:
    # Un texte décodé avec `surrogateescape` peut en porter ; libyaml lit de l'UTF-8.
    text = mutate(CDG82, 'version: "2020"\n', 'version: "2020"\nnote: "\udcff"\n')
    error = load_error(text)
    assert "U+DCFF" in str(error) and "YAML invalide" in str(error)
    assert error.line == line_of(text, "note: ")
