from decimal import Decimal

from django import template

from opsn.core.money import fmt_fr

register = template.Library()


@register.filter
def euros(value: Decimal | None) -> str:
    return "—" if value is None else fmt_fr(value)


@register.filter
def nombre(value: object) -> str:
    if isinstance(value, Decimal):
        return f"{value.normalize():f}".replace(".", ",")
    return "—" if value is None else str(value)


@register.filter
def get(mapping: dict, key: str) -> object:
    return mapping.get(key) if mapping else None
