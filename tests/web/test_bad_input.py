"""Aucune saisie ne fait tomber le site (issue 9, « Every input has a domain »).

Pour chaque rôle (anonyme, administrateur, facturation, technicien, référent, facturation
d'un autre opérateur, administrateur de la plateforme), le test parcourt le site comme un
navigateur : il part du tableau de bord (et de l'administration pour la plateforme), suit
chaque lien interne et relève chaque `<form>` des pages (analyse `html.parser`). Les
formulaires ne sont donc pas listés à la main : un nouveau formulaire est essayé sans
toucher au test, et le test vérifie que le parcours atteint chaque adresse du résolveur.

Hypothesis soumet ensuite des valeurs invalides (nombres démesurés, négatifs, `1e400`,
`NaN`, vide, textes très longs, unicode, caractère NUL, 30 février, chaînes « SQL »…) à
chaque formulaire et à chaque paramètre de requête que les vues lisent : aucune réponse
5xx. Puis chaque page relevée est redemandée par chaque rôle : aucune réponse 5xx (une
valeur enregistrée ne casse pas une page plus tard).

Base : SQLite ou PostgreSQL (DATABASE_URL), en autocommit comme en production.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsn.facturation.billing import billing_run
from opsn.gestion.identites_demo import fill_member, fill_operator
from opsn.gestion.models import (
    ChangeRequest,
    Intervention,
    Lead,
    PlatformAdmin,
    Quote,
    Subscription,
    UsageRecord,
)
from opsn.gestion.permissions import SYSTEM
from opsn.referentiel import Referentiel

from .travailleur import run_tasks

pytestmark = pytest.mark.django_db(transaction=True)

User = get_user_model()
# exemples par formulaire et par page (OPSN_EXEMPLES_SAISIES=50 pour chercher plus loin)
FORM_EXAMPLES = int(os.environ.get("OPSN_EXEMPLES_SAISIES", "12"))
QUERY_EXAMPLES = max(1, FORM_EXAMPLES // 3)
PAGE_BUDGET = 120  # adresses parcourues par rôle
SKIP = re.compile(r"^/(static/|deconnexion/|admin/logout/)|/delete/|/password/")
# Valeurs qui ont fait tomber des pages (issue 9) et leurs cousines.
BAD_VALUES = (
    "",
    " ",
    "0",
    "-0",
    "-1",
    "-5",
    "99999",
    "100001",
    "1e400",
    "-1e400",
    "1e-400",
    "1E+29",
    "1" + "0" * 29,
    "9" * 400,
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "0,3",
    "1,25",
    "1 000 000 000 000",
    "0x1F",
    "１２３",
    "٣",
    "2023-02-30",
    "30/02/2023",
    "0000-00-00",
    "9999-12-31",
    "10000-01-01",
    "2023-13-01",
    "abc",
    "é" * 300,
    "x" * 10_000,
    "😀" * 50,
    "\x00",
    "a\x00b",
    "\u202e",
    "\r\n",
    "' OR '1'='1",
    "'; DROP TABLE gestion_member; --",
    "%",
    "_",
    "\\",
    "<script>alert(1)</script>",
    '=HYPERLINK("http://x")',
    "../../etc/passwd",
)


# -- parcours ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # text, hidden, select, checkbox, radio, textarea, file, submit…
    value: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormSpec:
    page: str
    action: str
    method: str
    fields: tuple[FieldSpec, ...]


class PageParser(HTMLParser):
    """Liens et formulaires d'une page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: dict[str, Any] | None = None
        self._textarea: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value", ""))
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get"), "f": []}
            self.forms.append(self._form)
        elif self._form is None or "name" not in a:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            self._form["f"].append(FieldSpec(a["name"], kind, a.get("value", "")))
        elif tag == "button":
            self._form["f"].append(FieldSpec(a["name"], "submit", a.get("value", "")))
        elif tag == "select":
            self._select = {"name": a["name"], "options": []}
        elif tag == "textarea":
            self._textarea = {"name": a["name"], "text": ""}

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea["text"] += data

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            options = tuple(self._select["options"])
            self._form["f"].append(
                FieldSpec(self._select["name"], "select", options[0] if options else "", options)
            )
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form["f"].append(
                FieldSpec(self._textarea["name"], "textarea", self._textarea["text"])
            )
            self._textarea = None


