"""Domaines de saisie : les bornes de chaque grandeur que l'on saisit ou importe.

Un seul endroit pour toutes les bornes, utilisé partout : formulaires et paramètres des
pages (`opsn.gestion.forms`), services, imports de conventions et d'organismes, scénarios,
ligne de commande et contraintes de la base (`opsn.gestion.models`). Les raisons de chaque
borne sont dans docs/backoffice.md (« Domaines de saisie »).

Module pur (ni Django ni horloge) : les bornes qui dépendent du jour (année facturable,
dates) prennent la date du jour en paramètre. Les erreurs sont des `BoundError`
(`ValueError`) au message français, sans localisation : l'appelant ajoute le fichier, la
ligne et la colonne, ou le champ du formulaire.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


class BoundError(ValueError):
    """Valeur hors de son domaine ; le message se lit tel quel (en français)."""


def fmt_number(value: Decimal | int) -> str:
    """100000 → « 100 000 », 0.5 → « 0,5 » (affichage des bornes)."""
    value = Decimal(value)
    sign = "-" if value < 0 else ""
    text = f"{abs(value).normalize():f}"
    units, _, decimals = text.partition(".")
    groups = []
    while units:
        groups.insert(0, units[-3:])
        units = units[:-3]
    return sign + " ".join(groups or ["0"]) + (f",{decimals}" if decimals else "")


def _shown(text: object, limit: int = 40) -> str:
    shown = str(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


# Au-delà de 100 caractères, le texte n'est même pas lu comme un nombre.
_MAX_NUMBER_TEXT = 100
_NUMBER_RE = re.compile(r"[+-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)([eE][+-]?[0-9]+)?")


def parse_number(raw: object) -> Decimal:
    """Texte saisi (« 1 234,5 », « 0.5 », « 2e3 ») ou nombre lu → `Decimal` fini.

    Refuse les flottants (imprécis), NaN, Infinity et tout ce qui n'est pas un nombre."""
    if isinstance(raw, (bool, float)):
        raise BoundError(f"« {_shown(raw)} » n'est pas un nombre.")
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise BoundError(f"« {raw} » n'est pas un nombre.")
        return raw
    text = str(raw).strip()
    for space in (" ", "\u00a0", "\u202f"):
        text = text.replace(space, "")
    text = text.removesuffix("€")
    if not text:
        raise BoundError("valeur manquante.")
    if len(text) > _MAX_NUMBER_TEXT or not _NUMBER_RE.fullmatch(text):
        raise BoundError(f"« {_shown(raw)} » n'est pas un nombre.")
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - exclu par l'expression régulière
        raise BoundError(f"« {_shown(raw)} » n'est pas un nombre.") from None


@dataclass(frozen=True)
class Bound:
    """Domaine d'une grandeur : bornes, décimales admises et pas éventuel."""

    label: str
    minimum: Decimal
    maximum: Decimal
    places: int = 0
    unit: str = ""
    min_exclusive: bool = False
    step: Decimal | None = None
    hint: str = ""

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        kind = "un nombre entier" if self.places == 0 else "un nombre"
        low, high = fmt_number(self.minimum), fmt_number(self.maximum)
        if self.min_exclusive:
            text = f"{kind} supérieur à {low} et au plus égal à {high}{unit}"
        else:
            text = f"{kind} de {low} à {high}{unit}"
        return text + (f" ({self.hint})" if self.hint else "")

    def check(self, value: Decimal | int) -> Decimal:
        """Renvoie la valeur si elle est dans le domaine, sinon lève `BoundError`."""
        value = parse_number(value)
        shown = _shown(fmt_number(value) if abs(value.adjusted()) < 16 else _scientific(value))
        too_low = value <= self.minimum if self.min_exclusive else value < self.minimum
        if too_low or value > self.maximum:
            raise BoundError(f"« {shown} » est hors limites : {self.describe()} est attendu.")
        if self.step is not None and value % self.step != 0:
            step = f"par pas de {fmt_number(self.step)}"
            raise BoundError(f"« {shown} » : {self.hint or step}.")
        if _decimal_places(value) > self.places:
            if self.places == 0:
                raise BoundError(f"« {shown} » : un nombre entier est attendu.")
            raise BoundError(f"« {shown} » : {self.places} décimale(s) au plus.")
        return value

    def parse(self, raw: object) -> Decimal:
        """Lit une saisie (texte français ou nombre) et la vérifie."""
        return self.check(parse_number(raw))

    def parse_int(self, raw: object) -> int:
        return int(self.parse(raw))


def _scientific(value: Decimal) -> str:
    """1E+40 plutôt que 40 chiffres (valeurs démesurées dans les messages)."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return str(value)
    head = f"{digits[0]},{''.join(map(str, digits[1:4]))}".rstrip("0").rstrip(",")
    return f"{'-' if sign else ''}{head}E{value.adjusted():+d}"


def _decimal_places(value: Decimal) -> int:
    """Décimales significatives (2.50 → 1), sans arrondi ni calcul sur l'exposant."""
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return 0
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -exponent - trailing)


def _d(value: str | int) -> Decimal:
    return Decimal(value)


