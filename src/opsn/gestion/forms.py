"""Formulaires du back-office (adhérents, conventions) et des paramètres de page.

Chaque grandeur saisie est bornée par son domaine (`opsn.core.bounds`) ; l'erreur
s'affiche à côté du champ (gabarit `plateforme/_champ.html`, champ relié à son message par
`aria-describedby`, `aria-invalid`) et la valeur saisie reste dans le champ. Les paramètres
de requête (`?annee=`, `?operateur=`, `?q=`) passent par des formulaires aussi : une valeur
invalide donne un message et la valeur par défaut, jamais une erreur 500.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from opsn.core import bounds
from opsn.core.bounds import Bound, BoundError
from opsn.gestion.models import (
    ChangeRequest,
    Convention,
    Intervention,
    Member,
    MemberKind,
    UsageRecord,
)
from opsn.plateforme.formulaires import FrenchForm

# Une demande de modification ou un motif d'avenant : un message, pas un document.
MESSAGE_MAX_LENGTH = 5000
# Recherche d'adhérent : au-delà, ce n'est plus un nom (et SQLite refuse les motifs LIKE
# de plus de 50 000 octets).
QUERY_MAX_LENGTH = 200


def _max_length(model: type, name: str) -> int:
    return model._meta.get_field(name).max_length


class BoundedDecimalField(forms.CharField):
    """Nombre saisi à la française (« 1 234,5 ») dans le domaine `bound`."""

    def __init__(self, *, bound: Bound, **kwargs: Any) -> None:
        self.bound = bound
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "size": 10}))
        kwargs.setdefault("help_text", f"{bound.describe()[0].upper()}{bound.describe()[1:]}.")
        super().__init__(**kwargs)

    def clean(self, value: Any) -> Decimal | None:
        text = super().clean(value)
        if text in self.empty_values:
            return None
        try:
            return self.bound.parse(text)
        except BoundError as exc:
            raise ValidationError(str(exc), code="domaine") from None


class YearField(forms.CharField):
    """Année de facturation ou d'usage : de 2000 à l'année suivant `today`."""

    def __init__(self, *, today: dt.date, **kwargs: Any) -> None:
        self.today = today
        low, high = bounds.year_range(today)
        kwargs.setdefault("max_length", 12)
        kwargs.setdefault(
            "widget",
            forms.NumberInput(attrs={"min": low, "max": high, "step": 1, "inputmode": "numeric"}),
        )
        super().__init__(**kwargs)

    def clean(self, value: Any) -> int | None:
        text = super().clean(value)
        if text in self.empty_values:
            return None
        try:
            return bounds.check_year(text, self.today)
        except BoundError as exc:
            raise ValidationError(str(exc), code="domaine") from None


class BoundedDateField(forms.CharField):
    """Date AAAA-MM-JJ (ou JJ/MM/AAAA) réelle (pas de 30 février) et dans ses bornes."""

    def __init__(self, *, today: dt.date, **kwargs: Any) -> None:
        self.today = today
        kwargs.setdefault("max_length", 20)
        low, high = bounds.date_range(today)
        kwargs.setdefault(
            "widget",
            forms.DateInput(
                attrs={"type": "date", "min": low.isoformat(), "max": high.isoformat()}
            ),
        )
        super().__init__(**kwargs)

    def clean(self, value: Any) -> dt.date | None:
        text = super().clean(value)
        if text in self.empty_values:
            return None
        try:
            return bounds.parse_date(text, self.today)
        except BoundError as exc:
            raise ValidationError(str(exc), code="domaine") from None


class TextField(forms.CharField):
    """Texte d'une ligne, sans caractère de contrôle, à la longueur de sa colonne."""

    def clean(self, value: Any) -> str:
        text = super().clean(value)
        try:
            return bounds.check_text(text, self.max_length or MESSAGE_MAX_LENGTH)
        except BoundError as exc:
            raise ValidationError(str(exc), code="domaine") from None


