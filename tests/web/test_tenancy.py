"""Cloisonnement des opérateurs (issue 9) : chaque compte d'un opérateur demande chaque objet
de l'autre, par chaque adresse de l'application, en GET et en POST.

Les adresses viennent du résolveur d'URL (parcouru récursivement, administration Django
comprise) : une nouvelle page est couverte sans toucher à ce test. Chaque paramètre
d'adresse reçoit les identifiants des objets de l'autre opérateur : le modèle se déduit du
nom du paramètre (`member_id` → adhérent, `membership_id` → habilitation, `task_id` → tâche
de fond…) ou, dans l'administration, du chemin (`gestion/operator/`) ; un paramètre texte
(`what`, `kind`…) reçoit chaque valeur que sa vue compare (lue dans le source de la vue).

Pour chaque compte (administrateur, facturation, technicien de deux opérateurs, et leurs
référents) :
- aucune réponse ne contient un texte de l'autre opérateur (noms et SIREN de ses adhérents,
  références de ses conventions, numéros de ses pièces, ses comptes, sa raison sociale) ;
  pour un référent, ni ceux des autres adhérents de son propre opérateur ;
  les pages publiques (simulateur, devis, API : vues marquées `opsn_public`) montrent
  l'identité publiée des opérateurs (raison sociale, SIREN), jamais le reste ;
- une adresse qui désigne un objet de l'autre opérateur répond 302, 400, 403, 404 ou 405 ;
- aucune ligne de l'autre opérateur ne change (copie complète avant et après chaque
  adresse), ni les données de la plateforme (indices, administrateurs) ; un référent
  n'écrit rien du tout.

Base : SQLite ou PostgreSQL (DATABASE_URL), requêtes en autocommit comme en production.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.regex_helper import normalize

from opsn.gestion.models import (
    ChangeRequest,
    Convention,
    IndexValue,
    Member,
    Operator,
    PlatformAdmin,
    StaffMembership,
)

from .deux_operateurs import Tenant, build_two_tenants

pytestmark = pytest.mark.django_db(transaction=True)

User = get_user_model()
ALLOWED_FOREIGN = {302, 400, 403, 404, 405}
SKIPPED_NAMES = {"deconnexion", "admin:logout"}  # déconnecteraient le compte du parcours
MAX_IDS = 12  # objets essayés par paramètre (tous, dans ce petit jeu, sauf le journal)
GLOBAL_PROTECTED = (IndexValue, PlatformAdmin)
ROLES = ("admin", "facturation", "technicien", "referent")


# -- parcours du résolveur --------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    template: str  # "adherents/%(member_id)s/"
    params: tuple[str, ...]
    converters: dict[str, Any]
    view: Any


def routes() -> list[Route]:
    found: list[Route] = []

    def walk(resolver: URLResolver, prefix: str, converters: dict, namespace: str) -> None:
        for p in resolver.url_patterns:
            regex = p.pattern.regex.pattern
            regex = regex[1:] if regex.startswith("^") else regex
            conv = {**converters, **getattr(p.pattern, "converters", {})}
            if isinstance(p, URLResolver):
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                walk(p, prefix + regex, conv, ns)
            elif isinstance(p, URLPattern):
                template, params = normalize(prefix + regex)[0]
                found.append(
                    Route(f"{namespace}{p.name or ''}", template, tuple(params), conv, p.callback)
                )

    walk(get_resolver(), "", {}, "")
    return found


def _literals(view: Any, name: str) -> list[str]:
    """Valeurs qu'une vue compare à `name` (`name == "pdf"`, `name in ("a", "b")`)."""
    try:
        source = inspect.getsource(inspect.unwrap(view))
    except (OSError, TypeError):
        return []
    values = re.findall(rf'\b{name}\s*==\s*["\'](\w+)["\']', source)
    values += re.findall(rf'["\'](\w+)["\']\s*==\s*{name}\b', source)
    for group in re.findall(rf"\b{name}\s+in\s+[\(\[\{{]([^)\]}}]*)", source):
        values += re.findall(r'["\'](\w+)["\']', group)
    return sorted(set(values))


