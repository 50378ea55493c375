"""Pont entre le référentiel et le cœur de tarification.

Un adhérent donné dans un scénario par son code INSEE ou son SIREN devient un
`Member` : nom, type, populations (totale et municipale, avec leur recensement et
le millésime du référentiel, R4), agents pour un organisme importé, et, pour un
EPCI, ses communes membres et les organismes rattachés (comptage des EP, R6 ;
participations individuelles, R24).
"""

from __future__ import annotations

from typing import Any

from opsn.core.members import Member
from opsn.referentiel.modeles import Commune, Epci, Organisme
from opsn.referentiel.referentiel import Referentiel

NATURES = {"CC": "CC", "CA": "CA", "CU": "CU", "METRO": "METRO", "MET69": "METRO"}


def _source(entity: Commune | Epci) -> str:
    census = (
        f"recensement {entity.annee_population}"
        if entity.annee_population
        else "recensement non précisé"
    )
    return f"INSEE, {census}, référentiel {entity.millesime}"


def _commune_member(c: Commune) -> Member:
    return Member(
        ident=c.insee,
        name=c.nom,
        kind="commune",
        population_totale=c.population_totale,
        population_municipale=c.population_municipale,
        population_source=_source(c),
        insee=c.insee,
        siren=c.siren,
    )


def _organisme_member(o: Organisme) -> Member:
    return Member(
        ident=o.identifiant,
        name=o.nom,
        kind=o.type,
        population_totale=o.population_desservie,
        population_municipale=o.population_desservie,
        population_source="population desservie (organisme importé)"
        if o.population_desservie is not None
        else None,
        agents=o.agents,
        siren=o.siren,
    )


def member_fields(entity: Commune | Epci | Organisme) -> dict[str, Any]:
    """Champs d'un adhérent de la base (`opsn.gestion.models.Member`) tirés du référentiel :
    identité, type, populations avec leur recensement et millésime (R4), agents."""
    if isinstance(entity, Commune):
        return {
            "kind": "commune",
            "name": entity.nom,
            "insee": entity.insee,
            "siren": entity.siren or "",
            "population_totale": entity.population_totale,
            "population_municipale": entity.population_municipale,
            "population_source": _source(entity),
        }
    if isinstance(entity, Epci):
        return {
            "kind": "epci",
            "name": entity.nom,
            "siren": entity.siren,
            "nature": NATURES.get(entity.nature, ""),
            "population_totale": entity.population_totale,
            "population_municipale": entity.population_municipale,
            "population_source": _source(entity),
        }
    return {
        "kind": entity.type,
        "name": entity.nom,
        "siren": entity.siren or entity.identifiant,
        "agents": entity.agents,
        "population_totale": entity.population_desservie,
        "population_municipale": entity.population_desservie,
        "population_source": "population desservie (organisme importé)"
        if entity.population_desservie is not None
        else "",
    }


def resolve_member(code: str, referentiel: Referentiel | None = None) -> dict[str, Any]:
    """Champs d'adhérent pour un code INSEE ou SIREN ; ValueError en français sinon."""
    ref = referentiel or Referentiel.charger()
    entity = ref.par_code(code.strip())
    if entity is None:
        raise ValueError(
            f"code « {code} » inconnu du référentiel {ref.millesime} (ni code INSEE de commune, "
            "ni SIREN de commune, d'EPCI ou d'organisme importé)"
        )
    if isinstance(entity, Commune):
        attached = [_organisme_member(o) for o in ref.organismes_rattaches(entity.insee)]
        return {
            "nom": entity.nom,
            "type": "commune",
            "insee": entity.insee,
            "siren": entity.siren,
            "population_totale": entity.population_totale,
            "population_municipale": entity.population_municipale,
            "population_source": _source(entity),
            "rattaches": tuple(attached),
        }
    if isinstance(entity, Epci):
        communes = ref.membres(entity.siren)
        attached: list[Member] = [_commune_member(c) for c in communes]
        parents = [entity.siren] + [c.insee for c in communes]
        seen: set[str] = set()
        for parent in parents:
            for o in ref.organismes_rattaches(parent):
                if o.identifiant not in seen:
                    seen.add(o.identifiant)
                    attached.append(_organisme_member(o))
        return {
            "nom": entity.nom,
            "type": "epci",
            "nature": NATURES.get(entity.nature),
            "siren": entity.siren,
            "population_totale": entity.population_totale,
            "population_municipale": entity.population_municipale,
            "population_source": _source(entity),
            "rattaches": tuple(attached),
        }
    return {
        "nom": entity.nom,
        "type": entity.type,
        "siren": entity.siren,
        "agents": entity.agents,
        "population_totale": entity.population_desservie,
        "population_municipale": entity.population_desservie,
        "population_source": "population desservie (organisme importé)",
    }
