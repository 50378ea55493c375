"""R4/R6 : la facture de l'année N prend les populations et le périmètre des EPCI en
vigueur en N (millésimes du référentiel chargés en base), pas ceux du dernier extrait."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from opsn.core.report import quote_to_dict
from opsn.facturation.billing import billing_preview, billing_run
from opsn.gestion import bridge
from opsn.gestion.models import Convention, Invoice, InvoiceStatus, Member
from opsn.gestion.permissions import SYSTEM
from opsn.referentiel.chargement import importer_millesimes

from . import scenarios

# Bourret (82) : 899 habitants en vigueur en 2020 (populations légales 2016, seule la
# municipale est publiée), 970 en 2022 (population totale 2019), 993 en 2026 (totale
# 2022) : tranche RGPD « 701-900 » puis « 901-2000 » (001 art. 5.6, R7).
BOURRET = "82023"
# Montastruc (82) : 303 habitants en 2021, 300 en 2022, 301 dans l'extrait livré (2026) :
# « 301-500 », puis « 0-300 » en 2022 alors que la fiche de l'adhérent dit 301.
MONTASTRUC = "82120"
# Gironde : Saint-Vincent-de-Pertignas (33489, 371 hab.) quitte l'EPCI 200023794 pour la
# CC 243301181 au 1er janvier 2020 (périmètres DGCL 2019 et 2020).
COMMUNE_ARRIVEE = "33489"
EPCI_ACCUEIL = "243301181"

CDG82 = """\
description: RGPD souscrit en 2020 (tranche selon l'année facturée).
catalogue: cdg82
annee: 2020
membres:
  - insee: "{insee}"
    convention: {{signature: 2020-01-01}}
    abonnements:
      - {{service: rgpd_dpd, debut: 2020-01-01}}
"""

GIRONDE = f"""\
description: CC qui accueille une commune au 1er janvier 2020.
catalogue: gironde-numerique
annee: 2021
membres:
  - siren: "{EPCI_ACCUEIL}"
    usage: {{donnees_go: 400}}
    convention: {{signature: 2019-01-01}}
    abonnements:
      - {{service: adhesion_mutualisee}}
"""


@pytest.fixture
def case(db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def load(text: str, codes: list[str], years: list[int] | None = None):
        monkeypatch.setattr(scenarios, "ACCEPTANCE", tmp_path)
        (tmp_path / "T.yaml").write_text(text, encoding="utf-8")
        loaded = scenarios.load_case("T", years)
        importer_millesimes(codes=codes)
        return loaded

    return load


def _rgpd_lines(bill):
    return [line for line in bill.lines if line.service == "rgpd_dpd" and line.amount is not None]


def test_tranche_rgpd_selon_le_recensement_en_vigueur(case) -> None:
    loaded = case(CDG82.format(insee=BOURRET), [BOURRET])
    member = loaded.members[next(iter(loaded.members))]
    # L'adhérent garde le chiffre de l'extrait livré ; la facture prend celui de l'année.
    assert member.population_totale == 993
    conv = loaded.conventions[next(iter(loaded.conventions))]

    q2020 = bridge.quote(conv, 2020)
    assert q2020.member.population_totale == 899
    assert [line.stratum for line in q2020.lines if line.amount is not None] == ["701-900"]
    assert q2020.member.population_source == (
        "INSEE, populations légales 2016, en vigueur en 2020 ; celles de 2017 absentes du "
        "référentiel ; population municipale, faute de population totale"
    )

    q2022 = bridge.quote(conv, 2022)
    assert q2022.member.population_totale == 970
    assert [line.stratum for line in q2022.lines if line.amount is not None] == ["901-2000"]
    source = quote_to_dict(q2022)["population"]["source"]
    assert source == "INSEE, populations légales 2019, en vigueur en 2022"
    # l'explication de la ligne nomme le chiffre lu et son millésime (R4, R25)
    (rgpd,) = [line for line in q2022.lines if line.amount is not None]
    assert "population totale 970 (INSEE, populations légales 2019, en vigueur en 2022)" in (
        rgpd.detail
    )

    # 2026 : population totale 2022 (la 2023 n'est publiée qu'en municipale), dite.
    m2026 = bridge.core_member(conv, 2026)
    assert (m2026.population_totale, m2026.population_municipale) == (993, 971)
    assert m2026.population_source == (
        "INSEE, populations légales 2023, en vigueur en 2026 ; "
        "population totale des populations légales 2022"
    )


def test_campagne_par_lots_meme_tranche_que_le_devis(case) -> None:
    loaded = case(CDG82.format(insee=MONTASTRUC), [MONTASTRUC])
    assert loaded.members[next(iter(loaded.members))].population_totale == 301
    (bill_2021,) = billing_preview(operator=loaded.operator, year=2021)
    assert [line.stratum for line in _rgpd_lines(bill_2021)] == ["301-500"]
    billing_run(actor=SYSTEM, operator=loaded.operator, year=2020, issued_on=dt.date(2020, 3, 1))
    billing_run(actor=SYSTEM, operator=loaded.operator, year=2021, issued_on=dt.date(2021, 3, 1))
    billing_run(actor=SYSTEM, operator=loaded.operator, year=2022, issued_on=dt.date(2022, 3, 1))
    strata = {
        invoice.year: [line.stratum for line in invoice.lines.all()]
        for invoice in Invoice.objects.filter(status=InvoiceStatus.ISSUED)
    }
    assert strata == {2020: ["301-500"], 2021: ["301-500"], 2022: ["0-300"]}
    issued_2022 = Invoice.objects.get(status=InvoiceStatus.ISSUED, year=2022)
    (explanation,) = issued_2022.lines.values_list("explanation", flat=True)
    assert "population totale 300 (INSEE, populations légales 2019, en vigueur en 2022)" in (
        explanation
    )


def test_population_saisie_garde_son_chiffre(case) -> None:
    loaded = case(CDG82.format(insee=BOURRET), [BOURRET])
    member = loaded.members[next(iter(loaded.members))]
    Member.objects.filter(pk=member.pk).update(population_totale=650, population_source="saisie")
    conv = Convention.objects.get(pk=loaded.conventions[next(iter(loaded.conventions))].pk)
    q = bridge.quote(conv, 2020)
    assert (q.member.population_totale, q.member.population_source) == (650, "saisie")
    (bill,) = billing_preview(operator=loaded.operator, year=2020)
    assert [line.stratum for line in _rgpd_lines(bill)] == ["501-700"]


def test_sans_millesimes_en_base_chiffre_de_l_adherent(case) -> None:
    loaded = case(CDG82.format(insee=BOURRET), [])
    conv = loaded.conventions[next(iter(loaded.conventions))]
    assert bridge.quote(conv, 2020).member.population_totale == 993


def test_annee_hors_millesimes_dite(case) -> None:
    loaded = case(CDG82.format(insee=BOURRET), [BOURRET])
    conv = loaded.conventions[next(iter(loaded.conventions))]
    member = bridge.core_member(conv, 2031)
    assert member.population_totale == 993
    assert member.population_source.endswith(
        "2031 postérieure aux millésimes du référentiel : ceux de 2026"
    )


def test_perimetre_epci_de_l_annee_pour_le_comptage_r6(case) -> None:
    from opsn.referentiel import Referentiel

    communes = [c.insee for c in Referentiel.charger().membres(EPCI_ACCUEIL)]
    assert COMMUNE_ARRIVEE in communes
    loaded = case(GIRONDE, [EPCI_ACCUEIL, *communes], years=[2019, 2020])
    conv = loaded.conventions[next(iter(loaded.conventions))]
    epci = loaded.members[next(iter(loaded.members))]

    def rattaches(year: int) -> set[str]:
        by_orm = {m.insee for m in bridge.core_member(conv, year).attached}
        chunk = bridge.ChunkReader(loaded.operator, year).read([epci.pk])
        by_chunk = {m.insee for m in chunk.values[conv.pk].attached}
        assert by_orm == by_chunk
        return by_orm

    assert rattaches(2020) == set(communes)
    assert rattaches(2019) == set(communes) - {COMMUNE_ARRIVEE}
    value = bridge.core_member(conv, 2019)
    assert value.population_source.startswith(
        "INSEE (DGCL, périmètre de l'EPCI), populations légales 2016, en vigueur en 2019"
    )
