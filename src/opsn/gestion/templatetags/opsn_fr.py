from decimal import Decimal

from django import template

from opsn.core.money import fmt_fr

register = template.Library()


@register.filter
def euros(value: Decimal | int | None) -> str:
    """Montant en euros à la française ; un entier (0 d'une somme vide) est exact en Decimal."""
    if value is None or value == "":
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    return fmt_fr(value)


@register.filter
def nombre(value: object) -> str:
    if isinstance(value, Decimal):
        return f"{value.normalize():f}".replace(".", ",")
    return "—" if value is None else str(value)


@register.filter
def get(mapping: dict, key: str) -> object:
    return mapping.get(key) if mapping else None


@register.filter
def changements(entry: object) -> list[str]:
    """Champs modifiés d'une entrée d'audit : « champ : avant → après »."""
    before = getattr(entry, "before", None) or {}
    after = getattr(entry, "after", None) or {}
    keys = [k for k in after if before.get(k) != after.get(k)] if before else list(after)
    if not after:
        keys = list(before)
    result = []
    for key in keys:
        if key == "id":
            continue
        old, new = before.get(key), after.get(key)
        result.append(
            f"{key} : {_short(old)} → {_short(new)}" if before else f"{key} : {_short(new)}"
        )
    return result


def _short(value: object) -> str:
    if value in (None, "", [], {}):
        return "—"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


ACTIONS_AVENANT = {
    "ajout": "Ajout",
    "modification": "Modification",
    "fin": "Fin",
    "preavis": "Préavis reçu",
}


@register.filter
def avenant_ligne(change: dict) -> str:
    """Une modification d'avenant en français : « Modification « service » : a : 3 → 4 »."""
    action = ACTIONS_AVENANT.get(change.get("action"), change.get("action", ""))
    head = f"{action} « {change['service']} »" if change.get("service") else action
    before, after = change.get("avant"), change.get("apres")
    if isinstance(before, dict) or isinstance(after, dict):
        before, after = before or {}, after or {}
        parts = [
            f"{k} : {before.get(k, '—')} → {after.get(k, '—')}"
            for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)
        ]
        if change.get("action") == "fin":
            parts = [f"fin au {change.get('fin')}"]
        return f"{head} – {', '.join(parts)}" if parts else head
    return f"{head} : {_short(before)} → {_short(after)}"
