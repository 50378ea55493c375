"""Import des conventions existantes (CSV/XLSX, modèle docs/modeles/conventions.csv).

Tout ou rien : chaque ligne est validée (adhérent, service, quantités, dates) ; une seule
erreur et rien n'est écrit. Relancer le même fichier ne crée rien de plus.

Avec `dry_run=True` (aperçu), rien n'est écrit ni refusé : le rapport porte les erreurs
(ligne, colonne, message) et, ligne par ligne, ce que l'import créerait ou trouverait déjà.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsn.core import bounds
from opsn.core.bounds import BoundError
from opsn.core.errors import OpsnError
from opsn.facturation import identites
from opsn.gestion import bridge
from opsn.gestion.audit import acting_as
from opsn.gestion.models import CatalogueVersion, Convention, Member, Operator, Subscription
from opsn.gestion.permissions import require
from opsn.referentiel import Commune, Referentiel
from opsn.referentiel.resolve import member_fields
from opsn.tabular import read_rows

REQUIRED = ("adherent", "reference", "signature", "service")
OPTIONAL = (
    "quantites",
    "debut",
    "catalogue",
    "siret",
    "code_service",
    "numero_engagement",
    # identité de facturation du débiteur (docs/facturation.md, « Données obligatoires »)
    "adresse",
    "complement_adresse",
    "code_postal",
    "ville",
    "courriel",
    "adresse_electronique",
    "engagement_exige",
)
# colonne du fichier → champ de l'adhérent
IDENTITY_COLUMNS = {
    "siret": "siret",
    "code_service": "service_code",
    "numero_engagement": "engagement_number",
    "adresse": "address",
    "complement_adresse": "address_complement",
    "code_postal": "postcode",
    "ville": "city",
    "courriel": "email",
    "adresse_electronique": "electronic_address",
    "engagement_exige": "engagement_required",
}


class ImportRejected(OpsnError):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("Import refusé, rien n'a été écrit :\n" + "\n".join(errors))


@dataclass(frozen=True)
class RowProblem:
    """Une erreur de l'aperçu : ligne du tableur (None : le fichier entier), colonne, motif."""

    row: int | None
    column: str
    message: str


@dataclass
class PreviewRow:
    """Une ligne du fichier telle que l'import la traiterait (aperçu, `dry_run=True`)."""

    number: int
    member_code: str
    member_name: str = ""
    member_new: bool = False
    reference: str = ""
    convention_new: bool = False
    service: str = ""
    service_label: str = ""
    quantities: list[tuple[str, str]] = field(default_factory=list)
    start: dt.date | None = None
    subscription_new: bool = False
    identity_changes: list[str] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


@dataclass
class ImportReport:
    conventions_created: int = 0
    subscriptions_created: int = 0
    unchanged: int = 0
    members_created: int = 0
    lines: list[str] = field(default_factory=list)
    # aperçu (dry_run) : erreurs en texte et détaillées, lignes prévues ou en erreur
    errors: list[str] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    rows: list[PreviewRow] = field(default_factory=list)
    row_count: int = 0

    def summary(self) -> str:
        return (
            f"{self.conventions_created} convention(s) créée(s), "
            f"{self.subscriptions_created} abonnement(s) créé(s), {self.unchanged} ligne(s) "
            f"déjà importée(s), {self.members_created} adhérent(s) ajouté(s) depuis le "
            "référentiel."
        )


@dataclass(frozen=True)
class _Planned:
    number: int
    member_code: str
    entity: Any
    reference: str
    signed_on: dt.date
    catalogue: CatalogueVersion
    service: str
    quantities: dict[str, str]
    start: dt.date
    extra: dict[str, str]


# Colonnes de texte libre → longueur de la colonne en base (opsn.core.bounds.check_text).
_TEXT_LENGTHS = {
    "reference": Convention._meta.get_field("reference").max_length,
    "code_service": Member._meta.get_field("service_code").max_length,
    "numero_engagement": Member._meta.get_field("engagement_number").max_length,
    "adresse": Member._meta.get_field("address").max_length,
    "complement_adresse": Member._meta.get_field("address_complement").max_length,
    "ville": Member._meta.get_field("city").max_length,
    "courriel": Member._meta.get_field("email").max_length,
    "adresse_electronique": Member._meta.get_field("electronic_address").max_length,
}


