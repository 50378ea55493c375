"""Travail réparti entre travailleurs : campagnes de plusieurs opérateurs mises en file
ensemble, rendu des PDF à la suite par lots conservés en base (un travailleur sans état)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from opsn.facturation import repartition
from opsn.gestion.models import (
    BackgroundTask,
    Invoice,
    InvoiceDocument,
    Operator,
    Role,
    StaffMembership,
)

from .test_taches import with_sirets
from .travailleur import run_tasks


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def test_campaigns_then_documents_by_batches(world, monkeypatch) -> None:
    with_sirets(world)
    admin = world["users"]["admin"]
    gn = Operator.objects.get(code="gironde-numerique")
    StaffMembership.objects.get_or_create(user=admin, operator=gn, defaults={"role": Role.ADMIN})
    monkeypatch.setattr(repartition, "DOCUMENTS_BATCH", 1)
    records = repartition.start_campaigns(
        operators=[world["cdg82"], gn],
        year=2020,
        user=admin,
        issued_on=dt.date(2021, 1, 15),
        documents=True,
    )
    assert len(records) == 2
    assert not Invoice.objects.exists(), "rien n'est émis avant le passage d'un travailleur"
    run_tasks()
    invoices = list(Invoice.objects.filter(operator=world["cdg82"]).order_by("sequence_number"))
    assert [i.number for i in invoices] == ["2021-000001", "2021-000002"]
    batches = BackgroundTask.objects.filter(kind="documents").order_by("created_at")
    assert batches.count() == len(invoices), "un lot par pièce (DOCUMENTS_BATCH = 1)"
    kept = {d.invoice_id: d for d in InvoiceDocument.objects.all()}
    assert set(kept) == {i.pk for i in Invoice.objects.filter(status="emise")}
    for document in kept.values():
        pdf = bytes(document.pdf)
        assert pdf.startswith(b"%PDF") and hashlib.sha256(pdf).hexdigest() == document.sha256
    assert all("1 PDF rendu(s) et conservé(s)" in b.summary for b in batches)
    # Plus rien à rendre : aucun lot mis en file, un lot rejoué ne refait rien.
    assert repartition.start_documents(operator=world["cdg82"], user=admin, year=2020) == []
    repartition.start_documents(operator=world["cdg82"], user=admin, ids=[invoices[0].pk])
    run_tasks()
    again = BackgroundTask.objects.filter(kind="documents").order_by("-created_at").first()
    assert "0 PDF rendu(s) et conservé(s) sur 1 pièce(s)" in again.summary
    assert InvoiceDocument.objects.count() == len(kept)


def test_command_line_queues_one_campaign_per_operator(world) -> None:
    from typer.testing import CliRunner

    from opsn.cli import app

    with_sirets(world)
    admin = world["users"]["admin"]
    refused = CliRunner().invoke(app, ["facturer", "--annee", "2020", "--apply", "--en-file"])
    assert refused.exit_code != 0 and "--utilisateur" in refused.output
    result = CliRunner().invoke(
        app,
        [
            *("facturer", "--annee", "2020", "--apply", "--en-file", "--documents"),
            *("--operateur", "cdg82", "--utilisateur", admin.username),
            *("--date-emission", "2021-01-15", "--format", "json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["taches"]) == 1
    assert not Invoice.objects.exists()
    run_tasks()
    assert Invoice.objects.filter(status="emise").count() == 2
    assert InvoiceDocument.objects.count() == 2, "les PDF suivent la campagne"
