"""Motifs qui bloquent la facture d'un adhérent (`MemberBill.blocking`).

Chaque motif est le texte montré (ligne de commande, pages, JSON de `opsn facturer`) et
porte sa rubrique (`kind`) avec les données qui la précisent (`data`) : le tableau de bord
range les motifs et propose le formulaire qui les règle sans relire leur texte, qui peut
changer de tournure sans rien casser."""

from __future__ import annotations

from typing import Any

from opsn.core.errors import IndexMissingError, OpsnError

INDEX = "indices"  # valeur d'indice manquante (révision des prix) ; data : index, month
QUOTE = "devis"  # montant sur devis non saisi (R14)
PRICE = "prix"  # prix « à renseigner » dans le catalogue (R15)
DEBTOR = "identites"  # identité du débiteur ; data : detail (le texte sans le débiteur)
ISSUER = "emetteur"  # identité de l'opérateur émetteur
OTHER = "autres"  # tout autre refus du calcul (plafond, strate introuvable…)


class Blocking(str):
    """Un motif de blocage : une chaîne (le texte montré) avec sa rubrique."""

    kind: str
    data: dict[str, Any]

    def __new__(cls, text: str, kind: str = OTHER, **data: Any) -> Blocking:
        self = super().__new__(cls, text)
        self.kind = kind
        self.data = data
        return self


def from_error(exc: OpsnError) -> Blocking:
    """Motif d'une erreur du calcul d'un adhérent."""
    if isinstance(exc, IndexMissingError):
        return Blocking(str(exc), INDEX, index=exc.index, month=exc.month)
    return Blocking(str(exc), OTHER)


def debtor(problems: list[str], who: str) -> list[Blocking]:
    """Motifs de l'identité du débiteur ; `who` est le préfixe de leurs textes."""
    prefix = f"{who} : "
    return [Blocking(p, DEBTOR, detail=p.removeprefix(prefix)) for p in problems]


def issuer(problems: list[str]) -> list[Blocking]:
    return [Blocking(p, ISSUER) for p in problems]
