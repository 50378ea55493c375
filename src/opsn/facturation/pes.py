"""Flux PES V2 Recette (Hélios) : les titres de recettes des factures et avoirs émis.

Pour une année facturée d'un opérateur, `pes_export` produit un flux `PES_Aller` (TypFic
PESALR1, non signé : InfoDematerialisee 0) valide contre le XSD de la DGFiP livré dans
`opsn/data/pes-v2/` (voir son SOURCE.md) :

- un **titre** (Piece) par facture, un **titre correctif** (TypPce 02, NatPce 06,
  rattaché au titre d'origine) par avoir ; groupés en **bordereaux** (TypBord 01 pour les
  titres, 02 pour les annulations-réductions) par exercice, type et date d'émission ;
  un avoir partiel (lignes ou montant) réduit les lignes d'origine de même imputation,
  puis de même taux, sans dépasser ce que les avoirs précédents ont laissé ;
- une ligne de titre par imputation du catalogue et par taux de TVA, l'imputation passant
  par `Operator.pes_accounts` (nature, code produit local, fonction) ;
- le bloc Tiers du débiteur (catégorie et nature juridique selon son type, SIRET,
  adresse) ;
- le PDF Factur-X de chaque pièce en pièce jointe (PES_PJ : gzip puis base64) ;
- pour un débiteur public (tous nos adhérents), l'**ASAP CPP** : Edition 02, numéro de
  facture, code service et engagement, et une PJ de type 006 portant un PES_Facture
  (TypeFact 09) qu'Hélios transmet à Chorus Pro. Ce PES_Facture est lui-même validé.

**Exercice et numéros.** L'exercice d'un titre est l'année de la date d'émission de sa
pièce (la date du bordereau, DteBordEm, est celle des pièces qu'il porte). Les numéros de
bordereau (IdBord, par exercice et type) et de titre (IdPce, par exercice) ne suivent pas
ceux des factures : ils sont donnés une fois pour toutes, dans une seule transaction sous
verrou (`number_titres`), avant la construction du fichier. Un arrêt pendant la
numérotation n'écrit rien ; un arrêt après laisse des numéros que la relance réémet à
l'identique ; une relance ne numérote que les pièces nouvelles. Ni trou, ni doublon.
Le flux porte toutes les pièces de l'année facturée ; `only_new` le limite aux bordereaux
créés par le dernier export (ceux qui portent le nom du flux complet actuel), pour ne pas
renvoyer au comptable des bordereaux déjà intégrés (rejetés comme doublons).

**Réduction d'un titre d'un exercice antérieur.** Elle passe en comptabilité publique par
un mandat (domaine Dépense, triplet 01 02 09), qu'opsn ne produit pas : un tel avoir est
refusé avec un message qui le nomme (à traiter dans le logiciel de dépenses).

Ce qui reste à vérifier avec le comptable (grilles des triplets et des catégories de tiers,
voie ASAP 02 ou 09, encapsulation du PES_Facture, type de la PJ du PDF…) est listé dans
`docs/facturation.md`, section « Flux PES V2 Recette ».
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max
from lxml import etree

from opsn.core.money import ZERO, round_cents
from opsn.facturation.identites import postcode_valid, siret_valid
from opsn.gestion.models import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    Member,
    Operator,
    PesBordereau,
    PesTitre,
)
from opsn.gestion.permissions import require

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "data" / "pes-v2" / "schemas_pes_v5.30"
SCHEMA = SCHEMA_DIR / "PES_V2" / "Rev0" / "PES_Aller.xsd"
NS_ALLER = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller"

TYP_FIC = "PESALR1"
BORD_TITRES = "01"  # bordereau ordinaire
BORD_REDUCTIONS = "02"  # bordereau d'annulation-réduction
EDITION_ASAP_CPP = "02"
TYPE_FACT_ASAP = "09"
PJ_RECETTE = "002"
PJ_PES_FACTURE = "006"
PJ_ASAP_COMPLEMENT = "008"  # document complémentaire à l'ASAP CPP (PDF de la facture)
MAX_PIECES = 99_999  # NbrPce : 5 chiffres
MAX_ASAP_LINES = 999  # Ordre : 3 chiffres
SOFTWARE = "OPSN"
LOCK_KEY = 4243  # verrou consultatif PostgreSQL des titres (4242 : séquences de factures)

# Catégorie de tiers (CatTiers) et nature juridique (NatJur) par type d'adhérent : grille
# « Cat/Nat » de la DGFiP (annexe non publiée dans le XSD, à vérifier avec le comptable).
TIERS_CATEGORY: dict[str, tuple[str, str]] = {
    "commune": ("23", "09"),
    "epci": ("24", "09"),
    "syndicat": ("24", "09"),
    "ccas": ("26", "09"),
    "etablissement_public": ("29", "09"),
}
# L'émetteur (CDG, syndicat mixte : établissement public local) dans le PES_Facture ;
# donnée non reprise sur l'ASAP.
ISSUER_CATEGORY = ("29", "09")
# Tous nos débiteurs sont des personnes publiques : leurs titres portent l'ASAP CPP.
PUBLIC_KINDS = frozenset(TIERS_CATEGORY) | {"budget_annexe"}

Progress = Callable[[int, int], None]


class PesSchemaError(ValidationError):
    """Un document PES ne respecte pas le XSD de la DGFiP."""


# -- textes et montants -----------------------------------------------------------------

_TYPO = str.maketrans(
    {
        "–": "-",
        "—": "-",
        "’": "'",
        "‘": "'",
        "«": '"',
        "»": '"',
        "€": "EUR",
        "\u202f": " ",
        "\xa0": " ",
        "œ": "oe",
        "Œ": "OE",
        "æ": "ae",
        "Æ": "AE",
    }
)


def _ascii(text: str) -> str:
    """Texte sans accents ni caractères hors ASCII (les flux PES transitent aussi en
    ISO-8859-1) ; espaces normalisés."""
    text = unicodedata.normalize("NFKD", (text or "").translate(_TYPO))
    text = "".join(c for c in text if not unicodedata.combining(c) and 32 <= ord(c) < 127)
    return " ".join(text.split())


def _text(value: str, size: int) -> str:
    return _ascii(value)[:size].strip()


def _postal(value: str, size: int = 38) -> str:
    """Norme postale : majuscules, sans accent ni ponctuation."""
    text = re.sub(r"[^A-Z0-9 ]", " ", _ascii(value).upper())
    return " ".join(text.split())[:size].strip()


def _split_name(name: str) -> tuple[str, str]:
    """Nom (38 caractères) et complément de nom (38) à la norme postale."""
    words, first, rest = _postal(name, 200).split(), "", ""
    for word in words:
        if not rest and len(f"{first} {word}".strip()) <= 38:
            first = f"{first} {word}".strip()
        else:
            rest = f"{rest} {word}".strip()
    return first or _postal(name), rest[:38].strip()


def _amount(value: Decimal) -> str:
    return f"{round_cents(value):.2f}"


def _rate(value: Decimal) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01')):.2f}"


_ADDRESS = re.compile(r"^\s*(?P<street>.*?)[\s,]*(?P<cp>\d{5})\s+(?P<city>[^,\d][^,]*?)\s*$")


def split_address(text: str) -> tuple[str, str, str] | None:
    """« 12 rue X, 33000 Bordeaux » → (« 12 rue X », « 33000 », « Bordeaux ») ; None si le
    code postal et la ville ne s'y trouvent pas en fin d'adresse."""
    match = _ADDRESS.match(text or "")
    if not match:
        return None
    return match["street"].strip(" ,"), match["cp"], match["city"].strip()


# -- lignes de titre ---------------------------------------------------------------------


@dataclass(frozen=True)
class TitreLine:
    """Ligne d'un titre : une imputation et un taux de TVA ; montants positifs."""

    number: int
    account: str
    nature: str
    product: str
    function: str
    vat_kind: str
    rate: Decimal
    net: Decimal
    vat: Decimal
    label: str
    origin: int | None = None  # réduction : n° de la ligne du titre d'origine (IdLigneOrig)

    @property
    def key(self) -> tuple[str, str, str, str, Decimal]:
        return (self.nature, self.product, self.function, self.vat_kind, self.rate)


