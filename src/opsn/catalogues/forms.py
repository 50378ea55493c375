"""Formulaires des pages de catalogues : libellés français, bornes de `opsn.core.bounds`,
erreur à côté du champ, valeur saisie conservée (gabarit `gestion/_champ.html`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from opsn.catalogues.edition import PriceSite
from opsn.catalogues.services import LABEL_MAX, VERSION_MAX
from opsn.core import bounds
from opsn.gestion.forms import BoundedDateField, BoundedDecimalField, TextField, YearField
from opsn.plateforme.formulaires import FrenchForm


class UploadForm(FrenchForm):
    fichier = forms.FileField(
        label="Fichier du catalogue (.yaml)",
        help_text="Format décrit dans docs/catalogue.md ; vérifié comme par « opsn catalogue "
        "verifier ».",
        error_messages={"required": "Choisissez un fichier .yaml.", "empty": "Fichier vide."},
    )


class StratumForm(forms.Form):
    """`?population=`, `?agents=`, `?categorie=` du tableau comparatif : une valeur
    invalide est ignorée, avec un message."""

    def __init__(self, data: Any, *, categories: list[str], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.fields["population"] = BoundedDecimalField(
            label="Population (commune)", bound=bounds.POPULATION, required=False
        )
        self.fields["agents"] = BoundedDecimalField(
            label="Agents (établissement public, budget annexe)",
            bound=bounds.AGENTS,
            required=False,
        )
        self.fields["categorie"] = forms.MultipleChoiceField(
            label="Catégories",
            choices=[(c, c.replace("_", " ")) for c in categories],
            required=False,
            widget=forms.CheckboxSelectMultiple,
            error_messages={"invalid_choice": "Catégorie « %(value)s » inconnue."},
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("population") is not None and data.get("agents") is not None:
            raise ValidationError(
                "Population et agents s'excluent : une commune a une population, un "
                "établissement des agents."
            )
        return data

    def values(self) -> dict[str, Any]:
        if not self.is_bound or not self.is_valid():
            return {"population": None, "agents": None, "categories": []}
        data = self.cleaned_data
        as_int = {
            k: int(data[k]) if data.get(k) is not None else None for k in ("population", "agents")
        }
        return {**as_int, "categories": list(data.get("categorie") or [])}

    @property
    def problems(self) -> list[str]:
        if not self.is_bound or self.is_valid():
            return []
        return [f"{m} Valeur ignorée." for errors in self.errors.values() for m in errors]


class NewVersionForm(FrenchForm):
    """Nouvelle version : en-tête, année des prix et un champ par prix modifiable.

    `mode` « annee » (version de l'année suivante : chaque montant, proposé révisé par
    l'indice, est établi pour l'année choisie) ou « prix » (prix à renseigner seulement)."""

    def __init__(
        self,
        *args: Any,
        sites: list[PriceSite],
        mode: str,
        today: dt.date,
        movable: int,
        revisable: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_id", "%s")
        super().__init__(*args, **kwargs)
        self.sites = sites
        self.mode = mode
        self.fields["annee"] = YearField(
            label="Année des nouveaux prix" if mode == "annee" else "Année des prix renseignés",
            today=today,
            help_text="Les prix de la nouvelle version sont établis pour cette année ; ils "
            "sont révisés ensuite pas à pas comme le prévoit la clause du catalogue."
            if revisable or mode == "annee"
            else "Ce catalogue n'a pas de clause de révision : les prix renseignés sont "
            "écrits sans année et valent tels quels pour toute année de la version (R28). "
            "L'année sert seulement à nommer la version proposée.",
        )
        self.fields["version"] = TextField(
            label="Nom de la nouvelle version (clé « version »)", max_length=VERSION_MAX
        )
        self.fields["libelle"] = TextField(
            label="Libellé",
            max_length=LABEL_MAX,
            widget=forms.TextInput(attrs={"size": 70}),
        )
        if mode == "annee":
            self.fields["methode"] = forms.ChoiceField(
                label="Prix proposés",
                choices=[
                    ("indice", "révisés par la clause d'indice du catalogue"),
                    ("main", "repris tels quels, à modifier à la main"),
                ],
                widget=forms.RadioSelect,
                initial="indice",
            )
        else:
            self.fields["valide_du"] = BoundedDateField(
                label="En vigueur à partir du (facultatif)", today=today, required=False
            )
        for i, site in enumerate(sites):
            self.fields[f"p_{i}"] = BoundedDecimalField(
                label=f"{site.label} (€)",
                bound=bounds.AMOUNT,
                required=mode == "annee" and site.kind == "montant",
                help_text=f"Actuellement : {site.shown()}.",
            )
        if movable:
            self.fields["deplacer"] = forms.BooleanField(
                label=f"Rattacher à la nouvelle version les {movable} convention(s) qui "
                "utilisent celle-ci",
                required=False,
                help_text="Les pièces déjà émises gardent leur catalogue. Une année antérieure "
                "à celle des nouveaux prix ne pourra plus être facturée sur ces conventions.",
            )

    def price_fields(self) -> list[tuple[PriceSite, forms.BoundField]]:
        return [(site, self[f"p_{i}"]) for i, site in enumerate(self.sites)]
