"""API JSON publique du simulateur (django-ninja), en lecture seule : un opérateur peut
intégrer le simulateur à son propre site ; la page `/simulateur/` l'utilise elle-même.

- `GET  /api/simulateur/collectivites?q=` : communes et EPCI (nom sans accents ni tirets,
  code INSEE ou SIREN) ;
- `GET  /api/simulateur/operateurs?code=` : opérateurs, leurs catalogues, et s'ils couvrent
  le territoire de la collectivité ;
- `GET  /api/simulateur/offres` : chaque service chiffré seul pour une collectivité ;
- `POST /api/simulateur/simulation` : le chiffrage d'un choix de services, année par année,
  aux montants d'`opsn simuler` (lignes, explications, totaux) ; n'écrit rien.

Schéma OpenAPI : `/api/simulateur/openapi.json` ; documentation : `/api/simulateur/`.
Débit limité par adresse IP (`opsn.portail.limites`) : au-delà, 429 et `Retry-After`.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.request import RawPostDataException
from django.urls import reverse
from django.utils import timezone
from ninja import NinjaAPI, Query, Schema
from ninja.errors import Throttled
from ninja.errors import ValidationError as NinjaValidationError
from ninja.throttling import BaseThrottle
from pydantic import Field

from opsn.core import bounds
from opsn.core.bounds import BoundError
from opsn.core.errors import OpsnError
from opsn.portail import limites, recherche
from opsn.portail import simulation as sim
from opsn.portail.selectors import PublicOperator, public_offer, referentiel

# -- débit ------------------------------------------------------------------------------------


class IpThrottle(BaseThrottle):
    """Fenêtre fixe par adresse IP (`OPSN_API_DEBIT`), comptée dans le cache de Django."""

    _local = threading.local()

    def allow_request(self, request: HttpRequest) -> bool:
        verdict = limites.hit(request, "api")
        self._local.verdict = verdict
        return verdict.allowed

    def wait(self) -> float | None:
        verdict = getattr(self._local, "verdict", None)
        return None if verdict is None else float(verdict.retry_after)


class _Api(NinjaAPI):
    """Adresses incluses sans espace de noms (`opsn.portail.urls`) : la racine de l'API,
    que le schéma OpenAPI nomme, est la page de documentation."""

    def get_root_path(self, path_params: dict[str, Any]) -> str:
        return reverse("api-simulateur")


api = _Api(
    title="Simulateur opsn",
    version="1",
    description="API publique en lecture seule du simulateur des services numériques des "
    "opérateurs publics (OPSN). Montants en euros, en chaînes à deux décimales ; les chiffres "
    "sont ceux de la commande `opsn simuler`. Débit limité par adresse IP (réponse 429 avec "
    "l'en-tête Retry-After au-delà).",
    urls_namespace="api-simulateur",
    docs_url=None,
    openapi_url="/openapi.json",
    throttle=[IpThrottle()],
)

TYPES_FR = {
    "missing": "champ obligatoire",
    "int_parsing": "nombre entier attendu",
    "int_type": "nombre entier attendu",
    "string_type": "texte attendu",
    "string_too_long": "texte trop long",
    "greater_than_equal": "valeur trop petite",
    "less_than_equal": "valeur trop grande",
    "json_invalid": "JSON invalide",
    "model_attributes_type": "objet JSON attendu",
    "dict_type": "objet attendu",
    "list_type": "liste attendue",
    "literal_error": "valeur non admise",
}


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    verdict = getattr(IpThrottle._local, "verdict", None)
    message = verdict.message if verdict else "Trop de requêtes : réessayez plus tard."
    return api.create_response(request, {"detail": message}, status=429)


@api.exception_handler(NinjaValidationError)
def _invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    problems = []
    for error in exc.errors[:20]:
        where = ".".join(str(x) for x in error.get("loc", ()) if x not in ("query", "body"))
        problems.append(f"{where or 'requête'} : {TYPES_FR.get(error.get('type'), 'invalide')}")
    return api.create_response(
        request, {"detail": "Paramètres invalides : " + " ; ".join(problems)}, status=422
    )


@api.exception_handler(RawPostDataException)
def _not_json(request: HttpRequest, exc: RawPostDataException) -> HttpResponse:
    # corps de formulaire (multipart) déjà lu par un intergiciel : ce n'est pas du JSON
    return api.create_response(
        request, {"detail": "Corps JSON attendu (Content-Type: application/json)."}, status=400
    )


@api.exception_handler(sim.SimulationError)
def _refused(request: HttpRequest, exc: sim.SimulationError) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=400)


# -- schémas ------------------------------------------------------------------------------------


class Erreur(Schema):
    detail: str


class CollectiviteTrouvee(Schema):
    code: str = Field(description="Code INSEE d'une commune, SIREN d'un EPCI.")
    nom: str
    type: str = Field(description="commune ou epci")
    type_libelle: str
    departements: list[str]
    population: int | None = Field(None, description="Population totale.")
    millesime: str


class CatalogueOut(Schema):
    version: str
    libelle: str
    courant: bool


class OperateurOut(Schema):
    code: str
    nom: str
    adresse: str
    departements: list[str]
    couvre: bool | None = Field(
        None, description="Le territoire de l'opérateur couvre la collectivité (si code)."
    )
    catalogues: list[CatalogueOut]


class CollectiviteIn(Schema):
    """Une collectivité du référentiel par son code, ou décrite (type et taille)."""

    code: str | None = Field(None, max_length=20, description="Code INSEE ou SIREN.")
    type: str | None = Field(
        None,
        description="commune, epci, syndicat, ccas, etablissement_public ou budget_annexe "
        "(collectivité décrite, sans code).",
    )
    nature: str | None = Field(None, description="CC, CA, CU ou METRO (EPCI décrit).")
    population: int | None = Field(None, ge=0, le=10_000_000)
    agents: int | None = Field(None, ge=0, le=500_000)
    budget_keur: str | None = Field(None, max_length=20, description="Budget en milliers d'euros.")
    categories: list[str] = Field(default_factory=list, max_length=10)


class ServiceIn(Schema):
    service: str = Field(max_length=80)
    quantites: dict[str, str | int] = Field(default_factory=dict)


class SimulationIn(Schema):
    operateur: str = Field(max_length=60)
    catalogue: str | None = Field(None, max_length=60, description="Version ; la plus récente.")
    annee: int | None = Field(
        None, ge=2000, le=2100, description="Année des tarifs ; par défaut la dernière connue."
    )
    annees: int = Field(sim.DEFAULT_YEARS, ge=1, le=sim.MAX_YEARS)
    collectivite: CollectiviteIn
    services: list[ServiceIn] = Field(default_factory=list, max_length=100)
    usages: dict[str, str | int] = Field(default_factory=dict)
    jours_intervention: str | int | None = None
    offres: bool = Field(False, description="Joindre le chiffrage de chaque service seul.")


class OffresQuery(Schema):
    operateur: str = Field(max_length=60)
    catalogue: str | None = Field(None, max_length=60)
    annee: int | None = Field(None, ge=2000, le=2100)
    code: str | None = Field(None, max_length=20)
    type: str | None = Field(None, max_length=30)
    population: int | None = Field(None, ge=0, le=10_000_000)
    agents: int | None = Field(None, ge=0, le=500_000)
    budget_keur: str | None = Field(None, max_length=20)


# -- aides -----------------------------------------------------------------------------------------


def _number(raw: Any, bound: bounds.Bound, what: str) -> Decimal:
    try:
        return bound.parse(raw)
    except BoundError as exc:
        raise sim.SimulationError(f"{what} : {exc}") from None


def subject_of(data: CollectiviteIn) -> sim.Subject:
    budget = None
    if data.budget_keur not in (None, ""):
        budget = _number(data.budget_keur, bounds.BUDGET_KEUR, "budget")
    if data.code:
        return sim.subject_from_code(
            data.code, referentiel(), agents=data.agents, budget_keur=budget
        )
    if not data.type:
        raise sim.SimulationError("collectivité : donnez son code INSEE ou SIREN, ou son type.")
    return sim.subject_described(
        data.type,
        population=data.population,
        agents=data.agents,
        budget_keur=budget,
        nature=data.nature,
        categories=frozenset(c[:40] for c in data.categories),
    )


def _operator(request: HttpRequest, code: str) -> PublicOperator:
    found = public_offer(request).operator(code)
    if found is None:
        raise sim.SimulationError(f"opérateur « {code[:60]} » inconnu.")
    return found


def _year(request: HttpRequest, catalogue: Any, wanted: int | None) -> sim.TariffYear:
    index = public_offer(request).index
    if wanted is not None:
        return sim.TariffYear(wanted, None)
    return sim.tariff_year(catalogue, index, timezone.localdate().year)


# -- points d'entrée -----------------------------------------------------------------------------


@api.get(
    "/collectivites",
    response={200: list[CollectiviteTrouvee], 429: Erreur},
    url_name="api-simulateur-collectivites",
    summary="Chercher une commune ou un EPCI",
)
def collectivites(
    request: HttpRequest,
    q: str = Query(..., max_length=100, description="Nom, code INSEE ou SIREN."),
    limite: int = Query(10, ge=1, le=50),
) -> list[dict[str, Any]]:
    """Recherche insensible aux accents, à la casse, aux tirets et apostrophes : « saint
    emilion » trouve Saint-Émilion."""
    return search(q, limite)


def search(text: str, limit: int = 10) -> list[dict[str, Any]]:
    ref = referentiel()
    try:
        clean = bounds.check_text(text, 100)
    except BoundError:
        return []
    result = []
    for entity in recherche.search(ref, clean, limit):
        kind = "commune" if hasattr(entity, "insee") else "epci"
        result.append(
            {
                "code": entity.code,
                "nom": entity.nom,
                "type": kind,
                "type_libelle": "Commune" if kind == "commune" else "EPCI",
                "departements": sorted(ref.departements(entity)),
                "population": entity.population_totale,
                "millesime": entity.millesime,
            }
        )
    return result


@api.get(
    "/operateurs",
    response={200: list[OperateurOut], 400: Erreur, 429: Erreur},
    url_name="api-simulateur-operateurs",
    summary="Opérateurs et catalogues",
)
def operateurs(
    request: HttpRequest,
    code: str | None = Query(None, max_length=20, description="Collectivité (INSEE ou SIREN)."),
) -> list[dict[str, Any]]:
    deps = None
    if code:
        deps = sim.subject_from_code(code, referentiel()).departements
    return [operator_dict(o, deps) for o in public_offer(request).operators]


def operator_dict(o: PublicOperator, deps: frozenset[str] | None) -> dict[str, Any]:
    return {
        "code": o.code,
        "nom": o.name,
        "adresse": o.address,
        "departements": sorted(o.departements),
        "couvre": None if deps is None else o.covers(deps),
        "catalogues": [
            {"version": c.version, "libelle": c.label, "courant": c is o.current}
            for c in o.catalogues
        ],
    }


@api.get(
    "/offres",
    response={200: dict[str, Any], 400: Erreur, 429: Erreur},
    url_name="api-simulateur-offres",
    summary="Chaque service chiffré seul",
)
def offres(request: HttpRequest, params: Query[OffresQuery]) -> dict[str, Any]:
    """Pour chaque service du catalogue : inclus de la strate, prix de l'année, coût de la
    1re année, des années suivantes et total sur trois ans (une unité de chaque quantité)."""
    subject = subject_of(
        CollectiviteIn(
            code=params.code,
            type=params.type,
            population=params.population,
            agents=params.agents,
            budget_keur=params.budget_keur,
        )
    )
    operator = _operator(request, params.operateur)
    item = operator.catalogue(params.catalogue)
    ty = _year(request, item.catalogue, params.annee)
    found = sim.offers(item.catalogue, public_offer(request).index, ty.year, subject)
    return {
        "operateur": operator.code,
        "catalogue": item.catalogue.ident,
        "annee_tarifs": ty.year,
        "note_annee": ty.note,
        "collectivite": subject.as_dict(),
        "offres": [sim.offer_dict(o) for o in found],
    }


@api.post(
    "/simulation",
    response={200: dict[str, Any], 400: Erreur, 422: Erreur, 429: Erreur},
    url_name="api-simulateur-simulation",
    summary="Chiffrer un choix de services",
)
def simulation(request: HttpRequest, data: SimulationIn) -> dict[str, Any]:
    """Le choix chiffré pour chaque année (1re année, 2e, 3e… aux tarifs de l'année) au
    format de `opsn simuler --format json`, et le total ; n'enregistre rien."""
    subject = subject_of(data.collectivite)
    operator = _operator(request, data.operateur)
    item = operator.catalogue(data.catalogue)
    catalogue = item.catalogue
    ty = _year(request, catalogue, data.annee)
    choices = []
    for s in data.services:
        service = catalogue.services.get(s.service)
        if service is None or service.day_rate:
            raise sim.SimulationError(f"service « {s.service[:60]} » absent du catalogue.")
        qty = {
            k[:40]: _number(v, bounds.QUANTITY, f"« {service.label} », {k[:40]}")
            for k, v in s.quantites.items()
        }
        choices.append(sim.Choice(s.service, {**sim.default_quantities(service), **qty}))
    usage = {
        k[:40]: _number(v, bounds.usage_bound(k), f"usage {k[:40]}") for k, v in data.usages.items()
    }
    days = Decimal(0)
    if data.jours_intervention not in (None, "", 0, "0"):
        days = _number(data.jours_intervention, bounds.DAYS, "journées d'intervention")
    selection = sim.Selection(tuple(choices), usage, days)
    index = public_offer(request).index
    try:
        result = sim.simulation_dict(
            sim.simulate(catalogue, index, ty.year, subject, selection, years=data.annees)
        )
    except OpsnError as exc:
        raise sim.SimulationError(str(exc)) from None
    result["operateur"] = operator.code
    result["note_annee"] = ty.note
    result["texte"] = texts(result)
    if data.offres:
        quantities = {c.service: c.quantities for c in choices}
        found = sim.offers(
            catalogue,
            index,
            ty.year,
            subject,
            quantities=quantities,
            usage=usage,
            years=data.annees,
        )
        result["offres"] = [sim.offer_dict(o) for o in found]
    return result


def texts(result: dict[str, Any]) -> dict[str, Any]:
    """Montants déjà écrits à la française (la page les affiche tels quels)."""
    from opsn.core.money import fmt_fr

    def fr(value: str) -> str:
        return fmt_fr(Decimal(value))

    return {
        "annees": [
            {
                "libelle": y["libelle"],
                "total_ht": fr(y["total_ht"]),
                "total_tva": fr(y["total_tva"]),
                "total_ttc": fr(y["total_ttc"]),
            }
            for y in result["annees"]
        ],
        "total_ht": fr(result["total"]["total_ht"]),
        "total_tva": fr(result["total"]["total_tva"]),
        "total_ttc": fr(result["total"]["total_ttc"]),
    }
