"""Lectures du portail : offre publique des opérateurs (catalogues, indice) pour le simulateur
et son API, et pages du référent (toujours filtrées par ses droits).

Le simulateur répond à des visiteurs anonymes, beaucoup et vite (`benchmarks/simulateur.py`) :
l'offre publique (opérateurs, versions de catalogue lues et validées, table d'indice) est
gardée en mémoire du processus. Chaque requête relit seulement une empreinte de la base
(identifiants et empreintes SHA-256 des catalogues, champs publics des opérateurs, valeurs
d'indice : quelques dizaines de lignes sans le YAML) et ne recharge que si elle a changé :
un catalogue chargé ou une valeur d'indice saisie sont pris en compte à la requête suivante.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Sum

from opsn.core import dates
from opsn.core.index import IndexTable, load_index
from opsn.core.index import IndexValue as CoreIndexValue
from opsn.core.model import Catalogue
from opsn.gestion import bridge
from opsn.gestion.models import (
    CatalogueVersion,
    ChangeRequest,
    Convention,
    IndexValue,
    Invoice,
    InvoiceStatus,
    Lead,
    Member,
    Notification,
    Operator,
    Quote,
    Role,
)
from opsn.gestion.permissions import memberships
from opsn.referentiel import Referentiel, repertoire_donnees

# -- offre publique ------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicCatalogue:
    pk: int
    version: str
    label: str
    catalogue: Catalogue


@dataclass(frozen=True)
class PublicOperator:
    """Ce que le public voit d'un opérateur : son identité publiée et ses catalogues."""

    pk: int
    code: str
    name: str
    address: str
    email: str
    siren: str
    departements: frozenset[str]
    catalogues: tuple[PublicCatalogue, ...]  # du plus ancien au plus récent

    @property
    def current(self) -> PublicCatalogue:
        return self.catalogues[-1]

    def catalogue(self, version: str | None) -> PublicCatalogue:
        """La version demandée, sinon la plus récente."""
        for item in self.catalogues:
            if version and item.version == version:
                return item
        return self.current

    def covers(self, departements: frozenset[str]) -> bool:
        return bool(self.departements & departements)


@dataclass(frozen=True)
class PublicOffer:
    operators: tuple[PublicOperator, ...]
    index: IndexTable

    def operator(self, code: str | None) -> PublicOperator | None:
        return next((o for o in self.operators if code and o.code == code), None)


_state: dict[str, Any] = {}
_lock = threading.Lock()


def _departement(postcode: str) -> str | None:
    """Département d'un code postal (20xxx : Corse, 2A ou 2B ; 97x : outre-mer)."""
    if len(postcode) != 5 or not postcode.isdigit():
        return None
    if postcode.startswith("97"):
        return postcode[:3]
    if postcode.startswith("20"):
        return "2A" if postcode < "20200" else "2B"
    return postcode[:2]


def public_offer(request: Any = None) -> PublicOffer:
    """Opérateurs qui ont au moins un catalogue, leurs catalogues et la table d'indice ; lue
    une fois par requête (gardée sur `request`)."""
    found = getattr(request, "_opsn_offre", None)
    if found is not None:
        return found
    versions = tuple(
        CatalogueVersion.objects.order_by("operator_id", "valid_from", "pk").values_list(
            "pk", "operator_id", "sha256", "version", "label", "valid_from"
        )
    )
    operators = tuple(
        Operator.objects.filter(pk__in={v[1] for v in versions})
        .order_by("name")
        .values_list(
            "pk", "code", "name", "address", "postcode", "city", "email", "siren", "territory"
        )
    )
    # empreinte des valeurs d'indice : nombre, dernier identifiant et somme des valeurs (une
    # valeur corrigée change la somme) ; la table n'est relue que si elle a changé
    index_key = tuple(
        IndexValue.objects.filter(index="syntec")
        .aggregate(n=Count("pk"), last=Max("pk"), total=Sum("value"))
        .values()
    )
    key = (versions, operators)
    with _lock:
        stale_index = _state.get("index_key") != index_key
    if stale_index:
        rows = tuple(
            IndexValue.objects.filter(index="syntec")
            .order_by("month", "series")
            .values_list("month", "series", "value", "source")
        )
        table = _index_table(rows)
        with _lock:
            _state["index"], _state["index_key"] = table, index_key
    with _lock:
        if _state.get("key") != key:
            _state["operators"] = _operators(versions, operators)
            _state["key"] = key
        offer = PublicOffer(_state["operators"], _state["index"])
    if request is not None:
        request._opsn_offre = offer
    return offer


