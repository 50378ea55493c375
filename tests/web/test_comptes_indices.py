"""Plateforme (issue 9) : administrateur de la plateforme, équipe d'un opérateur gérée par
son administrateur, indices SYNTEC tenus par la plateforme (bornes, corrections motivées,
mois facturés figés)."""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from opsn.facturation.billing import billing_run
from opsn.gestion.models import AuditEntry, IndexValue, Role, StaffMembership
from opsn.gestion.permissions import SYSTEM
from opsn.plateforme import comptes, indices

User = get_user_model()
TODAY = dt.date(2025, 11, 20)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def can_log_in(username: str, password: str, client: Client | None = None) -> bool:
    client = client or Client()
    client.post("/connexion/", {"username": username, "password": password})
    return "_auth_user_id" in client.session


def page(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def platform(db):
    user, _ = comptes.platform_admin_create(
        actor=SYSTEM, username="plateforme", password="mot-de-passe-test"
    )
    return user


# -- équipe d'un opérateur ------------------------------------------------------------------


def test_operator_admin_invites_a_colleague_who_can_log_in(world) -> None:
    admin = world["users"]["admin"]
    client = client_for(admin)
    response = client.post(
        "/equipe/",
        {"identifiant": "nouvelle", "prenom": "Léa", "nom": "Martin", "role": "facturation"},
    )
    assert response.status_code == 200
    text = page(response)
    created = User.objects.get(username="nouvelle")
    membership = created.memberships.get()
    assert (membership.operator, membership.role) == (world["cdg82"], Role.BILLING)
    assert not created.is_staff and not created.is_superuser
    # le mot de passe initial est affiché une fois, et permet de se connecter
    password = re.search(r"Mot de passe initial : <strong><code>([^<]+)</code>", text).group(1)
    assert can_log_in("nouvelle", password)
    assert "nouvelle" in page(client.get("/equipe/"))
    assert password not in page(client.get("/equipe/"))
    entry = AuditEntry.objects.get(object_type="staffmembership", action="invitation")
    assert entry.actor == admin and entry.operator_id == world["cdg82"].pk
    assert password not in str(entry.after)


def test_invitation_errors_are_shown_next_to_the_fields(world) -> None:
    client = client_for(world["users"]["admin"])
    response = client.post(
        "/equipe/",
        {"identifiant": "facturation", "role": "referent", "adherent": str(world["c"].pk)},
    )
    assert response.status_code == 400
    text = page(response)
    assert 'id="adherent-erreur"' in text  # adhérent d'un autre opérateur : refusé
    assert StaffMembership.objects.filter(operator=world["cdg82"]).count() == 4
    taken = client.post("/equipe/", {"identifiant": "facturation", "role": "technicien"})
    assert taken.status_code == 400 and "« facturation » est déjà pris" in page(taken)


def test_only_the_operator_admin_manages_the_team(world) -> None:
    for name in ("facturation", "technicien", "referent_a", "facturation_gn"):
        client = client_for(world["users"][name])
        assert client.get("/equipe/").status_code == 403, name
        assert client.post("/equipe/", {"identifiant": "x", "role": "admin"}).status_code == 403
    assert not User.objects.filter(username="x").exists()
    with pytest.raises(PermissionDenied):
        comptes.staff_invite(
            actor=world["users"]["facturation_gn"],
            operator=world["cdg82"],
            username="intrus",
            role=Role.ADMIN,
        )


def test_admin_changes_a_role_and_removes_a_colleague(world) -> None:
    admin = world["users"]["admin"]
    client = client_for(admin)
    tech = StaffMembership.objects.get(user=world["users"]["technicien"])
    response = client.post(f"/equipe/{tech.pk}/", {"action": "role", "role": "facturation"})
    assert response.status_code == 302
    tech.refresh_from_db()
    assert tech.role == Role.BILLING
    change = AuditEntry.objects.get(action="changement de rôle")
    assert change.before["role"] == "technicien" and change.after["role"] == "facturation"
    # référent : un adhérent de l'opérateur est exigé
    bad = client.post(f"/equipe/{tech.pk}/", {"action": "role", "role": "referent"})
    assert bad.status_code == 400 and 'id="adherent-erreur"' in page(bad)
    response = client.post(f"/equipe/{tech.pk}/", {"action": "retirer"})
    assert response.status_code == 302
    assert not StaffMembership.objects.filter(pk=tech.pk).exists()
    user = User.objects.get(username="technicien")
    assert not user.is_active  # plus aucun rôle : compte désactivé
    assert not can_log_in("technicien", "mot-de-passe-test")
    removal = AuditEntry.objects.get(action="retrait")
    assert removal.after == {"compte_desactive": True} and removal.actor == admin


def test_removing_a_role_keeps_an_account_used_elsewhere(world) -> None:
    shared = world["users"]["facturation_gn"]
    StaffMembership.objects.create(user=shared, operator=world["cdg82"], role=Role.TECHNICIAN)
    membership = StaffMembership.objects.get(user=shared, operator=world["cdg82"])
    admin = world["users"]["admin"]
    with pytest.raises(ValidationError, match="habilité ailleurs"):
        comptes.staff_new_password(actor=admin, membership=membership)
    assert comptes.staff_remove(actor=admin, membership=membership) is False
    shared.refresh_from_db()
    assert shared.is_active
    assert StaffMembership.objects.filter(user=shared, operator=world["gn"]).exists()


def test_an_operator_keeps_at_least_one_admin(world) -> None:
    admin = world["users"]["admin"]
    own = StaffMembership.objects.get(user=admin)
    with pytest.raises(ValidationError, match="au moins un administrateur"):
        comptes.staff_remove(actor=admin, membership=own)
    with pytest.raises(ValidationError, match="au moins un administrateur"):
        comptes.staff_change_role(actor=admin, membership=own, role=Role.BILLING)
    assert StaffMembership.objects.get(pk=own.pk).role == Role.ADMIN


def test_admin_cannot_reach_the_team_of_another_operator(world) -> None:
    from opsn.gestion.models import Operator

    operators = Operator.objects.count()
    gn_admin = comptes.staff_invite(
        actor=SYSTEM, operator=world["gn"], username="admin-gn", role=Role.ADMIN
    ).membership
    other = StaffMembership.objects.get(user=world["users"]["facturation_gn"])
    client = client_for(world["users"]["admin"])
    for action in ("role", "retirer", "mot_de_passe"):
        response = client.post(f"/equipe/{other.pk}/", {"action": action, "role": "admin"})
        assert response.status_code == 404
    assert client.get(f"/equipe/{gn_admin.pk}/").status_code == 404
    listing = page(client.get(f"/equipe/?operateur={world['gn'].code}"))
    assert "facturation_gn" not in listing and "admin-gn" not in listing
    other.refresh_from_db()
    assert other.role == Role.BILLING and other.user.is_active
    with pytest.raises(PermissionDenied):
        comptes.staff_remove(actor=world["users"]["admin"], membership=other)
    assert Operator.objects.count() == operators


def test_operator_staff_can_never_be_superuser_or_staff(world) -> None:
    boss = User.objects.create_user("chef", password="x", is_superuser=True, is_staff=True)
    with pytest.raises(ValidationError):
        StaffMembership.objects.create(user=boss, operator=world["cdg82"], role=Role.ADMIN)


# -- administrateur de la plateforme ----------------------------------------------------------


def test_platform_admin_creates_an_operator_and_its_first_admin(world, platform) -> None:
    client = client_for(platform)
    response = client.post(
        "/plateforme/",
        {
            "code": "cdg33",
            "raison_sociale": "CDG de la Gironde",
            "siren": "283300011",
            "identifiant_admin": "admin-cdg33",
        },
    )
    assert response.status_code == 200
    text = page(response)
    password = re.search(r"mot de passe initial : <strong><code>([^<]+)</code>", text).group(1)
    membership = StaffMembership.objects.get(user__username="admin-cdg33")
    assert membership.operator.code == "cdg33" and membership.role == Role.ADMIN
    newcomer = Client()
    assert can_log_in("admin-cdg33", password, newcomer)
    assert newcomer.get("/equipe/").status_code == 200
    assert newcomer.get("/admin/").status_code == 302
    assert AuditEntry.objects.filter(object_type="operator", action="création").exists()
    bad = client.post("/plateforme/", {"code": "CDG 33 !", "raison_sociale": ""})
    assert bad.status_code == 400 and 'id="code-erreur"' in page(bad)
    for name in ("admin", "facturation"):
        assert client_for(world["users"][name]).get("/plateforme/").status_code == 403


def test_platform_admin_is_never_operator_staff(world, platform) -> None:
    with pytest.raises(ValidationError):
        StaffMembership.objects.create(user=platform, operator=world["cdg82"], role=Role.ADMIN)
    assert comptes.is_platform_admin(platform)
    assert not comptes.is_platform_admin(world["users"]["admin"])


# -- indices SYNTEC -----------------------------------------------------------------------------


def _set(actor, month="2022-11", value="283.3", series="revisee", reason="", source="Syntec"):
    return indices.index_value_set(
        actor=actor,
        month=month,
        value=Decimal(value),
        series=series,
        source=source,
        reason=reason,
        today=TODAY,
    )


@pytest.mark.parametrize(
    ("month", "value", "field", "message"),
    [
        ("2022-11", "49.9", "value", "entre 50 et 1000"),
        ("2022-11", "1000.01", "value", "entre 50 et 1000"),
        ("2022-11", "283.33333", "value", "quatre décimales"),
        ("2022-13", "283", "month", "AAAA-MM"),
        ("22-11", "283", "month", "AAAA-MM"),
        ("1989-12", "283", "month", "pas avant 1990-01"),
        ("2025-12", "283", "month", "dans le futur"),
    ],
)
def test_index_values_are_bounded(platform, month, value, field, message) -> None:
    with pytest.raises(ValidationError) as error:
        _set(platform, month=month, value=value)
    assert message in " ".join(error.value.message_dict[field])
    assert not IndexValue.objects.filter(month=month).exists()


def test_index_value_text_must_be_a_finite_number() -> None:
    for text in ("abc", "1e400", "NaN", "inf", ""):
        with pytest.raises(ValidationError):
            value = indices.parse_value(text)
            indices.check_value(
                index="syntec", month="2022-11", value=value, series="revisee", today=TODAY
            )
    assert indices.parse_value("283,3") == Decimal("283.3")


def test_database_refuses_out_of_bounds_index_values(db) -> None:
    for month, value in (("2022-11", "0"), ("2022-11", "1e4"), ("2022-13", "283"), ("abc", "283")):
        with pytest.raises(IntegrityError), transaction.atomic():
            IndexValue.objects.create(
                month=month, value=Decimal(value), series="revisee", source="test"
            )
    IndexValue.objects.create(month="2022-11", value=Decimal("283.3"), series="revisee", source="t")


def test_operators_cannot_write_index_values(world) -> None:
    for name in ("admin", "facturation", "technicien", "referent_a"):
        with pytest.raises(PermissionDenied):
            _set(world["users"][name])
    assert not IndexValue.objects.filter(month="2022-11").exists()


def test_re_entering_a_month_is_a_correction_with_a_reason(world, platform) -> None:
    first = _set(platform)
    with pytest.raises(ValidationError, match="une correction exige un motif"):
        _set(platform, value="284.1")
    assert IndexValue.objects.get(pk=first.pk).value == Decimal("283.3")
    _set(platform, value="284.1", reason="Valeur provisoire remplacée par la définitive")
    assert IndexValue.objects.get(pk=first.pk).value == Decimal("284.1")
    entry = AuditEntry.objects.get(object_type="indexvalue", action="modification")
    assert entry.actor == platform
    assert entry.reason == "Valeur provisoire remplacée par la définitive"
    assert Decimal(entry.before["value"]) == Decimal("283.3")
    assert Decimal(entry.after["value"]) == Decimal("284.1")


def test_correction_through_the_page_needs_the_reason_field(world, platform) -> None:
    client = client_for(platform)
    data = {"mois": "2022-11", "valeur": "283,3", "serie": "revisee", "source": "Syntec"}
    assert client.post("/indices/", data).status_code == 302
    again = client.post("/indices/", {**data, "valeur": "290"})
    assert again.status_code == 400
    text = page(again)
    assert 'id="motif-erreur"' in text and 'value="290"' in text  # valeur saisie gardée
    ok = client.post("/indices/", {**data, "valeur": "290", "motif": "coquille"})
    assert ok.status_code == 302
    assert IndexValue.objects.get(month="2022-11").value == Decimal(290)
    huge = client.post("/indices/", {**data, "mois": "2022-10", "valeur": "1e400"})
    assert huge.status_code == 400 and 'id="valeur-erreur"' in page(huge)


def test_months_used_by_an_issued_invoice_are_frozen(platform) -> None:
    from billing.scenarios import load_case

    loaded = load_case("P03")  # CDG82 2021 : prix « pour 2019 » révisés deux fois
    assert indices.months_used_by_issued_invoices() == set()
    report = billing_run(
        actor=SYSTEM, operator=loaded.operator, year=2021, issued_on=dt.date(2022, 1, 15)
    )
    assert report.created
    from opsn.gestion.models import InvoiceLine

    bases = set(
        InvoiceLine.objects.filter(index_ratio__isnull=False).values_list("base_year", flat=True)
    )
    assert min(bases) == 2019  # 2019 → 2020 : nov. 2019 / nov. 2018 ; 2020 → 2021 : 2020 / 2019
    assert indices.months_used_by_issued_invoices() == {"2018-11", "2019-11", "2020-11"}
    for month, series in (("2018-11", "ancienne"), ("2020-11", "ancienne"), ("2020-11", "revisee")):
        with pytest.raises(ValidationError, match="a servi à des factures émises"):
            _set(platform, month=month, series=series, value="400", reason="essai")
    assert IndexValue.objects.get(month="2020-11").value == Decimal("274.8")
    assert not IndexValue.objects.filter(month="2020-11", series="revisee").exists()
    _set(platform, month="2021-10", value="276.1")  # mois que rien n'a utilisé : libre
    frozen = page(client_for(platform).get("/indices/"))
    assert "oui (figé)" in frozen


def test_demo_has_a_platform_admin_and_no_operator_superuser(db) -> None:
    from opsn.gestion.demo import DEMO_PASSWORD, build_demo

    accounts = build_demo(today=TODAY)
    assert "plateforme" in {a.username for a in accounts}
    assert not User.objects.filter(is_superuser=True).exists()
    assert not User.objects.filter(is_staff=True).exists()
    platform = User.objects.get(username="plateforme")
    assert comptes.is_platform_admin(platform) and not platform.memberships.exists()
    admin = Client()
    assert can_log_in("admin-cdg82", DEMO_PASSWORD, admin)
    assert admin.get("/admin/").status_code == 302
    assert admin.get("/equipe/").status_code == 200
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "plateforme", "password": DEMO_PASSWORD}
    )
    assert response.status_code == 302 and client.get("/admin/").status_code == 200


def test_an_invited_person_replaces_the_initial_password(world) -> None:
    invitation = comptes.staff_invite(
        actor=world["users"]["admin"], operator=world["cdg82"], username="lea", role="technicien"
    )
    client = Client()
    assert can_log_in("lea", invitation.password, client)
    form = page(client.get("/compte/mot-de-passe/"))
    assert "Changer mon mot de passe" in form
    response = client.post(
        "/compte/mot-de-passe/",
        {
            "old_password": invitation.password,
            "new_password1": "un-mot-de-passe-choisi",
            "new_password2": "un-mot-de-passe-choisi",
        },
    )
    assert response.status_code == 302
    assert can_log_in("lea", "un-mot-de-passe-choisi")
    assert not can_log_in("lea", invitation.password)