def _mapping(operator: Operator, account: str) -> dict[str, str]:
    raw = (operator.pes_accounts or {}).get(account) or {}
    if not isinstance(raw, dict):
        raw = {}
    return {
        "nature": str(raw.get("nature") or account or "").strip(),
        "produit": str(raw.get("produit") or operator.pes_product_code or "").strip(),
        "fonction": str(raw.get("fonction") or "").strip(),
    }


def _vat_totals(invoice: Invoice, bases: dict[tuple[str, Decimal], Decimal]) -> dict:
    """TVA de la pièce par (régime, taux), telle qu'elle figure sur la facture (calculée sur
    le total de chaque taux) ; recalculée si le détail manque."""
    totals: dict[tuple[str, Decimal], Decimal] = {}
    for item in invoice.vat_breakdown or []:
        try:
            key = (str(item["type"]), Decimal(str(item["taux"])).quantize(Decimal("0.01")))
            totals[key] = totals.get(key, ZERO) + Decimal(str(item["tva"]))
        except (KeyError, ArithmeticError, ValueError):
            continue
    for key, base in bases.items():
        if key not in totals:
            totals[key] = round_cents(base * key[1] / 100)
    return totals


def titre_lines(invoice: Invoice, operator: Operator) -> list[TitreLine]:
    """Lignes du titre d'une pièce : ses lignes de facture groupées par imputation (nature,
    code produit, fonction) et par taux de TVA, en valeur absolue (un avoir réduit un
    titre : ses montants sont positifs). La TVA de chaque taux est répartie au prorata des
    bases, le reste d'arrondi sur la dernière ligne du taux, pour que les totaux tombent
    juste. Les groupes nuls sont omis (le XSD exige des montants strictement positifs)."""
    sign = -1 if invoice.kind == InvoiceKind.CREDIT_NOTE else 1
    groups: dict[tuple, dict[str, Any]] = {}
    for line in sorted(invoice.lines.all(), key=lambda x: x.position):
        account = (line.revenue_account or "706").strip()
        mapping = _mapping(operator, account)
        rate = Decimal(line.vat_rate).quantize(Decimal("0.01"))
        key = (mapping["nature"], mapping["produit"], mapping["fonction"], line.vat_kind, rate)
        group = groups.setdefault(
            key, {"account": account, "net": ZERO, "labels": [], "mapping": mapping}
        )
        group["net"] += sign * line.amount
        group["labels"].append(line.label)
    bases: dict[tuple[str, Decimal], Decimal] = {}
    for key, group in groups.items():
        bases[(key[3], key[4])] = bases.get((key[3], key[4]), ZERO) + group["net"]
    vat_totals = {k: abs(v) for k, v in _vat_totals(invoice, bases).items()}
    kept = [(k, g) for k, g in groups.items() if g["net"] != 0]
    result: list[TitreLine] = []
    left = dict(vat_totals)
    last_of_rate = {}
    for i, (key, _) in enumerate(kept):
        last_of_rate[(key[3], key[4])] = i
    for i, (key, group) in enumerate(kept):
        rate_key = (key[3], key[4])
        total_vat = vat_totals.get(rate_key, ZERO)
        if i == last_of_rate[rate_key]:
            vat = left.get(rate_key, ZERO)
        elif bases.get(rate_key):
            vat = round_cents(total_vat * group["net"] / bases[rate_key])
        else:
            vat = ZERO
        left[rate_key] = left.get(rate_key, ZERO) - vat
        labels = list(dict.fromkeys(group["labels"]))
        label = labels[0] if len(labels) == 1 else f"{labels[0]} (+{len(labels) - 1})"
        result.append(
            TitreLine(
                number=len(result) + 1,
                account=group["account"],
                nature=key[0],
                product=key[1],
                function=key[2],
                vat_kind=key[3],
                rate=key[4],
                net=group["net"],
                vat=vat if vat > 0 else ZERO,
                label=label,
            )
        )
    return result


# -- contrôles préalables ----------------------------------------------------------------


def _debtor(invoice: Invoice) -> dict[str, str]:
    """Identité du débiteur telle que la pièce l'a figée (copie), complétée par la fiche de
    l'adhérent pour ce que la copie ne porte pas."""
    snap = invoice.debtor or {}
    member: Member = invoice.member

    def pick(key: str, attr: str) -> str:
        return str(snap[key] if key in snap else getattr(member, attr) or "")

    if "code_postal" in snap:
        street, complement, postcode, city = (
            snap.get("adresse", ""),
            snap.get("complement", ""),
            snap.get("code_postal", ""),
            snap.get("ville", ""),
        )
    else:
        street, complement, postcode, city = (
            member.address,
            member.address_complement,
            member.postcode,
            member.city,
        )
    return {
        "nom": pick("nom", "name"),
        "siret": pick("siret", "siret").replace(" ", ""),
        "adresse": street or "",
        "complement": complement or "",
        "code_postal": postcode or "",
        "ville": city or "",
        "type": str(snap.get("type") or member.kind),
        "code_service": pick("code_service", "service_code"),
        "numero_engagement": pick("numero_engagement", "engagement_number"),
        "siren": pick("siren", "siren"),
    }


