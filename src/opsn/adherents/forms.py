"""Formulaires des pages d'adhérents : libellés français, bornes de `opsn.core.bounds`,
erreur à côté du champ, valeur saisie conservée (gabarit `gestion/_champ.html`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from opsn.adherents.services import BODY_KINDS
from opsn.core import bounds
from opsn.gestion.forms import QUERY_MAX_LENGTH, BoundedDecimalField, TextField
from opsn.gestion.models import Member, MemberKind, Operator
from opsn.plateforme.formulaires import FrenchForm


class ReferentialSearchForm(forms.Form):
    """`?q=` de la recherche dans le référentiel ; une valeur invalide est ignorée."""

    q = forms.CharField(required=False, max_length=QUERY_MAX_LENGTH, strip=True)
    code = forms.CharField(required=False, max_length=40, strip=True)

    def value(self, name: str) -> str:
        if self.is_valid():
            text = self.cleaned_data.get(name) or ""
        else:
            text = "" if name in self.errors else (self.cleaned_data.get(name) or "")
        try:
            return bounds.check_text(text, QUERY_MAX_LENGTH)
        except bounds.BoundError:
            return ""


class ReferentialAddForm(FrenchForm):
    """Confirmation de l'ajout d'une entité du référentiel."""

    service_fields = {"code": "code"}
    code = TextField(label="Code INSEE ou SIREN", max_length=40)
    rattacher = forms.BooleanField(
        label="Rattacher à cet EPCI ses communes déjà adhérentes", required=False, initial=True
    )


class BodyForm(FrenchForm):
    """Syndicat, CCAS, établissement public ou budget annexe, saisi avec ses agents."""

    service_fields = {
        "kind": "type",
        "name": "nom",
        "agents": "agents",
        "siren": "siren",
        "parent": "rattache_a",
        "population": "population",
    }

    def __init__(self, *args: Any, operator: Operator, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "o_%s")
        super().__init__(*args, **kwargs)
        self.fields["type"] = forms.ChoiceField(
            label="Type",
            choices=[(k.value, k.label) for k in BODY_KINDS],
            error_messages={"invalid_choice": "Type « %(value)s » inconnu."},
        )
        self.fields["nom"] = TextField(
            label="Nom", max_length=Member._meta.get_field("name").max_length
        )
        self.fields["agents"] = BoundedDecimalField(label="Nombre d'agents", bound=bounds.AGENTS)
        self.fields["siren"] = TextField(label="SIREN (facultatif)", max_length=11, required=False)
        self.fields["rattache_a"] = forms.ModelChoiceField(
            label="Collectivité de rattachement (facultatif)",
            queryset=Member.objects.filter(
                operator=operator, kind__in=(MemberKind.COMMUNE, MemberKind.EPCI)
            ).order_by("name"),
            required=False,
            empty_label="— aucune —",
            error_messages={"invalid_choice": "Collectivité inconnue chez cet opérateur."},
        )
        self.fields["population"] = BoundedDecimalField(
            label="Population desservie (facultatif)", bound=bounds.POPULATION, required=False
        )

    def clean_siren(self) -> str:
        return (self.cleaned_data.get("siren") or "").replace(" ", "")

    @staticmethod
    def as_int(value: Decimal | None) -> int | None:
        return int(value) if value is not None else None


class AmountsForm(FrenchForm):
    """Montants saisis des composantes sur devis (ou à renseigner) des abonnements d'une
    convention ; un champ vidé rend la composante au prix du catalogue."""

    def __init__(self, *args: Any, rows: list[dict[str, Any]], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "%s")
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            for item in row["composantes"]:
                self.fields[item["champ"]] = BoundedDecimalField(
                    label=item["libelle"],
                    bound=bounds.AMOUNT,
                    required=False,
                    initial=item["valeur"],
                    help_text=item["aide"],
                )
        self.fields["reference"] = TextField(
            label="Référence du devis ou du bon de commande (facultatif)",
            max_length=200,
            required=False,
        )

    def row_fields(self, row: dict[str, Any]) -> list[forms.BoundField]:
        return [self[item["champ"]] for item in row["composantes"]]


class DeleteForm(FrenchForm):
    """Confirmation d'une suppression, avec son motif (noté au journal)."""

    service_fields = {"reason": "motif"}
    motif = TextField(label="Motif (facultatif, noté au journal)", max_length=300, required=False)
