"""Avenants, audit, catalogues figés, indices : les écritures du back-office."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from opsn.gestion import bridge, services
from opsn.gestion.models import Amendment, AuditEntry, CatalogueVersion, IndexValue
from opsn.gestion.services import SubscriptionChange


def test_amendment_changes_quantities_and_keeps_history(world) -> None:
    user = world["users"]["facturation"]
    conv = world["conv_a"]
    srb = conv.subscriptions.get(service_code="assistance_srb")
    amendment = services.convention_amend(
        actor=user,
        convention=conv,
        effective_on=dt.date(2021, 1, 1),
        reason="Nouveau poste",
        changes=[
            SubscriptionChange(
                "modification",
                "assistance_srb",
                {"postes_n1": Decimal(2), "postes_n2": Decimal(4)},
                subscription_id=srb.pk,
            )
        ],
    )
    assert amendment.number == 1 and amendment.created_by == user
    assert amendment.changes == [
        {
            "action": "modification",
            "service": "assistance_srb",
            "avant": {"postes_n1": "2", "postes_n2": "3"},
            "apres": {"postes_n1": "2", "postes_n2": "4"},
        }
    ]
    # l'ancienne version est close à la date d'effet, une nouvelle version la remplace
    srb.refresh_from_db()
    assert srb.quantities == {"postes_n1": "2", "postes_n2": "3"}
    assert srb.ended_on == dt.date(2021, 1, 1)
    current = conv.subscriptions.get(service_code="assistance_srb", ended_on__isnull=True)
    assert current.previous == srb and current.started_on == dt.date(2021, 1, 1)
    assert current.quantities == {"postes_n1": "2", "postes_n2": "4"}
    closed = AuditEntry.objects.get(
        object_type="subscription", object_id=str(srb.pk), action="modification"
    )
    assert closed.actor == user
    assert closed.before["ended_on"] is None and closed.after["ended_on"] == "2021-01-01"
    created = AuditEntry.objects.get(
        object_type="subscription", object_id=str(current.pk), action="création"
    )
    assert created.actor == user
    assert created.after["quantities"] == {"postes_n1": "2", "postes_n2": "4"}
    second = services.convention_amend(
        actor=user,
        convention=conv,
        effective_on=dt.date(2021, 6, 1),
        changes=[SubscriptionChange("ajout", "dematerialisation", {"utilisateurs": Decimal(3)})],
    )
    assert second.number == 2


def test_amendment_is_append_only(world) -> None:
    amendment = services.convention_amend(
        actor=world["users"]["facturation"],
        convention=world["conv_a"],
        effective_on=dt.date(2021, 1, 1),
        changes=[],
        notice_received_on=dt.date(2021, 2, 1),
    )
    amendment.reason = "réécrire l'histoire"
    with pytest.raises(ValidationError):
        amendment.save()
    with pytest.raises(ValidationError):
        amendment.delete()
    assert Amendment.objects.get(pk=amendment.pk).reason == ""
    entry = AuditEntry.objects.first()
    with pytest.raises(ValidationError):
        entry.save()


def test_notice_changes_the_billed_years(world) -> None:
    conv = world["conv_a"]
    services.convention_amend(
        actor=world["users"]["facturation"],
        convention=conv,
        effective_on=dt.date(2021, 3, 1),
        changes=[],
        notice_received_on=dt.date(2021, 3, 1),
    )
    conv.refresh_from_db()
    assert bridge.quote(conv, 2021).totals.gross > 0
    assert bridge.quote(conv, 2022).totals.gross == 0  # échéance du 01/01/2022 (R22)


def test_invalid_amendments_are_refused_in_french(world) -> None:
    user = world["users"]["facturation"]
    with pytest.raises(ValidationError, match="absent du catalogue"):
        services.convention_amend(
            actor=user,
            convention=world["conv_a"],
            effective_on=dt.date(2021, 1, 1),
            changes=[SubscriptionChange("ajout", "inconnu", {})],
        )
    with pytest.raises(ValidationError, match="négative"):
        services.convention_amend(
            actor=user,
            convention=world["conv_a"],
            effective_on=dt.date(2021, 1, 1),
            changes=[
                SubscriptionChange("ajout", "dematerialisation", {"utilisateurs": Decimal(-1)})
            ],
        )
    with pytest.raises(ValidationError, match="vide"):
        services.convention_amend(
            actor=user, convention=world["conv_a"], effective_on=dt.date(2021, 1, 1), changes=[]
        )
    assert not Amendment.objects.exists()


def test_edit_page_records_an_amendment_and_shows_it(world) -> None:
    client = Client()
    client.force_login(world["users"]["facturation"])
    conv = world["conv_a"]
    srb = conv.subscriptions.get(service_code="assistance_srb")
    response = client.post(
        f"/conventions/{conv.pk}/modifier/",
        {
            "date_effet": "2021-01-01",
            f"q_{srb.pk}_postes_n1": "5",
            f"q_{srb.pk}_postes_n2": "3",
            f"q_{conv.subscriptions.get(service_code='assistance_metiers').pk}_postes_n3": "1",
            "motif": "Deux postes de plus",
        },
    )
    assert response.status_code == 302
    page = html.unescape(client.get(response["Location"]).content.decode())
    assert "Avenant n° 1 enregistré" in page
    assert "Deux postes de plus" in page and "facturation" in page
    current = conv.subscriptions.get(service_code="assistance_srb", ended_on__isnull=True)
    bad = client.post(
        f"/conventions/{conv.pk}/modifier/",
        {"date_effet": "2021-01-01", f"q_{current.pk}_postes_n1": "beaucoup"},
    )
    assert bad.status_code == 400
    assert "n'est pas un nombre" in html.unescape(bad.content.decode())


def test_locked_catalogue_version_cannot_change(world) -> None:
    version = world["cat82"]
    version.locked = True
    version.save()
    version.content = version.content.replace("126.40", "130.00")
    with pytest.raises(ValidationError, match="figée"):
        version.save()
    assert "126.40" in CatalogueVersion.objects.get(pk=version.pk).content


def test_shipped_catalogues_load_idempotently(world) -> None:
    before = CatalogueVersion.objects.count()
    audit_before = AuditEntry.objects.count()
    services.catalogues_load_shipped()
    assert CatalogueVersion.objects.count() == before == 4
    assert AuditEntry.objects.count() == audit_before


def test_index_value_entry_is_audited_and_unblocks_revision(world) -> None:
    from opsn.core.errors import IndexMissingError

    with pytest.raises(IndexMissingError, match="novembre 2022"):
        bridge.quote(world["conv_a"], 2023)
    from opsn.gestion.permissions import SYSTEM
    from opsn.plateforme.comptes import platform_admin_create
    from opsn.plateforme.indices import index_value_set

    platform, _ = platform_admin_create(actor=SYSTEM, username="plateforme")
    index_value_set(
        actor=platform,
        month="2022-11",
        value=Decimal("283.3"),
        series="revisee",
        source="Saisie de test",
        today=dt.date(2023, 1, 15),
    )
    assert bridge.quote(world["conv_a"], 2023).totals.gross > 0
    entry = AuditEntry.objects.get(
        object_type="indexvalue",
        action="création",
        object_id=str(IndexValue.objects.get(month="2022-11").pk),
    )
    assert entry.actor == platform


def test_database_quote_matches_acceptance_case_p01(world) -> None:
    quote = bridge.quote(world["conv_a"], 2020)
    assert str(quote.totals.gross) == "979.54"


def test_database_backend_is_the_one_asked_for(db) -> None:
    import os

    from django.db import connection

    expected = (
        "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    )
    assert connection.vendor == expected


def test_past_years_keep_the_quantities_in_force_then(world) -> None:
    """Un avenant du 1er juin 2021 (3 → 5 postes N2) : 2020 reste à 3 postes, 2021 entière et
    2022 à 5 (pas de prorata, R21) ; la phase (1re année) part de la première version."""
    conv = world["conv_a"]
    srb = conv.subscriptions.get(service_code="assistance_srb")
    before_2020 = bridge.quote(conv, 2020).totals.gross
    services.convention_amend(
        actor=world["users"]["facturation"],
        convention=conv,
        effective_on=dt.date(2021, 6, 1),
        changes=[
            SubscriptionChange(
                "modification",
                "assistance_srb",
                {"postes_n1": Decimal(2), "postes_n2": Decimal(5)},
                subscription_id=srb.pk,
            )
        ],
    )

    def n2(year: int) -> list[Decimal]:
        return [x.quantity for x in bridge.quote(conv, year).lines if x.component == "T2"]

    assert bridge.quote(conv, 2020).totals.gross == before_2020
    assert n2(2020) == [Decimal(3)]
    assert n2(2021) == [Decimal(5)]  # une seule ligne : la version la plus récente
    assert n2(2022) == [Decimal(5)]
    demat = services.convention_amend(
        actor=world["users"]["facturation"],
        convention=conv,
        effective_on=dt.date(2021, 1, 1),
        changes=[SubscriptionChange("ajout", "dematerialisation", {"utilisateurs": Decimal(2)})],
    )
    assert demat.number == 2
    sub = conv.subscriptions.get(service_code="dematerialisation")
    services.convention_amend(
        actor=world["users"]["facturation"],
        convention=conv,
        effective_on=dt.date(2022, 3, 1),
        changes=[
            SubscriptionChange(
                "modification",
                "dematerialisation",
                {"utilisateurs": Decimal(4)},
                subscription_id=sub.pk,
            )
        ],
    )
    lines_2022 = bridge.quote(conv, 2022).lines
    assert not [x for x in lines_2022 if x.component == "installation"]  # pas de 2e 1re année
    assert [x.quantity for x in lines_2022 if x.component == "utilisateurs"] == [Decimal(4)]


def test_optional_quantity_may_be_left_out_but_a_required_one_may_not(world) -> None:
    """Opendemande : le nombre d'utilisateurs est facultatif (plafond 5/8/15, 003 annexe 2) ;
    un service aux quantités obligatoires reste refusé sans elles."""
    gn = world["gn"]
    catalogue = CatalogueVersion.objects.filter(operator=gn).order_by("-pk").first()
    actor = world["users"]["facturation_gn"]
    convention = services.convention_create(
        actor=actor,
        member=world["c"],
        reference="C-OD",
        catalogue=catalogue,
        signed_on=dt.date(2021, 1, 1),
        subscriptions=[("opendemande", {}, dt.date(2021, 1, 1))],
    )
    assert convention.subscriptions.get().service_code == "opendemande"
    with pytest.raises(ValidationError, match="quantités à renseigner"):
        services.convention_create(
            actor=world["users"]["facturation"],
            member=world["a"],
            reference="A-SRB",
            catalogue=world["cat82"],
            signed_on=dt.date(2021, 1, 1),
            subscriptions=[("assistance_srb", {}, dt.date(2021, 1, 1))],
        )
