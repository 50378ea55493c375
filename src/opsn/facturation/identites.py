"""Identités de l'émetteur et du débiteur : contrôles des clés et des données obligatoires.

Une facture électronique que la comptabilité publique accepte (EN 16931, règles françaises
BR-FR, PES V2) exige des identifiants valides et des adresses complètes. Ces contrôles
donnent la liste de *tous* les manques, en français, avant toute émission : une campagne ne
produit jamais une pièce que ces règles rejetteraient.
"""

from __future__ import annotations

import re
from typing import Any

# Code de schéma des identifiants (ISO 6523 ICD) : 0002 SIREN, 0009 SIRET ;
# adresse électronique de facturation en France : 0225 (identifiant d'adressage SIREN).
SIREN_SCHEME = "0002"
SIRET_SCHEME = "0009"
ELECTRONIC_SCHEMES = {"0225": "SIREN (annuaire de la facturation électronique)", "0009": "SIRET"}
LA_POSTE_SIREN = "356000000"
# Adresse électronique au schéma 0225 : le SIREN, suivi éventuellement d'un suffixe.
ADDRESS_0225 = re.compile(r"\d{9}([_A-Za-z0-9+-]{1,90})?")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def siren_valid(value: str) -> bool:
    return bool(re.fullmatch(r"\d{9}", value or "")) and luhn_ok(value)


def siret_valid(value: str) -> bool:
    if not re.fullmatch(r"\d{14}", value or ""):
        return False
    if value.startswith(LA_POSTE_SIREN):  # La Poste : somme des chiffres multiple de 5
        return sum(int(c) for c in value) % 5 == 0
    return luhn_ok(value)


def with_luhn_key(prefix: str) -> str:
    """Complète `prefix` de son chiffre de contrôle de Luhn (identifiants de démonstration)."""
    for key in "0123456789":
        if luhn_ok(prefix + key):
            return prefix + key
    raise AssertionError("inatteignable")


def vat_number_for(siren: str) -> str:
    """Numéro de TVA intracommunautaire français d'un SIREN (clé = (12 + 3 × (SIREN mod 97))
    mod 97)."""
    key = (12 + 3 * (int(siren) % 97)) % 97
    return f"FR{key:02d}{siren}"


def vat_number_valid(value: str) -> bool:
    match = re.fullmatch(r"FR(\d{2})(\d{9})", value or "")
    return bool(match) and vat_number_for(match.group(2)) == value


