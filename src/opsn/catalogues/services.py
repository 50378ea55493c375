"""Écritures des catalogues (style HackSoft : `<entité>_<action>`, arguments nommés).

Une version n'est enregistrée que validée par le chargeur de la ligne de commande
(`opsn.core.catalogue.load_catalogue`, les mêmes messages que `opsn catalogue verifier`) ;
une version figée (utilisée par une facture émise) ne change jamais : une nouvelle année,
un prix renseigné ou une correction est une **nouvelle version**. L'audit note chaque
version créée et chaque convention rattachée à une autre version.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from opsn.catalogues import edition
from opsn.core.catalogue import load_catalogue
from opsn.core.model import Catalogue
from opsn.gestion.audit import acting_as, with_reason
from opsn.gestion.models import CatalogueVersion, Convention, Operator
from opsn.gestion.permissions import require

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # le plus gros catalogue livré fait 35 Ko
VERSION_MAX = CatalogueVersion._meta.get_field("version").max_length
LABEL_MAX = CatalogueVersion._meta.get_field("label").max_length
SOURCE_MAX = CatalogueVersion._meta.get_field("source_file").max_length
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """Nom de fichier sans dossier ni caractère spécial (« mon catalogue.yaml » →
    « mon_catalogue.yaml »)."""
    base = Path(name.replace("\\", "/")).name or "catalogue.yaml"
    return (_SAFE_NAME.sub("_", base).strip("._") or "catalogue")[:80]


def catalogue_check(*, operator: Operator, text: str, source_file: str) -> Catalogue:
    """Valide le texte d'un catalogue pour cet opérateur : `CatalogueError` (ligne, clé,
    problème) si le fichier est invalide, `ValidationError` s'il ne peut pas devenir une
    nouvelle version de l'opérateur."""
    catalogue = load_catalogue(Path(source_file), text=text)
    problems = []
    if catalogue.operator.code != operator.code:
        problems.append(
            f"ce fichier est le catalogue de l'opérateur « {catalogue.operator.code} » "
            f"(clé operateur.code) : vous le déposez pour « {operator.code} »."
        )
    if len(catalogue.version) > VERSION_MAX:
        problems.append(f"version : {VERSION_MAX} caractères au plus.")
    if len(catalogue.label) > LABEL_MAX:
        problems.append(f"libellé : {LABEL_MAX} caractères au plus.")
    existing = CatalogueVersion.objects.filter(operator=operator, version=catalogue.version)
    found = existing.first()
    if found is not None:
        problems.append(
            f"la version « {catalogue.version} » existe déjà (chargée le "
            f"{found.loaded_at:%d/%m/%Y}) : donnez une autre valeur à la clé « version »."
        )
    if problems:
        raise ValidationError(problems)
    return catalogue


def catalogue_version_create(
    *, actor: Any, operator: Operator, text: str, source_file: str, reason: str = ""
) -> CatalogueVersion:
    """Enregistre une nouvelle version validée (jamais une version existante)."""
    require(actor, "gerer_catalogues", operator=operator)
    catalogue = catalogue_check(operator=operator, text=text, source_file=source_file)
    with acting_as(actor), with_reason(reason), transaction.atomic():
        return CatalogueVersion.objects.create(
            operator=operator,
            version=catalogue.version,
            label=catalogue.label,
            source_file=source_file[:SOURCE_MAX],
            content=text,
            valid_from=catalogue.valid_from,
        )


def decode_upload(data: bytes) -> str:
    """Texte UTF-8 d'un fichier déposé ; ValidationError en français sinon."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationError(
            f"fichier trop volumineux ({len(data) // 1024} Ko) : "
            f"{MAX_UPLOAD_BYTES // 1024 // 1024} Mo au plus."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"le fichier n'est pas encodé en UTF-8 (octet {exc.start + 1})."
        ) from None
    if "\x00" in text:
        raise ValidationError("le fichier contient un caractère NUL : ce n'est pas du YAML.")
    return text.replace("\r\n", "\n")


def catalogue_upload(
    *, actor: Any, operator: Operator, filename: str, data: bytes
) -> CatalogueVersion:
    """Dépôt d'un fichier de catalogue : validé comme par `opsn catalogue verifier` ; rien
    n'est enregistré à la moindre erreur."""
    require(actor, "gerer_catalogues", operator=operator)
    text = decode_upload(data)
    source = f"televerse/{operator.code}/{safe_name(filename)}"
    return catalogue_version_create(
        actor=actor, operator=operator, text=text, source_file=source, reason="fichier déposé"
    )


def catalogue_version_derive(
    *,
    actor: Any,
    source: CatalogueVersion,
    header: edition.Header,
    prices: dict[str, tuple[Decimal, int | None]],
    years: dict[str, int],
    move_conventions: bool = False,
    reason: str = "",
) -> CatalogueVersion:
    """Publie une nouvelle version écrite à partir d'une autre (prix révisés, saisis ou
    renseignés) ; la version d'origine ne change pas. Avec `move_conventions`, les
    conventions de la version d'origine passent à la nouvelle (noté au journal de chacune)."""
    operator = source.operator
    require(actor, "gerer_catalogues", operator=operator)
    if move_conventions:
        require(actor, "modifier_conventions", operator=operator)
    path = f"navigateur/{operator.code}/{safe_name(header.version)}.yaml"
    found = edition.anatomy(source.content, source.source_file)
    text = edition.rewrite(found, header=header, prices=prices, years=years, path=path)
    with transaction.atomic():
        created = catalogue_version_create(
            actor=actor, operator=operator, text=text, source_file=path, reason=reason
        )
        if move_conventions:
            conventions_move(actor=actor, source=source, target=created)
    return created


def conventions_move(*, actor: Any, source: CatalogueVersion, target: CatalogueVersion) -> int:
    """Rattache à `target` les conventions qui utilisent `source` (même opérateur). Les
    pièces déjà émises gardent leur catalogue ; une année antérieure à celle des prix de
    `target` ne pourra plus être facturée sur ces conventions."""
    if source.operator_id != target.operator_id:
        raise ValidationError("Les deux versions n'appartiennent pas au même opérateur.")
    require(actor, "modifier_conventions", operator=source.operator)
    moved = 0
    reason = f"catalogue remplacé par la version « {target.version} »"
    with acting_as(actor), with_reason(reason), transaction.atomic():
        for convention in Convention.objects.select_for_update().filter(catalogue=source):
            convention.catalogue = target
            convention.save(update_fields=["catalogue"])
            moved += 1
    return moved


def default_next_year(found: edition.Anatomy, today: dt.date) -> int:
    """Année de la version suivante : l'année prochaine (les tarifs se publient avant
    l'année qu'ils couvrent), ou l'année qui suit la validité de la version si elle est déjà
    pour l'an prochain."""
    valid = found.catalogue.valid_from
    return max(today.year + 1, valid.year + 1 if valid else 0)