class MultilineTextField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", MESSAGE_MAX_LENGTH)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3, "cols": 60}))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        text = super().clean(value)
        try:
            return bounds.check_text(text, self.max_length, multiline=True)
        except BoundError as exc:
            raise ValidationError(str(exc), code="domaine") from None


# -- fiche adhérent ----------------------------------------------------------------------


class InterventionForm(FrenchForm):
    service_fields = {"day": "date", "days": "jours", "label": "objet", "allowance": "dotation"}

    def __init__(self, *args: Any, today: dt.date, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "i_%s")
        super().__init__(*args, **kwargs)
        self.fields["date"] = BoundedDateField(label="Date", today=today, initial=today)
        self.fields["jours"] = BoundedDecimalField(
            label="Durée (jours, par demi-journée)", bound=bounds.DAYS
        )
        self.fields["objet"] = TextField(
            label="Objet", max_length=_max_length(Intervention, "label")
        )
        self.fields["dotation"] = TextField(
            label="Dotation imputée (facultatif)",
            max_length=_max_length(Intervention, "allowance"),
            required=False,
        )


class UsageForm(FrenchForm):
    service_fields = {"year": "annee", "counter": "compteur", "quantity": "quantite"}

    def __init__(self, *args: Any, today: dt.date, year: int, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "u_%s")
        super().__init__(*args, **kwargs)
        self.fields["annee"] = YearField(label="Année", today=today, initial=year)
        self.fields["compteur"] = TextField(
            label="Compteur (ex. sauvegarde_go, actes_mairie, sms, donnees_go)",
            max_length=_max_length(UsageRecord, "counter"),
        )
        self.fields["quantite"] = forms.CharField(
            label="Quantité",
            max_length=40,
            widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 10}),
            help_text=f"Go : {bounds.GB.describe()} ; autres compteurs : "
            f"{bounds.USAGE.describe()}.",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "quantite" in data and "compteur" in data:
            bound = bounds.usage_bound(data["compteur"])
            try:
                data["quantite"] = bound.parse(data["quantite"])
            except BoundError as exc:
                self.add_error("quantite", str(exc))
        return data


class ChangeRequestForm(FrenchForm):
    service_fields = {"message": "message"}

    def __init__(self, *args: Any, member: Member, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "d_%s")
        super().__init__(*args, **kwargs)
        self.fields["convention"] = forms.ModelChoiceField(
            label="Convention concernée",
            queryset=member.conventions.all(),
            required=False,
            empty_label="— aucune en particulier —",
        )
        self.fields["message"] = MultilineTextField(
            label="Votre demande (postes à ajouter, service à arrêter…)"
        )


class ChangeRequestCloseForm(FrenchForm):
    def __init__(self, *args: Any, member: Member, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cloturer"] = forms.ModelChoiceField(
            queryset=ChangeRequest.objects.filter(member=member, handled_at__isnull=True),
            error_messages={"invalid_choice": "Demande inconnue ou déjà traitée."},
        )


# -- avenant -------------------------------------------------------------------------------