# Quantité souscrite (postes, comptes, adresses, jours de formation…) : 100 000 dépasse de
# loin le plus grand adhérent (une métropole compte quelques milliers de postes).
QUANTITY = Bound("quantité", _d(0), _d(100_000), places=3)
# Durée d'une intervention : par demi-journée, au plus une année entière.
DAYS = Bound(
    "durée",
    _d("0.5"),
    _d(366),
    places=1,
    unit="jour(s)",
    step=_d("0.5"),
    hint="en jours ou demi-journées : 0,5 ; 1 ; 1,5…",
)
# Volume en Go (sauvegarde, données) : 1 000 000 Go = 1 Po.
GB = Bound("volume", _d(0), _d(1_000_000), places=3, unit="Go")
# Autres compteurs d'usage (SMS, actes numérisés…) sur une année.
USAGE = Bound("usage", _d(0), _d(10_000_000), places=3)
# Population : la Métropole du Grand Paris, plus grand EPCI, compte 7,2 millions d'habitants.
POPULATION = Bound("population", _d(0), _d(10_000_000), unit="habitants")
# Agents d'un organisme : la Ville de Paris, plus grand employeur territorial, en a ~55 000.
AGENTS = Bound("agents", _d(0), _d(500_000), unit="agents")
# Budget en k€ : celui de la Ville de Paris est d'environ 10 milliards d'euros.
BUDGET_KEUR = Bound("budget", _d(0), _d(100_000_000), places=2, unit="k€")
# Valeur d'indice SYNTEC : de l'ordre de 100 à 300 depuis 1990 ; mêmes bornes que la base
# (`SYNTEC_MIN`, `SYNTEC_MAX` de opsn.gestion.models, données de la plateforme).
INDEX = Bound("valeur d'indice", _d(50), _d(1000), places=4)
# Montant saisi (prestation sur devis) ou prix : au plus 10 millions d'euros.
AMOUNT = Bound("montant", _d(0), _d(10_000_000), places=2, unit="€")


def usage_bound(counter: str) -> Bound:
    """Domaine d'un compteur d'usage : les compteurs en Go (…_go) ont le leur."""
    return GB if counter.lower().endswith("go") else USAGE


# -- années et dates ---------------------------------------------------------------------

YEAR_MIN = 2000
# Borne haute fixe des contraintes de base (la base n'a pas d'horloge) ; les saisies sont
# bornées plus court, à l'année suivant la date du jour.
YEAR_DB_MAX = 2100
DATE_MIN = dt.date(1980, 1, 1)
# Une date (signature, effet d'un avenant, intervention) au plus 5 ans après l'année en cours.
DATE_FUTURE_YEARS = 5

_YEAR_RE = re.compile(r"[+-]?[0-9]{1,9}")


def year_range(today: dt.date) -> tuple[int, int]:
    """Années facturables (et d'usage) : de 2000 à l'année suivante."""
    return YEAR_MIN, today.year + 1


def check_year(raw: object, today: dt.date) -> int:
    """Lit et vérifie une année de facturation ou d'usage."""
    if isinstance(raw, bool):
        raise BoundError(f"« {raw} » n'est pas une année.")
    text = str(raw).strip()
    if not text:
        raise BoundError("année manquante.")
    if not _YEAR_RE.fullmatch(text):
        raise BoundError(f"« {_shown(text)} » n'est pas une année (AAAA attendu).")
    year = int(text)
    low, high = year_range(today)
    if not low <= year <= high:
        raise BoundError(f"année {year} hors limites : de {low} à {high}.")
    return year


def date_range(today: dt.date) -> tuple[dt.date, dt.date]:
    return DATE_MIN, dt.date(today.year + DATE_FUTURE_YEARS, 12, 31)


def check_date(value: dt.date, today: dt.date) -> dt.date:
    low, high = date_range(today)
    if not low <= value <= high:
        raise BoundError(
            f"date du {value:%d/%m/%Y} hors limites : du {low:%d/%m/%Y} au {high:%d/%m/%Y}."
        )
    return value


def parse_date(raw: object, today: dt.date) -> dt.date:
    """AAAA-MM-JJ ou JJ/MM/AAAA ; refuse le 30 février comme l'an 99999."""
    if isinstance(raw, dt.datetime):
        return check_date(raw.date(), today)
    if isinstance(raw, dt.date):
        return check_date(raw, today)
    text = str(raw).strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            value = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        return check_date(value, today)
    raise BoundError(f"« {_shown(text)} » n'est pas une date (AAAA-MM-JJ ou JJ/MM/AAAA).")


# -- codes et textes -----------------------------------------------------------------------

SIRET_LENGTH = 14
SIREN_LENGTH = 9
INSEE_LENGTH = 5
_INSEE_RE = re.compile(r"([0-9]{5}|2[AB][0-9]{3})")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _digits(raw: str, length: int, name: str) -> str:
    code = re.sub(r"[\s\u00a0\u202f]", "", str(raw))
    if not re.fullmatch(rf"[0-9]{{{length}}}", code):
        raise BoundError(f"« {_shown(raw)} » n'est pas un {name} ({length} chiffres attendus).")
    return code


def check_siret(raw: str) -> str:
    return _digits(raw, SIRET_LENGTH, "SIRET")


def check_siren(raw: str) -> str:
    return _digits(raw, SIREN_LENGTH, "SIREN")


def check_insee(raw: str) -> str:
    code = str(raw).strip().upper()
    if not _INSEE_RE.fullmatch(code):
        raise BoundError(
            f"« {_shown(raw)} » n'est pas un code INSEE (5 caractères : chiffres, ou 2A/2B "
            "suivi de 3 chiffres)."
        )
    return code


def check_text(raw: str, max_length: int, *, multiline: bool = False) -> str:
    """Texte saisi : longueur bornée (celle de la colonne), sans caractère de contrôle."""
    text = str(raw).strip()
    if len(text) > max_length:
        raise BoundError(f"{len(text)} caractères : {max_length} au plus.")
    found = _CONTROL_RE.search(text)
    if found or (not multiline and ("\n" in text or "\r" in text)):
        raise BoundError("caractère de contrôle interdit (retour à la ligne, tabulation…).")
    return text
