"""Jeu de données commun aux tests du back-office : vrais catalogues, vrai référentiel."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from opsn.gestion import services
from opsn.gestion.models import (
    CatalogueVersion,
    Convention,
    Member,
    Operator,
    Role,
    StaffMembership,
    Subscription,
)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache():
    """Cache du processus vidé à chaque test : les identifiants des bases de test se répètent
    d'un test à l'autre, et avec eux l'empreinte des résumés de campagne du tableau de bord."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def tmp_data_dir(settings, tmp_path):
    """Fichiers produits par les tâches de fond et imports déposés : dans le dossier du
    test, jamais dans le dossier de données du poste (`var/`)."""
    settings.DATA_DIR = tmp_path / "donnees"
    return settings.DATA_DIR


@pytest.fixture
def world(db):
    """Deux opérateurs, deux communes du CDG82, une de Gironde Numérique, un compte par rôle."""
    services.catalogues_load_shipped()
    services.index_values_load_shipped()
    cdg82 = Operator.objects.get(code="cdg82")
    gn = Operator.objects.get(code="gironde-numerique")
    cat82 = CatalogueVersion.objects.get(operator=cdg82, version="2020")
    a = Member.objects.create(
        operator=cdg82, kind="commune", name="Commune A", insee="82001", population_totale=850
    )
    b = Member.objects.create(
        operator=cdg82, kind="commune", name="Commune B", insee="82002", population_totale=602
    )
    c = Member.objects.create(
        operator=gn, kind="commune", name="Commune C", insee="33042", population_totale=6314
    )
    conv_a = Convention.objects.create(
        operator=cdg82, member=a, reference="A-2018", catalogue=cat82, signed_on=dt.date(2018, 1, 1)
    )
    Subscription.objects.create(
        convention=conv_a,
        service_code="assistance_srb",
        started_on=dt.date(2018, 1, 1),
        quantities={"postes_n1": "2", "postes_n2": "3"},
    )
    Subscription.objects.create(
        convention=conv_a,
        service_code="assistance_metiers",
        started_on=dt.date(2018, 1, 1),
        quantities={"postes_n3": "1"},
    )
    conv_b = Convention.objects.create(
        operator=cdg82, member=b, reference="B-2020", catalogue=cat82, signed_on=dt.date(2020, 1, 1)
    )
    Subscription.objects.create(
        convention=conv_b, service_code="rgpd_dpd", started_on=dt.date(2020, 1, 1)
    )
    User = get_user_model()
    users = {}
    for name, operator, role, member in (
        ("admin", cdg82, Role.ADMIN, None),
        ("facturation", cdg82, Role.BILLING, None),
        ("technicien", cdg82, Role.TECHNICIAN, None),
        ("referent_a", cdg82, Role.REFERENT, a),
        ("facturation_gn", gn, Role.BILLING, None),
    ):
        user = User.objects.create_user(name, password="mot-de-passe-test")
        StaffMembership.objects.create(user=user, operator=operator, role=role, member=member)
        users[name] = user
    return {
        "cdg82": cdg82,
        "gn": gn,
        "cat82": cat82,
        "a": a,
        "b": b,
        "c": c,
        "conv_a": conv_a,
        "conv_b": conv_b,
        "users": users,
        "D": Decimal,
    }