class AmendmentForm(FrenchForm):
    """Avenant : date d'effet, préavis, quantités de chaque abonnement en cours, fin
    d'abonnement, nouvel abonnement ; les noms de champs sont ceux de la page."""

    def __init__(
        self,
        *args: Any,
        rows: list[dict[str, Any]],
        new_services: dict[str, list[tuple[str, str]]],
        service_choices: list[tuple[str, str]],
        today: dt.date,
        convention: Convention,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_id", "%s")
        if args and args[0] is not None:
            # une quantité absente de la requête reste celle en vigueur (champ vide : erreur)
            data = args[0].copy()
            for row in rows:
                for q in row["quantites"] if row["obj"].ended_on is None else ():
                    data.setdefault(f"q_{row['obj'].pk}_{q['code']}", str(q["valeur"]))
            args = (data, *args[1:])
        super().__init__(*args, **kwargs)
        self.rows = rows
        self.new_services = new_services
        self.fields["date_effet"] = BoundedDateField(
            label="Date d'effet", today=today, initial=today.isoformat()
        )
        self.fields["preavis_recu"] = BoundedDateField(
            label="Préavis reçu le (facultatif)",
            today=today,
            required=False,
            initial=convention.notice_received_on.isoformat()
            if convention.notice_received_on
            else "",
        )
        for row in rows:
            sub = row["obj"]
            if sub.ended_on is not None:
                continue
            for q in row["quantites"]:
                self.fields[f"q_{sub.pk}_{q['code']}"] = BoundedDecimalField(
                    label=q["libelle"], bound=bounds.QUANTITY, initial=q["valeur"]
                )
            self.fields[f"fin_{sub.pk}"] = forms.BooleanField(
                label="Mettre fin à cet abonnement", required=False
            )
        self.fields["nouveau_service"] = forms.ChoiceField(
            label="Service",
            choices=[("", "— aucun —"), *service_choices],
            required=False,
            error_messages={"invalid_choice": "Service « %(value)s » inconnu."},
        )
        for code, quantities in new_services.items():
            for qcode, qlabel in quantities:
                self.fields[f"nouveau_{code}_{qcode}"] = BoundedDecimalField(
                    label=f"{qlabel} ({code})", bound=bounds.QUANTITY, required=False
                )
        self.fields["motif"] = MultilineTextField(
            label="Motif de l'avenant",
            required=False,
            widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        )

    def subscription_fields(self, row: dict[str, Any]) -> list[forms.BoundField]:
        sub = row["obj"]
        return [self[f"q_{sub.pk}_{q['code']}"] for q in row["quantites"]]

    def new_service_fields(self) -> list[forms.BoundField]:
        return [
            self[f"nouveau_{code}_{qcode}"]
            for code, quantities in self.new_services.items()
            for qcode, _ in quantities
        ]


# -- paramètres de page -----------------------------------------------------------------------


class YearQueryForm(forms.Form):
    """`?annee=` : une année invalide donne un message et l'année par défaut."""

    def __init__(self, data: Any, *, today: dt.date, default: int, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.default = default
        self.fields["annee"] = YearField(label="Année", today=today, required=False)

    @property
    def year(self) -> int:
        if self.is_valid() and self.cleaned_data.get("annee") is not None:
            return self.cleaned_data["annee"]
        return self.default

    @property
    def problem(self) -> str:
        """Message à afficher quand la valeur reçue a été écartée."""
        if self.is_valid():
            return ""
        return f"Année ignorée : {' '.join(self.errors['annee'])} Année {self.default} affichée."


class MemberFilterForm(forms.Form):
    """Filtres de la liste des adhérents ; une valeur invalide est ignorée."""

    q = forms.CharField(required=False, max_length=QUERY_MAX_LENGTH, strip=True)
    type = forms.ChoiceField(required=False, choices=[("", "Tous"), *MemberKind.choices])
    operateur = forms.CharField(required=False, max_length=40)

    def value(self, name: str) -> str:
        if self.is_valid():
            return self.cleaned_data.get(name) or ""
        return "" if name in self.errors else (self.cleaned_data.get(name) or "")

    @property
    def problems(self) -> list[str]:
        labels = {"q": "Recherche", "type": "Type", "operateur": "Opérateur"}
        return [f"{labels[k]} ignoré : {' '.join(v)}" for k, v in self.errors.items()]


# -- connexion ---------------------------------------------------------------------------------


def axes_username(request: Any, credentials: dict[str, Any] | None = None) -> str:
    """Identifiant que django-axes note et compte (réglage AXES_USERNAME_CALLABLE) : celui
    de la tentative, borné à la longueur d'un identifiant (150 caractères)."""
    from django.contrib.auth import get_user_model

    field = get_user_model().USERNAME_FIELD
    source = credentials if credentials else getattr(request, "POST", {}) or {}
    value = source.get(field) or source.get("username") or ""
    return str(value)[: get_user_model()._meta.get_field(field).max_length or 150]
