"""Plateforme : pages d'erreur en français dans la mise en page du site, menu selon le rôle,
limitation des tentatives de connexion (django-axes)."""

from __future__ import annotations

import html
import re

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from opsn.web.urls import urlpatterns as site_urlpatterns

SECRET = "detail-interne-7f3a"
ENGLISH = ("Not Found", "Server Error", "Forbidden", "Bad Request", "requested resource", "CSRF")


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"{SECRET} : chemin /srv/opsn/base.sqlite3")


def _suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation(SECRET)


def _forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied(SECRET)


urlpatterns = [
    *site_urlpatterns,
    path("essai/500/", _boom),
    path("essai/400/", _suspicious),
    path("essai/403/", _forbidden),
]


def login(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def error_urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False


@pytest.mark.parametrize(
    ("url", "status", "title"),
    [
        ("/essai/400/", 400, "Requête incorrecte"),
        ("/essai/403/", 403, "Accès refusé"),
        ("/adherents/999999/", 404, "Page introuvable"),
        ("/pas-de-page-ici/", 404, "Page introuvable"),
        ("/essai/500/", 500, "Erreur du serveur"),
    ],
)
def test_error_pages_are_french_in_the_site_layout_without_details(
    world, error_urls, url, status, title
) -> None:
    client = login(world["users"]["facturation"])
    response = client.get(url)
    assert response.status_code == status
    page = html.unescape(response.content.decode())
    assert '<html lang="fr">' in page
    assert f"<h1>{title}</h1>" in page
    assert 'class="bandeau"' in page and "Revenir à l'accueil" in page
    assert SECRET not in page and "Traceback" not in page and "sqlite3" not in page
    for word in ENGLISH:
        assert word not in page, word


def test_csrf_failure_page_is_french(world, error_urls) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/connexion/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    page = html.unescape(response.content.decode())
    assert "<h1>Formulaire expiré</h1>" in page and "CSRF" not in page


def _menu_links(page: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Navigation principale">(.*?)</nav>', page, re.S)
    assert nav, "menu absent"
    return re.findall(r'href="([^"]+)"', nav.group(1))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("admin", {"/", "/adherents/", "/facturation/", "/factures/", "/rapports/evolution/"}),
        ("facturation", {"/", "/adherents/", "/facturation/", "/factures/"}),
        ("technicien", {"/", "/adherents/", "/factures/", "/rapports/evolution/"}),
        ("referent_a", {"/adherents/", "/factures/"}),
        ("facturation_gn", {"/", "/facturation/"}),
    ],
)
def test_every_menu_link_answers_for_the_role(world, name, expected) -> None:
    client = login(world["users"][name])
    page = client.get("/", follow=True).content.decode()
    links = _menu_links(page)
    assert expected <= set(links), links
    if name == "technicien":
        assert "/facturation/" not in links, "un technicien ne facture pas"
    if name == "referent_a":
        assert not {"/", "/facturation/", "/rapports/evolution/", "/indices/"} & set(links)
    for link in links:
        assert client.get(link).status_code == 200, (name, link)


# -- Connexion : blocage après des échecs répétés (django-axes) ----------------------------

PASSWORD = "mot-de-passe-test"


def _attempt(client: Client, username: str, password: str):
    return client.post("/connexion/", {"username": username, "password": password})


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_five_failures_lock_the_account_even_with_the_right_password(world, settings) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5
    client = Client()
    for _ in range(limit):
        response = _attempt(client, "facturation", "faux")
        assert response.status_code in (200, 429)
        assert not _logged_in(client)
    response = _attempt(client, "facturation", PASSWORD)
    assert response.status_code == 429
    assert not _logged_in(client)
    page = html.unescape(response.content.decode())
    assert "Trop de tentatives de connexion échouées" in page
    assert "pendant 15 minutes" in page
    assert '<html lang="fr">' in page
    # Le blocage vaut pour le couple identifiant + adresse : une autre adresse passe.
    elsewhere = Client(REMOTE_ADDR="10.1.2.3")
    assert _attempt(elsewhere, "facturation", PASSWORD).status_code == 302
    assert _logged_in(elsewhere)
    # Un autre identifiant depuis l'adresse bloquée aussi.
    other = Client()
    assert _attempt(other, "technicien", PASSWORD).status_code == 302


def test_a_success_resets_the_failure_count(world, settings) -> None:
    client = Client()
    for _ in range(2):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert _attempt(client, "admin", "faux").status_code == 200
        assert _attempt(client, "admin", PASSWORD).status_code == 302
        assert _logged_in(client)
        client.logout()