@dataclass
class Crawl:
    pages: dict[str, int] = field(default_factory=dict)  # adresse → statut
    forms: dict[tuple, FormSpec] = field(default_factory=dict)
    query_keys: set[str] = field(default_factory=set)


def _is_html(response: Any) -> bool:
    return response.get("Content-Type", "").startswith("text/html")


def crawl(client: Client, starts: list[str]) -> Crawl:
    result = Crawl()
    queue = list(starts)
    per_path: dict[str, int] = defaultdict(int)
    while queue and len(result.pages) < PAGE_BUDGET:
        url = queue.pop(0)
        parts = urlsplit(url)
        if url in result.pages or SKIP.search(parts.path):
            continue
        # administration : une adresse par chemin ; ailleurs, trois variantes de requête
        if parts.query and (parts.path.startswith("/admin/") or per_path[parts.path] >= 3):
            continue
        per_path[parts.path] += 1
        response = client.get(url)
        response.close()  # un fichier servi (FileResponse) est refermé
        result.pages[url] = response.status_code
        assert response.status_code < 500, url
        if not _is_html(response) or response.status_code != 200:
            continue
        parser = PageParser()
        parser.feed(response.content.decode())
        for href in parser.links:
            target = urljoin(url, href.split("#")[0])
            target_parts = urlsplit(target)
            if target_parts.netloc or not target_parts.path.startswith("/"):
                continue
            result.query_keys |= {k for k, _ in parse_qsl(target_parts.query)}
            queue.append(
                target_parts.path + (f"?{target_parts.query}" if target_parts.query else "")
            )
        for form in parser.forms:
            action = urljoin(url, form["action"] or url)
            if SKIP.search(urlsplit(action).path):
                continue
            spec = FormSpec(url, action, form["method"].lower(), tuple(form["f"]))
            key = (spec.action, spec.method, tuple(sorted({f.name for f in spec.fields})))
            result.forms.setdefault(key, spec)
            if spec.method == "get":
                result.query_keys |= {f.name for f in spec.fields}
    return result


def resolver_routes() -> dict[str, str]:
    """Nom → gabarit de chaque adresse de l'application (administration exclue : elle est
    parcourue par ses liens)."""
    found: dict[str, str] = {}

    def walk(resolver: URLResolver, prefix: str, namespace: str) -> None:
        for p in resolver.url_patterns:
            if isinstance(p, URLResolver):
                if p.namespace == "admin" or str(p.pattern).startswith("admin/"):
                    continue
                walk(p, prefix + str(p.pattern), namespace)
            elif isinstance(p, URLPattern) and p.name:
                found[f"{namespace}{p.name}"] = prefix + str(p.pattern)

    walk(get_resolver(), "", "")
    return found


def view_query_keys() -> set[str]:
    """Paramètres lus par les vues dans `request.GET` (source des vues du résolveur)."""
    keys: set[str] = set()
    for p in _all_patterns(get_resolver()):
        try:
            source = inspect.getsource(inspect.getmodule(inspect.unwrap(p.callback)))
        except (OSError, TypeError):
            continue
        keys |= set(re.findall(r"request\.GET\.get\(\s*[\"'](\w+)", source))
        keys |= set(re.findall(r"request\.GET\[\s*[\"'](\w+)", source))
    return keys


def _all_patterns(resolver: URLResolver) -> list[URLPattern]:
    result = []
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            result += _all_patterns(p)
        else:
            result.append(p)
    return result


# -- données et comptes ----------------------------------------------------------------------


