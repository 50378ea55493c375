"""Normalisation des noms et des codes pour la recherche et les imports."""

from __future__ import annotations

import re
import unicodedata

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_SEPARATEURS = re.compile(r"[^0-9a-z]+")
_ABREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}

RE_INSEE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
RE_SIREN = re.compile(r"^\d{9}$")


def normaliser(texte: str) -> str:
    """Minuscules sans accents ; tirets, apostrophes et ponctuation deviennent des espaces.

    « Saint-Émilion », « SAINT EMILION » et « st émilion » donnent « saint emilion ».
    """
    decompose = unicodedata.normalize("NFKD", texte.translate(_LIGATURES))
    sans_accents = "".join(c for c in decompose if not unicodedata.combining(c)).lower()
    mots = _SEPARATEURS.sub(" ", sans_accents).split()
    return " ".join(_ABREVIATIONS.get(mot, mot) for mot in mots)


def normaliser_code(code: str) -> str:
    """Code INSEE ou SIREN sans espaces, en majuscules (« 2a004 » → « 2A004 »)."""
    return re.sub(r"\s+", "", code).upper()


def normaliser_departement(departement: str | int) -> str:
    """« 1 » → « 01 », « 2a » → « 2A », « 971 » inchangé."""
    valeur = str(departement).strip().upper()
    if valeur.isdigit() and len(valeur) == 1:
        return valeur.zfill(2)
    return valeur


def est_insee(code: str) -> bool:
    return bool(RE_INSEE.match(code))


def est_siren(code: str) -> bool:
    return bool(RE_SIREN.match(code))
