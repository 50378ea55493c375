"""Scénarios d'acceptance chargés en base (module importable hors pytest, par les
sous-processus des tests).

Un scénario `tests/acceptance/<ID>.yaml` est lu par le cœur (`load_scenario`, avec le
référentiel pour les adhérents donnés par code), puis écrit en base : opérateurs et
catalogues livrés, adhérents (avec SIRET), rattachés, conventions, abonnements, usages et
interventions. La facturation passe ensuite par la base, comme en production.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model

from opsn.core import members as core
from opsn.core.scenario import load_scenario
from opsn.facturation.identites import with_luhn_key
from opsn.gestion import identites_demo, services
from opsn.gestion.models import (
    CatalogueVersion,
    Convention,
    Intervention,
    Member,
    Operator,
    StaffMembership,
    Subscription,
    UsageRecord,
)
from opsn.referentiel import Referentiel
from opsn.referentiel.resolve import resolve_member

ACCEPTANCE = Path(__file__).resolve().parents[1] / "acceptance"
_dummy_siret = itertools.count(1)
_REF = Referentiel.charger()


@dataclass
class LoadedScenario:
    case_id: str
    year: int
    operator: Operator
    catalogue: CatalogueVersion
    members: dict[str, Member] = field(default_factory=dict)  # ident du scénario → adhérent
    conventions: dict[str, Convention] = field(default_factory=dict)
    core_members: dict[str, core.Member] = field(default_factory=dict)


def _num(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _siren(member: core.Member) -> str:
    """SIREN du référentiel, ou SIREN fictif à clé valide pour un organisme décrit."""
    return member.siren or with_luhn_key(f"{29_900_000 + next(_dummy_siret):08d}")


def _db_member(operator: Operator, m: core.Member, parent: Member | None = None) -> Member:
    siren = _siren(m)
    commune = _REF.par_code(m.insee) if m.insee else None
    identity = identites_demo.debtor_fields(
        kind=m.kind,
        name=m.name,
        siren=siren,
        postcode=commune.codes_postaux[0] if commune and commune.codes_postaux else "33000",
        city=commune.nom if commune else m.name,
    )
    return Member.objects.create(
        operator=operator,
        kind=m.kind,
        name=m.name,
        nature=m.nature or "",
        insee=m.insee or "",
        siren=siren,
        **identity,
        population_totale=m.population_totale,
        population_municipale=m.population_municipale,
        population_source=m.population_source or "",
        agents=m.agents,
        budget_keur=m.budget_keur,
        categories=sorted(m.categories),
        parent=parent,
    )


def load_case(case_id: str, years: list[int] | None = None) -> LoadedScenario:
    """Charge le scénario `case_id` en base ; usages enregistrés pour chaque année de `years`
    (par défaut l'année du scénario)."""
    scenario = load_scenario(ACCEPTANCE / f"{case_id}.yaml", resolver=resolve_member)
    services.catalogues_load_shipped()
    services.index_values_load_shipped()
    cat = scenario.catalogue
    operator = identites_demo.fill_operator(Operator.objects.get(code=cat.operator.code))
    version = CatalogueVersion.objects.get(operator=operator, version=cat.version)
    loaded = LoadedScenario(case_id, scenario.year, operator, version)
    for i, m in enumerate(scenario.members, start=1):
        member = _db_member(operator, m)
        for child in m.attached:
            _db_member(operator, child, parent=member)
        starts = [s.start for s in m.subscriptions]
        conv = m.convention or core.Convention(min(starts))
        convention = Convention.objects.create(
            operator=operator,
            member=member,
            reference=f"{case_id}-{i}",
            catalogue=version,
            signed_on=conv.signature,
            notice_received_on=conv.notice_received,
            ended_on=conv.end,
        )
        for s in m.subscriptions:
            Subscription.objects.create(
                convention=convention,
                service_code=s.service,
                started_on=s.start,
                ended_on=s.end,
                quantities={k: _num(v) for k, v in s.quantities.items()},
                amounts={k: _num(v) for k, v in s.amounts.items()},
            )
        for year in years or [scenario.year]:
            for counter, quantity in m.usage.items():
                UsageRecord.objects.create(
                    member=member, year=year, counter=counter, quantity=quantity
                )
        for iv in m.interventions:
            Intervention.objects.create(
                member=member,
                day=iv.day,
                days=iv.days,
                label=iv.label,
                allowance=iv.allowance or "",
            )
        loaded.members[m.ident] = member
        loaded.conventions[m.ident] = convention
        loaded.core_members[m.ident] = m
    return loaded


def make_user(name: str, operator: Operator, role: str, member: Member | None = None):
    user = get_user_model().objects.create_user(name, password="mot-de-passe-test")
    StaffMembership.objects.create(user=user, operator=operator, role=role, member=member)
    return user


# -- jeu de documents Gironde Numérique ----------------------------------------------------

SERVICE_CODE = "SERV-FACT-EPCI"
ENGAGEMENT = "EJ-2021-000042"
SECOND_ACCOUNT = "70688"


def catalogue_with_second_account(operator: Operator) -> CatalogueVersion:
    """Copie du catalogue Gironde Numérique 2021 où l'alerte SMS a sa propre imputation."""
    shipped = CatalogueVersion.objects.get(operator=operator, version="2021")
    content = shipped.content.replace('version: "2021"', 'version: "2021-imputations"', 1)
    content = content.replace(
        "  - code: alerte_sms\n", f'  - code: alerte_sms\n    imputation: "{SECOND_ACCOUNT}"\n', 1
    )
    assert SECOND_ACCOUNT in content
    return CatalogueVersion.objects.create(
        operator=operator,
        version="2021-imputations",
        label=f"{shipped.label} (imputations de test)",
        source_file=shipped.source_file,
        content=content,
        valid_from=shipped.valid_from,
    )


def build_gironde_documents() -> dict[str, Member]:
    """EPCI exonéré (P11, avec code service et engagement) ; commune mixte exonéré + TVA 20 %
    sur deux imputations (P13 + informaticien mutualisé) ; commune TVA 20 % (P12)."""
    p11 = load_case("P11")
    (epci,) = p11.members.values()
    epci.service_code, epci.engagement_number = SERVICE_CODE, ENGAGEMENT
    epci.address, epci.postcode, epci.city = "1 place de la République", "33830", "Belin-Béliet"
    epci.save()
    p13 = load_case("P13")
    ((ident, mixed),) = p13.members.items()
    convention = p13.conventions[ident]
    convention.catalogue = catalogue_with_second_account(p13.operator)
    convention.save()
    Subscription.objects.create(
        convention=convention,
        service_code="informaticien_1j_mois",
        started_on=dt.date(2021, 1, 1),
    )
    p12 = load_case("P12")
    (vat_only,) = p12.members.values()
    return {"epci": epci, "mixed": mixed, "vat": vat_only}