@pytest.fixture
def site(world) -> dict[str, Any]:
    """Le jeu commun (deux opérateurs), identités complètes, deux années facturées (pour le
    graphique des recettes), une demande de référent, un administrateur de la plateforme."""
    referentiel = Referentiel.charger()
    fill_operator(world["cdg82"])
    for key in ("a", "b"):
        member = world[key]
        member.siren = referentiel.par_code(member.insee).siren
        fill_member(member, referentiel)
    billing_run(actor=SYSTEM, operator=world["cdg82"], year=2020, issued_on=dt.date.today())
    Subscription.objects.create(
        convention=world["conv_a"],
        service_code="dematerialisation",
        started_on=dt.date(2021, 1, 1),
        quantities={"certificats": "1"},
    )
    billing_run(actor=SYSTEM, operator=world["cdg82"], year=2021, issued_on=dt.date.today())
    # des brouillons (formulaire « brouillons ») et des tâches de fond, réussie avec un
    # fichier et en échec (pages de tâche, téléchargement, relance)
    billing_run(
        actor=SYSTEM, operator=world["cdg82"], year=2022, issued_on=dt.date.today(), issue=False
    )
    staff = Client()
    staff.force_login(world["users"]["facturation"])
    staff.post(reverse("titres"), {"annee": "2020", "operateur": "cdg82"})
    staff.post(
        reverse("import-conventions"),
        {"operateur": "cdg82", "fichier": SimpleUploadedFile("faux.csv", b"adherent;x\n1;2\n")},
    )
    # un dépôt à l'aperçu sans erreur (formulaire « Confirmer l'import ») et une tâche
    # d'import en échec (fichier disparu : page d'échec et relance)
    clean = b"adherent;reference;signature;service\n82121;IMP-1;2019-06-15;rgpd_dpd\n"
    deposit = staff.post(
        reverse("import-conventions"),
        {"operateur": "cdg82", "fichier": SimpleUploadedFile("bon.csv", clean)},
    )
    staff.get(deposit["Location"])
    from opsn.gestion.taches import conventions_import_task
    from opsn.plateforme import taches as background

    background.start(
        conventions_import_task,
        kind="import_conventions",
        label="Import des conventions « absent.csv »",
        operator=world["cdg82"],
        user=world["users"]["facturation"],
        action="importer",
        params={"file": "0" * 32 + "/absent.csv"},
    )
    run_tasks()
    ChangeRequest.objects.create(
        member=world["a"], author=world["users"]["referent_a"], message="Deux postes de plus"
    )
    # un relevé d'usage et une intervention (pages de suppression, issue 10)
    UsageRecord.objects.create(member=world["a"], year=2023, counter="donnees_go", quantity=5)
    Intervention.objects.create(
        member=world["a"], day=dt.date(2023, 3, 4), days=Decimal("0.5"), label="Saisie"
    )
    # portail : une demande typée (avenant pré-rempli), un devis public et un prospect
    ChangeRequest.objects.create(
        member=world["a"],
        convention=world["conv_a"],
        author=world["users"]["referent_a"],
        kind="ajout",
        service_code="dematerialisation",
        quantities={"utilisateurs": "2"},
        message="Dématérialisation",
    )
    Client().post(
        reverse("devis-creer"),
        {"code": "82001", "operateur": "cdg82", "choix": "assistance_srb"},
    )
    quote = Quote.objects.get()
    Lead.objects.create(quote=quote, operator=quote.operator, name="Prospect", email="p@x.fr")
    platform = User.objects.create_user("plateforme-test", password="x")
    PlatformAdmin.objects.create(user=platform)
    users = dict(world["users"])
    users["plateforme"] = platform
    clients: dict[str, Client] = {"anonyme": Client(raise_request_exception=True)}
    for role, user in users.items():
        client = Client(raise_request_exception=True)
        client.force_login(user)
        clients[role] = client
    return {"world": world, "clients": clients}