def _category(debtor: dict[str, str]) -> tuple[str, str]:
    kind = debtor["type"]
    if kind in TIERS_CATEGORY:
        return TIERS_CATEGORY[kind]
    if kind == "budget_annexe":  # budget annexe d'une commune (SIREN 21…) ou d'un groupement
        return ("23", "09") if debtor["siren"].startswith("21") else ("24", "09")
    return ("29", "09")


def _is_public(debtor: dict[str, str]) -> bool:
    return debtor["type"] in PUBLIC_KINDS


def _operator_problems(operator: Operator, *, asap: bool) -> list[str]:
    who = f"Opérateur {operator.name}"
    errors: list[str] = []
    if not operator.siret:
        errors.append(f"{who} : SIRET manquant (IdColl du flux PES).")
    elif not siret_valid(operator.siret):
        errors.append(f"{who} : SIRET « {operator.siret} » invalide (14 chiffres, clé).")
    if not operator.pes_id_post:
        errors.append(f"{who} : codique du poste comptable (IdPost) manquant.")
    elif not re.fullmatch(r"(02[AB][0-9]{3,4}|[0-9]{6,7})", operator.pes_id_post):
        errors.append(
            f"{who} : codique du poste comptable « {operator.pes_id_post} » invalide "
            "(6 ou 7 chiffres)."
        )
    if not operator.pes_cod_col:
        errors.append(f"{who} : code collectivité Hélios (CodCol) manquant.")
    elif not re.fullmatch(r"[0-9]{3}", operator.pes_cod_col):
        errors.append(
            f"{who} : code collectivité « {operator.pes_cod_col} » invalide (3 chiffres)."
        )
    if not operator.pes_cod_bud:
        errors.append(f"{who} : code budget Hélios (CodBud) manquant.")
    elif not re.fullmatch(r"[0-9A-Z][0-9]", operator.pes_cod_bud):
        errors.append(f"{who} : code budget « {operator.pes_cod_bud} » invalide (2 caractères).")
    if not operator.pes_product_code:
        errors.append(f"{who} : code produit local par défaut (CodProdLoc) manquant.")
    elif not re.fullmatch(r"[0-9A-Za-z]{1,4}", operator.pes_product_code):
        errors.append(
            f"{who} : code produit local « {operator.pes_product_code} » invalide "
            "(1 à 4 lettres ou chiffres)."
        )
    if not asap:
        return errors
    what = "pour l'avis des sommes à payer (ASAP) des débiteurs publics"
    if (
        not (operator.address or "").strip()
        or not postcode_valid(operator.postcode)
        or not (operator.city or "").strip()
    ):
        errors.append(f"{who} : adresse complète (voie, code postal, commune) manquante {what}.")
    if not (operator.accountant_name or "").strip():
        errors.append(f"{who} : comptable public (centre des finances publiques) manquant {what}.")
    parts = split_address(operator.accountant_address)
    if not parts or not parts[0]:
        errors.append(
            f"{who} : adresse du comptable incomplète {what} (voie, code postal et ville, par "
            "exemple « Cité administrative, 82000 Montauban »)."
        )
    if not operator.pes_ref_bdf:
        errors.append(f"{who} : numéro émetteur (RefBdf) manquant {what}.")
    elif not re.fullmatch(r"[0-9A-Za-z]{1,13}", operator.pes_ref_bdf):
        errors.append(f"{who} : numéro émetteur « {operator.pes_ref_bdf} » invalide.")
    missing = [
        label
        for label, value in (
            ("nom", operator.pes_signatory_last_name),
            ("prénom", operator.pes_signatory_first_name),
            ("qualité", operator.pes_signatory_role),
        )
        if not (value or "").strip()
    ]
    if missing:
        errors.append(f"{who} : signataire des titres incomplet ({', '.join(missing)}) {what}.")
    if not split_address(operator.pes_collection_centre):
        errors.append(
            f"{who} : centre d'encaissement des finances publiques manquant ou incomplet {what} "
            "(code postal et ville, par exemple « TSA 12345, 35908 RENNES CEDEX 9 »)."
        )
    return errors


def _piece_label(invoice: Invoice) -> str:
    return f"{invoice.get_kind_display().lower()} {invoice.number}"


def _piece_problems(invoice: Invoice, operator: Operator, seen: set[int]) -> list[str]:
    errors: list[str] = []
    piece = _piece_label(invoice).capitalize()
    debtor = _debtor(invoice)
    if invoice.member_id not in seen:
        seen.add(invoice.member_id)
        who = f"Débiteur {debtor['nom']}"
        if not debtor["siret"]:
            errors.append(f"{who} : SIRET manquant (obligatoire sur un titre ASAP).")
        elif not siret_valid(debtor["siret"]):
            errors.append(f"{who} : SIRET « {debtor['siret']} » invalide (14 chiffres, clé).")
        if not debtor["adresse"].strip() or not _postal(debtor["adresse"]):
            errors.append(f"{who} : adresse (numéro et voie) manquante.")
        if not postcode_valid(debtor["code_postal"]):
            errors.append(f"{who} : code postal manquant ou invalide (5 chiffres).")
        if not debtor["ville"].strip():
            errors.append(f"{who} : commune de l'adresse manquante.")
    if not re.fullmatch(r"[ \-/_+0-9a-zA-Z]{1,20}", invoice.number or ""):
        errors.append(f"{piece} : numéro inutilisable comme NumeroFacture (20 caractères).")
    lines = list(invoice.lines.all())
    sign = -1 if invoice.kind == InvoiceKind.CREDIT_NOTE else 1
    if any(sign * line.amount < 0 for line in lines):
        errors.append(
            f"{piece} : une ligne de signe contraire à la pièce (remise) ; un titre ne porte "
            "que des montants positifs."
        )
    for account in sorted({(line.revenue_account or "706").strip() for line in lines}):
        mapping = _mapping(operator, account)
        if not re.fullmatch(r"[1-9][0-9]{0,11}", mapping["nature"]):
            errors.append(
                f"{piece} : imputation « {account} » sans nature budgétaire numérique ; "
                "renseignez-la dans la correspondance des imputations de l'opérateur."
            )
        if not re.fullmatch(r"[0-9A-Za-z]{1,4}", mapping["produit"]):
            errors.append(
                f"{piece} : imputation « {account} » sans code produit local valide "
                "(1 à 4 lettres ou chiffres)."
            )
        if mapping["fonction"] and not re.fullmatch(r"[0-9]{1,10}", mapping["fonction"]):
            errors.append(f"{piece} : fonction « {mapping['fonction']} » invalide (chiffres).")
    if not any(line.amount for line in lines):
        errors.append(f"{piece} : montant nul, pas de titre possible.")
    if invoice.kind == InvoiceKind.INVOICE:
        if _is_public(debtor) and len([x for x in lines if x.amount]) > MAX_ASAP_LINES:
            errors.append(f"{piece} : plus de {MAX_ASAP_LINES} lignes, au-delà de l'ASAP.")
        return errors
    original = invoice.credited_invoice
    if original is None or original.status != InvoiceStatus.ISSUED:
        errors.append(f"{piece} : facture d'origine introuvable ou non émise.")
    elif original.issued_on.year == invoice.issued_on.year:
        try:
            reduction_lines(invoice, operator)
        except ValidationError as exc:
            errors.extend(exc.messages)
    else:
        errors.append(
            f"{piece} (émis le {invoice.issued_on:%d/%m/%Y}) réduit la facture "
            f"{original.number} de l'exercice {original.issued_on.year}, clos : la réduction "
            "d'un titre d'un exercice antérieur passe par un mandat d'annulation (domaine "
            "Dépense, triplet 01 02 09) qu'opsn ne produit pas. Émettez ce mandat depuis votre "
            "logiciel de dépenses, en accord avec le comptable."
        )
    return errors


