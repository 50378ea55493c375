"""Ajout d'un adhérent (style HackSoft : `<entité>_<action>`, arguments nommés).

Une commune ou un EPCI vient du référentiel (`opsn.referentiel`) : nom, code INSEE, SIREN,
populations avec leur recensement et leur millésime, nature de l'EPCI, code postal et
commune (le premier code postal de la commune), et le rattachement à l'EPCI quand celui-ci
est déjà adhérent de l'opérateur. Un organisme absent des données officielles (syndicat,
CCAS, établissement public, budget annexe) est saisi avec ses agents. L'audit note chaque
création avec son auteur.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from opsn.core import bounds
from opsn.gestion.audit import acting_as
from opsn.gestion.models import Member, MemberKind, Operator
from opsn.gestion.permissions import require
from opsn.referentiel import Commune, Epci, Organisme, Referentiel
from opsn.referentiel.resolve import member_fields

BODY_KINDS = (
    MemberKind.SYNDICAT,
    MemberKind.CCAS,
    MemberKind.PUBLIC_BODY,
    MemberKind.ANNEX_BUDGET,
)


@dataclass(frozen=True)
class Candidate:
    """Ce que l'ajout d'une entité du référentiel écrirait, montré avant confirmation."""

    entity: Commune | Epci | Organisme
    fields: dict[str, Any]
    parent: Member | None  # EPCI (ou collectivité) déjà adhérent auquel la rattacher
    parent_label: str | None  # EPCI ou collectivité de rattachement selon le référentiel
    existing: Member | None  # déjà adhérent de l'opérateur
    communes: list[Member] = field(default_factory=list)  # EPCI : communes à rattacher


def _existing(operator: Operator, fields: dict[str, Any]) -> Member | None:
    members = Member.objects.filter(operator=operator)
    if fields.get("insee"):
        found = members.filter(insee=fields["insee"]).first()
        if found is not None:
            return found
    if fields.get("siren"):
        return members.filter(siren=fields["siren"], kind=fields["kind"]).first()
    return None


def member_candidate(*, operator: Operator, code: str, referentiel: Referentiel) -> Candidate:
    """L'entité du référentiel désignée par son code INSEE ou SIREN (ou l'identifiant d'un
    organisme importé), et ce que son ajout écrirait ; ValidationError si le code est
    inconnu."""
    entity = referentiel.par_code(code) if code.strip() else None
    if entity is None:
        raise ValidationError(
            {
                "code": [
                    f"« {code.strip()[:40]} » : ni code INSEE, ni SIREN connu du référentiel "
                    f"{referentiel.millesime}."
                ]
            }
        )
    fields = member_fields(entity)
    fields["name"] = fields["name"][:200]
    fields["siren"] = (fields.get("siren") or "")[: bounds.SIREN_LENGTH]
    if not (fields["siren"].isdigit() and len(fields["siren"]) == bounds.SIREN_LENGTH):
        fields["siren"] = ""
    parent, parent_label = None, None
    communes: list[Member] = []
    members = Member.objects.filter(operator=operator)
    if isinstance(entity, Commune):
        if entity.codes_postaux:
            fields["postcode"] = entity.codes_postaux[0]
            fields["city"] = entity.nom[:100]
        epci = referentiel.epci_de(entity.insee)
        if epci is not None:
            parent_label = f"{epci.nom} (SIREN {epci.siren})"
            parent = members.filter(kind=MemberKind.EPCI, siren=epci.siren).first()
    elif isinstance(entity, Epci):
        communes = list(
            members.filter(kind=MemberKind.COMMUNE, insee__in=entity.membres, parent__isnull=True)
        )
    elif isinstance(entity, Organisme) and entity.parent:
        host = referentiel.par_code(entity.parent)
        if host is not None:
            parent_label = f"{host.nom} ({host.code})"
            host_fields = member_fields(host)
            parent = _existing(operator, host_fields)
    return Candidate(entity, fields, parent, parent_label, _existing(operator, fields), communes)


def member_create_from_referential(
    *,
    actor: Any,
    operator: Operator,
    code: str,
    referentiel: Referentiel,
    attach_communes: bool = True,
) -> Member:
    """Ajoute la commune, l'EPCI ou l'organisme importé désigné par son code ; rattache une
    commune à son EPCI déjà adhérent, et un EPCI ajouté ses communes déjà adhérentes (sauf
    `attach_communes=False`). Refuse un doublon."""
    require(actor, "gerer_adherents", operator=operator)
    candidate = member_candidate(operator=operator, code=code, referentiel=referentiel)
    if candidate.existing is not None:
        raise ValidationError(
            {"code": [f"{candidate.existing.name} est déjà adhérent de {operator.name}."]}
        )
    with acting_as(actor), transaction.atomic():
        member = Member(operator=operator, parent=candidate.parent, **candidate.fields)
        member.full_clean(exclude=["operator", "parent"])
        member.save()
        if attach_communes:
            for commune in candidate.communes:
                commune.parent = member
                commune.save(update_fields=["parent"])
    return member


def member_create_body(
    *,
    actor: Any,
    operator: Operator,
    kind: str,
    name: str,
    agents: int,
    siren: str = "",
    parent: Member | None = None,
    population: int | None = None,
) -> Member:
    """Ajoute un syndicat, un CCAS, un établissement public ou un budget annexe, absents des
    données officielles, avec son nombre d'agents (strates par agents) et, au besoin, la
    collectivité de rattachement et la population desservie."""
    require(actor, "gerer_adherents", operator=operator)
    errors: dict[str, list[str]] = {}
    if kind not in BODY_KINDS:
        errors["kind"] = [
            "type d'organisme inconnu : syndicat, CCAS, établissement public ou budget annexe."
        ]
    name = name.strip()
    if not name:
        errors["name"] = ["le nom est obligatoire."]
    for key, value, bound in (
        ("agents", agents, bounds.AGENTS),
        ("population", population, bounds.POPULATION),
    ):
        if value is None:
            continue
        try:
            bound.check(Decimal(value))
        except bounds.BoundError as exc:
            errors[key] = [str(exc)]
    if siren:
        try:
            siren = bounds.check_siren(siren)
        except bounds.BoundError as exc:
            errors["siren"] = [str(exc)]
        else:
            twin = Member.objects.filter(operator=operator, siren=siren, kind=kind).first()
            if twin is not None:
                errors["siren"] = [f"{twin.name} a déjà ce SIREN chez {operator.name}."]
    if parent is not None and parent.operator_id != operator.pk:
        errors["parent"] = ["collectivité de rattachement inconnue."]
    if errors:
        raise ValidationError(errors)
    source = "population desservie (saisie)" if population is not None else ""
    with acting_as(actor), transaction.atomic():
        member = Member(
            operator=operator,
            kind=kind,
            name=name,
            siren=siren,
            agents=agents,
            parent=parent,
            population_totale=population,
            population_municipale=population,
            population_source=source,
        )
        member.full_clean(exclude=["operator", "parent"])
        member.save()
    return member
