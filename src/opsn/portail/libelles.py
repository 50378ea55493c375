"""Libellés, jamais des codes : ce que le référent lit des avenants et du journal d'audit
(« Reconduction tacite : oui », « Postes au niveau 2 : 3 → 4 », pas `tacit_renewal : True`
ni `{'postes_n2': '4'}`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist

from opsn.core.model import Catalogue

OBJECT_LABELS = {
    "member": "Adhérent",
    "convention": "Convention",
    "subscription": "Abonnement",
    "amendment": "Avenant",
    "catalogueversion": "Catalogue",
    "operator": "Opérateur",
    "usagerecord": "Relevé d'usage",
    "intervention": "Intervention",
}
ACTION_LABELS = {
    "création": "Création",
    "modification": "Modification",
    "suppression": "Suppression",
}
# Champs techniques que le référent n'a pas à lire (clés, empreintes).
HIDDEN_FIELDS = {
    "id",
    "operator_id",
    "member_id",
    "convention_id",
    "previous_id",
    "sha256",
    "search_name",
}
AMENDMENT_ACTIONS = {
    "ajout": "Ajout",
    "modification": "Modification",
    "fin": "Fin",
    "preavis": "Préavis reçu",
}


@dataclass(frozen=True)
class Labeller:
    """Traduit codes de services et de quantités d'un ou plusieurs catalogues."""

    services: dict[str, str]
    quantities: dict[str, str]
    # compteurs d'usage, dotations et composantes : « sauvegarde_go » → son libellé
    codes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, catalogues: list[Catalogue]) -> Labeller:
        from opsn.portail.simulation import usage_counters

        services: dict[str, str] = {}
        quantities: dict[str, str] = {}
        codes: dict[str, str] = {}
        for cat in catalogues:
            for service in cat.services.values():
                services.setdefault(service.code, service.label)
                for q in service.quantities:
                    quantities.setdefault(q.code, q.label)
                for allowance in service.allowances:
                    codes.setdefault(allowance.code, allowance.label)
                for comp in service.components:
                    codes.setdefault(comp.code, comp.label)
            for counter in usage_counters(cat):
                codes[counter.code] = f"{counter.label} ({counter.unit})"
        return cls(services, quantities, codes)

    def service(self, code: str | None) -> str:
        if not code:
            return "—"
        return self.services.get(code, code)

    def quantities_text(self, values: Any) -> str:
        if not isinstance(values, dict) or not values:
            return "—"
        return " ; ".join(
            f"{self.quantities.get(k, k)} : {number(v)}" for k, v in sorted(values.items())
        )

    def amendment(self, change: dict[str, Any]) -> str:
        """Une ligne d'avenant : « Modification – Assistance … : Postes au niveau 2 : 3 → 4 »."""
        action = AMENDMENT_ACTIONS.get(change.get("action", ""), "Modification")
        head = action
        if change.get("service"):
            head += f" – {self.service(change['service'])}"
        before, after = change.get("avant"), change.get("apres")
        if change.get("action") == "fin":
            return f"{head} : fin au {date_text(change.get('fin'))}"
        if change.get("action") == "preavis":
            return f"{head} : {date_text(before)} → {date_text(after)}"
        if isinstance(before, dict) or isinstance(after, dict):
            before, after = before or {}, after or {}
            parts = [
                f"{self.quantities.get(k, k)} : {number(before.get(k))} → {number(after.get(k))}"
                for k in sorted(set(before) | set(after))
                if before.get(k) != after.get(k)
            ]
            if change.get("action") == "ajout":
                parts = [f"{self.quantities.get(k, k)} : {number(v)}" for k, v in after.items()]
            return f"{head} : {' ; '.join(parts)}" if parts else head
        return head

    def audit(self, entry: Any) -> list[str]:
        """Champs changés d'une entrée d'audit, en français : libellés des champs, des
        choix, des services et des quantités ; clés techniques et champs vides omis."""
        model = _model(entry.object_type)
        before = entry.before or {}
        after = entry.after or {}
        both = bool(before and after)
        keys = (
            [k for k in after if before.get(k) != after.get(k)] if both else list(after or before)
        )
        lines = []
        for key in keys:
            if key in HIDDEN_FIELDS or (key.endswith("_id") and key != "catalogue_id"):
                continue
            old, new = (
                self.value(model, key, before.get(key)),
                self.value(model, key, after.get(key)),
            )
            if not both and (new if after else old) == "—":
                continue
            label = field_label(model, key)
            lines.append(
                f"{label} : {old} → {new}" if both else f"{label} : {new if after else old}"
            )
        return lines

    def title(self, entry: Any) -> str:
        """Désignation de l'objet, le code du service (ou du compteur d'usage) remplacé par
        son libellé."""
        text = entry.object_repr
        values = entry.after or entry.before or {}
        code = values.get("service_code")
        if code and code in text:
            text = text.replace(code, self.service(code))
        counter = values.get("counter")
        if counter and counter in text and counter in self.codes:
            text = text.replace(counter, self.codes[counter])
        return text

    def value(self, model: Any, key: str, value: Any) -> str:
        if key == "service_code":
            return self.service(value)
        if key == "quantities":
            return self.quantities_text(value)
        if key == "amounts":
            if not value:
                return "—"
            return " ; ".join(
                f"{self.codes.get(k, k)} : {euros(v)}" for k, v in sorted(value.items())
            )
        if key in ("counter", "allowance"):
            return self.codes.get(value, value) if value else "—"
        if key == "categories":
            return ", ".join(value) if value else "—"
        if key == "catalogue_id" and value:
            return _catalogue_label(value)
        choices = _choices(model, key)
        if choices and value in choices:
            return choices[value]
        if _is_decimal(model, key):
            return number(value)
        return plain(value)