# -- valeurs invalides ------------------------------------------------------------------------

bad_text = st.one_of(
    st.sampled_from(BAD_VALUES),
    st.text(max_size=40),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.dates(min_value=dt.date(1, 1, 1)).map(str),
)


def field_value(spec: FieldSpec) -> st.SearchStrategy[str | None]:
    """La valeur du formulaire (pour aller au-delà du premier champ) ou une valeur invalide,
    ou le champ absent."""
    choices = [st.just(spec.value), bad_text, st.none()]
    if spec.options:
        choices.append(st.sampled_from(spec.options))
    return st.one_of(*choices)


def upload(draw: Any, name: str) -> SimpleUploadedFile:
    filename = draw(st.sampled_from(["conventions.csv", "conventions.xlsx", "x.txt", "sans"]))
    content = draw(
        st.one_of(
            st.binary(max_size=200),
            st.sampled_from(
                [
                    b"adherent;reference;signature;service;quantites\n"
                    b"82001;R-1;2019-02-30;assistance_srb;postes_n1=1e400\n",
                    b"adherent;reference;signature;service;quantites;siret\n"
                    b"82001;R-1;2019-06-01;assistance_srb;postes_n1="
                    + b"9" * 40
                    + b";"
                    + b"1" * 58
                    + b"\n",
                    b"\x00\xff\xfe",
                    b"a;" + b"x" * 200_000 + b"\n",
                ]
            ),
        )
    )
    return SimpleUploadedFile(filename, content)


def _submit(client: Client, form: FormSpec, data: dict[str, Any]) -> Any:
    if form.method == "get":
        return client.get(form.action, {k: v for k, v in data.items() if isinstance(v, str)})
    return client.post(form.action, data)


def _one_per_route(items: list[tuple[str, FormSpec]]) -> list[tuple[str, FormSpec]]:
    """Un formulaire (ou une page) par rôle, adresse du résolveur, méthode et champs : les
    fiches d'audit nos 1 à 30 de l'administration sont le même formulaire."""
    seen: dict[tuple, tuple[str, FormSpec]] = {}
    for role, form in items:
        path = urlsplit(form.action).path
        try:
            route = resolve(path).route
        except Resolver404:
            route = path
        key = (role, route, form.method, tuple(sorted({f.name for f in form.fields})))
        seen.setdefault(key, (role, form))
    return list(seen.values())


def _examples(count: int, body: Any) -> None:
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        body(data)

    run()


def _check(client: Client, role: str, form: FormSpec, values: dict[str, Any]) -> None:
    try:
        response = _submit(client, form, values)
    except Exception as exc:  # la vue a levé : une erreur 500 en production
        raise AssertionError(f"{role} {form.method.upper()} {form.action} {values!r}") from exc
    response.close()
    assert response.status_code < 500, (role, form.method, form.action, values)


def _bad_form(client: Client, role: str, form: FormSpec, data: st.DataObject) -> None:
    values: dict[str, Any] = {}
    for spec in form.fields:
        if spec.kind == "file":
            values[spec.name] = upload(data.draw, spec.name)
            continue
        value = data.draw(field_value(spec), label=spec.name)
        if value is not None:
            values[spec.name] = value
    _check(client, role, form, values)


def _bad_query(client: Client, role: str, url: str, keys: list[str], data: st.DataObject) -> None:
    chosen = data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=4, unique=True))
    values = {k: data.draw(bad_text, label=k) for k in chosen}
    _check(client, role, FormSpec(url, urlsplit(url).path, "get", ()), values)


# -- le test -----------------------------------------------------------------------------------


# comptes du jeu (`site`) : un test par compte, que les processus de la suite se partagent
ROLES = (
    "anonyme",
    "admin",
    "facturation",
    "technicien",
    "referent_a",
    "facturation_gn",
    "plateforme",
)