def _post_variants(view: Any, params: tuple[str, ...]) -> list[dict[str, str]]:
    """Un corps par valeur d'un champ de formulaire que la vue compare (`action == "role"`)."""
    try:
        source = inspect.getsource(inspect.unwrap(view))
    except (OSError, TypeError):
        return [{}]
    variants: list[dict[str, str]] = [{}]
    for var, value in sorted(set(re.findall(r'\b(\w+)\s*==\s*["\'](\w+)["\']', source))):
        if var not in params and var not in {"method", "status", "role", "kind", "vendor"}:
            variants.append({var: value})
    return variants


# -- ce qui appartient à qui -------------------------------------------------------------------


def _path_to(model: type[models.Model], target: type[models.Model]) -> str | None:
    """Chemin de clés étrangères le plus court de `model` à `target` (« invoice__operator »)."""
    queue: deque[tuple[type[models.Model], str]] = deque([(model, "")])
    seen = {model}
    while queue:
        current, path = queue.popleft()
        if current is target:
            return path
        for f in current._meta.concrete_fields:
            related = f.related_model if f.is_relation else None
            if related is None or related is User or related in seen:
                continue
            if f.many_to_one or f.one_to_one:
                seen.add(related)
                queue.append((related, f"{path}__{f.name}" if path else f.name))
    return None


def _owned(model: type[models.Model], operator: Operator) -> models.QuerySet | None:
    if model is User:
        return User.objects.filter(memberships__operator=operator).distinct()
    path = _path_to(model, Operator)
    if path is None:
        return None
    return model._base_manager.filter(**{path or "pk": operator.pk})


def _tenant_models() -> list[type[models.Model]]:
    return [m for m in apps.get_models() if m is User or _path_to(m, Operator) is not None]


def _foreign(model: type[models.Model], viewer: Viewer) -> models.QuerySet | None:
    """Objets de `model` que `viewer` ne doit pas atteindre."""
    qs = _owned(model, viewer.other.operator)
    if qs is None:
        return None
    if viewer.referent_of is not None:
        own = _owned(model, viewer.tenant.operator)
        member_path = _path_to(model, Member)
        if own is not None and member_path is not None:
            qs = qs | own.exclude(**{member_path or "pk": viewer.referent_of.pk})
        elif own is not None:
            qs = qs | own
    return qs


def _queries(operators: list[Operator]) -> list[tuple[str, str, list[str], tuple]]:
    """Requêtes de la copie complète : lignes des opérateurs donnés, toutes colonnes, et
    données de la plateforme. Compilées une fois par parcours (la copie est refaite après
    chaque adresse)."""
    sets: list[tuple[str, models.QuerySet]] = []
    for model in _tenant_models():
        sets += [(model._meta.label, _owned(model, operator)) for operator in operators]
    sets += [(model._meta.label, model._base_manager.all()) for model in GLOBAL_PROTECTED]
    sets.append(("plateforme.users", User.objects.filter(platform_admin__isnull=False)))
    queries = []
    for label, qs in sets:
        names = [f.attname for f in qs.model._meta.concrete_fields]
        sql, params = qs.order_by("pk").values_list(*names).query.sql_with_params()
        queries.append((label, sql, names, params))
    return queries


def dump(queries: list[tuple[str, str, list[str], tuple]]) -> dict[str, list[tuple]]:
    """Copie complète des lignes que désignent `queries` (voir `_queries`)."""
    result: dict[str, list[tuple]] = {}
    with connection.cursor() as cursor:
        for label, sql, names, params in queries:
            cursor.execute(sql, params)
            rows = result.setdefault(label, [])
            for values in cursor.fetchall():
                row = []
                for name, value in zip(names, values, strict=True):
                    if isinstance(value, (bytes, memoryview)):
                        value = hashlib.sha256(bytes(value)).hexdigest()
                    row.append((name, repr(value)))
                rows.append(tuple(row))
    return result


