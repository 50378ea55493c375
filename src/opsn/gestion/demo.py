"""Données de démonstration : trois opérateurs, leurs catalogues, de vrais adhérents tirés
du référentiel INSEE, des conventions variées, des usages et des interventions."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from opsn.core import dates
from opsn.gestion import identites_demo, services
from opsn.gestion.models import (
    CatalogueVersion,
    Certificate,
    Convention,
    Intervention,
    Member,
    Operator,
    Role,
    StaffMembership,
    Subscription,
    UsageRecord,
)
from opsn.referentiel import Commune, Epci, Referentiel
from opsn.referentiel.resolve import member_fields

DEMO_PASSWORD = "demo-opsn"
PLATFORM_USERNAME = "plateforme"
VAL_DE_L_EYRE = "243301405"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    operator: str
    member: str | None


def _member_from_commune(operator: Operator, c: Commune, parent: Member | None = None) -> Member:
    fields = member_fields(c)
    identity = identites_demo.debtor_fields(
        kind="commune",
        name=c.nom,
        siren=c.siren or "",
        postcode=c.codes_postaux[0] if c.codes_postaux else "",
        city=c.nom,
    )
    return Member.objects.create(operator=operator, parent=parent, **fields, **identity)


def _member_from_epci(operator: Operator, e: Epci, ref: Referentiel) -> Member:
    seat = ref.par_code(e.membres[0]) if e.membres else None
    identity = identites_demo.debtor_fields(
        kind="epci",
        name=e.nom,
        siren=e.siren,
        postcode=seat.codes_postaux[0] if seat is not None and seat.codes_postaux else "",
        city=seat.nom if seat is not None else "",
    )
    return Member.objects.create(operator=operator, **member_fields(e), **identity)


def _q(**values: int) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in values.items()}


def _add_subscription(
    convention: Convention,
    service: str,
    start: dt.date,
    quantities: dict[str, Decimal] | None = None,
) -> None:
    Subscription.objects.create(
        convention=convention,
        service_code=service,
        started_on=start,
        quantities={k: f"{v.normalize():f}" for k, v in (quantities or {}).items()},
    )


def _catalogue(operator: Operator, version: str) -> CatalogueVersion:
    return CatalogueVersion.objects.get(operator=operator, version=version)


DEMO_TERRITORIES = {"cdg82": ["82"], "cdg47": ["47"], "gironde-numerique": ["33"]}


@transaction.atomic
def build_demo(*, today: dt.date, seed: int = 2026, issue_invoices: bool = True) -> list[DemoUser]:
    """Construit la démonstration (base vide attendue) ; renvoie les comptes créés."""
    rng = random.Random(seed)
    services.catalogues_load_shipped()
    for operator in Operator.objects.all():
        identites_demo.fill_operator(operator)
        # territoire proposé en premier par le simulateur public (opsn.portail)
        operator.territory = DEMO_TERRITORIES.get(operator.code, [])
        operator.save(update_fields=["territory"])
    services.index_values_load_shipped()
    ref = Referentiel.charger()
    users: list[DemoUser] = []
    User = get_user_model()

    def user(name: str, role: str, operator: Operator, member: Member | None = None) -> None:
        # ni superutilisateur ni staff : l'administrateur d'un opérateur gère son équipe dans
        # l'application ; l'administration Django est à la plateforme (compte « plateforme »)
        # adresse fictive : les avis du portail partent vers la console de la démonstration
        account = User.objects.create_user(
            name, password=DEMO_PASSWORD, email=f"{name}@demo.opsn.invalid"
        )
        StaffMembership.objects.create(user=account, operator=operator, role=role, member=member)
        users.append(
            DemoUser(name, DEMO_PASSWORD, role, operator.code, member.name if member else None)
        )

    # -- CDG82 : 40 communes de Tarn-et-Garonne, convention 2020 « à la carte » --------
    cdg82 = Operator.objects.get(code="cdg82")
    cat82 = _catalogue(cdg82, "2020")
    communes82 = sorted(
        (c for c in ref.communes() if c.departement == "82"), key=lambda c: c.insee
    )[:40]
    first82 = None
    for i, c in enumerate(communes82):
        member = _member_from_commune(cdg82, c)
        first82 = first82 or member
        signed = dt.date(2018 + i % 3, 1 + i % 12, 1 + (i * 7) % 28)
        conv = Convention.objects.create(
            operator=cdg82,
            member=member,
            reference=f"CDG82-{c.insee}",
            catalogue=cat82,
            signed_on=signed,
            notice_received_on=dt.date(today.year, 3, 1) if i % 13 == 5 else None,
        )
        start = max(signed, dt.date(2020, 1, 1))
        _add_subscription(
            conv,
            "assistance_srb",
            start,
            _q(postes_n1=rng.randint(0, 4), postes_n2=rng.randint(1, 6)),
        )
        if i % 2 == 0:
            _add_subscription(conv, "assistance_metiers", start, _q(postes_n3=rng.randint(1, 3)))
        if i % 3 == 0:
            _add_subscription(conv, "dematerialisation", start, _q(utilisateurs=rng.randint(1, 5)))
        if i % 4 == 0:
            _add_subscription(conv, "rgpd_dpd", start)
            if (c.population_totale or 0) > 10000:  # sur devis (R14) : devis accepté saisi
                Subscription.objects.filter(convention=conv, service_code="rgpd_dpd").update(
                    amounts={"mise_en_place": "2600.00", "accompagnement": "1650.00"}
                )
        if i % 5 == 0:
            _add_subscription(
                conv, rng.choice(["pack_decouverte", "pack_confort", "pack_expert"]), start
            )
        if i % 6 == 0:
            Intervention.objects.create(
                member=member,
                day=dt.date(today.year, 2, 10),
                days=Decimal("0.5"),
                label="Dépannage hors convention",
            )
    user("admin-cdg82", Role.ADMIN, cdg82)
    user("facturation-cdg82", Role.BILLING, cdg82)
    user("technicien-cdg82", Role.TECHNICIAN, cdg82)
    user("referent-cdg82", Role.REFERENT, cdg82, first82)

    # -- Gironde Numérique : CC du Val de l'Eyre et ses communes --------------------------
    gn = Operator.objects.get(code="gironde-numerique")
    catgn = _catalogue(gn, "2021")
    epci = ref.epci(VAL_DE_L_EYRE)
    assert epci is not None
    epci_member = _member_from_epci(gn, epci, ref)
    communes = [_member_from_commune(gn, c, parent=epci_member) for c in ref.membres(epci.siren)]
    conv = Convention.objects.create(
        operator=gn,
        member=epci_member,
        reference=f"GN-{epci.siren}",
        catalogue=catgn,
        signed_on=dt.date(2021, 1, 1),
    )
    _add_subscription(conv, "adhesion_mutualisee", dt.date(2021, 1, 1))
    _add_subscription(conv, "participation_individuelle", dt.date(2021, 1, 1))
    for year in range(2021, today.year + 1):
        UsageRecord.objects.create(
            member=epci_member,
            year=year,
            counter="donnees_go",
            quantity=Decimal(1500 + 100 * (year - 2021)),
        )
    for j, member in enumerate(communes):
        conv = Convention.objects.create(
            operator=gn,
            member=member,
            reference=f"GN-{member.insee}",
            catalogue=catgn,
            signed_on=dt.date(2021, 1, 1),
        )
        # certificats émis à des dates étalées : certains expirent dans les 90 jours
        issued = dates.add_months(today, -36) + dt.timedelta(days=10 + 25 * j)
        _add_subscription(conv, "certificat_rgs", issued, _q(certificats=1))
        Certificate.objects.create(
            member=member,
            holder=f"Secrétariat de mairie de {member.name}",
            issued_on=issued,
            expires_on=dates.add_months(issued, 36),
        )
        if j % 2 == 0:
            _add_subscription(conv, "numerisation_etat_civil", dt.date(2021, 1, 1))
            UsageRecord.objects.create(
                member=member,
                year=today.year,
                counter="actes_mairie",
                quantity=Decimal(300 + 150 * j),
            )
        if j == 2:
            _add_subscription(conv, "opendemande", dt.date(2022, 3, 1))
    user("admin-gironde", Role.ADMIN, gn)
    user("facturation-gironde", Role.BILLING, gn)
    user("technicien-gironde", Role.TECHNICIAN, gn)
    user("referent-gironde", Role.REFERENT, gn, communes[0])

    # -- CDG47 : 30 communes de Lot-et-Garonne, nouvelle annexe ---------------------------
    cdg47 = Operator.objects.get(code="cdg47")
    cat47 = _catalogue(cdg47, "nouvelle-annexe")
    forfaits = [
        "forfait_metiers",
        "forfait_metiers_communication",
        "forfait_technologie",
        "forfait_technologie_plus",
    ]
    communes47 = sorted(
        (c for c in ref.communes() if c.departement == "47"), key=lambda c: c.insee
    )[:30]
    first47 = None
    for i, c in enumerate(communes47):
        member = _member_from_commune(cdg47, c)
        first47 = first47 or member
        conv = Convention.objects.create(
            operator=cdg47,
            member=member,
            reference=f"CDG47-{c.insee}",
            catalogue=cat47,
            signed_on=dt.date(2023, 1 + i % 12, 1),
        )
        _add_subscription(conv, forfaits[i % len(forfaits)], conv.signed_on)
        UsageRecord.objects.create(
            member=member,
            year=today.year,
            counter="sauvegarde_go",
            quantity=Decimal(rng.randint(2, 20)),
        )
    user("admin-cdg47", Role.ADMIN, cdg47)
    user("facturation-cdg47", Role.BILLING, cdg47)
    user("technicien-cdg47", Role.TECHNICIAN, cdg47)
    user("referent-cdg47", Role.REFERENT, cdg47, first47)  # quotas de sa strate (portail)
    # les prix des forfaits manquent à l'annexe fournie (« à renseigner », R15) : la
    # démonstration les saisit comme l'administrateur le ferait dans le navigateur
    # (« Compléter les prix », nouvelle version), marqués « prix de démonstration »
    demo_prices_cdg47(actor=User.objects.get(username="admin-cdg47"), source=cat47, today=today)
    from opsn.gestion.permissions import SYSTEM
    from opsn.plateforme.comptes import platform_admin_create

    platform_admin_create(actor=SYSTEM, username=PLATFORM_USERNAME, password=DEMO_PASSWORD)
    # factures 2020 du CDG82 émises le 15/01/2021 : le référent voit ses pièces et leur avis
    # (portail) ; l'année 2021 et les suivantes restent à facturer par le chargé de
    # facturation, dans l'ordre chronologique.
    from opsn.facturation.billing import billing_run

    if issue_invoices:
        billing_run(actor=SYSTEM, operator=cdg82, year=2020, issued_on=dt.date(2021, 1, 15))
    users.append(
        DemoUser(PLATFORM_USERNAME, DEMO_PASSWORD, "administrateur de la plateforme", "–", None)
    )
    return users


# Prix FICTIFS des forfaits du CDG47 : l'annexe tarifaire réelle n'est pas fournie (R15).
DEMO_PRICES_CDG47 = {
    "forfait_metiers": Decimal("1450.00"),
    "forfait_metiers_communication": Decimal("1900.00"),
    "forfait_heberge": Decimal("2600.00"),
    "forfait_technologie": Decimal("980.00"),
    "forfait_technologie_plus": Decimal("1350.00"),
}
DEMO_PRICES_VERSION = "nouvelle-annexe-prix-demo"


def demo_prices_cdg47(*, actor: Any, source: CatalogueVersion, today: dt.date) -> CatalogueVersion:
    """Nouvelle version du catalogue du CDG47 où les prix « à renseigner » des forfaits sont
    remplis de prix de démonstration, par le service du formulaire « Compléter les prix »
    (`catalogue_version_derive`) ; les conventions passent à cette version. Le libellé et la
    note de la version disent, prix par prix, qu'il s'agit de prix de démonstration."""
    from opsn.catalogues import edition
    from opsn.catalogues.services import LABEL_MAX, catalogue_version_derive
    from opsn.core.money import fmt_fr

    found = edition.anatomy(source.content, source.source_file)
    # R28 : le catalogue du CDG47 n'a pas de clause de révision ; ses prix n'ont pas d'année
    # et valent tels quels pour toute année de la version
    prices: dict[str, tuple[Decimal, int | None]] = {}
    notes = []
    for site in found.missing:
        _, service, _component = site.key.split(":", 2)
        amount = DEMO_PRICES_CDG47.get(service)
        if site.key.startswith("service:") and amount is not None:
            prices[site.key] = (amount, None)
            notes.append(f"« {site.label} » : {fmt_fr(amount)} – prix de démonstration.")
    comment = "\n".join(
        [
            "PRIX DE DÉMONSTRATION, FICTIFS : ce ne sont pas les prix de l'annexe tarifaire du "
            "CDG47 (non fournie).",
            f"Version écrite par la démonstration (opsn demo) le {today:%d/%m/%Y}, à partir de "
            f"« {source.version} » : {len(prices)} prix à renseigner remplis (sans année : "
            "pas de clause de révision, R28).",
            *notes,
        ]
    )
    header = edition.Header(
        DEMO_PRICES_VERSION,
        f"{found.catalogue.label} – prix de démonstration (fictifs)"[:LABEL_MAX],
        None,
        comment,
    )
    return catalogue_version_derive(
        actor=actor,
        source=source,
        header=header,
        prices=prices,
        years={},
        move_conventions=True,
        reason="prix de démonstration des forfaits (fictifs, annexe tarifaire non fournie)",
    )


def demo_exists() -> bool:
    return Member.objects.exists()
