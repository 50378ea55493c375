"""Saisies du portail : paramètres du simulateur (page et API), demande de contact,
demande de modification du référent, refus motivé du personnel.

Chaque valeur passe par son domaine (`opsn.core.bounds`) : une valeur invalide donne un
message en français à côté du champ et la valeur par défaut, jamais une erreur 500.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from opsn.core import bounds
from opsn.core.bounds import BoundError
from opsn.core.model import Catalogue
from opsn.gestion.forms import MultilineTextField, TextField
from opsn.gestion.models import (
    ChangeRequestKind,
    Lead,
    Member,
)
from opsn.plateforme.formulaires import FrenchForm
from opsn.portail import simulation as sim

QUERY_MAX = 100
CODE_MAX = 20


def _text(raw: object, limit: int) -> str:
    text = str(raw or "").strip()
    if len(text) > limit:
        raise BoundError(f"{len(text)} caractères : {limit} au plus.")
    return bounds.check_text(text, limit)


@dataclass
class SimulatorInput:
    """Paramètres du simulateur lus et bornés ; `errors` : champ → message ; `raw` : les
    valeurs à réafficher dans les champs."""

    q: str = ""
    code: str = ""
    kind: str = ""
    population: int | None = None
    agents: int | None = None
    budget: Decimal | None = None
    operator: str = ""
    version: str = ""
    chosen: list[str] = field(default_factory=list)
    quantities: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    usage: dict[str, Decimal] = field(default_factory=dict)
    days: Decimal = Decimal(0)
    errors: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def described(self) -> bool:
        return bool(self.kind) and (self.population is not None or self.agents is not None)

    def subject_query(self) -> dict[str, str]:
        """Paramètres qui désignent la collectivité (pour les liens et champs cachés)."""
        if self.code:
            keys = ("code", "agents", "budget")
        else:
            keys = ("type", "population", "agents", "budget")
        return {k: self.raw[k] for k in keys if self.raw.get(k)}


def _get(data: Any, key: str) -> str:
    value = data.get(key, "")
    return value if isinstance(value, str) else str(value)


def read_simulator(data: Any) -> SimulatorInput:
    """Lit les paramètres du simulateur (QueryDict d'une page ou dictionnaire)."""
    inp = SimulatorInput()

    def keep(key: str) -> str:
        value = _get(data, key)
        inp.raw[key] = value[:200]
        return value

    for key, limit in (("q", QUERY_MAX), ("code", CODE_MAX)):
        try:
            setattr(inp, key, _text(keep(key), limit))
        except BoundError as exc:
            inp.errors[key] = str(exc)
    kind = keep("type").strip()
    if kind:
        if kind in sim.KIND_LABELS:
            inp.kind = kind
        else:
            inp.errors["type"] = "type de collectivité inconnu."
    for key, bound, attr in (
        ("population", bounds.POPULATION, "population"),
        ("agents", bounds.AGENTS, "agents"),
    ):
        text = keep(key).strip()
        if text:
            try:
                setattr(inp, attr, bound.parse_int(text))
            except BoundError as exc:
                inp.errors[key] = str(exc)
    text = keep("budget").strip()
    if text:
        try:
            inp.budget = bounds.BUDGET_KEUR.parse(text)
        except BoundError as exc:
            inp.errors["budget"] = str(exc)
    for key, attr in (("operateur", "operator"), ("catalogue", "version")):
        try:
            setattr(inp, attr, _text(keep(key), 60))
        except BoundError as exc:
            inp.errors[key] = str(exc)
    getlist = getattr(data, "getlist", None)
    chosen = getlist("choix") if getlist else data.get("choix", [])
    inp.chosen = [c for c in chosen if isinstance(c, str) and len(c) <= 80][:100]
    for key in list(data.keys())[:500]:
        if not isinstance(key, str):
            continue
        if key.startswith("qte-") and key.count("-") == 2:
            _, service, quantity = key.split("-")
            text = keep(key).strip()
            if not text:
                continue
            try:
                value = bounds.QUANTITY.parse(text)
            except BoundError as exc:
                inp.errors[key] = str(exc)
                continue
            inp.quantities.setdefault(service, {})[quantity] = value
        elif key.startswith("usage-"):
            counter = key.removeprefix("usage-")
            text = keep(key).strip()
            if not text:
                continue
            try:
                inp.usage[counter] = bounds.usage_bound(counter).parse(text)
            except BoundError as exc:
                inp.errors[key] = str(exc)
    text = keep("jours").strip()
    if text and text not in {"0", "0,0", "0.0"}:
        try:
            inp.days = bounds.DAYS.parse(text)
        except BoundError as exc:
            inp.errors["jours"] = str(exc)
    return inp


def selection_for(catalogue: Catalogue, inp: SimulatorInput) -> sim.Selection:
    """Le choix de services, rapporté au catalogue : services inconnus écartés (avec un
    message), quantités des services choisis (une unité par défaut), usages connus."""
    choices = []
    seen = set()
    for code in inp.chosen:
        service = catalogue.services.get(code)
        if service is None or service.day_rate:
            inp.errors["choix"] = f"service « {code[:60]} » inconnu : ignoré."
            continue
        if code in seen:
            continue
        seen.add(code)
        declared = {q.code for q in service.quantities}
        given = {k: v for k, v in inp.quantities.get(code, {}).items() if k in declared}
        choices.append(sim.Choice(code, {**sim.default_quantities(service), **given}))
    known = {c.code for c in sim.usage_counters(catalogue)}
    usage = {k: v for k, v in inp.usage.items() if k in known}
    days = inp.days if catalogue.day_rate_service else Decimal(0)
    return sim.Selection(tuple(choices), usage, days)


def offer_quantities(catalogue: Catalogue, inp: SimulatorInput) -> dict[str, dict[str, Decimal]]:
    """Quantités saisies pour chaque service (comparatif), rapportées au catalogue."""
    result = {}
    for code, values in inp.quantities.items():
        service = catalogue.services.get(code)
        if service is None:
            continue
        declared = {q.code for q in service.quantities}
        given = {k: v for k, v in values.items() if k in declared}
        if given:
            result[code] = {**sim.default_quantities(service), **given}
    return result


# -- demande de contact (devis) ------------------------------------------------------------------


class LeadForm(FrenchForm):
    service_fields = {"name": "nom", "email": "courriel", "phone": "telephone"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "contact_%s")
        super().__init__(*args, **kwargs)
        self.fields["nom"] = TextField(label="Votre nom", max_length=_len(Lead, "name"))
        self.fields["fonction"] = TextField(
            label="Votre fonction (facultatif)", max_length=_len(Lead, "role"), required=False
        )
        self.fields["courriel"] = forms.EmailField(
            label="Votre adresse électronique",
            max_length=254,
            error_messages={"invalid": "Adresse électronique invalide (exemple : nom@mairie.fr)."},
        )
        self.fields["courriel"].widget.attrs["autocomplete"] = "email"
        self.fields["nom"].widget.attrs["autocomplete"] = "name"
        self.fields["telephone"] = TextField(
            label="Votre téléphone (facultatif)", max_length=_len(Lead, "phone"), required=False
        )
        self.fields["telephone"].widget.attrs["autocomplete"] = "tel"
        self.fields["message"] = MultilineTextField(
            label="Message pour l'opérateur (facultatif)", required=False, max_length=2000
        )


def _len(model: type, name: str) -> int:
    return model._meta.get_field(name).max_length


# -- demande de modification du référent --------------------------------------------------------


class ChangeRequestForm(FrenchForm):
    """Demande typée : ajouter un service, changer une quantité, arrêter un service,
    dénoncer la convention (préavis), ou texte libre."""

    service_fields = {"message": "message", "kind": "nature"}

    def __init__(
        self,
        *args: Any,
        member: Member,
        services: list[tuple[str, str]],
        subscriptions: list[tuple[str, str]],
        quantity_labels: dict[str, str],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_id", "dm_%s")
        super().__init__(*args, **kwargs)
        conventions = member.conventions.all()
        self.fields["nature"] = forms.ChoiceField(
            label="Que souhaitez-vous ?",
            choices=ChangeRequestKind.choices,
            initial=ChangeRequestKind.ADD,
            widget=forms.RadioSelect,
            error_messages={"invalid_choice": "Nature de demande inconnue."},
        )
        self.fields["convention"] = forms.ModelChoiceField(
            label="Convention concernée",
            queryset=conventions,
            required=len(conventions) > 0,
            empty_label=None if len(conventions) == 1 else "— choisissez —",
            error_messages={"invalid_choice": "Convention inconnue."},
        )
        self.fields["service"] = forms.ChoiceField(
            label="Service à ajouter",
            choices=[("", "— choisissez —"), *services],
            required=False,
            error_messages={"invalid_choice": "Service inconnu."},
        )
        self.fields["abonnement"] = forms.ChoiceField(
            label="Service souscrit concerné",
            choices=[("", "— choisissez —"), *subscriptions],
            required=False,
            error_messages={"invalid_choice": "Abonnement inconnu."},
        )
        self.quantity_labels = quantity_labels
        for code, label in quantity_labels.items():
            self.fields[f"qte_{code}"] = forms.CharField(
                label=label,
                required=False,
                max_length=40,
                widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 8}),
            )
        self.fields["message"] = MultilineTextField(
            label="Précisions (facultatif pour les demandes chiffrées)", required=False
        )

    def quantity_fields(self) -> list[forms.BoundField]:
        return [self[f"qte_{code}"] for code in self.quantity_labels]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        quantities: dict[str, Decimal] = {}
        for code in self.quantity_labels:
            text = (data.get(f"qte_{code}") or "").strip()
            if text:
                try:
                    quantities[code] = bounds.QUANTITY.parse(text)
                except BoundError as exc:
                    self.add_error(f"qte_{code}", str(exc))
        data["quantites"] = quantities
        kind = data.get("nature")
        if kind == ChangeRequestKind.ADD and not data.get("service"):
            self.add_error("service", "Choisissez le service à ajouter.")
        if kind in (ChangeRequestKind.QUANTITY, ChangeRequestKind.STOP) and not data.get(
            "abonnement"
        ):
            self.add_error("abonnement", "Choisissez le service souscrit concerné.")
        if kind == ChangeRequestKind.OTHER and not (data.get("message") or "").strip():
            self.add_error("message", "Décrivez la modification demandée.")
        return data


class RefuseForm(FrenchForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "refus_%s")
        super().__init__(*args, **kwargs)
        self.fields["motif"] = MultilineTextField(label="Motif du refus (lu par le référent)")

    def clean_motif(self) -> str:
        text = self.cleaned_data["motif"].strip()
        if not text:
            raise ValidationError("Le motif est lu par le référent : il est obligatoire.")
        return text


def quote_reference_text(raw: object) -> str:
    return "".join(str(raw or "").split()).upper()[:20]
