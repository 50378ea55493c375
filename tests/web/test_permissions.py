"""Les droits sont vérifiés dans les services et les sélecteurs, et par les pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import Client

from opsn.gestion import selectors, services


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_referent_reads_only_its_own_member(world) -> None:
    referent = world["users"]["referent_a"]
    assert list(selectors.member_list(user=referent)) == [world["a"]]
    assert selectors.member_get(user=referent, member_id=world["a"].pk) == world["a"]
    with pytest.raises(Http404):
        selectors.member_get(user=referent, member_id=world["b"].pk)
    with pytest.raises(Http404):
        selectors.convention_get(user=referent, convention_id=world["conv_b"].pk)


def test_referent_pages_of_another_member_are_not_found(world) -> None:
    client = login(world["users"]["referent_a"])
    assert client.get(f"/adherents/{world['a'].pk}/").status_code == 200
    for url in (
        f"/adherents/{world['b'].pk}/",
        f"/conventions/{world['conv_b'].pk}/",
        f"/conventions/{world['conv_b'].pk}/modifier/",
        f"/adherents/{world['c'].pk}/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"Commune B" not in response.content
    listing = client.get("/adherents/").content.decode()
    assert "Commune A" in listing and "Commune B" not in listing


def test_referent_cannot_amend_even_its_own_convention(world) -> None:
    with pytest.raises(PermissionDenied):
        services.convention_amend(
            actor=world["users"]["referent_a"],
            convention=world["conv_a"],
            effective_on=dt.date(2021, 1, 1),
            changes=[],
            notice_received_on=dt.date(2021, 1, 2),
        )
    client = login(world["users"]["referent_a"])
    assert client.get(f"/conventions/{world['conv_a'].pk}/modifier/").status_code == 403


def test_technician_cannot_amend_but_records_interventions(world) -> None:
    tech = world["users"]["technicien"]
    with pytest.raises(PermissionDenied):
        services.convention_amend(
            actor=tech, convention=world["conv_a"], effective_on=dt.date(2021, 1, 1), changes=[]
        )
    intervention = services.intervention_record(
        actor=tech,
        member=world["a"],
        day=dt.date(2021, 3, 1),
        days=Decimal("0.5"),
        label="Dépannage",
    )
    assert intervention.technician == tech


def test_staff_of_one_operator_sees_nothing_of_another(world) -> None:
    gn_user = world["users"]["facturation_gn"]
    assert list(selectors.member_list(user=gn_user)) == [world["c"]]
    with pytest.raises(PermissionDenied):
        services.convention_amend(
            actor=gn_user, convention=world["conv_a"], effective_on=dt.date(2021, 1, 1), changes=[]
        )
    assert login(gn_user).get(f"/adherents/{world['a'].pk}/").status_code == 404


def test_anonymous_visitor_is_sent_to_login(world) -> None:
    response = Client().get(f"/adherents/{world['a'].pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/connexion/")


def test_referent_asks_for_a_change_and_staff_sees_it(world) -> None:
    import html

    referent = login(world["users"]["referent_a"])
    response = referent.post(
        f"/adherents/{world['a'].pk}/demande/",
        {"message": "Ajouter deux postes de niveau 2", "convention": world["conv_a"].pk},
    )
    assert response.status_code == 302
    assert world["a"].requests.get().author == world["users"]["referent_a"]
    assert (
        referent.post(f"/adherents/{world['b'].pk}/demande/", {"message": "x"}).status_code == 404
    )
    staff = login(world["users"]["facturation"])
    board = html.unescape(staff.get("/").content.decode())
    assert "Demande du référent : Ajouter deux postes de niveau 2" in board
    item = world["a"].requests.get()
    staff.post(f"/adherents/{world['a'].pk}/demande/", {"cloturer": item.pk})
    item.refresh_from_db()
    assert item.handled_by == world["users"]["facturation"]
    referent.post(f"/adherents/{world['a'].pk}/demande/", {"message": "Autre"})
    other = world["a"].requests.filter(handled_at__isnull=True).get()
    referent.post(f"/adherents/{world['a'].pk}/demande/", {"cloturer": other.pk})
    other.refresh_from_db()
    assert other.handled_at is None  # un référent ne clôt pas une demande
