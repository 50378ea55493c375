"""Lecture validée d'un document YAML : chaque erreur nomme fichier, ligne et clé."""

from __future__ import annotations

import datetime as dt
import difflib
from decimal import Decimal
from typing import Any, NoReturn

from opsn.core.errors import SourceError
from opsn.core.money import to_decimal
from opsn.core.yamlsrc import YList, YMap

KIND_FR = {
    "texte": "un texte",
    "entier": "un nombre entier",
    "decimal": "un nombre",
    "date": "une date AAAA-MM-JJ",
    "bloc": "un bloc de clés",
    "liste": "une liste",
    "booleen": "oui/non (true/false)",
}


class Reader:
    """Aide à valider un document ; `fail` lève l'erreur localisée du document."""

    def __init__(self, file: str, error_cls: type[SourceError]) -> None:
        self.file = file
        self.error_cls = error_cls

    def fail(self, message: str, *, line: int | None = None, key: str | None = None) -> NoReturn:
        raise self.error_cls(message, file=self.file, line=line, key=key)

    def block(self, value: Any, path: str, line: int | None = None) -> YMap:
        if not isinstance(value, YMap):
            self.fail(f"{KIND_FR['bloc']} est attendu", line=line, key=path)
        return value

    def items(self, value: Any, path: str, line: int | None = None) -> YList:
        if not isinstance(value, YList):
            self.fail(f"{KIND_FR['liste']} est attendue", line=line, key=path)
        return value

    def keys(self, block: YMap, allowed: set[str], path: str) -> None:
        """Refuse les clés inconnues (une faute de frappe ne passe pas en silence)."""
        for key in block:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                extra = f" ; vouliez-vous dire « {hint[0]} » ?" if hint else ""
                self.fail(
                    f"clé inconnue « {key} »{extra} "
                    f"(clés possibles : {', '.join(sorted(allowed))})",
                    line=block.line_of(key),
                    key=_join(path, str(key)),
                )

    def get(
        self,
        block: YMap,
        key: str,
        kind: str,
        path: str,
        *,
        required: bool = True,
        default: Any = None,
    ) -> Any:
        full = _join(path, key)
        if key not in block or block[key] is None:
            if required:
                self.fail(f"clé obligatoire « {key} » absente", line=block.line, key=full)
            return default
        return self.convert(block[key], kind, full, block.line_of(key))

    def convert(self, value: Any, kind: str, path: str, line: int | None) -> Any:
        try:
            if kind == "texte":
                if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
                    raise ValueError
                text = str(value).strip()
                if not text:
                    raise ValueError
                return text
            if kind == "entier":
                if isinstance(value, bool):
                    raise ValueError
                number = to_decimal(value)
                if number != number.to_integral_value():
                    raise ValueError
                return int(number)
            if kind == "decimal":
                return to_decimal(value)
            if kind == "date":
                if isinstance(value, dt.datetime):
                    return value.date()
                if isinstance(value, dt.date):
                    return value
                return dt.date.fromisoformat(str(value))
            if kind == "booleen":
                if not isinstance(value, bool):
                    raise ValueError
                return value
            if kind == "bloc":
                return self.block(value, path, line)
            if kind == "liste":
                return self.items(value, path, line)
        except (ValueError, TypeError):
            shown = str(value) if not isinstance(value, (YMap, YList)) else "…"
            shown = shown if len(shown) <= 60 else shown[:59] + "…"
            self.fail(f"« {shown} » n'est pas {KIND_FR[kind]}", line=line, key=path)
        raise AssertionError(kind)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