def pes_problems(operator: Operator, invoices: Iterable[Invoice]) -> list[str]:
    """Tout ce qui empêche de produire les titres de ces pièces, en français."""
    invoices = list(invoices)
    asap = any(i.kind == InvoiceKind.INVOICE and _is_public(_debtor(i)) for i in invoices)
    errors = _operator_problems(operator, asap=asap)
    seen: set[int] = set()
    for invoice in invoices:
        errors.extend(_piece_problems(invoice, operator, seen))
    return list(dict.fromkeys(errors))


# -- numérotation ------------------------------------------------------------------------


def _pieces(operator: Operator, year: int) -> list[Invoice]:
    """Factures et avoirs émis de l'année facturée, dans l'ordre chronologique."""
    return list(
        Invoice.objects.filter(operator=operator, year=year, status=InvoiceStatus.ISSUED)
        .select_related("member", "credited_invoice", "titre__bordereau")
        .prefetch_related("lines")
        .order_by("issued_on", "sequence_number", "pk")
    )


def _lock(operator: Operator) -> None:
    """Sérialise la numérotation des titres d'un opérateur (ligne de l'opérateur verrouillée ;
    verrou consultatif en plus sous PostgreSQL ; SQLite : transactions IMMEDIATE)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_KEY, operator.pk])
    Operator.objects.select_for_update().filter(pk=operator.pk).first()


def _bord_kind(invoice: Invoice) -> str:
    return BORD_REDUCTIONS if invoice.kind == InvoiceKind.CREDIT_NOTE else BORD_TITRES


def flow_name(operator: Operator, year: int, count: int) -> str:
    """Nom du fichier (NomFic) : même contenu, même nom ; une pièce de plus, un autre nom."""
    return f"{TYP_FIC}_{operator.siret}_{year}_{count:06d}"


def number_titres(
    *, operator: Operator, year: int, progress: Progress | None = None
) -> list[PesTitre]:
    """Donne un bordereau et un numéro de titre à chaque pièce émise de l'année facturée
    qui n'en a pas, dans une seule transaction, sous verrou. Les pièces déjà numérotées
    gardent leurs numéros. Renvoie les titres créés."""
    created: list[PesTitre] = []
    with transaction.atomic():
        _lock(operator)
        pieces = _pieces(operator, year)
        todo = [p for p in pieces if not hasattr(p, "titre")]
        todo.sort(key=lambda p: (p.issued_on, _bord_kind(p), p.sequence_number or 0, p.pk))
        if not todo:
            return created
        name = flow_name(operator, year, len(pieces))
        groups: list[tuple[tuple[int, str, dt.date], list[Invoice]]] = []
        for piece in todo:
            key = (piece.issued_on.year, _bord_kind(piece), piece.issued_on)
            if groups and groups[-1][0] == key and len(groups[-1][1]) < MAX_PIECES:
                groups[-1][1].append(piece)
            else:
                groups.append((key, [piece]))
        last_bord: dict[tuple[int, str], int] = {}
        last_titre: dict[int, int] = {}
        for (exercice, kind, issued_on), items in groups:
            if (exercice, kind) not in last_bord:
                last_bord[(exercice, kind)] = (
                    PesBordereau.objects.filter(
                        operator=operator, year=exercice, kind=kind
                    ).aggregate(n=Max("number"))["n"]
                    or 0
                )
            last_bord[(exercice, kind)] += 1
            bordereau = PesBordereau.objects.create(
                operator=operator,
                year=exercice,
                kind=kind,
                number=last_bord[(exercice, kind)],
                issued_on=issued_on,
                flow_name=name,
            )
            for piece in items:
                if exercice not in last_titre:
                    last_titre[exercice] = (
                        PesTitre.objects.filter(operator=operator, year=exercice).aggregate(
                            n=Max("number")
                        )["n"]
                        or 0
                    )
                last_titre[exercice] += 1
                created.append(
                    PesTitre.objects.create(
                        bordereau=bordereau,
                        invoice=piece,
                        operator=operator,
                        year=exercice,
                        number=last_titre[exercice],
                    )
                )
                if progress:
                    progress(len(created), len(todo))
    return created


# -- validation --------------------------------------------------------------------------

_schema_lock = threading.Lock()


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def _validate(doc: etree._Element, label: str) -> list[str]:
    with _schema_lock:
        schema = _schema()
        if schema.validate(doc):
            return []
        return [f"{label}, ligne {e.line} : {e.message}" for e in schema.error_log]


def _unpack(pj: etree._Element) -> bytes:
    return gzip.decompress(base64.b64decode(pj.findtext("Contenu/Fichier") or ""))


def check_pes(xml: bytes) -> None:
    """Valide un flux PES_Aller contre le XSD de la DGFiP, ainsi que chaque PES_Facture
    (PJ de type 006) qu'il transporte ; lève `PesSchemaError` avec chaque écart."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        doc = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise PesSchemaError(f"Flux PES illisible : {exc}") from None
    errors = _validate(doc, "Flux PES")
    for pj in doc.iterfind("PES_PJ/PJ"):
        if (pj.find("TypePJ") is None) or pj.find("TypePJ").get("V") != PJ_PES_FACTURE:
            continue
        ident = pj.find("IdUnique").get("V") if pj.find("IdUnique") is not None else "?"
        try:
            inner = etree.fromstring(_unpack(pj), parser)
        except (OSError, ValueError, etree.XMLSyntaxError) as exc:
            errors.append(f"PES_Facture {ident} illisible : {exc}")
            continue
        errors.extend(_validate(inner, f"PES_Facture {ident}"))
    if errors:
        raise PesSchemaError(errors)


