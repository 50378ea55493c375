"""Identités de démonstration, complètes et plausibles, aux clés de contrôle valides.

Les SIREN, SIRET, IBAN et codes Hélios des opérateurs sont **fictifs** (sauf le SIREN de
Gironde Numérique, imprimé dans le catalogue) : ils ont la forme et les clés des vrais, pour
que la démonstration et les tests produisent des pièces que les règles de la facturation
électronique et le XSD du PES acceptent. Les adresses des adhérents sont celles de leur
mairie ou de leur siège : commune et code postal viennent du référentiel.
"""

from __future__ import annotations

from typing import Any

from opsn.facturation.identites import siret_valid, with_luhn_key


def rib_iban(bank: str, branch: str, account: str) -> str:
    """IBAN français d'un RIB (clé RIB et clé IBAN calculées)."""
    rib_key = 97 - ((89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97)
    bban = f"{bank}{branch}{account}{rib_key:02d}"
    check = 98 - int("".join(str(int(c, 36)) for c in bban + "FR00")) % 97
    return f"FR{check:02d}{bban}"


OPERATORS: dict[str, dict[str, Any]] = {
    "cdg82": {
        "siren": with_luhn_key("28820001"),
        "address": "23 boulevard Vincent Auriol",
        "postcode": "82000",
        "city": "Montauban",
        "email": "facturation@cdg82.example.fr",
        "vat_outside_scope_mention": (
            "TVA non applicable – article 256 B du CGI (personne morale de droit public, "
            "activité hors du champ de la TVA)."
        ),
        "accountant_name": "Service de gestion comptable de Montauban",
        "accountant_address": "Cité administrative, 82000 Montauban",
        "iban": rib_iban("30001", "00804", "00000820001"),
        "pes_id_post": "082045",
        "pes_cod_col": "082",
        "pes_cod_bud": "01",
    },
    "cdg47": {
        "siren": with_luhn_key("28470001"),
        "address": "1 rue du Président Carnot",
        "postcode": "47000",
        "city": "Agen",
        "email": "facturation@cdg47.example.fr",
        "vat_outside_scope_mention": (
            "TVA non applicable – article 256 B du CGI (personne morale de droit public, "
            "activité hors du champ de la TVA)."
        ),
        "accountant_name": "Service de gestion comptable d'Agen",
        "accountant_address": "Cité administrative, 47000 Agen",
        "iban": rib_iban("30001", "00475", "00000470001"),
        "pes_id_post": "047012",
        "pes_cod_col": "047",
        "pes_cod_bud": "01",
    },
    "gironde-numerique": {
        "siren": "200010049",
        "address": "Immeuble Gironde, 39 rue de Cursol",
        "postcode": "33000",
        "city": "Bordeaux",
        "email": "facturation@girondenumerique.example.fr",
        "vat_outside_scope_mention": "",
        "accountant_name": "Paierie départementale de la Gironde",
        "accountant_address": "Hôtel du Département, 33000 Bordeaux",
        "iban": rib_iban("30001", "00330", "00000330001"),
        "pes_id_post": "033101",
        "pes_cod_col": "033",
        "pes_cod_bud": "01",
    },
}


def fill_operator(operator: Any, *, save: bool = True) -> Any:
    """Complète l'identité d'un opérateur livré (les champs déjà remplis restent)."""
    data = dict(OPERATORS.get(operator.code, {}))
    if not data:
        data = {
            "siren": with_luhn_key("2990000" + f"{operator.pk or 0:02d}"[-2:]),
            "address": "1 place de la Mairie",
            "postcode": "75001",
            "city": "Paris",
            "vat_outside_scope_mention": "TVA non applicable – article 256 B du CGI.",
            "accountant_name": "Service de gestion comptable",
            "iban": rib_iban("30001", "00001", "00000000001"),
            "pes_id_post": "099999",
            "pes_cod_col": "999",
            "pes_cod_bud": "01",
        }
    if operator.siren and operator.siren != data["siren"]:
        data["siren"] = operator.siren
    data["siret"] = with_luhn_key(data["siren"] + "0001")
    data["bic"] = "BDFEFRPPCCT"
    data["pes_budget_label"] = "Budget principal"
    data["pes_product_code"] = "PRES"
    # Avis des sommes à payer (ASAP) des titres : réglages fictifs que donne le comptable.
    data.setdefault("accountant_address", f"{data['address']}, {data['postcode']} {data['city']}")
    data["pes_ref_bdf"] = f"{data['pes_cod_col']}{data['pes_cod_bud']}001"
    data["pes_signatory_last_name"] = "Martin"
    data["pes_signatory_first_name"] = "Claude"
    data["pes_signatory_role"] = "Le Président"
    data["pes_collection_centre"] = "TSA 90000, 35908 Rennes Cedex 9"
    data["pes_accounts"] = {
        "706": {"nature": "70688", "produit": "PRES"},
        "70688": {"nature": "70688", "produit": "PRES"},
    }
    if operator.code == "gironde-numerique":
        from opsn.facturation.identites import vat_number_for

        data["vat_number"] = vat_number_for(data["siren"])
    for field, value in data.items():
        if not getattr(operator, field, None):
            setattr(operator, field, value)
    if save:
        operator.save()
    return operator


def debtor_fields(
    *, kind: str, name: str, siren: str, postcode: str = "", city: str = ""
) -> dict[str, Any]:
    """SIRET du siège (SIREN + NIC de démonstration, clé valide) et adresse de la mairie ou
    du siège."""
    fields: dict[str, Any] = {}
    if siren:
        fields["siret"] = with_luhn_key(siren + "0001")
    fields["address"] = "Mairie, place de la Mairie" if kind == "commune" else "Siège"
    fields["postcode"] = postcode
    fields["city"] = city or name
    return fields


def fill_member(member: Any, referentiel: Any = None, *, save: bool = True) -> Any:
    """Complète l'identité d'un adhérent (SIRET valide, adresse, commune et code postal du
    référentiel)."""
    postcode, city = member.postcode, member.city
    if not postcode and referentiel is not None:
        commune = None
        if member.insee:
            commune = referentiel.par_code(member.insee)
        elif member.kind == "epci" and member.siren:
            epci = referentiel.par_code(member.siren)
            if epci is not None and getattr(epci, "membres", None):
                commune = referentiel.par_code(epci.membres[0])
        if commune is not None and getattr(commune, "codes_postaux", None):
            postcode, city = commune.codes_postaux[0], commune.nom
    fields = debtor_fields(
        kind=member.kind,
        name=member.name,
        siren=member.siren,
        postcode=postcode or "33000",
        city=city or member.name,
    )
    if siret_valid(member.siret or "") and member.siret[:9] == member.siren:
        fields.pop("siret", None)
    for field, value in fields.items():
        if field == "siret" or not getattr(member, field, None):
            setattr(member, field, value)
    if save:
        member.save()
    return member
