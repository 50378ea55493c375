"""Calcul d'un devis annuel : phases, niveaux, sur devis, prix manquants, quotas,
certificats, dotations, tarif journalier, TVA et facturation à l'EPCI (R12–R24)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest

from opsn.core.catalogue import find_catalogue
from opsn.core.errors import PricingError
from opsn.core.index import load_index
from opsn.core.members import Convention, Intervention, Member, Subscription
from opsn.core.model import Catalogue
from opsn.core.pricing import MemberQuote, Pricer

D = dt.date
N = Decimal


@pytest.fixture(scope="module")
def cdg82() -> Catalogue:
    return find_catalogue("cdg82", 2020)


@pytest.fixture(scope="module")
def gironde() -> Catalogue:
    return find_catalogue("gironde-numerique", 2021)


def commune(population: int = 850, **kwargs) -> Member:
    return Member(
        "c", f"Commune de {population} hab.", "commune", population_totale=population, **kwargs
    )


def sub(
    service: str, start: dt.date, amounts: dict | None = None, **quantities: int
) -> Subscription:
    return Subscription(
        service,
        start,
        quantities={k: N(v) for k, v in quantities.items()},
        amounts={k: N(v) for k, v in (amounts or {}).items()},
    )


def quote(catalogue: Catalogue, member: Member, year: int) -> MemberQuote:
    return Pricer(catalogue, load_index(), year).quote(member)


def amounts(q: MemberQuote) -> dict[tuple[str, str], Decimal | None]:
    return {(line.service, line.component): line.amount for line in q.lines}


# -- R12 : première année et années suivantes (CDG82) --------------------------------


def demat_member() -> Member:
    return commune(
        subscriptions=(
            sub("dematerialisation", D(2020, 2, 1), utilisateurs=3),
            sub("module_parapheur", D(2020, 2, 1), utilisateurs=3),
            sub("module_convocation", D(2020, 2, 1), utilisateurs=3),
        )
    )


def test_p02_demat_first_year_install_fee_users_and_modules(cdg82: Catalogue) -> None:
    q = quote(cdg82, demat_member(), 2020)
    assert amounts(q) == {
        ("dematerialisation", "installation"): N("201.31"),
        ("dematerialisation", "utilisateurs"): N("284.19"),  # 3 × 94,73
        ("module_parapheur", "installation_formation"): N("60.00"),
        ("module_convocation", "installation_formation"): N("60.00"),
    }
    assert q.totals.gross == N("605.50")


def test_p03_demat_second_year_users_only(cdg82: Catalogue) -> None:
    q = quote(cdg82, demat_member(), 2021)
    assert amounts(q) == {("dematerialisation", "utilisateurs"): N("284.28")}  # 3 × 94,76
    assert q.totals.gross == N("284.28")


def test_module_added_later_is_charged_in_its_own_first_year(cdg82: Catalogue) -> None:
    member = commune(
        subscriptions=(
            sub("dematerialisation", D(2020, 1, 1), utilisateurs=2),
            sub("module_parapheur", D(2021, 1, 1), utilisateurs=4),
        )
    )
    q = quote(cdg82, member, 2021)
    # 20,00 € « pour 2020 », révisé 2021 : 20 × 274.8 / 274.7 = 20.007… → 20.01
    assert amounts(q) == {
        ("dematerialisation", "utilisateurs"): N("189.52"),
        ("module_parapheur", "installation_formation"): N("80.04"),
    }
    assert q.warnings == ()


def test_p04_rgpd_first_year_is_mise_en_place(cdg82: Catalogue) -> None:
    member = commune(602, subscriptions=(sub("rgpd_dpd", D(2020, 1, 1)),))
    q = quote(cdg82, member, 2020)
    assert amounts(q) == {("rgpd_dpd", "mise_en_place"): N("770.00")}
    assert q.lines[0].stratum == "501-700"


def test_p05_rgpd_following_years_is_accompagnement_revised(cdg82: Catalogue) -> None:
    member = commune(602, subscriptions=(sub("rgpd_dpd", D(2020, 1, 1)),))
    q = quote(cdg82, member, 2021)
    assert amounts(q) == {("rgpd_dpd", "accompagnement"): N("450.16")}  # 450 × 274.8/274.7
    assert q.lines[0].base_price == N(450)
    assert q.lines[0].base_year == 2020


def test_gironde_access_fee_then_year_2_subscription(gironde: Catalogue) -> None:
    member = commune(2000, subscriptions=(sub("nas_100go", D(2021, 5, 1)),))
    assert amounts(quote(gironde, member, 2021)) == {("nas_100go", "frais_acces"): N("1500.00")}
    assert amounts(quote(gironde, member, 2022)) == {("nas_100go", "abonnement"): N("500.00")}


def test_p12_opendemande_yearly_subscription_is_due_in_the_first_year(gironde: Catalogue) -> None:
    member = commune(4000, subscriptions=(sub("opendemande", D(2021, 1, 1)),))
    q = quote(gironde, member, 2021)
    assert amounts(q) == {
        ("opendemande", "initiales"): N("1920.00"),
        ("opendemande", "formation"): N("1600.00"),
        ("opendemande", "abonnement"): N("1362.91"),
    }
    assert (q.totals.net, q.totals.vat, q.totals.gross) == (
        N("4882.91"),
        N("976.58"),
        N("5859.49"),
    )
    # Gironde Numérique n'a pas de clause de révision : 2022 au prix imprimé
    assert amounts(quote(gironde, member, 2022)) == {("opendemande", "abonnement"): N("1362.91")}


def test_first_billed_year_is_the_first_year_under_the_convention(cdg82: Catalogue) -> None:
    member = commune(
        602,
        convention=Convention(signature=D(2020, 3, 1)),
        subscriptions=(
            sub("dematerialisation", D(2019, 1, 1), utilisateurs=3),
            sub("rgpd_dpd", D(2019, 1, 1)),
        ),
    )
    assert quote(cdg82, member, 2019).lines == ()
    assert amounts(quote(cdg82, member, 2020)) == {
        ("dematerialisation", "installation"): N("201.31"),
        ("dematerialisation", "utilisateurs"): N("284.19"),
        ("rgpd_dpd", "mise_en_place"): N("770.00"),
    }


# -- R13 : niveaux de poste et forfait F -----------------------------------------------


def test_p01_levels_and_forfait_metier(cdg82: Catalogue) -> None:
    member = commune(
        subscriptions=(
            sub("assistance_srb", D(2018, 1, 1), postes_n1=2, postes_n2=3),
            sub("assistance_metiers", D(2018, 1, 1), postes_n3=1),
        )
    )
    q = quote(cdg82, member, 2020)
    assert amounts(q) == {
        ("assistance_srb", "T1"): N("80.00"),
        ("assistance_srb", "T2"): N("385.53"),
        ("assistance_metiers", "F"): N("321.25"),
        ("assistance_metiers", "T3"): N("192.76"),
    }
    assert q.totals.gross == N("979.54")


def test_forfait_f_is_due_once_whatever_the_number_of_level_3_workstations(
    cdg82: Catalogue,
) -> None:
    member = commune(subscriptions=(sub("assistance_metiers", D(2018, 1, 1), postes_n3=4),))
    q = quote(cdg82, member, 2020)
    f_lines = [line for line in q.lines if line.component == "F"]
    assert len(f_lines) == 1
    assert f_lines[0].quantity == 1
    assert amounts(q)[("assistance_metiers", "T3")] == N("771.04")  # 4 × 192,76
    assert q.totals.gross == N("1092.29")


# -- R14 : sur devis ; R15 : prix manquant --------------------------------------------


def test_p07_sur_devis_line_is_shown_without_amount_and_kept_out_of_the_total(
    cdg82: Catalogue,
) -> None:
    member = commune(
        12000,
        subscriptions=(sub("rgpd_dpd", D(2020, 1, 1)),),
        interventions=(Intervention(D(2020, 9, 1), N(2), "Reprise du réseau"),),
    )
    q = quote(cdg82, member, 2020)
    (devis,) = q.sur_devis
    assert devis.component == "mise_en_place"
    assert devis.amount is None
    assert devis.unit_price is None
    assert "sur devis" in devis.detail
    assert q.totals.gross == N("500.00")


def test_entered_amount_replaces_sur_devis_and_is_not_revised(cdg82: Catalogue) -> None:
    member = commune(
        12000,
        subscriptions=(sub("rgpd_dpd", D(2021, 1, 1), amounts={"mise_en_place": "3100.00"}),),
    )
    q = quote(cdg82, member, 2021)
    (line,) = q.lines
    assert (line.status, line.amount) == ("montant", N("3100.00"))
    assert line.revision is None
    assert "montant saisi" in line.detail
    assert q.sur_devis == []
    assert q.totals.gross == N("3100.00")


def test_entered_amount_does_not_override_a_catalogue_price(cdg82: Catalogue) -> None:
    member = commune(
        subscriptions=(sub("assistance_srb", D(2020, 1, 1), amounts={"T1": "1.00"}, postes_n1=1),)
    )
    assert amounts(quote(cdg82, member, 2020)) == {("assistance_srb", "T1"): N("40.00")}


def test_certificate_at_cost_is_missing_until_the_order_form_price_is_entered(
    cdg82: Catalogue,
) -> None:
    missing = commune(subscriptions=(sub("certificat_electronique", D(2020, 1, 1), certificats=2),))
    q = quote(cdg82, missing, 2020)
    (line,) = q.missing_prices
    assert line.amount is None
    assert "R15" in line.detail
    assert q.totals.gross == 0
    # prix du bon de commande saisi : jamais révisé (001 art. 6.3)
    entered = commune(
        subscriptions=(
            sub(
                "certificat_electronique",
                D(2021, 1, 1),
                amounts={"fourniture": "65.50"},
                certificats=2,
            ),
        )
    )
    q = quote(cdg82, entered, 2021)
    assert amounts(q) == {("certificat_electronique", "fourniture"): N("131.00")}


# -- R9 : un prix ne sert pas avant son année de base ---------------------------------


def test_price_cannot_bill_a_year_before_its_base_year(cdg82: Catalogue) -> None:
    member = commune(subscriptions=(sub("assistance_srb", D(2019, 1, 1), postes_n1=1),))
    with pytest.raises(PricingError, match="établi pour 2020"):
        quote(cdg82, member, 2019)


# -- R18 : tarif journalier ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "days", "expected"),
    [
        (2020, "2", "500.00"),
        (2020, "0.5", "125.00"),
        (2020, "1.5", "375.00"),
        (2021, "2", "500.18"),  # 250 × 274.8 / 274.7 = 250.09 la journée
        (2021, "0.5", "125.05"),  # 250.09 × 0.5 = 125.045 → 125.05
    ],
)
def test_day_rate(cdg82: Catalogue, year: int, days: str, expected: str) -> None:
    member = commune(interventions=(Intervention(D(year, 4, 2), N(days), "Intervention"),))
    q = quote(cdg82, member, year)
    (line,) = q.lines
    assert line.service == "intervention_hors_convention"
    assert line.quantity == N(days)
    assert line.amount == N(expected)


def test_interventions_of_other_years_are_not_billed(cdg82: Catalogue) -> None:
    member = commune(interventions=(Intervention(D(2020, 12, 31), N(1), "Intervention"),))
    assert quote(cdg82, member, 2021).lines == ()


# -- R23 : TVA par taux sur le total HT ---------------------------------------------------


def test_vat_is_computed_on_the_net_total_not_line_by_line(gironde: Catalogue) -> None:
    member = commune(
        4000,
        subscriptions=(
            sub("logilibre", D(2021, 1, 1), agents_police=2),
            sub("opendispo", D(2021, 1, 1), agents_police=2),
        ),
    )
    q = quote(gironde, member, 2021)
    line_amounts = sorted(line.amount for line in q.lines)
    assert line_amounts == sorted([N("725.00"), N("241.67"), N("66.66"), N("166.67"), N("33.34")])
    net = sum(line_amounts, N(0))
    assert net == N("1233.34")
    per_line = sum(((a * N("0.20")).quantize(N("0.01"), ROUND_HALF_UP) for a in line_amounts), N(0))
    assert per_line == N("246.66")  # ce que donnerait la TVA ligne à ligne
    assert q.totals.vat == (net * N("0.20")).quantize(N("0.01"), ROUND_HALF_UP) == N("246.67")
    assert q.totals.gross == N("1480.01")


def test_p13_usage_priced_services_with_vat(gironde: Catalogue) -> None:
    member = commune(
        3000,
        usage={"actes_mairie": N(1200), "sms": N(2500)},
        subscriptions=(
            sub("numerisation_etat_civil", D(2021, 1, 1)),
            sub("alerte_sms", D(2021, 1, 1)),
        ),
    )
    q = quote(gironde, member, 2021)
    assert amounts(q) == {
        ("numerisation_etat_civil", "mairie"): N("660.00"),
        ("alerte_sms", "sms"): N("150.00"),
    }
    assert (q.totals.net, q.totals.vat, q.totals.gross) == (N("810.00"), N("162.00"), N("972.00"))


def test_mixed_exempt_and_20_percent_lines(gironde: Catalogue) -> None:
    member = Member(
        "e",
        "CC de test",
        "epci",
        nature="CC",
        attached=(commune(400),),
        usage={"donnees_go": N(300)},
        subscriptions=(
            sub("adhesion_mutualisee", D(2021, 1, 1)),
            sub("opendemande", D(2020, 1, 1)),  # 2e année : abonnement seul
        ),
    )
    q = quote(gironde, member, 2021)
    assert amounts(q) == {
        ("adhesion_mutualisee", "adhesion"): N("7912"),  # 500 Go × CDC + 3 EP
        ("opendemande", "abonnement"): N("1362.91"),
    }
    by_kind = {t.regime.kind: (t.net, t.vat) for t in q.totals.by_rate}
    assert by_kind == {"exonere": (N("7912.00"), N("0.00")), "ht": (N("1362.91"), N("272.58"))}
    assert q.totals.vat == N("272.58")
    assert q.totals.gross == N("9547.49")
    exempt = next(t for t in q.totals.by_rate if t.regime.kind == "exonere")
    assert "261 B" in exempt.regime.mention


def test_cdg82_prices_are_all_taxes_included(cdg82: Catalogue) -> None:
    member = commune(subscriptions=(sub("pack_confort", D(2020, 1, 1)),))
    q = quote(cdg82, member, 2020)
    assert q.totals.vat == 0
    assert q.totals.net == q.totals.gross == N("636.12")
    assert [t.regime.kind for t in q.totals.by_rate] == ["ttc"]


# -- R24 : participations individuelles facturées à l'EPCI ---------------------------------

VAL_DE_L_EYRE = (
    ("Lugos", 1155),
    ("Saint-Magne", 1248),
    ("Le Barp", 5796),
    ("Belin-Béliet", 6314),
    ("Salles", 8254),
)


def test_p11_epci_is_billed_membership_and_its_communes_participations(
    gironde: Catalogue,
) -> None:
    communes = tuple(
        Member(name.lower(), name, "commune", population_totale=population)
        for name, population in VAL_DE_L_EYRE
    )
    member = Member(
        "243301405",
        "CC du Val de l'Eyre",
        "epci",
        nature="CC",
        attached=communes,
        usage={"donnees_go": N(1700)},
        subscriptions=(
            sub("adhesion_mutualisee", D(2021, 1, 1)),
            sub("participation_individuelle", D(2021, 1, 1)),
        ),
    )
    q = quote(gironde, member, 2021)
    participations = [line for line in q.lines if line.service == "participation_individuelle"]
    assert [(line.label.split(" – ")[-1], line.amount) for line in participations] == [
        ("Lugos", N(1500)),
        ("Saint-Magne", N(1500)),
        ("Le Barp", N(4000)),
        ("Belin-Béliet", N(4000)),
        ("Salles", N(4000)),
    ]
    assert {line.billed_to for line in q.lines} == {"CC du Val de l'Eyre"}
    assert amounts(q)[("adhesion_mutualisee", "adhesion")] == N(18461)
    assert q.totals.gross == N("33461.00")
    assert q.totals.vat == 0


# -- contrôles : prérequis et exclusivités ---------------------------------------------------


def test_module_without_dematerialisation_is_warned(cdg82: Catalogue) -> None:
    member = commune(subscriptions=(sub("module_parapheur", D(2020, 1, 1), utilisateurs=2),))
    q = quote(cdg82, member, 2020)
    (warning,) = q.warnings
    assert "Module optionnel Parapheur électronique SESILE" in warning
    assert "nécessite la souscription à la dématérialisation des procédures" in warning
    # l'avertissement n'empêche pas de chiffrer
    assert q.totals.gross == N("40.00")


def test_two_internet_packs_are_exclusive(cdg82: Catalogue) -> None:
    member = commune(
        subscriptions=(sub("pack_decouverte", D(2020, 1, 1)), sub("pack_expert", D(2020, 1, 1)))
    )
    q = quote(cdg82, member, 2020)
    (warning,) = q.warnings
    assert "Pack Internet Découverte" in warning
    assert "Pack Internet Expert" in warning
    assert "s'excluent" in warning


def test_p06_one_pack_with_extras_has_no_warning(cdg82: Catalogue) -> None:
    member = commune(
        subscriptions=(
            sub("pack_confort", D(2020, 1, 1)),
            sub("nom_domaine_supplementaire", D(2020, 1, 1), noms=2),
            sub("adresse_mel_5go", D(2020, 1, 1), adresses=3),
            sub("supplement_mel_10go", D(2020, 1, 1), comptes=1),
        )
    )
    q = quote(cdg82, member, 2020)
    assert q.warnings == ()
    assert q.totals.gross == N("711.02")


# -- R19 : certificat RGS 2* valable 3 ans (Gironde Numérique) -------------------------------


@pytest.mark.parametrize(
    ("year", "component", "gross"),
    [
        (2021, "emission", "210.00"),
        (2022, None, "0.00"),
        (2023, None, "0.00"),
        (2024, "renouvellement", "210.00"),
        (2025, None, "0.00"),
        (2026, None, "0.00"),
        (2027, "renouvellement", "210.00"),
    ],
)
def test_p14_certificate_billed_when_issued_and_every_3_years(
    gironde: Catalogue, year: int, component: str | None, gross: str
) -> None:
    member = commune(2000, subscriptions=(sub("certificat_rgs", D(2021, 3, 1), certificats=1),))
    q = quote(gironde, member, year)
    assert [line.component for line in q.lines] == ([component] if component else [])
    assert q.totals.gross == N(gross)


# -- R16 quotas et R20 dotations (CDG47, ancienne annexe) ----------------------------------


@pytest.fixture(scope="module")
def cdg47() -> Catalogue:
    return find_catalogue("cdg47/ancienne-annexe")


def technology_member(backup_go: int, **kwargs) -> Member:
    # commune de 1 200 habitants : 15 Go de sauvegarde inclus (strate 1 000 à 1 999)
    return commune(
        1200,
        usage={"sauvegarde_go": N(backup_go)},
        subscriptions=(
            sub(
                "forfait_technologie", D(2021, 1, 1), amounts={"sauvegarde_supplementaire": "7.00"}
            ),
        ),
        **kwargs,
    )


@pytest.mark.parametrize("backup_go", [0, 12, 15])
def test_no_overage_when_usage_is_within_the_quota(cdg47: Catalogue, backup_go: int) -> None:
    q = quote(cdg47, technology_member(backup_go), 2021)
    assert q.entitlements["sauvegarde_go"] == 15
    assert [line.component for line in q.lines] == ["forfait"]
    assert q.totals.gross == 0


def test_overage_is_billed_per_extra_gb(cdg47: Catalogue) -> None:
    q = quote(cdg47, technology_member(22), 2021)
    (overage,) = [line for line in q.lines if line.component == "sauvegarde_supplementaire"]
    assert overage.quantity == 7
    assert overage.amount == N("49.00")
    assert "usage 22 − inclus 15 = 7" in overage.detail
    # le prix du forfait reste à renseigner (R15)
    assert [line.component for line in q.missing_prices] == ["forfait"]
    assert q.totals.gross == N("49.00")


def test_overage_price_missing_when_not_entered(cdg47: Catalogue) -> None:
    member = commune(
        1200,
        usage={"sauvegarde_go": N(20)},
        subscriptions=(sub("forfait_technologie", D(2021, 1, 1)),),
    )
    q = quote(cdg47, member, 2021)
    assert {line.component: line.status for line in q.lines} == {
        "forfait": "prix_manquant",
        "sauvegarde_supplementaire": "prix_manquant",
    }


def test_intervention_imputed_on_an_allowance_is_included_up_to_the_limit(
    cdg47: Catalogue,
) -> None:
    member = technology_member(
        0,
        interventions=(
            Intervention(D(2021, 3, 1), N("1.5"), "Audit sécurité", allowance="audit_securite"),
        ),
    )
    q = quote(cdg47, member, 2021)
    # R20 : au-delà de la dotation, le tarif de l'audit sécurité des prestations
    # complémentaires (000, Sécurité), pas l'intervention technique générique
    assert not [line for line in q.lines if line.service == "intervention_technique"]
    day_lines = [line for line in q.lines if line.service == "audit_securite"]
    assert [(line.status, line.quantity) for line in day_lines] == [
        ("inclus", N(1)),
        ("prix_manquant", N("0.5")),  # le tarif journalier de l'audit est à renseigner
    ]
    assert day_lines[0].amount == 0
    uses = {a.code: (a.quantity, a.used) for a in q.allowances}
    assert uses["audit_securite"] == (N(1), N(1))
    assert uses["conseil_recueil_besoins"] == (N("0.5"), N(0))


def audits(*years: int) -> tuple[Intervention, ...]:
    return tuple(
        Intervention(D(y, 3, 1), N(1), f"Audit {y}", allowance="audit_securite") for y in years
    )


def day_lines(q: MemberQuote) -> list[tuple[str, Decimal]]:
    return [(line.status, line.quantity) for line in q.lines if line.unit == "jour"]


def test_allowance_consumed_stays_consumed_for_three_years(cdg47: Catalogue) -> None:
    member = technology_member(0, interventions=audits(2021, 2023))
    # l'audit de 2021 a consommé la journée « tous les 3 ans » : celui de 2023 est facturé
    assert day_lines(quote(cdg47, member, 2021)) == [("inclus", N(1))]
    assert day_lines(quote(cdg47, member, 2023)) == [("prix_manquant", N(1))]


def test_allowance_is_available_again_three_years_later(cdg47: Catalogue) -> None:
    member = technology_member(0, interventions=audits(2021, 2024))
    assert day_lines(quote(cdg47, member, 2024)) == [("inclus", N(1))]


def test_an_intervention_billed_in_full_does_not_consume_a_later_allowance(
    cdg47: Catalogue,
) -> None:
    member = technology_member(0, interventions=audits(2021, 2023, 2024))
    assert day_lines(quote(cdg47, member, 2023)) == [("prix_manquant", N(1))]
    # 2023 a été facturé en entier : en 2024, rien n'a été prélevé sur la dotation depuis
    # 2021, qui sort de la fenêtre 2022-2024 ; la journée de 2024 doit être incluse.
    assert day_lines(quote(cdg47, member, 2024)) == [("inclus", N(1))]


def test_two_half_days_of_group_training_per_year(cdg47: Catalogue) -> None:
    member = commune(
        1200,
        subscriptions=(sub("forfait_metiers", D(2021, 1, 1)),),
        interventions=tuple(
            Intervention(D(2021, month, 10), N("0.5"), "Formation", allowance="formation_groupe")
            for month in (3, 6, 9)
        ),
    )
    q = quote(cdg47, member, 2021)
    assert day_lines(q) == [
        ("inclus", N("0.5")),
        ("inclus", N("0.5")),
        ("prix_manquant", N("0.5")),
    ]
    (use,) = q.allowances
    assert (use.code, use.used) == ("formation_groupe", N(1))


def test_intervention_on_an_allowance_the_forfaits_do_not_include_is_refused(
    cdg47: Catalogue,
) -> None:
    member = commune(
        1200,
        subscriptions=(sub("forfait_metiers", D(2021, 1, 1)),),
        interventions=(Intervention(D(2021, 3, 1), N(1), "Audit", allowance="audit_securite"),),
    )
    with pytest.raises(PricingError, match="audit_securite"):
        quote(cdg47, member, 2021)