# -- construction du flux ----------------------------------------------------------------


def _v(parent: etree._Element, tag: str, value: object) -> etree._Element:
    return etree.SubElement(parent, tag, V=str(value))


def _opt(parent: etree._Element, tag: str, value: str) -> None:
    if value:
        _v(parent, tag, value)


def _pack(data: bytes) -> str:
    """gzip (horodatage nul : même entrée, mêmes octets) puis base64."""
    return "\n" + base64.encodebytes(gzip.compress(data, mtime=0)).decode("ascii")


def _software() -> str:
    try:
        from importlib.metadata import version

        return f"OPSN {version('opsn')}"
    except Exception:
        return "OPSN"


def _root() -> etree._Element:
    return etree.Element(f"{{{NS_ALLER}}}PES_Aller", nsmap={"n": NS_ALLER})


def _envelope(root: etree._Element, operator: Operator, name: str, day: dt.date) -> None:
    env = etree.SubElement(root, "Enveloppe")
    params = etree.SubElement(env, "Parametres")
    _v(params, "Version", 2)
    _v(params, "TypFic", TYP_FIC)
    _v(params, "NomFic", name[:100])
    emitter = etree.SubElement(env, "Emetteur")
    _v(emitter, "Sigle", SOFTWARE)
    _v(emitter, "Adresse", _text(_software(), 38))
    head = etree.SubElement(root, "EnTetePES")
    _v(head, "DteStr", day.isoformat())
    _v(head, "IdPost", operator.pes_id_post)
    _opt(head, "LibellePoste", _postal(operator.accountant_name))
    _v(head, "IdColl", operator.siret)
    _v(head, "CodCol", operator.pes_cod_col)
    _v(head, "CodBud", operator.pes_cod_bud)
    _opt(head, "LibelleColBud", _postal(operator.pes_budget_label or operator.name))


def _address(parent: etree._Element, tag: str, debtor: dict[str, str]) -> None:
    addr = etree.SubElement(parent, tag)
    _v(addr, "TypAdr", 1)
    _v(addr, "Adr2", _postal(debtor["adresse"]))
    _opt(addr, "Adr3", _postal(debtor["complement"]))
    _v(addr, "CP", debtor["code_postal"])
    _v(addr, "Ville", _postal(debtor["ville"]))
    _v(addr, "CodRes", 0)


def _tiers(parent: etree._Element, invoice: Invoice, debtor: dict[str, str]) -> None:
    tiers = etree.SubElement(parent, "Tiers")
    info = etree.SubElement(tiers, "InfoTiers")
    _v(info, "IdTiers", debtor["siret"])
    _v(info, "NatIdTiers", "01")
    _v(info, "RefTiers", f"ADH{invoice.member_id:06d}")
    category, legal = _category(debtor)
    _v(info, "CatTiers", category)
    _v(info, "NatJur", legal)
    _v(info, "TypTiers", "01")
    name, complement = _split_name(debtor["nom"])
    _v(info, "Nom", name)
    _opt(info, "ComplNom", complement)
    _address(tiers, "Adresse", debtor)


def _pj_ids(operator: Operator, titre: PesTitre) -> tuple[str, str]:
    """IdUnique des PJ d'un titre (PDF, ASAP) : propres à l'opérateur, à l'exercice et au
    titre, donc jamais réutilisés pour une autre pièce."""
    base = f"OPSN{operator.siret}{titre.year}T{titre.number:08d}"
    return f"{base}F", f"{base}A"


def _pjref(parent: etree._Element, ident: str, name: str, kind: str) -> None:
    ref = etree.SubElement(parent, "PJRef")
    _v(ref, "Support", "01")
    _v(ref, "IdUnique", ident)
    _v(ref, "NomPJ", name)
    _v(ref, "TypePJ", kind)


def _pj(
    parent: etree._Element, data: bytes, mime: str, ident: str, name: str, kind: str, desc: str
) -> None:
    pj = etree.SubElement(parent, "PJ")
    content = etree.SubElement(pj, "Contenu")
    fichier = etree.SubElement(content, "Fichier", MIMEType=mime)
    fichier.text = _pack(data)
    _v(pj, "IdUnique", ident)
    _v(pj, "NomPJ", name)
    _v(pj, "TypePJ", kind)
    _v(pj, "Description", _text(desc, 250))


def _pdf(invoice: Invoice) -> bytes:
    """Le PDF Factur-X conservé au premier rendu (le même à chaque flux)."""
    from opsn.facturation import documents, journal

    kept = getattr(journal, "kept_pdf", None) or getattr(documents, "kept_pdf", None)
    return kept(invoice) if kept else documents.invoice_pdf(invoice)


def _object(invoice: Invoice, debtor: dict[str, str]) -> str:
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        what = f"Avoir {invoice.number} sur facture {invoice.credited_invoice.number}"
    else:
        what = f"Facture {invoice.number} - prestations numeriques {invoice.year}"
    return _text(f"{what} - {debtor['nom']}", 160)


@dataclass
class _Piece:
    invoice: Invoice
    titre: PesTitre
    lines: list[TitreLine]
    debtor: dict[str, str]
    asap: bool
    original: PesTitre | None = None


def _earlier_credits(credit: Invoice) -> list[Invoice]:
    """Avoirs émis avant celui-ci sur la même facture (ils ont déjà réduit son titre)."""
    return [
        c
        for c in Invoice.objects.filter(
            credited_invoice_id=credit.credited_invoice_id,
            kind=InvoiceKind.CREDIT_NOTE,
            status=InvoiceStatus.ISSUED,
        )
        .prefetch_related("lines")
        .order_by("issued_on", "sequence_number", "pk")
        if (c.issued_on, c.sequence_number or 0, c.pk)
        < (credit.issued_on, credit.sequence_number or 0, credit.pk)
    ]