def iban_valid(value: str) -> bool:
    iban = (value or "").replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", iban):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def bic_valid(value: str) -> bool:
    return bool(re.fullmatch(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?", value or ""))


def postcode_valid(value: str) -> bool:
    return bool(re.fullmatch(r"\d{5}", value or ""))


def _siren_siret(errors: list[str], who: str, siren: str, siret: str) -> None:
    if not siren:
        errors.append(f"{who} : SIREN manquant.")
    elif not siren_valid(siren):
        errors.append(f"{who} : SIREN « {siren} » invalide (9 chiffres, clé de contrôle).")
    if not siret:
        errors.append(f"{who} : SIRET manquant.")
    elif not siret_valid(siret):
        errors.append(f"{who} : SIRET « {siret} » invalide (14 chiffres, clé de contrôle).")
    elif siren and siret[:9] != siren:
        errors.append(f"{who} : le SIRET « {siret} » ne commence pas par le SIREN « {siren} ».")


def _address(errors: list[str], who: str, obj: Any) -> None:
    if not (obj.address or "").strip():
        errors.append(f"{who} : adresse (numéro et voie) manquante.")
    if not obj.postcode:
        errors.append(f"{who} : code postal manquant.")
    elif not postcode_valid(obj.postcode):
        errors.append(f"{who} : code postal « {obj.postcode} » invalide (5 chiffres).")
    if not (obj.city or "").strip():
        errors.append(f"{who} : commune de l'adresse manquante.")


def _electronic(errors: list[str], who: str, obj: Any) -> None:
    scheme = obj.electronic_address_scheme or "0225"
    value = electronic_address(obj)
    if scheme not in ELECTRONIC_SCHEMES:
        errors.append(f"{who} : schéma d'adresse électronique « {scheme} » inconnu.")
    elif not value:
        errors.append(f"{who} : adresse électronique de facturation manquante.")
    elif scheme == "0225" and not ADDRESS_0225.fullmatch(value):
        errors.append(
            f"{who} : adresse électronique « {value} » invalide pour le schéma 0225 "
            "(SIREN, suivi éventuellement d'un suffixe)."
        )
    elif scheme == "0009" and not siret_valid(value):
        errors.append(f"{who} : adresse électronique « {value} » : SIRET invalide.")


def electronic_address(obj: Any) -> str:
    """Adresse électronique de facturation (BT-34 / BT-49) : celle saisie, sinon le SIREN
    (schéma 0225) ou le SIRET (schéma 0009)."""
    if obj.electronic_address:
        return obj.electronic_address
    if (obj.electronic_address_scheme or "0225") == "0009":
        return obj.siret or ""
    return obj.siren or ""


def operator_problems(operator: Any, *, vat_kinds: set[str] | None = None) -> list[str]:
    """Manques et erreurs de l'identité de l'émetteur ; `vat_kinds` : régimes de TVA des
    pièces à émettre (`ht`, `exonere`, `ttc`), pour les exigences propres à chacun."""
    who = "Émetteur"
    errors: list[str] = []
    if not (operator.name or "").strip():
        errors.append(f"{who} : raison sociale manquante.")
    _siren_siret(errors, who, operator.siren, operator.siret)
    _address(errors, who, operator)
    _electronic(errors, who, operator)
    if operator.vat_number and not vat_number_valid(operator.vat_number):
        errors.append(f"{who} : numéro de TVA « {operator.vat_number} » invalide.")
    if operator.vat_number and operator.siren and operator.vat_number[4:] != operator.siren:
        errors.append(f"{who} : le numéro de TVA ne correspond pas au SIREN.")
    kinds = vat_kinds or set()
    if kinds & {"ht", "exonere"} and not operator.vat_number:
        errors.append(
            f"{who} : numéro de TVA intracommunautaire manquant (obligatoire pour des "
            "prestations soumises à la TVA ou exonérées, règles BR-S-02 et BR-E-02)."
        )
    if "ttc" in kinds and not (operator.vat_outside_scope_mention or "").strip():
        errors.append(
            f"{who} : mention légale hors champ de TVA manquante (par exemple « TVA non "
            "applicable – article 256 B du CGI »)."
        )
    if "ttc" in kinds and kinds - {"ttc"}:
        errors.append(
            "Une même pièce ne peut mêler des prestations hors champ de TVA et des "
            "prestations soumises ou exonérées (règles BR-O-11 à BR-O-14) : séparez les "
            "conventions."
        )
    if not (operator.accountant_name or "").strip():
        errors.append(f"{who} : comptable public assignataire manquant.")
    if not operator.iban:
        errors.append(f"{who} : IBAN du compte au Trésor manquant.")
    elif not iban_valid(operator.iban):
        errors.append(f"{who} : IBAN « {operator.iban} » invalide (clé de contrôle).")
    if operator.bic and not bic_valid(operator.bic):
        errors.append(f"{who} : BIC « {operator.bic} » invalide.")
    return errors


def debtor_who(member: Any) -> str:
    """Début des motifs qui portent sur l'identité du débiteur `member`."""
    return f"Débiteur {member.name}"


def debtor_problems(member: Any) -> list[str]:
    """Manques et erreurs de l'identité du débiteur."""
    who = debtor_who(member)
    errors: list[str] = []
    _siren_siret(errors, who, member.siren, member.siret)
    _address(errors, who, member)
    _electronic(errors, who, member)
    if member.engagement_required and not (member.engagement_number or "").strip():
        errors.append(f"{who} : numéro d'engagement exigé par le débiteur et manquant.")
    return errors