def _diff(before: dict, after: dict) -> list[str]:
    changes = []
    for label in sorted(set(before) | set(after)):
        old, new = set(before.get(label, [])), set(after.get(label, []))
        if old != new:
            changes.append(
                f"{label} : {len(old - new)} ligne(s) changée(s) ou supprimée(s), "
                f"{len(new - old)} nouvelle(s)"
            )
    return changes


# -- valeurs des paramètres ----------------------------------------------------------------------


def _model_for(param: str, route: Route) -> type[models.Model] | None:
    stem = param.removesuffix("_id")
    candidates = [m for m in apps.get_models() if m._meta.model_name == stem.replace("_", "")]
    candidates += [
        m
        for m in apps.get_models()
        if m._meta.model_name.endswith(stem.replace("_", "")) and m not in candidates
    ]
    if candidates:
        return candidates[0]
    match = re.search(r"(\w+)/(\w+)/%\(" + param, route.template)  # admin/<app>/<modèle>/
    if match:
        try:
            return apps.get_model(match.group(1), match.group(2))
        except LookupError:
            return None
    return None


def _sample(values: list[str]) -> list[str]:
    if len(values) <= MAX_IDS:
        return values
    step = len(values) / MAX_IDS
    return [values[int(i * step)] for i in range(MAX_IDS)]


def _values(param: str, route: Route, viewer: Viewer) -> list[str]:
    converter = type(route.converters.get(param)).__name__
    model = _model_for(param, route)
    if model is None:
        if param == "app_label":
            return ["gestion", "auth"]
        literals = _literals(route.view, param)
        if literals:
            return literals
        # identifiant d'un modèle inconnu : un objet de l'autre opérateur de chaque sorte
        values = {"x"} if converter != "IntConverter" else set()
        for m in _tenant_models():
            qs = _foreign(m, viewer)
            first = qs.order_by("pk").first() if qs is not None else None
            if first is not None:
                values.add(str(first.pk))
        return sorted(values)
    if model._meta.label == "contenttypes.ContentType":
        from django.contrib.contenttypes.models import ContentType

        return [str(ContentType.objects.get_for_model(m).pk) for m in (Member, Convention)]
    qs = _foreign(model, viewer)
    if qs is None:  # donnée de la plateforme : quelques lignes
        qs = model._base_manager.all()
    field = "pk"
    if converter == "UUIDConverter":
        field = next(
            f.attname for f in model._meta.concrete_fields if isinstance(f, models.UUIDField)
        )
    values = [str(v) for v in qs.order_by("pk").values_list(field, flat=True)]
    assert values, (
        f"{route.name} : aucun objet {model._meta.label} de l'autre opérateur dans le jeu de "
        "test ; ajoutez-en un à tests/web/deux_operateurs.py"
    )
    return _sample(values)


