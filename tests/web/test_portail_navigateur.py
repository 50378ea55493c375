"""Portail des membres dans un vrai Chromium (paquet Debian, piloté par Playwright) :
un visiteur trouve Saint-Émilion, compare les offres de Gironde Numérique et télécharge un
devis dont le total est celui d'`opsn simuler` ; la même chose à 390 px de large sans
défilement horizontal ; un référent dépose une demande que le personnel accepte en avenant ;
axe-core (npm) dans chaque page : aucune violation grave ni critique ; focus visible.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsn.cli import app
from opsn.gestion.models import ChangeRequest, ChangeRequestStatus, Operator, Quote

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
PASSWORD = "mot-de-passe-test"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

pytestmark = [pytest.mark.navigateur, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium absent : .ci/run doit installer le paquet Debian chromium.")
        pytest.skip("Chromium absent (apt-get install chromium)")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def new_page(browser, viewport=DESKTOP):
    context = browser.new_context(locale="fr-FR", viewport=viewport, accept_downloads=True)
    return context.new_page()


@pytest.fixture
def portail(world):
    from django.core.cache import cache

    from opsn.portail.selectors import reset_caches

    reset_caches()
    cache.clear()
    for code, deps in (("cdg82", ["82"]), ("gironde-numerique", ["33"]), ("cdg47", ["47"])):
        Operator.objects.filter(code=code).update(territory=deps)
    yield world
    cache.clear()


@pytest.fixture(scope="session")
def axe_source(pytestconfig, tmp_path_factory) -> str:
    """axe-core du registre npm (`npm pack axe-core@4`), gardé dans le cache de pytest."""
    if not shutil.which("npm"):
        pytest.skip("npm absent : axe-core (paquet npm) ne peut pas être installé")
    cache = getattr(pytestconfig, "cache", None)
    folder = cache.mkdir("axe-core") if cache is not None else tmp_path_factory.mktemp("axe")
    script = Path(folder) / "axe.min.js"
    if not script.exists():
        packed = tmp_path_factory.mktemp("axe-pack")
        subprocess.run(
            ["npm", "pack", "axe-core@4", "--pack-destination", str(packed), "--silent"],
            check=True,
            timeout=300,
            capture_output=True,
        )
        archive = sorted(packed.glob("axe-core-*.tgz"))[-1]
        with tarfile.open(archive) as tar:
            member = tar.extractfile("package/axe.min.js")
            assert member is not None
            # écrit à côté puis renommé : un autre processus de la suite (pytest-xdist) qui
            # le lirait au même moment ne voit jamais un fichier à moitié écrit
            partial = script.with_name(f"axe.min.js.{os.getpid()}")
            partial.write_bytes(member.read())
            os.replace(partial, script)
    return script.read_text(encoding="utf-8")


def serious_violations(page, axe_source: str) -> list[dict]:
    page.add_script_tag(content=axe_source)
    found = page.evaluate(
        """async () => {
            const r = await axe.run(document);
            return {passes: r.passes.length,
                    violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                        targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))};
        }"""
    )
    assert found["passes"] > 10  # axe a bien examiné la page
    return [v for v in found["violations"] if v["impact"] in ("serious", "critical")]


def no_horizontal_scroll(page) -> None:
    page.wait_for_load_state("load")  # feuilles de style appliquées
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    wide = page.evaluate(
        """(w) => Array.from(document.querySelectorAll('body *'))
            .filter(e => e.getBoundingClientRect().right > w + 0.5)
            .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' +
                Math.round(e.getBoundingClientRect().right))""",
        viewport,
    )
    assert width <= viewport, f"{page.url} : {width} px de large pour {viewport} px : {wide}"


def opsn_simuler_total(tmp_path: Path, year: int, code: str, services: list[dict]) -> str:
    """Total TTC sur trois ans par `opsn simuler` : trois adhérents identiques, entrés 0, 1
    et 2 ans plus tôt, facturés la même année (1re année, 2e, 3e aux tarifs de l'année)."""
    members = [
        {
            "id": f"annee-{rank + 1}",
            "insee": code,
            "convention": {"signature": f"{year - rank}-01-01"},
            "abonnements": services,
        }
        for rank in range(3)
    ]
    path = tmp_path / "scenario.yaml"
    path.write_text(
        json.dumps({"catalogue": "gironde-numerique", "annee": year, "membres": members}),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["simuler", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["total_ttc"]


def euros(text: str) -> str:
    from opsn.core.money import fmt_fr

    return fmt_fr(Decimal(text))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["bureau", "390px"])
def test_visitor_compares_gironde_offers_and_downloads_the_quote(
    portail, live_server, browser, tmp_path, viewport, axe_source
) -> None:
    page = new_page(browser, viewport)
    page.goto(f"{live_server.url}/simulateur/")
    assert serious_violations(page, axe_source) == []
    field = page.get_by_label("Nom de la commune ou de l'EPCI, code INSEE ou SIREN")
    field.press_sequentially("saint emilion", delay=20)
    suggestion = page.locator("#suggestions").get_by_role("link", name="Saint-Émilion")
    suggestion.wait_for()
    assert "proposition" in page.locator("#suggestions-etat").inner_text()
    suggestion.click()
    page.get_by_text("Saint-Émilion (33394)").wait_for()
    page.get_by_role("link", name="Gironde Numérique (syndicat mixte)").click()
    page.get_by_role("heading", name="Les services de Gironde Numérique").wait_for()
    nas = page.locator('[data-service="nas_50go"]')
    assert "1 800,00 €" in nas.inner_text()  # 1re année : frais d'accès TTC
    nas.get_by_label("Choisir ce service").check()
    certificate = page.locator('[data-service="certificat_rgs"]')
    certificate.get_by_label("Certificats (certificat)").fill("2")
    certificate.get_by_label("Choisir ce service").check()
    # le total suit les choix (API du simulateur) sans recharger la page
    page.wait_for_function(
        "document.getElementById('selection-total') && "
        "document.getElementById('selection-total').textContent.includes('2 940,00')"
    )
    no_horizontal_scroll(page)
    assert serious_violations(page, axe_source) == []
    page.get_by_role("button", name="Établir le devis (PDF)").click()
    page.get_by_role("heading", name="Devis n°").wait_for()
    quote = Quote.objects.get()
    assert quote.reference in page.url
    no_horizontal_scroll(page)
    assert serious_violations(page, axe_source) == []
    with page.expect_download() as info:
        page.get_by_role("link", name="Télécharger le devis (PDF)").click()
    pdf = tmp_path / "devis.pdf"
    info.value.save_as(pdf)
    text = " ".join(
        subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout.split()
    )
    expected = opsn_simuler_total(
        tmp_path,
        quote.year,
        "33394",
        [{"service": "nas_50go"}, {"service": "certificat_rgs", "quantite": 2}],
    )
    assert expected == quote.result["total"]["total_ttc"] == "2940.00"
    assert f"Total TTC {euros(expected)}".replace("\u202f", " ") in text
    assert quote.reference in text
    # être contacté : un prospect pour Gironde Numérique
    page.get_by_label("Votre nom").fill("Mme Martin")
    page.get_by_label("Votre adresse électronique").fill("martin@saint-emilion.fr")
    page.get_by_role("button", name="Demander à être contacté").click()
    page.get_by_text("Votre demande a été transmise").wait_for()
    assert quote.leads.get().operator.code == "gironde-numerique"


def test_page_works_without_javascript_and_focus_is_visible(portail, live_server, browser):
    context = browser.new_context(locale="fr-FR", viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/simulateur/")
    page.get_by_label("Nom de la commune ou de l'EPCI, code INSEE ou SIREN").fill("saint emilion")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("link", name="Saint-Émilion").click()
    page.get_by_role("link", name="Gironde Numérique (syndicat mixte)").click()
    page.locator('[data-service="nas_50go"]').get_by_label("Choisir ce service").check()
    page.get_by_role("button", name="Calculer ma sélection").click()
    assert "2 520,00 €" in page.locator("#selection-total").inner_text()  # 1 800 + 2 × 360
    no_horizontal_scroll(page)
    # focus au clavier : contour visible, contrasté (≥ 3:1) sur le fond blanc
    page.goto(f"{live_server.url}/simulateur/")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    for _ in range(6):
        if page.evaluate("document.activeElement.id") == "q":
            break
        page.keyboard.press("Tab")
    style = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
            return {id: document.activeElement.id, style: s.outlineStyle,
                    width: parseFloat(s.outlineWidth), color: s.outlineColor}; }"""
    )
    assert style["id"] == "q" and style["style"] != "none" and style["width"] >= 2
    rgb = [int(x) for x in style["color"].strip("rgba()").split(",")[:3]]

    def luminance(c: list[int]) -> float:
        def channel(v: int) -> float:
            v = v / 255
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(v) for v in c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    assert (1.05) / (luminance(rgb) + 0.05) >= 3, style
    context.close()


def login(page, url: str, username: str) -> None:
    page.goto(f"{url}/connexion/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()


def test_referent_request_is_accepted_into_an_amendment(
    portail, live_server, browser, axe_source
) -> None:
    world = portail
    referent = new_page(browser, PHONE)
    login(referent, live_server.url, "referent_a")
    referent.get_by_role("heading", name="Commune A").wait_for()
    assert referent.url.endswith("/portail/")
    assert "Commune B" not in referent.content()
    no_horizontal_scroll(referent)
    assert serious_violations(referent, axe_source) == []
    referent.get_by_role("link", name="Demander une modification").first.click()
    referent.get_by_label("Ajouter un service").check()
    referent.get_by_label("Service à ajouter").select_option(
        label=("Dématérialisation des procédures (Actes, flux comptables, marchés publics)")
    )
    referent.get_by_label("Utilisateurs des plateformes (utilisateur)").fill("3")
    referent.get_by_role("button", name="Estimer").click()
    referent.get_by_role("heading", name="Estimation").wait_for()
    assert "la première année" in referent.locator("#estimation").inner_text()
    no_horizontal_scroll(referent)
    assert serious_violations(referent, axe_source) == []
    referent.get_by_role("button", name="Envoyer la demande").click()
    referent.get_by_text("Demande transmise à l'opérateur.").wait_for()
    item = ChangeRequest.objects.get()

    staff = new_page(browser)
    login(staff, live_server.url, "facturation")
    staff.goto(f"{live_server.url}/adherents/{world['a'].pk}/")
    staff.get_by_role("link", name="Accepter (avenant pré-rempli)").click()
    staff.get_by_text("Avenant pré-rempli d'après la demande du référent").wait_for()
    assert staff.get_by_label("Service", exact=True).input_value() == "dematerialisation"
    staff.get_by_label("Date d'effet").fill("2021-01-01")
    staff.get_by_role("button", name="Enregistrer l'avenant").click()
    staff.get_by_text("Demande du référent acceptée").wait_for()
    item.refresh_from_db()
    assert item.status == ChangeRequestStatus.ACCEPTED

    referent.goto(f"{live_server.url}/portail/")
    avis = referent.locator("#avis").locator("xpath=..")
    assert "est acceptée : avenant n° 1" in avis.inner_text()
    assert "Acceptée (avenant enregistré)" in referent.content()
    assert (
        "Dématérialisation des procédures"
        in referent.locator("#convention").locator("xpath=..").inner_text()
    )
    no_horizontal_scroll(referent)


def test_every_public_and_referent_page_reflows_at_320_px(
    portail, live_server, browser, axe_source
) -> None:
    """WCAG 1.4.10 : à 320 px de large, aucune page publique ni aucune page que le référent
    ouvre ne défile horizontalement ; axe-core n'y trouve rien de grave."""
    import datetime as dt

    from opsn.facturation.billing import billing_run
    from opsn.gestion.permissions import SYSTEM

    from .test_portail import with_identities

    world = portail
    with_identities(world)
    billing_run(actor=SYSTEM, operator=world["cdg82"], year=2020, issued_on=dt.date(2021, 1, 15))
    invoice = world["a"].invoices.get()
    page = new_page(browser, {"width": 320, "height": 700})
    public = [
        "/simulateur/?code=33394&operateur=gironde-numerique&choix=nas_50go",
        "/simulateur/?type=etablissement_public&agents=25&operateur=cdg47",
        "/tarifs/?operateur=cdg47",
        "/api/simulateur/",
        "/devis/",
        "/connexion/",
    ]
    referent = [
        "/portail/",
        "/portail/demande/",
        f"/adherents/{world['a'].pk}/",
        f"/conventions/{world['conv_a'].pk}/",
        "/adherents/",
        "/factures/?annee=2020",
        f"/factures/{invoice.pk}/",
        "/compte/mot-de-passe/",
    ]
    for path in public:
        page.goto(live_server.url + path)
        no_horizontal_scroll(page)
        assert serious_violations(page, axe_source) == [], path
    login(page, live_server.url, "referent_a")
    for path in referent:
        page.goto(live_server.url + path)
        no_horizontal_scroll(page)
        assert serious_violations(page, axe_source) == [], path