def _index_table(rows: tuple) -> IndexTable:
    shipped = load_index("syntec")
    values = [CoreIndexValue(m, bridge._plain(v), s, src) for m, s, v, src in rows]
    return IndexTable(shipped.code, shipped.label, shipped.series, {}, shipped.links).with_values(
        values
    )


def _operators(versions: tuple, operators: tuple) -> tuple:
    by_operator: dict[int, list[PublicCatalogue]] = {}
    for pk, operator_id, _sha, version, label, valid_from in versions:
        del valid_from
        item = CatalogueVersion.objects.get(pk=pk)
        by_operator.setdefault(operator_id, []).append(
            PublicCatalogue(pk, version, label, bridge.catalogue_of(item))
        )
    result = []
    for pk, code, name, address, postcode, city, email, siren, territory in operators:
        declared = territory if isinstance(territory, list) else []
        deps = frozenset(str(d).strip().upper().zfill(2) for d in declared if str(d).strip())
        if not deps and _departement(postcode or ""):
            deps = frozenset({_departement(postcode)})
        where = ", ".join(x for x in (address, f"{postcode} {city}".strip()) if x)
        result.append(
            PublicOperator(
                pk, code, name, where, email, siren, deps, tuple(by_operator.get(pk, ()))
            )
        )
    return tuple(result)


def referentiel() -> Referentiel:
    """Le référentiel (extrait livré et organismes importés du dossier de données,
    `$OPSN_DONNEES` comme pour `opsn simuler`), relu au plus une fois par minute."""
    folder = repertoire_donnees()  # celui d'`opsn simuler` : mêmes organismes rattachés
    now = time.monotonic()
    with _lock:
        found = _state.get("referentiel")
        if found is not None and found[0] == folder and now - found[1] < 60:
            return found[2]
    loaded = Referentiel.charger(folder)
    with _lock:
        _state["referentiel"] = (folder, now, loaded)
    return loaded


def reset_caches() -> None:
    """Oublie l'offre publique gardée en mémoire (tests qui changent de base)."""
    with _lock:
        _state.clear()


def quote_get(reference: str) -> Quote | None:
    cleaned = "".join(reference.split()).upper()[:20]
    if not cleaned:
        return None
    return Quote.objects.select_related("operator", "catalogue").filter(reference=cleaned).first()


def leads_for(*, user: Any) -> list[Lead]:
    """Demandes de contact des opérateurs dont l'utilisateur fait partie du personnel."""
    operators = [m.operator_id for m in memberships(user) if m.role != Role.REFERENT]
    return list(
        Lead.objects.filter(operator_id__in=operators)
        .select_related("quote", "operator", "handled_by")
        .order_by("handled_at", "-created_at")[:500]
    )


# -- le référent ------------------------------------------------------------------------------


def referent_member(*, user: Any, member_id: int | None = None) -> Member | None:
    """L'adhérent dont l'utilisateur est référent (le premier, ou celui demandé)."""
    for m in memberships(user):
        if m.role == Role.REFERENT and (member_id is None or m.member_id == member_id):
            return Member.objects.select_related("operator", "parent").get(pk=m.member_id)
    return None


def referent_members(*, user: Any) -> list[Member]:
    ids = [m.member_id for m in memberships(user) if m.role == Role.REFERENT]
    return list(Member.objects.filter(pk__in=ids).select_related("operator").order_by("name"))


def member_invoices(member: Member) -> list[Invoice]:
    return list(
        Invoice.objects.filter(member=member, status=InvoiceStatus.ISSUED)
        .select_related("credited_invoice")
        .order_by("-issued_on", "-sequence_number")[:100]
    )


def member_notifications(member: Member) -> list[Notification]:
    return list(member.notifications.all()[:30])


def member_requests(member: Member) -> list[ChangeRequest]:
    return list(
        member.requests.select_related("convention", "handled_by", "amendment", "author")[:50]
    )


@dataclass(frozen=True)
class NoticeDates:
    """R22 : ce qu'un préavis reçu un jour donné produit."""

    received: dt.date
    end: dt.date
    last_billed_year: int
    deadline: dt.date  # dernier jour pour la prochaine échéance
    next_anniversary: dt.date


def notice_dates(convention: Convention, received: dt.date) -> NoticeDates:
    rules = bridge.catalogue_of(convention.catalogue).convention
    end = dates.effective_end(convention.signed_on, received, rules)
    assert end is not None
    deadline = dates.notice_deadline(convention.signed_on, received, rules)
    anniversary = dates.add_months(deadline, rules.notice_months)
    return NoticeDates(
        received, end, dates.last_billed_year(end) or end.year, deadline, anniversary
    )


def usage_of(member: Member, year: int) -> dict[str, Decimal]:
    return {u.counter: u.quantity for u in member.usage_records.filter(year=year)}