def requests_for(route: Route, viewer: Viewer) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(méthode, adresse, corps) de chaque requête essayée pour cette adresse."""
    other = viewer.other
    foreign_member = other.members()[0]
    base_post = {
        "operateur": other.operator.code,
        "annee": str(other.years[-1]),
        "adherent": str(foreign_member.pk),
        "convention": str(Convention.objects.filter(member=foreign_member).first().pk),
        "cloturer": str(ChangeRequest.objects.filter(member=foreign_member).first().pk),
        "habilitation": str(StaffMembership.objects.filter(operator=other.operator).first().pk),
        "role": "admin",
        "identifiant": "intrus",
        "identifiant_admin": "intrus-admin",
        "code": "intrus",
        "raison_sociale": "Intrus",
        "mois": "2021-11",
        "valeur": "400",
        "serie": "ancienne",
        "source": "intrusion",
        "motif": "intrusion",
        "message": "intrusion",
        "date": "2021-05-04",
        "date_effet": "2021-06-01",
        "jours": "1",
        "quantite": "999999",
        "compteur": "donnees_go",
        "objet": "intrusion",
    }
    if not route.params:
        yield "GET", "/" + route.template, {}
        query = {
            "operateur": other.operator.code,
            "annee": str(other.years[-1]),
            "q": "ADHERENT",  # nom commun aux adhérents des deux opérateurs
            "adherent": str(foreign_member.pk),
        }
        yield "GET", "/" + route.template + "?" + urlencode(query), {}
        for variant in _post_variants(route.view, ()):
            yield "POST", "/" + route.template, {**base_post, **variant}
        return
    choices = [_values(p, route, viewer) for p in route.params]
    for combo in itertools.product(*choices):
        url = "/" + route.template % dict(zip(route.params, combo, strict=True))
        yield "GET", url, {}
        for variant in _post_variants(route.view, route.params):
            yield "POST", url, {**base_post, **variant}


# -- comptes qui parcourent ------------------------------------------------------------------------


@dataclass
class Viewer:
    label: str
    user: Any
    tenant: Tenant
    other: Tenant
    referent_of: Member | None = None

    def secrets(self) -> set[str]:
        hidden = self.other.secrets()
        if self.referent_of is not None:
            hidden |= self.tenant.secrets(except_member=self.referent_of)
        return hidden

    def public_identity(self) -> set[str]:
        """Ce qu'une page publique montre des opérateurs : leur identité publiée."""
        return {t.operator.name for t in (self.tenant, self.other)} | {
            t.operator.siren for t in (self.tenant, self.other) if t.operator.siren
        }

    def watched(self) -> list[Operator]:
        if self.referent_of is not None:
            return [self.other.operator, self.tenant.operator]
        return [self.other.operator]


def _body(response: Any) -> str:
    if getattr(response, "streaming", False):
        data = b"".join(response.streaming_content)
    else:
        data = response.content
    import html

    return html.unescape(data.decode("utf-8", errors="replace"))


def _walk(viewer: Viewer, all_routes: list[Route]) -> tuple[list[str], int]:
    client = Client()
    client.force_login(viewer.user)
    hidden = viewer.secrets()
    problems: list[str] = []
    count = 0
    # état avant chaque adresse : celui relevé après la précédente (rien d'autre n'écrit)
    queries = _queries(viewer.watched())
    before = dump(queries)
    for route in all_routes:
        if route.name in SKIPPED_NAMES:
            continue
        shown = (
            hidden - viewer.public_identity()
            if getattr(route.view, "opsn_public", False)
            else hidden
        )
        for method, url, data in requests_for(route, viewer):
            count += 1
            response = client.get(url) if method == "GET" else client.post(url, data)
            status = response.status_code
            where = f"{viewer.label} {method} {url}"
            if status >= 500:
                problems.append(f"{where} : {status}")
            elif route.params and status not in ALLOWED_FOREIGN:
                problems.append(f"{where} : {status} pour un objet de l'autre opérateur")
            body = _body(response) + response.get("Location", "")
            leaked = sorted(s for s in shown if s in body)
            if leaked:
                problems.append(f"{where} : révèle {leaked[:5]}")
        after = dump(queries)
        changes = _diff(before, after)
        before = after
        if changes:
            problems.append(f"{viewer.label} /{route.template} : écritures {changes}")
    assert "_auth_user_id" in client.session, f"{viewer.label} : déconnecté pendant le parcours"
    return problems, count


@pytest.fixture
def two_tenants(transactional_db):
    return build_two_tenants()