def _allocate(
    label: str, groups: list[TitreLine], originals: list[TitreLine], left: dict[int, Decimal]
) -> list[TitreLine]:
    """Répartit les lignes d'un avoir sur les lignes du titre d'origine : d'abord la ligne
    de même imputation et même taux, puis les autres lignes du même taux, chacune dans la
    limite de ce qui n'a pas encore été réduit (`left`, mis à jour). La TVA suit au
    prorata ; le reste d'arrondi sur la dernière part."""
    result: list[TitreLine] = []
    for group in groups:
        candidates = [o for o in originals if o.key == group.key] + [
            o
            for o in originals
            if o.key != group.key and (o.vat_kind, o.rate) == (group.vat_kind, group.rate)
        ]
        parts: list[tuple[TitreLine, Decimal]] = []
        rest = group.net
        for origin in candidates:
            take = min(rest, left[origin.number])
            if take > 0:
                parts.append((origin, take))
                left[origin.number] -= take
                rest -= take
            if rest == 0:
                break
        if rest > 0:
            raise ValidationError(
                f"{label} : la réduction « {group.label} » ({_amount(group.net)}, TVA "
                f"{_rate(group.rate)} %) dépasse ce qui reste des lignes du titre d'origine "
                "de même taux."
            )
        vat_left = group.vat
        for i, (origin, take) in enumerate(parts):
            vat = vat_left if i == len(parts) - 1 else round_cents(group.vat * take / group.net)
            vat_left -= vat
            result.append(
                TitreLine(
                    number=len(result) + 1,
                    account=origin.account,
                    nature=origin.nature,
                    product=origin.product,
                    function=origin.function,
                    vat_kind=origin.vat_kind,
                    rate=origin.rate,
                    net=take,
                    vat=vat,
                    label=group.label,
                    origin=origin.number,
                )
            )
    return result


def reduction_lines(credit: Invoice, operator: Operator) -> list[TitreLine]:
    """Lignes du titre de réduction d'un avoir, rattachées aux lignes du titre d'origine
    (déduction faite des avoirs précédents sur la même facture)."""
    originals = titre_lines(credit.credited_invoice, operator)
    left = {o.number: o.net for o in originals}
    for earlier in _earlier_credits(credit):
        _allocate(_piece_label(earlier), titre_lines(earlier, operator), originals, left)
    label = _piece_label(credit).capitalize()
    return _allocate(label, titre_lines(credit, operator), originals, left)


def _piece_xml(bordereau: etree._Element, piece: _Piece, operator: Operator) -> None:
    invoice, titre = piece.invoice, piece.titre
    pdf_id, asap_id = _pj_ids(operator, titre)
    elem = etree.SubElement(bordereau, "Piece")
    bloc = etree.SubElement(elem, "BlocPiece")
    _v(bloc, "IdPce", titre.number)
    credit = invoice.kind == InvoiceKind.CREDIT_NOTE
    _v(bloc, "TypPce", "02" if credit else "01")
    _v(bloc, "NatPce", "06" if credit else "01")
    if piece.asap:
        _v(bloc, "Edition", EDITION_ASAP_CPP)
    _v(bloc, "ObjPce", _object(invoice, piece.debtor))
    if piece.asap:
        _pjref(bloc, asap_id, f"asap_{invoice.number}.xml", PJ_PES_FACTURE)
    _pjref(bloc, pdf_id, f"{invoice.number}.pdf", PJ_ASAP_COMPLEMENT if piece.asap else PJ_RECETTE)
    if piece.asap:
        _v(bloc, "NumeroFacture", invoice.number)
        _opt(bloc, "NumeroEngagement", _text(piece.debtor["numero_engagement"], 50))
        _opt(bloc, "CodeService", _text(piece.debtor["code_service"], 100))
    for line in piece.lines:
        ligne = etree.SubElement(elem, "LigneDePiece")
        bloc_ligne = etree.SubElement(ligne, "BlocLignePiece")
        info = etree.SubElement(bloc_ligne, "InfoLignePiece")
        _v(info, "IdLigne", line.number)
        _opt(info, "ObjLignePce", _text(line.label, 160))
        _v(info, "CodProdLoc", line.product)
        _v(info, "Nature", line.nature)
        _opt(info, "Fonction", line.function)
        if line.vat > 0:
            _v(info, "TxTva", _rate(line.rate))
        _v(info, "Majo", 0)
        _v(info, "TvaIntraCom", 0)
        _v(info, "MtHT", _amount(line.net))
        if line.vat > 0:
            _v(info, "MtTVA", _amount(line.vat))
        if credit:
            rattach = etree.SubElement(bloc_ligne, "RattachPiece")
            _v(rattach, "NatPceOrig", "01")
            _v(rattach, "ExerRat", piece.original.year)
            _v(rattach, "IdPceOrig", piece.original.number)
            _v(rattach, "IdLigneOrig", line.origin)
        _tiers(ligne, invoice, piece.debtor)


def _facture_address(parent: etree._Element, parts: dict[str, str]) -> None:
    addr = etree.SubElement(parent, "Adresse")
    _v(addr, "TypAdr", 1)
    _opt(addr, "Adr2", _postal(parts.get("adr2", "")))
    _opt(addr, "Adr3", _postal(parts.get("adr3", "")))
    _v(addr, "CP", parts["cp"])
    _v(addr, "Ville", _postal(parts["ville"]))
    _v(addr, "CodRes", 0)


def _facture_tiers(
    parent: etree._Element,
    tag: str,
    *,
    category: tuple[str, str],
    kind: str,
    name: str,
    complement: str = "",
    ident: str = "",
) -> etree._Element:
    tiers = etree.SubElement(parent, tag)
    info = etree.SubElement(tiers, "InfoTiers")
    _opt(info, "IdTiers", ident)
    _v(info, "CatTiers", category[0])
    _v(info, "NatJur", category[1])
    _v(info, "TypTiers", kind)
    _v(info, "Nom", name)
    _opt(info, "ComplNom", complement)
    return tiers


def _asap_lines(invoice: Invoice) -> list[dict[str, Any]]:
    """Lignes de l'ASAP (montants > 0) avec la TVA de la facture répartie par taux."""
    lines = [x for x in sorted(invoice.lines.all(), key=lambda x: x.position) if x.amount > 0]
    bases: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        key = (line.vat_kind, Decimal(line.vat_rate).quantize(Decimal("0.01")))
        bases[key] = bases.get(key, ZERO) + line.amount
    totals = _vat_totals(invoice, bases)
    left = dict(totals)
    last = {}
    for i, line in enumerate(lines):
        last[(line.vat_kind, Decimal(line.vat_rate).quantize(Decimal("0.01")))] = i
    result = []
    for i, line in enumerate(lines):
        key = (line.vat_kind, Decimal(line.vat_rate).quantize(Decimal("0.01")))
        if i == last[key]:
            vat = left.get(key, ZERO)
        else:
            vat = round_cents(totals.get(key, ZERO) * line.amount / bases[key])
        left[key] = left.get(key, ZERO) - vat
        result.append({"line": line, "rate": key[1], "vat": max(vat, ZERO)})
    return result


