"""Import des conventions : tout ou rien, erreurs par ligne et colonne, relance sans effet."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from opsn.gestion.imports import ImportRejected, conventions_import
from opsn.gestion.models import AuditEntry, Convention, Member, Subscription

HEADER = "adherent;reference;signature;service;quantites;debut\n"


def write(tmp_path: Path, text: str, name: str = "conventions.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_imports_once_and_rerun_creates_nothing(world, tmp_path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "82121;IMP-1;2019-06-15;assistance_srb;postes_n1=2 | postes_n2=3;\n"
        + "82121;IMP-1;2019-06-15;dematerialisation;3;2020-01-01\n"
        + "243301405;IMP-2;01/01/2021;rgpd_dpd;;\n",
    )
    user = world["users"]["facturation"]
    report = conventions_import(actor=user, operator=world["cdg82"], path=path)
    assert (report.conventions_created, report.subscriptions_created, report.members_created) == (
        2,
        3,
        2,
    )
    member = Member.objects.get(insee="82121")
    assert member.population_totale is not None and "recensement" in member.population_source
    sub = Subscription.objects.get(convention__reference="IMP-1", service_code="assistance_srb")
    assert sub.quantities == {"postes_n1": "2", "postes_n2": "3"}
    assert AuditEntry.objects.filter(object_type="convention", actor=user).count() == 2
    again = conventions_import(actor=user, operator=world["cdg82"], path=path)
    assert (again.conventions_created, again.subscriptions_created, again.unchanged) == (0, 0, 3)
    assert Convention.objects.filter(reference__startswith="IMP-").count() == 2


def test_bad_rows_are_all_reported_and_nothing_is_written(world, tmp_path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "82121;IMP-1;2019-06-15;assistance_srb;postes_n1=2;\n"
        + "99999;IMP-2;2019-06-15;assistance_srb;postes_n1=2;\n"
        + "82121;IMP-3;2019-13-45;assistance_srb;postes_n1=2;\n"
        + "82121;IMP-4;2019-06-15;inconnu;;\n"
        + "82121;IMP-5;2019-06-15;assistance_srb;postes_n9=2;\n"
        + "82121;IMP-6;2019-06-15;assistance_srb;postes_n1=-1;\n",
    )
    before = (Convention.objects.count(), Member.objects.count(), AuditEntry.objects.count())
    with pytest.raises(ImportRejected) as info:
        conventions_import(actor=world["users"]["facturation"], operator=world["cdg82"], path=path)
    errors = info.value.errors
    assert errors[0].startswith("conventions.csv, ligne 3, colonne « adherent » : « 99999 »")
    assert any(e.startswith("conventions.csv, ligne 4, colonne « signature »") for e in errors)
    assert any(e.startswith("conventions.csv, ligne 5, colonne « service »") for e in errors)
    assert any(
        "ligne 6, colonne « quantites » : quantité « postes_n9 » inconnue" in e for e in errors
    )
    assert any("ligne 7, colonne « quantites »" in e and "négative" in e for e in errors)
    assert len(errors) == 5
    after = (Convention.objects.count(), Member.objects.count(), AuditEntry.objects.count())
    assert after == before


def test_xlsx_file_and_missing_column(world, tmp_path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["adherent", "reference", "signature", "service", "quantites"])
    sheet.append(["82121", "XL-1", "2020-01-01", "assistance_metiers", "postes_n3=2"])
    path = tmp_path / "conventions.xlsx"
    book.save(path)
    report = conventions_import(actor=world["users"]["admin"], operator=world["cdg82"], path=path)
    assert report.subscriptions_created == 1
    bad = write(tmp_path, "adherent;reference;service\n82121;X;rgpd_dpd\n", "sans-date.csv")
    from opsn.tabular import TableError

    with pytest.raises(TableError, match=r"ligne 1 : colonne.*signature"):
        conventions_import(actor=world["users"]["admin"], operator=world["cdg82"], path=bad)


def test_debtor_identity_columns_are_checked_and_imported(world, tmp_path) -> None:
    header = (
        "adherent;reference;signature;service;siret;adresse;code_postal;ville;"
        "adresse_electronique;engagement_exige\n"
    )
    bad = write(
        tmp_path,
        header
        + "82121;IMP-9;2019-06-15;rgpd_dpd;21820121500012;1 place;8200;Montech;abc;peut-être\n",
    )
    user = world["users"]["facturation"]
    with pytest.raises(ImportRejected) as rejected:
        conventions_import(actor=user, operator=world["cdg82"], path=bad)
    text = "\n".join(rejected.value.errors)
    for column in ("siret", "code_postal", "adresse_electronique", "engagement_exige"):
        assert f"ligne 2, colonne « {column} »" in text, column
    assert not Convention.objects.filter(reference="IMP-9").exists()
    good = write(
        tmp_path,
        header
        + "82121;IMP-9;2019-06-15;rgpd_dpd;21820121800011;1 place de la Mairie;82000;Montauban;"
        + "218201218;oui\n",
        name="bon.csv",
    )
    conventions_import(actor=user, operator=world["cdg82"], path=good)
    member = Member.objects.get(insee="82121")
    assert (member.siret, member.address, member.postcode, member.city) == (
        "21820121800011",
        "1 place de la Mairie",
        "82000",
        "Montauban",
    )
    assert member.electronic_address == "218201218" and member.engagement_required
