"""Lecture de tableaux CSV (UTF-8, « ; » ou « , ») et XLSX en lignes numérotées comme dans
un tableur (en-tête = ligne 1). Les erreurs sont en français et nomment le fichier."""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from opsn.core.errors import OpsnError


class TableError(OpsnError):
    pass


@dataclass(frozen=True)
class Row:
    number: int
    values: dict[str, str]


def column_name(header: str) -> str:
    text = unicodedata.normalize("NFKD", header.strip().lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.replace(" ", "_").replace("-", "_")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def csv_error_fr(exc: csv.Error) -> str:
    """Motif français d'une erreur du lecteur CSV."""
    if "field larger than field limit" in str(exc):
        limit = f"{csv.field_size_limit():,}".replace(",", " ")
        return f"cellule trop longue ({limit} caractères au plus)"
    return "CSV illisible (guillemets mal fermés ou caractère interdit)"


def read_rows(path: Path, required: tuple[str, ...]) -> tuple[list[str], list[Row]]:
    """(en-têtes, lignes non vides) ; lève TableError si le fichier ou l'en-tête est invalide."""
    name = path.name
    if path.is_dir():
        raise TableError(f"{name} : c'est un dossier, pas un fichier CSV ou XLSX ({path}).")
    if not path.is_file():
        raise TableError(f"{name} : fichier introuvable ({path}).")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise TableError(
                f"{name} : le fichier n'est pas encodé en UTF-8 (enregistrez-le au "
                "format « CSV UTF-8 »)."
            ) from None
        first = text.split("\n", 1)[0]
        delimiter = ";" if first.count(";") >= first.count(",") else ","
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            raw = [list(r) for r in reader]
        except csv.Error as exc:  # cellule démesurée, guillemets non fermés…
            raise TableError(f"{name}, ligne {reader.line_num} : {csv_error_fr(exc)}.") from None
    elif suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # fichier abîmé : openpyxl lève des erreurs variées
            raise TableError(f"{name} : classeur XLSX illisible ({exc}).") from exc
        try:
            raw = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        finally:
            book.close()
    else:
        raise TableError(
            f"{name} : format « {suffix or 'sans extension'} » non pris en charge "
            "(.csv ou .xlsx attendu)."
        )
    if not raw:
        raise TableError(f"{name} : fichier vide.")
    headers = [column_name(_cell(c)) for c in raw[0]]
    missing = [c for c in required if c not in headers]
    if missing:
        raise TableError(
            f"{name}, ligne 1 : colonne(s) obligatoire(s) absente(s) : "
            f"{', '.join(missing)} (colonnes attendues : {', '.join(required)})."
        )
    rows = []
    for number, cells in enumerate(raw[1:], start=2):
        texts = [_cell(c) for c in cells]
        if not any(texts):
            continue
        rows.append(
            Row(
                number,
                {h: (texts[i] if i < len(texts) else "") for i, h in enumerate(headers) if h},
            )
        )
    return headers, rows