def _quantity_ok(line: InvoiceLine) -> bool:
    """Quantité et prix unitaire utilisables dans l'ASAP (6 chiffres dont 4 décimales au
    plus, et leur produit égal au montant) ; sinon la ligne donne son seul montant."""
    q = Decimal(line.quantity)
    if q <= 0 or line.unit_price is None or line.unit_price <= 0:
        return False
    whole, _, decimals = f"{q.normalize():f}".partition(".")
    digits = len(whole.lstrip("0")) + len(decimals)
    return digits <= 6 and len(decimals) <= 4 and round_cents(q * line.unit_price) == line.amount


def asap_document(invoice: Invoice, titre: PesTitre, operator: Operator, *, day: dt.date) -> bytes:
    """PES_Facture ASAP (TypeFact 09) d'une facture, encapsulé dans un PES_Aller (Enveloppe,
    EnTetePES, PES_Facture), destiné à une PJ de type 006."""
    debtor = _debtor(invoice)
    root = _root()
    _envelope(root, operator, f"PESFACTURE_{operator.siret}_{titre.year}_{titre.number:08d}", day)
    fac = etree.SubElement(root, "PES_Facture")
    _v(fac, "IdVer", 2)
    _v(fac, "Annee", titre.year)
    _v(fac, "TypeFact", TYPE_FACT_ASAP)
    _v(fac, "Date", invoice.issued_on.isoformat())
    name, complement = _split_name(operator.name)
    emitter = _facture_tiers(
        fac,
        "Emetteur",
        category=ISSUER_CATEGORY,
        kind="20",
        name=name,
        complement=complement,
        ident=operator.siret,
    )
    _facture_address(
        emitter,
        {
            "adr2": operator.address,
            "adr3": operator.address_complement,
            "cp": operator.postcode,
            "ville": operator.city,
        },
    )
    suppl = etree.SubElement(emitter, "InfoSuppl")
    if operator.email and len(operator.email) <= 50:
        _v(suppl, "AdresseMelEmetteur", operator.email)
    _v(suppl, "RefBdf", operator.pes_ref_bdf)
    signer = etree.SubElement(emitter, "Signataire")
    person = etree.SubElement(signer, "Personne")
    _v(person, "Nom", _postal(operator.pes_signatory_last_name))
    _v(person, "Prenom", _postal(operator.pes_signatory_first_name))
    _v(signer, "Role", _text(operator.pes_signatory_role, 50))
    street, cp, city = split_address(operator.pes_collection_centre) or ("", "", "")
    centre = _facture_tiers(
        fac,
        "Tiers",
        category=("20", "07"),
        kind="25",
        name="CENTRE D'ENCAISSEMENT",
        complement="DES FINANCES PUBLIQUES",
    )
    _facture_address(centre, {"adr3": street, "cp": cp, "ville": city})
    street, cp, city = split_address(operator.accountant_address) or ("", "", "")
    cfp = _facture_tiers(
        fac, "Tiers", category=("20", "07"), kind="26", name=_postal(operator.accountant_name)
    )
    _facture_address(cfp, {"adr2": street, "cp": cp, "ville": city})
    indiv = etree.SubElement(fac, "FactureIndiv")
    _v(indiv, "DateEmission", titre.bordereau.issued_on.isoformat())
    _v(indiv, "NumeroFacture", invoice.number)
    name, complement = _split_name(debtor["nom"])
    debiteur = _facture_tiers(
        indiv,
        "Debiteur",
        category=_category(debtor),
        kind="01",
        name=name,
        complement=complement,
        ident=debtor["siret"],
    )
    _facture_address(
        debiteur,
        {
            "adr2": debtor["adresse"],
            "adr3": debtor["complement"],
            "cp": debtor["code_postal"],
            "ville": debtor["ville"],
        },
    )
    _v(indiv, "Objet", _object(invoice, debtor))
    total_ht = total_vat = ZERO
    for order, item in enumerate(_asap_lines(invoice), start=1):
        line: InvoiceLine = item["line"]
        row = etree.SubElement(indiv, "LigneFacture")
        _v(row, "DateDebut", invoice.period_start.isoformat())
        _v(row, "DateFin", invoice.period_end.isoformat())
        _v(row, "Libelle", _text(line.label, 200))
        if _quantity_ok(line):
            _v(row, "Quantite", f"{Decimal(line.quantity).normalize():f}")
            _v(row, "MtUnitaire", _amount(line.unit_price))
        else:
            _v(row, "MtBase", _amount(line.amount))
        _v(row, "MtHT", _amount(line.amount))
        _v(row, "TauxTVA", _rate(item["rate"]))
        _v(row, "MtTVA", _amount(item["vat"]))
        _v(row, "MtTTC", _amount(line.amount + item["vat"]))
        _v(row, "Ordre", order)
        total_ht += line.amount
        total_vat += item["vat"]
    total = etree.SubElement(indiv, "TotalAPayer")
    _v(total, "MtTotalHT", _amount(total_ht))
    _v(total, "MtTotalTVA", _amount(total_vat))
    _v(total, "MtTotalTTC", _amount(total_ht + total_vat))
    ref = etree.SubElement(indiv, "RefTitre")
    _v(ref, "Exercice", titre.year)
    _v(ref, "NumBordereau", titre.bordereau.number)
    _v(ref, "NumTitre", titre.number)
    _v(ref, "NumLigne", 1)
    _v(indiv, "ModalitesReglement", "Demarche non prevue par la collectivite")
    _v(indiv, "ModeRecouvrement", 1)
    due = f" au plus tard le {invoice.due_on:%d/%m/%Y}" if invoice.due_on else ""
    _v(
        indiv,
        "ConditionsGen",
        _text(
            f"Paiement a reception{due}, par virement au comptable public assignataire "
            f"({operator.accountant_name}). Pas d'escompte pour paiement anticipe.",
            250,
        ),
    )
    etree.SubElement(fac, "Nomenclatures")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


@dataclass
class PesFlow:
    """Un flux PES_Aller construit et validé."""

    name: str
    xml: bytes
    titres: list[PesTitre]
    created: list[PesTitre]
    bordereaux: list[PesBordereau]

    @property
    def filename(self) -> str:
        return f"{self.name}.xml"


def _cumulative(operator: Operator, exercices: set[int]) -> dict[tuple[int, str, int], Decimal]:
    """Montant HT de chaque bordereau des exercices (toutes années facturées confondues)."""
    totals: dict[tuple[int, str, int], Decimal] = {}
    rows = PesTitre.objects.filter(operator=operator, year__in=exercices).values_list(
        "year", "bordereau__kind", "bordereau__number", "invoice__total_ht"
    )
    for year, kind, number, total in rows:
        totals[(year, kind, number)] = totals.get((year, kind, number), ZERO) + abs(total)
    return totals