def _choices(model: Any, attname: str) -> dict[Any, str]:
    if model is None:
        return {}
    try:
        field = model._meta.get_field(attname.removesuffix("_id"))
    except FieldDoesNotExist:
        return {}
    return {k: str(v) for k, v in (field.choices or ())}


def _is_decimal(model: Any, attname: str) -> bool:
    """Nombre décimal (quantité, durée) : écrit à la française, sans zéros inutiles."""
    if model is None:
        return False
    try:
        return model._meta.get_field(attname).get_internal_type() == "DecimalField"
    except FieldDoesNotExist:
        return False


def _catalogue_label(pk: Any) -> str:
    from opsn.gestion.models import CatalogueVersion

    found = CatalogueVersion.objects.filter(pk=pk).values_list("label", flat=True).first()
    return found or "—"


def _model(object_type: str) -> Any:
    try:
        return apps.get_model("gestion", object_type)
    except LookupError:
        return None


def field_label(model: Any, attname: str) -> str:
    if model is None:
        return attname
    name = attname.removesuffix("_id")
    try:
        verbose = str(model._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return attname
    return verbose[:1].upper() + verbose[1:]


def number(value: Any) -> str:
    if value in (None, ""):
        return "—"
    try:
        return f"{Decimal(str(value)).normalize():f}".replace(".", ",")
    except InvalidOperation:
        return str(value)


def euros(value: Any) -> str:
    from opsn.core.money import fmt_fr

    try:
        return fmt_fr(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return f"{value} €"


def date_text(value: Any) -> str:
    if not value:
        return "—"
    try:
        return dt.date.fromisoformat(str(value)[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return str(value)


def plain(value: Any) -> str:
    if value is True:
        return "oui"
    if value is False:
        return "non"
    if value in (None, "", [], {}):
        return "—"
    text = str(value)
    if len(text) >= 10 and text[4:5] == "-" and text[7:8] == "-":
        shown = date_text(text)
        if shown != text:
            return shown
    return text if len(text) <= 80 else text[:77] + "…"
