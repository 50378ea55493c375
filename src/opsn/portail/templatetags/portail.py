from django import template

register = template.Library()


@register.filter
def milliers(value: object) -> str:
    """12000 → « 12 000 » (espace fine insécable)."""
    if value is None or value == "":
        return "—"
    try:
        return f"{int(value):,}".replace(",", "\u202f")
    except (TypeError, ValueError):
        return str(value)


@register.filter
def droit(code: str, catalogue: object) -> str:
    """Code d'un droit inclus → libellé de la colonne de sa table de strates."""
    from opsn.portail.simulation import entitlement_labels

    return entitlement_labels(catalogue).get(code, code)  # type: ignore[arg-type]
