"""Motifs de blocage (`opsn.facturation.motifs`) : le texte montré et sa rubrique, gardés
tels quels dans le cache du tableau de bord (sérialisés par pickle) et dans le JSON."""

from __future__ import annotations

import json
import pickle
from types import SimpleNamespace

from opsn.core.errors import IndexMissingError, PricingError
from opsn.facturation import motifs
from opsn.facturation.identites import debtor_problems, debtor_who


def test_a_reason_is_its_text_and_keeps_its_kind_through_the_cache() -> None:
    error = IndexMissingError("syntec", "2024-11", "réviser le prix de 2025")
    reason = motifs.from_error(error)
    assert reason == str(error) and json.dumps([reason]) == json.dumps([str(error)])
    assert (reason.kind, reason.data) == (motifs.INDEX, {"index": "syntec", "month": "2024-11"})
    again = pickle.loads(pickle.dumps(reason))
    assert again == reason and again.kind == motifs.INDEX and again.data == reason.data
    other = motifs.from_error(PricingError("aucune strate ne correspond"))
    assert other.kind == motifs.OTHER and other.data == {}


def test_debtor_reasons_carry_their_detail_without_the_debtor() -> None:
    member = SimpleNamespace(
        name="Commune : de Test",  # un « : » dans le nom ne coupe pas le détail
        siren="",
        siret="",
        address="",
        postcode="",
        city="",
        country="FR",
        electronic_address="",
        electronic_address_scheme="",
        engagement_required=False,
        engagement_number="",
    )
    problems = debtor_problems(member)
    reasons = motifs.debtor(problems, debtor_who(member))
    assert problems and reasons == problems
    assert {r.kind for r in reasons} == {motifs.DEBTOR}
    for reason in reasons:
        assert reason == f"Débiteur Commune : de Test : {reason.data['detail']}"
        assert not reason.data["detail"].startswith("Débiteur")
