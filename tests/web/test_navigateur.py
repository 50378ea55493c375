"""Bout en bout dans un vrai Chromium (paquet Debian) piloté par Playwright : se connecter,
trouver un adhérent, modifier sa convention, voir l'avenant et le journal d'audit."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [pytest.mark.navigateur, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium absent : .ci/run doit installer le paquet Debian chromium.")
        pytest.skip("Chromium absent (apt-get install chromium)")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
        yield context.new_page()
        browser.close()


def test_billing_officer_amends_a_convention(world, live_server, page, tmp_path) -> None:
    page.goto(f"{live_server.url}/")
    assert "/connexion/" in page.url
    page.get_by_label("Identifiant").fill("facturation")
    page.get_by_label("Mot de passe").fill("mot-de-passe-test")
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("heading", name="Tableau de bord").wait_for()

    page.get_by_role("link", name="Adhérents").click()
    page.get_by_label("Nom, code INSEE ou SIREN").fill("Commune A")
    page.get_by_role("button", name="Rechercher").click()
    assert page.get_by_role("status").inner_text() == "1 adhérent."
    page.get_by_role("link", name="Commune A").click()
    page.get_by_role("heading", name="Commune A").wait_for()

    page.get_by_role("link", name="A-2018").click()
    page.get_by_role("link", name="Modifier la convention (avenant)").click()
    page.get_by_label(
        "Postes au niveau 2 (assistance systèmes, réseaux et bureautique) (obligatoire)",
        exact=True,
    ).fill("4")
    page.get_by_label("Date d'effet (obligatoire)").fill("2021-01-01")
    page.get_by_label("Motif de l'avenant").fill("Un poste de plus au secrétariat")
    page.get_by_role("button", name="Enregistrer l'avenant").click()

    page.get_by_text("Avenant n° 1 enregistré.").wait_for()
    row = page.get_by_role("row").filter(has_text="Un poste de plus au secrétariat")
    assert "facturation" in row.inner_text()
    assert "Modification « assistance_srb » – postes_n2 : 3 → 4" in row.inner_text()
    # journal en libellés, pas en codes (issue 11)
    audit = page.get_by_role("row").filter(has_text="Quantités :").first.inner_text()
    assert "facturation" in audit
    assert "Postes au niveau 2 (assistance systèmes, réseaux et bureautique) : 4" in audit
    assert "postes_n2" not in audit and "quantities" not in audit
    page.screenshot(path=str(tmp_path / "avenant.png"), full_page=True)
    assert (tmp_path / "avenant.png").stat().st_size > 10_000


def test_keyboard_user_can_skip_to_content(world, live_server, page) -> None:
    page.goto(f"{live_server.url}/connexion/")
    page.wait_for_load_state("networkidle")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.strip() == "Aller au contenu"
    assert page.evaluate("document.documentElement.lang") == "fr"