def _crawl(site: dict[str, Any], role: str) -> Crawl:
    """Toutes les adresses sans paramètre, puis les liens des pages, pour ce compte."""
    starts = ["/", *(f"/{t}" for t in resolver_routes().values() if "<" not in t)]
    starts += [f"/factures/?annee={y}" for y in (2020, 2021)] + ["/facturation/?annee=2022"]
    starts += ["/admin/"] if role == "plateforme" else []
    return crawl(site["clients"][role], starts)


def test_the_crawl_reaches_every_form_and_address(site) -> None:
    """La découverte couvre l'application : chaque adresse du résolveur est atteinte par au
    moins un compte, les formulaires connus sont trouvés, les paramètres de requête relevés."""
    world = site["world"]
    assert set(site["clients"]) == set(ROLES)
    crawls = {role: _crawl(site, role) for role in ROLES}
    forms = [(role, f) for role, c in crawls.items() for f in c.forms.values()]
    assert forms, "aucun formulaire trouvé"
    actions = {urlsplit(f.action).path for _, f in forms}
    a, conv = world["a"].pk, world["conv_a"].pk
    known = {
        f"/adherents/{a}/intervention/",
        f"/adherents/{a}/usage/",
        f"/adherents/{a}/demande/",
        f"/conventions/{conv}/modifier/",
        "/connexion/",
        "/facturation/",
        "/adherents/",
        "/indices/",
        "/equipe/",
    }
    assert known <= actions, f"formulaires non trouvés : {sorted(known - actions)}"
    reached = set()
    for path in actions | {urlsplit(u).path for c in crawls.values() for u in c.pages}:
        try:
            reached.add(resolve(path).view_name)
        except Resolver404:
            continue
    missing = set(resolver_routes()) - reached - {"deconnexion"}
    assert not missing, f"adresses jamais atteintes par le parcours : {sorted(missing)}"
    query_keys = set().union(*(c.query_keys for c in crawls.values())) | view_query_keys()
    assert {"annee", "operateur", "q", "type", "format"} <= query_keys, query_keys


@pytest.mark.parametrize("role", ROLES)
def test_bad_input_never_gives_a_server_error(site, role: str) -> None:
    client = site["clients"][role]
    found = _crawl(site, role)
    # paramètres de requête : ceux que ce compte voit dans ses pages et ceux que les vues lisent
    keys = sorted(found.query_keys | view_query_keys())
    pages = sorted(u for u, status in found.pages.items() if status == 200)
    assert pages, f"{role} : aucune page atteinte"

    # des valeurs invalides dans chaque formulaire et chaque paramètre de requête : une
    # série d'exemples par formulaire (et par page), pour que chacun soit vraiment essayé
    for _, form in _one_per_route([(role, f) for f in found.forms.values()]):
        _examples(FORM_EXAMPLES, lambda data, f=form: _bad_form(client, role, f, data))
    for _, url in _one_per_route([(role, FormSpec(u, u, "get", ())) for u in pages]):
        _examples(
            QUERY_EXAMPLES,
            lambda data, u=url.action: _bad_query(client, role, u, keys, data),
        )

    # ensuite, chaque page relevée répond encore
    for url in pages:
        response = client.get(url)
        response.close()
        assert response.status_code < 500, (role, url)


# -- le test sait échouer -----------------------------------------------------------------------


def fragile_view(request: Any) -> Any:
    """Une vue comme celles de l'issue 9 : `?annee=abc` → ValueError → 500."""
    from django.http import HttpResponse

    return HttpResponse(str(int(request.GET.get("annee", "2024"))))


urlpatterns = [__import__("django.urls").urls.path("fragile/", fragile_view)]


@pytest.mark.urls(__name__)
def test_the_property_test_finds_a_server_error() -> None:
    client = Client(raise_request_exception=True)
    with pytest.raises(AssertionError, match="fragile"):
        _examples(30, lambda data: _bad_query(client, "anonyme", "/fragile/", ["annee"], data))