def _viewers(a: Tenant, b: Tenant) -> list[Viewer]:
    viewers = []
    for tenant, other in ((a, b), (b, a)):
        for role in ROLES:
            viewers.append(
                Viewer(
                    f"{tenant.tag}/{role}",
                    tenant.users[role],
                    tenant,
                    other,
                    tenant.referent_member if role == "referent" else None,
                )
            )
    return viewers


# un test par compte : les processus de la suite (pytest-xdist) se partagent le parcours
VIEWERS = [f"{tag}/{role}" for tag in "AB" for role in ROLES]


@pytest.mark.parametrize("who", VIEWERS)
def test_no_account_of_one_operator_reads_or_writes_the_other(two_tenants, who: str) -> None:
    a, b = two_tenants
    all_routes = routes()
    names = {r.name for r in all_routes}
    assert {"adherent", "facture", "equipe-habilitation", "admin:index"} <= names
    (viewer,) = [v for v in _viewers(a, b) if v.label == who]
    problems, total = _walk(viewer, all_routes)
    assert total > 150, total
    assert not problems, f"{len(problems)} problème(s) sur {total} requêtes :\n" + "\n".join(
        problems[:60]
    )


def test_operator_accounts_are_neither_superusers_nor_staff(two_tenants) -> None:
    operator_users = User.objects.filter(memberships__isnull=False)
    assert operator_users.exists()
    assert not operator_users.filter(is_superuser=True).exists()
    assert not operator_users.filter(is_staff=True).exists()


def test_django_admin_is_for_the_platform_admin_only(two_tenants) -> None:
    a, b = two_tenants
    for tenant in (a, b):
        for role, user in tenant.users.items():
            client = Client()
            client.force_login(user)
            for url in ("/admin/", "/admin/gestion/operator/", "/admin/gestion/indexvalue/"):
                response = client.get(url)
                assert response.status_code == 302, (role, url)
                assert response["Location"].startswith("/admin/login/")
            # ni par le formulaire de connexion de l'administration
            anonymous = Client()
            login = anonymous.post(
                "/admin/login/?next=/admin/",
                {"username": user.username, "password": "mot-de-passe-test"},
            )
            assert login.status_code == 200, role
            assert "_auth_user_id" not in anonymous.session
    password = "mot-de-passe-test"
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "plateforme", "password": password}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    index = client.get("/admin/")
    assert index.status_code == 200
    page = index.content.decode()
    assert "/admin/gestion/operator/" in page and "/admin/gestion/indexvalue/" in page
    # les données des opérateurs ne sont pas dans l'administration
    for path in ("member", "convention", "invoice", "staffmembership", "usagerecord"):
        assert client.get(f"/admin/gestion/{path}/").status_code == 404, path
    assert client.get("/admin/auth/user/").status_code == 404
    operator_page = client.get(f"/admin/gestion/operator/{b.operator.pk}/change/")
    assert operator_page.status_code == 200


def test_the_walk_detects_a_leak_and_a_forbidden_write(two_tenants, monkeypatch) -> None:
    """Le parcours sait échouer : un sélecteur et un service qui oublient les droits sont
    pris en défaut (lecture d'un adhérent de l'autre opérateur, intervention écrite chez
    lui)."""
    from opsn.gestion import selectors, services, views

    monkeypatch.setattr(services, "require", lambda *args, **kwargs: None)
    monkeypatch.setattr(views, "can", lambda *args, **kwargs: True)

    a, b = two_tenants
    monkeypatch.setattr(
        selectors,
        "member_get",
        lambda *, user, member_id: Member.objects.select_related("operator").get(pk=member_id),
    )
    leaky = [r for r in routes() if r.name in {"adherent", "adherent-saisie"}]
    viewer = Viewer("A/technicien", a.users["technicien"], a, b)
    problems, _ = _walk(viewer, leaky)
    assert any("révèle" in p and "B-ADHERENT-" in p for p in problems), problems[:3]
    assert any("écritures" in p for p in problems), problems[:3]
    assert any("200 pour un objet de l'autre opérateur" in p for p in problems)