def build_pes(*, operator: Operator, year: int, day: dt.date, only_new: bool = False) -> PesFlow:
    """Construit le flux des pièces de l'année facturée déjà numérotées (sans rien écrire)
    et le valide contre le XSD. `only_new` : seulement les bordereaux créés par le dernier
    export (ceux qui portent le nom du flux complet actuel), pour ne pas renvoyer au
    comptable des bordereaux qu'il a déjà intégrés."""
    pieces_db = _pieces(operator, year)
    missing = [p.number for p in pieces_db if not hasattr(p, "titre")]
    if missing:
        raise ValidationError(
            f"Pièces sans titre : {', '.join(missing)} ; lancez la numérotation (export PES)."
        )
    if not pieces_db:
        raise ValidationError(f"Aucune facture ni avoir émis pour {year} : pas de flux PES.")
    name = flow_name(operator, year, len(pieces_db))
    if only_new:
        pieces_db = [p for p in pieces_db if p.titre.bordereau.flow_name == name]
        name = f"{name}_NOUVEAUX"
        if not pieces_db:
            raise ValidationError(f"Aucun bordereau nouveau pour {year}.")
    latest = max(p.titre.bordereau.issued_on for p in pieces_db)
    if day < latest:
        raise ValidationError(
            f"Date du flux ({day:%d/%m/%Y}) antérieure au dernier bordereau ({latest:%d/%m/%Y})."
        )
    titres = {p.pk: p.titre for p in pieces_db}
    pieces: list[_Piece] = []
    for invoice in pieces_db:
        debtor = _debtor(invoice)
        credit = invoice.kind == InvoiceKind.CREDIT_NOTE
        piece = _Piece(
            invoice=invoice,
            titre=titres[invoice.pk],
            lines=reduction_lines(invoice, operator) if credit else titre_lines(invoice, operator),
            debtor=debtor,
            asap=not credit and _is_public(debtor),
        )
        if credit:
            original = invoice.credited_invoice
            piece.original = (
                titres.get(original.pk)
                or PesTitre.objects.filter(invoice=original).select_related("bordereau").first()
            )
            if piece.original is None:
                raise ValidationError(
                    f"Avoir {invoice.number} : la facture {original.number} n'a pas de titre."
                )
        pieces.append(piece)
    pieces.sort(
        key=lambda p: (
            p.titre.year,
            p.titre.bordereau.kind,
            p.titre.bordereau.number,
            p.titre.number,
        )
    )
    root = _root()
    _envelope(root, operator, name, day)
    recette = etree.SubElement(root, "PES_RecetteAller")
    head = etree.SubElement(recette, "EnTeteRecette")
    _v(head, "IdVer", 2)
    _v(head, "InfoDematerialisee", 0)
    amounts = _cumulative(operator, {p.titre.year for p in pieces})
    bordereaux: list[PesBordereau] = []
    by_bordereau: dict[int, list[_Piece]] = {}
    for piece in pieces:
        if piece.titre.bordereau_id not in by_bordereau:
            bordereaux.append(piece.titre.bordereau)
        by_bordereau.setdefault(piece.titre.bordereau_id, []).append(piece)
    for bord in bordereaux:
        items = by_bordereau[bord.pk]
        net = sum((line.net for p in items for line in p.lines), ZERO)
        vat = sum((line.vat for p in items for line in p.lines), ZERO)
        cumul = sum(
            (
                amount
                for (y, k, n), amount in amounts.items()
                if y == bord.year and k == bord.kind and n < bord.number
            ),
            ZERO,
        )
        elem = etree.SubElement(
            recette, "Bordereau", Id=f"B{bord.year}{bord.kind}{bord.number:07d}"
        )
        bloc = etree.SubElement(elem, "BlocBordereau")
        _v(bloc, "Exer", bord.year)
        _v(bloc, "IdBord", bord.number)
        _v(bloc, "DteBordEm", bord.issued_on.isoformat())
        _v(bloc, "TypBord", bord.kind)
        _v(bloc, "NbrPce", len(items))
        _v(bloc, "MtCumulAnnuel", _amount(cumul + net))
        _v(bloc, "MtBordHt", _amount(net))
        if vat > 0:
            _v(bloc, "MtBordTVA", _amount(vat))
        for piece in items:
            _piece_xml(elem, piece, operator)
    pjs = etree.SubElement(root, "PES_PJ")
    _v(etree.SubElement(pjs, "EnTetePES_PJ"), "IdVer", 1)
    for piece in pieces:
        invoice, titre = piece.invoice, piece.titre
        pdf_id, asap_id = _pj_ids(operator, titre)
        who = piece.debtor["nom"]
        if piece.asap:
            asap = asap_document(invoice, titre, operator, day=day)
            _pj(
                pjs,
                asap,
                "text/xml",
                asap_id,
                f"asap_{invoice.number}.xml",
                PJ_PES_FACTURE,
                f"PES Facture ASAP CPP {invoice.number} - {who}",
            )
        _pj(
            pjs,
            _pdf(invoice),
            "application/pdf",
            pdf_id,
            f"{invoice.number}.pdf",
            PJ_ASAP_COMPLEMENT if piece.asap else PJ_RECETTE,
            f"{invoice.get_kind_display()} {invoice.number} (PDF Factur-X) - {who}",
        )
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    check_pes(xml)
    return PesFlow(
        name=name,
        xml=xml,
        titres=[p.titre for p in pieces],
        created=[],
        bordereaux=bordereaux,
    )


def check_identities(*, operator: Operator, year: int) -> None:
    """Contrôles du flux avant de le mettre en file (page) : pièces de l'année et tous les
    manques d'identité, d'un coup ; rien n'est écrit."""
    pieces = _pieces(operator, year)
    if not pieces:
        raise ValidationError(f"Aucune facture ni avoir émis pour {year} : pas de flux PES.")
    problems = pes_problems(operator, pieces)
    if problems:
        raise ValidationError(problems)


def pes_export(
    *,
    actor: Any,
    operator: Operator,
    year: int,
    day: dt.date,
    only_new: bool = False,
    progress: Progress | None = None,
) -> PesFlow:
    """Flux PES V2 Recette des pièces émises de l'année facturée : contrôle des identités et
    des pièces (tous les manques en une fois), numérotation des pièces nouvelles (une
    transaction, sous verrou), puis construction et validation du flux."""
    require(actor, "facturer", operator=operator)
    check_identities(operator=operator, year=year)
    created = number_titres(operator=operator, year=year, progress=progress)
    flow = build_pes(operator=operator, year=year, day=day, only_new=only_new)
    flow.created = created
    return flow
