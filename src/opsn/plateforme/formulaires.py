"""Formulaires des pages de la plateforme : libellés français, erreurs à côté du champ,
valeur saisie conservée."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from opsn.gestion.models import Member, Operator, Role


class FrenchForm(forms.Form):
    """Les erreurs d'un service (`ValidationError` par champ du service) vont au champ du
    formulaire correspondant ; le champ en erreur est relié à son message (RGAA)."""

    service_fields: dict[str, str] = {}

    def add_service_errors(self, exc: ValidationError) -> None:
        if hasattr(exc, "error_dict"):
            for key, errors in exc.message_dict.items():
                name = self.service_fields.get(key)
                for message in errors:
                    self.add_error(name if name in self.fields else None, message)
        else:
            for message in exc.messages:
                self.add_error(None, message)

    def mark_errors(self) -> FrenchForm:
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["aria-describedby"] = f"{name}-erreur"
        return self


class IndexValueForm(FrenchForm):
    service_fields = {
        "month": "mois",
        "value": "valeur",
        "series": "serie",
        "source": "source",
        "reason": "motif",
    }
    mois = forms.CharField(
        label="Mois (AAAA-MM)",
        max_length=7,
        widget=forms.TextInput(attrs={"pattern": r"\d{4}-(0[1-9]|1[0-2])", "size": 8}),
    )
    valeur = forms.CharField(
        label="Valeur", max_length=30, widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    serie = forms.ChoiceField(
        label="Série",
        choices=[("revisee", "révisée (depuis août 2022)"), ("ancienne", "ancienne")],
    )
    source = forms.CharField(label="Source (où la valeur est publiée)", max_length=300)
    motif = forms.CharField(
        label="Motif de la correction (si le mois est déjà saisi)",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )

    def __init__(self, *args: Any, today: dt.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_valeur(self) -> Decimal:
        from opsn.plateforme.indices import parse_value

        try:
            return parse_value(self.cleaned_data["valeur"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["value"]) from None

    def clean(self) -> dict[str, Any]:
        """Mêmes règles que le service (mois, bornes, série), toutes signalées d'un coup."""
        from opsn.plateforme.indices import check_value

        data = super().clean()
        try:
            check_value(
                index="syntec",
                month=(self.data.get("mois") or "").strip(),
                value=data.get("valeur", Decimal(1)) if "valeur" in data else Decimal(1),
                series=self.data.get("serie") or "",
                today=self.today,
            )
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                name = self.service_fields[key]
                if key == "value" and "valeur" not in data:
                    continue  # déjà signalé : pas un nombre
                if name in self.errors:
                    continue
                for message in messages:
                    self.add_error(name, message)
        return data


class InviteForm(FrenchForm):
    service_fields = {
        "username": "identifiant",
        "first_name": "prenom",
        "last_name": "nom",
        "email": "courriel",
        "role": "role",
        "member": "adherent",
    }
    identifiant = forms.CharField(label="Identifiant de connexion", max_length=150)
    prenom = forms.CharField(label="Prénom", max_length=150, required=False)
    nom = forms.CharField(label="Nom", max_length=150, required=False)
    courriel = forms.EmailField(label="Courriel", required=False)
    role = forms.ChoiceField(label="Rôle", choices=Role.choices)
    adherent = forms.ModelChoiceField(
        label="Adhérent (pour un référent)",
        queryset=Member.objects.none(),
        required=False,
        empty_label="— aucun —",
    )

    def __init__(self, *args: object, operator: Operator, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["adherent"].queryset = Member.objects.filter(operator=operator).order_by("name")


class RoleForm(FrenchForm):
    service_fields = {"role": "role", "member": "adherent"}
    role = forms.ChoiceField(label="Nouveau rôle", choices=Role.choices)
    adherent = forms.ModelChoiceField(
        label="Adhérent (pour un référent)",
        queryset=Member.objects.none(),
        required=False,
        empty_label="— aucun —",
    )

    def __init__(self, *args: object, operator: Operator, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["adherent"].queryset = Member.objects.filter(operator=operator).order_by("name")


class OperatorForm(FrenchForm):
    service_fields = {
        "code": "code",
        "name": "raison_sociale",
        "siren": "siren",
        "username": "identifiant_admin",
        "email": "courriel_admin",
    }
    code = forms.CharField(label="Code (par exemple cdg82)", max_length=40)
    raison_sociale = forms.CharField(label="Raison sociale", max_length=200)
    siren = forms.CharField(label="SIREN (facultatif)", max_length=11, required=False)
    identifiant_admin = forms.CharField(
        label="Identifiant de son premier administrateur", max_length=150
    )
    courriel_admin = forms.EmailField(label="Courriel de l'administrateur", required=False)

    def clean_code(self) -> str:
        from django.utils.text import slugify

        code = self.cleaned_data["code"].strip().lower()
        if slugify(code) != code:
            raise ValidationError(
                "Code : lettres minuscules, chiffres et tirets (par exemple cdg82)."
            )
        return code

    def clean_siren(self) -> str:
        siren = self.cleaned_data["siren"].replace(" ", "")
        if siren and not (siren.isdigit() and len(siren) == 9):
            raise ValidationError("SIREN : 9 chiffres.")
        return siren
