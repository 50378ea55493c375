"""Pages d'identité de facturation : celle de l'opérateur (émetteur, comptable public,
compte au Trésor, codes Hélios du PES) et celle de chaque adhérent (débiteur).

L'administrateur de l'opérateur et le chargé de facturation les tiennent à jour ; chaque
champ est contrôlé (clés SIREN, SIRET, IBAN, TVA) et l'erreur s'affiche à côté du champ,
la valeur saisie restant dans le formulaire. Les modifications passent au journal d'audit.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from opsn.facturation import identites
from opsn.gestion import selectors
from opsn.gestion.audit import acting_as
from opsn.gestion.models import Member, Operator, Role
from opsn.gestion.permissions import can, memberships, require

OPERATOR_GROUPS = [
    (
        "Identité légale et adresse",
        [
            *("name", "siren", "siret", "vat_number", "address", "address_complement"),
            *("postcode", "city", "email"),
        ],
    ),
    (
        "Facturation électronique et TVA",
        ["electronic_address", "electronic_address_scheme", "vat_outside_scope_mention"],
    ),
    (
        "Comptable public et compte au Trésor",
        ["accountant_name", "accountant_address", "iban", "bic"],
    ),
    (
        "Codes Hélios (PES V2), donnés par le comptable",
        ["pes_id_post", "pes_cod_col", "pes_cod_bud", "pes_budget_label", "pes_product_code"],
    ),
    (
        "Facture ASAP transmise par Hélios à Chorus Pro (PES_Facture)",
        [
            "pes_ref_bdf",
            "pes_signatory_last_name",
            "pes_signatory_first_name",
            "pes_signatory_role",
            "pes_collection_centre",
        ],
    ),
]
OPERATOR_FIELDS = [
    "name",
    "siren",
    "siret",
    "vat_number",
    "address",
    "address_complement",
    "postcode",
    "city",
    "email",
    "electronic_address",
    "electronic_address_scheme",
    "vat_outside_scope_mention",
    "accountant_name",
    "accountant_address",
    "iban",
    "bic",
    "pes_id_post",
    "pes_cod_col",
    "pes_cod_bud",
    "pes_budget_label",
    "pes_product_code",
    "pes_ref_bdf",
    "pes_signatory_last_name",
    "pes_signatory_first_name",
    "pes_signatory_role",
    "pes_collection_centre",
]
MEMBER_FIELDS = [
    "siren",
    "siret",
    "address",
    "address_complement",
    "postcode",
    "city",
    "email",
    "electronic_address",
    "electronic_address_scheme",
    "service_code",
    "engagement_number",
    "engagement_required",
]
SCHEME_CHOICES = [(k, f"{k} – {v}") for k, v in identites.ELECTRONIC_SCHEMES.items()]


def _digits(value: str) -> str:
    return re.sub(r"\s", "", value or "")


class _IdentityForm(forms.ModelForm):
    """Contrôles communs : chiffres sans espaces, clés de contrôle, cohérence SIREN/SIRET."""

    def clean_siren(self) -> str:
        value = _digits(self.cleaned_data.get("siren", ""))
        if value and not identites.siren_valid(value):
            raise ValidationError("SIREN invalide : 9 chiffres dont la clé de contrôle.")
        return value

    def clean_siret(self) -> str:
        value = _digits(self.cleaned_data.get("siret", ""))
        if value and not identites.siret_valid(value):
            raise ValidationError("SIRET invalide : 14 chiffres dont la clé de contrôle.")
        return value

    def clean_postcode(self) -> str:
        value = _digits(self.cleaned_data.get("postcode", ""))
        if value and not identites.postcode_valid(value):
            raise ValidationError("Code postal invalide : 5 chiffres.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        siren, siret = data.get("siren"), data.get("siret")
        if siren and siret and siret[:9] != siren:
            self.add_error("siret", "Le SIRET doit commencer par le SIREN.")
        scheme = data.get("electronic_address_scheme") or "0225"
        address = (data.get("electronic_address") or "").strip()
        if (
            address
            and scheme == "0225"
            and not re.fullmatch(r"\d{9}([_A-Za-z0-9+-]{1,90})?", address)
        ):
            self.add_error(
                "electronic_address",
                "Pour le schéma 0225, l'adresse commence par le SIREN (9 chiffres), suivi "
                "éventuellement d'un suffixe.",
            )
        if address and scheme == "0009" and not identites.siret_valid(address):
            self.add_error("electronic_address", "Pour le schéma 0009, l'adresse est un SIRET.")
        return data


class OperatorIdentityForm(_IdentityForm):
    electronic_address_scheme = forms.ChoiceField(
        label="Schéma de l'adresse électronique", choices=SCHEME_CHOICES
    )

    class Meta:
        model = Operator
        fields = OPERATOR_FIELDS

    def clean_vat_number(self) -> str:
        value = _digits(self.cleaned_data.get("vat_number", "")).upper()
        if value and not identites.vat_number_valid(value):
            raise ValidationError("Numéro de TVA invalide (FR, clé à 2 chiffres, SIREN).")
        return value

    def clean_iban(self) -> str:
        value = _digits(self.cleaned_data.get("iban", "")).upper()
        if value and not identites.iban_valid(value):
            raise ValidationError("IBAN invalide (clé de contrôle).")
        return value

    def clean_bic(self) -> str:
        value = _digits(self.cleaned_data.get("bic", "")).upper()
        if value and not identites.bic_valid(value):
            raise ValidationError("BIC invalide (8 ou 11 caractères).")
        return value

    def clean_pes_id_post(self) -> str:
        value = _digits(self.cleaned_data.get("pes_id_post", ""))
        if value and not re.fullmatch(r"[0-9]{6,7}|02[AB][0-9]{3,4}", value):
            raise ValidationError("Codique invalide : 6 ou 7 chiffres.")
        return value

    def clean_pes_cod_col(self) -> str:
        value = _digits(self.cleaned_data.get("pes_cod_col", ""))
        if value and not re.fullmatch(r"[0-9]{3}", value):
            raise ValidationError("Code collectivité invalide : 3 chiffres.")
        return value

    def clean_pes_cod_bud(self) -> str:
        value = _digits(self.cleaned_data.get("pes_cod_bud", "")).upper()
        if value and not re.fullmatch(r"[0-9A-Z][0-9]", value):
            raise ValidationError("Code budget invalide : 2 caractères (ex. 01).")
        return value

    def clean_pes_product_code(self) -> str:
        value = _digits(self.cleaned_data.get("pes_product_code", "")).upper()
        if value and not re.fullmatch(r"[0-9A-Z]{1,4}", value):
            raise ValidationError("Code produit invalide : 1 à 4 lettres ou chiffres.")
        return value


class MemberIdentityForm(_IdentityForm):
    electronic_address_scheme = forms.ChoiceField(
        label="Schéma de l'adresse électronique", choices=SCHEME_CHOICES
    )

    class Meta:
        model = Member
        fields = MEMBER_FIELDS


def _mark(form: forms.BaseForm) -> forms.BaseForm:
    for name in form.errors:
        if name in form.fields:
            form.fields[name].widget.attrs["aria-describedby"] = f"id_{name}_error"
    return form


def _staff_operator(request: HttpRequest, action: str) -> Operator:
    ops = [
        m.operator
        for m in memberships(request.user)
        if m.role != Role.REFERENT and can(request.user, action, operator=m.operator)
    ]
    if not ops:
        raise PermissionDenied("Réservé à l'administrateur ou au chargé de facturation.")
    code = request.GET.get("operateur") or request.POST.get("operateur")
    return next((o for o in ops if o.code == code), ops[0])


@login_required
def operator_identity(request: HttpRequest) -> HttpResponse:
    operator = _staff_operator(request, "facturer")
    form = OperatorIdentityForm(request.POST or None, instance=operator)
    if request.method == "POST":
        require(request.user, "facturer", operator=operator)
        if form.is_valid():
            with acting_as(request.user), transaction.atomic():
                form.save()
            messages.success(request, "Identité de l'opérateur enregistrée.")
            return redirect(f"{request.path}?operateur={operator.code}")
    problems = identites.operator_problems(operator, vat_kinds=set())
    status = 400 if form.errors else 200
    return render(
        request,
        "gestion/identite_operateur.html",
        {
            "operateur": operator,
            "form": _mark(form),
            "groupes": [
                (legend, [form[name] for name in names]) for legend, names in OPERATOR_GROUPS
            ],
            "manques": problems,
        },
        status=status,
    )


@login_required
def member_identity(request: HttpRequest, member_id: int) -> HttpResponse:
    member = selectors.member_get(user=request.user, member_id=member_id)
    if not can(request.user, "modifier_conventions", operator=member.operator_id, member=member):
        raise PermissionDenied("Votre rôle ne vous permet pas de modifier cet adhérent.")
    form = MemberIdentityForm(request.POST or None, instance=member)
    if request.method == "POST" and form.is_valid():
        with acting_as(request.user), transaction.atomic():
            form.save()
        messages.success(request, "Identité de facturation enregistrée.")
        return redirect("adherent", member_id=member.pk)
    problems = identites.debtor_problems(member)
    return render(
        request,
        "gestion/identite_adherent.html",
        {"adherent": member, "form": _mark(form), "manques": problems},
        status=400 if form.errors else 200,
    )
