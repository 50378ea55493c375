"""CSV sûrs pour les tableurs : neutralisation des formules (« CSV injection »).

Un tableur (Excel, LibreOffice) interprète comme une formule toute cellule qui commence par
`=`, `+`, `-` ou `@` (et certains le font après une tabulation ou un retour chariot) :
`=HYPERLINK("http://x";"y")` saisi comme nom d'adhérent deviendrait un lien actif dans
l'export. Toute cellule de texte qui commence par l'un de ces caractères est donc préfixée
d'une apostrophe (recommandation OWASP), ce qui l'affiche telle quelle.

Les nombres que nous produisons (montants `-12.50`, variations `+5,3 %`) restent des nombres :
une cellule est numérique si elle est un `int` ou un `Decimal`, ou si sa colonne est
déclarée numérique et que sa valeur a la forme stricte d'un nombre ; sinon elle est
neutralisée, même dans une colonne déclarée numérique.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?(?: %)?")

Cell = str | int | Decimal | None


def neutralise(text: str) -> str:
    """Texte affiché tel quel par un tableur : apostrophe devant un déclencheur de formule."""
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def cell(value: Cell, *, numeric: bool = False) -> str:
    """Valeur d'une cellule : nombres intacts, texte neutralisé."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return neutralise(str(value))
    if isinstance(value, int | Decimal):
        return str(value)
    text = str(value)
    if numeric and NUMBER.fullmatch(text):
        return text
    return neutralise(text)


def csv_text(
    header: Sequence[str],
    rows: Iterable[Sequence[Cell] | Mapping[str, Cell]],
    *,
    numeric: Collection[str] = (),
) -> str:
    """CSV (séparateur `;`, fins de ligne CRLF) dont chaque cellule de texte est neutralisée.

    `rows` : séquences dans l'ordre de `header`, ou dictionnaires indexés par colonne.
    `numeric` : colonnes de nombres produits par opsn (montants), laissés tels quels s'ils en
    ont la forme."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    flags = [h in numeric for h in header]
    for row in rows:
        values = [row.get(h) for h in header] if isinstance(row, Mapping) else list(row)
        writer.writerow([cell(v, numeric=f) for v, f in zip(values, flags, strict=True)])
    return buffer.getvalue()
