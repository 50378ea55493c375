"""Argent : `Decimal` uniquement, un seul arrondi (au centime, demi supérieur).

Règle R26 (business-rules.md) : arithmétique décimale, arrondi « half-up » au
centime pour chaque montant de ligne et chaque prix révisé.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def round_cents(value: Decimal) -> Decimal:
    """Arrondit au centime, demi supérieur (7.505 → 7.51, -7.505 → -7.51)."""
    if not isinstance(value, Decimal):
        raise TypeError(f"montant non décimal : {value!r}")
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_decimal(value: object) -> Decimal:
    """Convertit une valeur lue (texte, entier, Decimal) en Decimal, jamais depuis un float."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError(f"« {value} » n'est pas un nombre")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        raise ValueError("nombre à virgule flottante refusé : écrivez-le entre guillemets")
    if isinstance(value, str):
        text = value.strip().replace("\u202f", "").replace("\xa0", "").replace(" ", "")
        text = text.replace("€", "").replace(",", ".")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"« {value} » n'est pas un nombre") from None
        if not result.is_finite():
            raise ValueError(f"« {value} » n'est pas un nombre")
        return result
    raise ValueError(f"« {value} » n'est pas un nombre")


def fmt(value: Decimal) -> str:
    """Texte à deux décimales, point décimal (format des sorties JSON)."""
    return str(round_cents(value))


def fmt_fr(value: Decimal) -> str:
    """Format français pour l'affichage : 33 461,00 €."""
    q = round_cents(value)
    sign = "-" if q < 0 else ""
    units, cents = f"{abs(q):.2f}".split(".")
    groups: list[str] = []
    while units:
        groups.insert(0, units[-3:])
        units = units[:-3]
    return f"{sign}{' '.join(groups)},{cents} €"