def conventions_import(
    *,
    actor: Any,
    operator: Operator,
    path: Path,
    referentiel: Referentiel | None = None,
    today: dt.date | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Importe le fichier ; `today` borne les dates (par défaut, la date du jour).

    `dry_run` : aperçu, rien n'est écrit et les erreurs ne lèvent pas `ImportRejected` :
    elles sont dans le rapport (`errors`, `problems`), avec les lignes (`rows`)."""
    require(actor, "importer", operator=operator)
    today = today or timezone.localdate()
    _, rows = read_rows(path, REQUIRED)
    ref = referentiel or Referentiel.charger()
    versions = list(CatalogueVersion.objects.filter(operator=operator).order_by("valid_from"))
    if not versions:
        raise ImportRejected([f"Aucun catalogue chargé pour {operator.code}."])
    errors: list[str] = []
    problems: list[RowProblem] = []
    planned: list[_Planned] = []
    seen_conventions: dict[str, tuple[str, dt.date]] = {}
    seen_lines: set[tuple[str, str, dt.date]] = set()
    name = path.name

    def err(row_number: int, column: str, message: str) -> None:
        errors.append(f"{name}, ligne {row_number}, colonne « {column} » : {message}")
        problems.append(RowProblem(row_number, column, message))

    for row in rows:
        v = row.values
        n = row.number
        ok = True
        code = v.get("adherent", "").strip()
        entity = ref.par_code(code) if code else None
        if entity is None:
            err(
                n,
                "adherent",
                f"« {code} » n'est ni un code INSEE ni un SIREN connu du référentiel.",
            )
            ok = False
        reference = v.get("reference", "").strip()
        if not reference:
            err(n, "reference", "référence de convention absente.")
            ok = False
        extra: dict[str, str] = {}
        for column, max_length in _TEXT_LENGTHS.items():
            try:
                text = bounds.check_text(v.get(column, ""), max_length)
            except BoundError as exc:
                err(n, column, str(exc))
                ok = False
            else:
                if column != "reference":
                    extra[column] = text
        extra["siret"] = ""
        if v.get("siret", "").strip():
            try:
                extra["siret"] = bounds.check_siret(v["siret"])
            except BoundError as exc:
                err(n, "siret", str(exc))
                ok = False
            else:
                siren = getattr(entity, "siren", None) or ""
                if not identites.siret_valid(extra["siret"]):
                    err(n, "siret", f"« {extra['siret']} » : clé de contrôle du SIRET fausse.")
                    ok = False
                elif siren and extra["siret"][:9] != siren:
                    err(n, "siret", f"le SIRET ne commence pas par le SIREN {siren}.")
                    ok = False
        if v.get("code_postal", "").strip():
            extra["code_postal"] = v["code_postal"].strip()
            if not identites.postcode_valid(extra["code_postal"]):
                err(n, "code_postal", f"« {extra['code_postal'][:20]} » : 5 chiffres attendus.")
                ok = False
        if extra.get("adresse_electronique") and not identites.ADDRESS_0225.fullmatch(
            extra["adresse_electronique"]
        ):
            err(
                n,
                "adresse_electronique",
                "le SIREN (9 chiffres), suivi éventuellement d'un suffixe, est attendu.",
            )
            ok = False
        flag = v.get("engagement_exige", "").strip().lower()
        if flag:
            if flag not in ("oui", "non", "1", "0", "vrai", "faux"):
                err(n, "engagement_exige", f"« {flag[:20]} » : oui ou non attendu.")
                ok = False
            extra["engagement_exige"] = flag in ("oui", "1", "vrai")
        try:
            signed_on = bounds.parse_date(v.get("signature", ""), today)
        except BoundError as exc:
            err(n, "signature", str(exc))
            ok = False
            signed_on = None
        start = signed_on
        if v.get("debut", "").strip():
            try:
                start = bounds.parse_date(v["debut"], today)
            except BoundError as exc:
                err(n, "debut", str(exc))
                ok = False
        if signed_on and start and start < signed_on:
            err(n, "debut", "le début d'un abonnement précède la signature de la convention.")
            ok = False
        version_name = v.get("catalogue", "").strip()
        catalogue = None
        if version_name:
            catalogue = next((c for c in versions if c.version == version_name), None)
            if catalogue is None:
                err(
                    n,
                    "catalogue",
                    f"version « {version_name} » inconnue "
                    f"({', '.join(c.version for c in versions)}).",
                )
                ok = False
        elif signed_on:
            eligible = [c for c in versions if c.valid_from is None or c.valid_from <= signed_on]
            catalogue = (eligible or versions)[-1]
        service = v.get("service", "").strip()
        quantities: dict[str, str] = {}
        if catalogue is not None:
            cat = bridge.catalogue_of(catalogue)
            svc = cat.services.get(service)
            if svc is None:
                err(n, "service", f"service « {service} » absent du catalogue {cat.ident}.")
                ok = False
            else:
                declared = [q.code for q in svc.quantities]
                raw = v.get("quantites", "").strip()
                try:
                    quantities = _quantities(raw, declared)
                except ValueError as exc:
                    err(n, "quantites", str(exc))
                    ok = False
        if ok and seen_conventions.get(reference, (code, signed_on)) != (code, signed_on):
            err(
                n,
                "reference",
                f"la convention « {reference} » apparaît avec un autre "
                "adhérent ou une autre date de signature.",
            )
            ok = False
        if ok:
            key = (reference, service, start)
            if key in seen_lines:
                err(
                    n,
                    "service",
                    f"« {service} » figure deux fois pour la convention "
                    f"« {reference} » à la même date.",
                )
                ok = False
            seen_lines.add(key)
            seen_conventions[reference] = (code, signed_on)
            planned.append(
                _Planned(
                    n,
                    code,
                    entity,
                    reference,
                    signed_on,
                    catalogue,
                    service,
                    quantities,
                    start,
                    extra,
                )
            )
    existing = {
        c.reference: c
        for c in Convention.objects.filter(
            operator=operator, reference__in=[p.reference for p in planned]
        )
    }
    existing_subs = {
        (sub.convention_id, sub.service_code, sub.started_on): sub
        for sub in Subscription.objects.filter(convention__in=list(existing.values()))
    }
    for p in planned:
        conv = existing.get(p.reference)
        if conv is not None and (conv.signed_on != p.signed_on):
            err(
                p.number,
                "reference",
                f"la convention « {p.reference} » existe déjà avec une "
                f"signature au {conv.signed_on:%d/%m/%Y}.",
            )
        if conv is not None:
            sub = existing_subs.get((conv.pk, p.service, p.start))
            if sub is not None and sub.quantities != p.quantities:
                err(
                    p.number,
                    "quantites",
                    "abonnement déjà importé avec d'autres quantités "
                    f"({sub.quantities}) : passez par un avenant.",
                )
    if not rows:
        errors.append(f"{name} : aucune ligne après l'en-tête.")
        problems.append(RowProblem(None, "", "aucune ligne après l'en-tête."))
    if dry_run:
        return _preview(operator, rows, planned, existing, existing_subs, errors, problems)
    if errors:
        raise ImportRejected(errors)
    report = ImportReport()
    with acting_as(actor), transaction.atomic():
        for p in planned:
            member = _member_for(operator, p.entity, report)
            changed = False
            for key, field_name in IDENTITY_COLUMNS.items():
                value = p.extra.get(key)
                if value in (None, ""):
                    continue
                if getattr(member, field_name) != value:
                    setattr(member, field_name, value)
                    changed = True
            if changed:
                member.save()
            conv, created = Convention.objects.get_or_create(
                operator=operator,
                reference=p.reference,
                defaults={"member": member, "catalogue": p.catalogue, "signed_on": p.signed_on},
            )
            report.conventions_created += created
            sub, created = Subscription.objects.get_or_create(
                convention=conv,
                service_code=p.service,
                started_on=p.start,
                defaults={"quantities": p.quantities},
            )
            if created:
                report.subscriptions_created += 1
            else:
                report.unchanged += 1
    return report


def _preview(
    operator: Operator,
    rows: list[Any],
    planned: list[_Planned],
    existing: dict[str, Convention],
    existing_subs: dict[tuple[int, str, dt.date], Subscription],
    errors: list[str],
    problems: list[RowProblem],
) -> ImportReport:
    """Rapport de l'aperçu : ce que l'import écrirait, ligne par ligne, sans rien écrire."""
    report = ImportReport(errors=errors, problems=problems, row_count=len(rows))
    fields_of = {id(p): member_fields(p.entity) for p in planned}
    insees = {f["insee"] for f in fields_of.values() if f.get("insee")}
    sirens = {f["siren"] for f in fields_of.values() if f.get("siren")}
    by_insee = {m.insee: m for m in Member.objects.filter(operator=operator, insee__in=insees)}
    by_siren = {m.siren: m for m in Member.objects.filter(operator=operator, siren__in=sirens)}
    new_members: set[str] = set()
    new_conventions: set[str] = set()
    planned_by_row = {p.number: p for p in planned}
    problems_by_row: dict[int, list[RowProblem]] = {}
    for problem in problems:
        if problem.row is not None:
            problems_by_row.setdefault(problem.row, []).append(problem)
    for row in rows:
        p = planned_by_row.get(row.number)
        if p is None:
            v = row.values
            report.rows.append(
                PreviewRow(
                    row.number,
                    v.get("adherent", "").strip()[:40],
                    reference=v.get("reference", "").strip()[:60],
                    service=v.get("service", "").strip()[:60],
                    problems=problems_by_row.get(row.number, []),
                )
            )
            continue
        fields = fields_of[id(p)]
        if isinstance(p.entity, Commune):
            member = by_insee.get(fields.get("insee") or "")
        else:
            member = by_siren.get(fields.get("siren") or "")
        key = fields.get("insee") or fields.get("siren") or p.member_code
        if member is None and key not in new_members:
            new_members.add(key)
            report.members_created += 1
        conv = existing.get(p.reference)
        if conv is None and p.reference not in new_conventions:
            new_conventions.add(p.reference)
            report.conventions_created += 1
        sub_new = conv is None or (conv.pk, p.service, p.start) not in existing_subs
        if sub_new:
            report.subscriptions_created += 1
        else:
            report.unchanged += 1
        changes = []
        if member is not None:
            for column, field_name in IDENTITY_COLUMNS.items():
                value = p.extra.get(column)
                if value not in (None, "") and getattr(member, field_name) != value:
                    changes.append(column)
        service = bridge.catalogue_of(p.catalogue).services.get(p.service)
        labels = {q.code: q.label for q in service.quantities} if service else {}
        report.rows.append(
            PreviewRow(
                p.number,
                p.member_code,
                member_name=member.name
                if member is not None
                else getattr(p.entity, "nom", p.member_code),
                member_new=member is None,
                reference=p.reference,
                convention_new=conv is None,
                service=p.service,
                service_label=service.label if service else p.service,
                quantities=[(labels.get(k, k), q) for k, q in p.quantities.items()],
                start=p.start,
                subscription_new=sub_new,
                identity_changes=changes,
                problems=problems_by_row.get(p.number, []),
            )
        )
    return report


def _quantities(raw: str, declared: list[str]) -> dict[str, str]:
    if not raw:
        if declared:
            raise ValueError(f"quantités à renseigner ({', '.join(declared)}).")
        return {}
    result = {}
    if "=" not in raw:
        if len(declared) != 1:
            raise ValueError(
                f"écrivez « nom=valeur » ; quantités possibles : {', '.join(declared) or 'aucune'}."
            )
        parts = [(declared[0], raw)]
    else:
        parts = []
        for chunk in re.split(r"[|;,]\s*(?=[A-Za-z_][A-Za-z0-9_]*\s*=)", raw):
            if chunk.strip():
                key, _, value = chunk.partition("=")
                parts.append((key.strip(), value.strip().rstrip(",;|").replace(",", ".")))
    for key, value in parts:
        if key not in declared:
            raise ValueError(f"quantité « {key} » inconnue ({', '.join(declared) or 'aucune'}).")
        try:
            number = bounds.parse_number(value)
            if number < 0:
                raise BoundError(f"« {value} » : quantité négative.")
            number = bounds.QUANTITY.check(number)
        except BoundError as exc:
            raise ValueError(f"quantité « {key} » : {exc}") from None
        result[key] = f"{number.normalize():f}"
    return result


def _member_for(operator: Operator, entity: Any, report: ImportReport) -> Member:
    """L'adhérent de l'opérateur pour cette entité du référentiel, créé s'il manque."""
    fields = member_fields(entity)
    lookup = (
        {"insee": fields["insee"]} if isinstance(entity, Commune) else {"siren": fields["siren"]}
    )
    member = Member.objects.filter(operator=operator, **lookup).first()
    if member is None:
        if isinstance(entity, Commune) and entity.codes_postaux:
            # commune et code postal de la mairie : ceux du référentiel
            fields = {**fields, "postcode": entity.codes_postaux[0], "city": entity.nom}
        member = Member.objects.create(operator=operator, **fields)
        report.members_created += 1
    return member
