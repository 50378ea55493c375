"""Tâches de fond depuis le back-office : la page met en file, le travailleur exécute au nom
de l'utilisateur (droit revérifié), la page de la tâche montre l'avancement, le résultat et
le fichier produit, au seul personnel habilité de l'opérateur ; une tâche d'un travailleur
mort apparaît interrompue et se relance."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from opsn.gestion.models import BackgroundTask, Invoice, InvoiceSequence, Role, StaffMembership
from opsn.plateforme import taches

from .travailleur import run_tasks

HEADER = "adherent;reference;signature;service;quantites;debut\n"


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return html.unescape(response.content.decode())


def with_sirets(world) -> None:
    """Identités complètes de l'émetteur et des débiteurs : les deux communes sont à facturer."""
    from opsn.facturation.identites import with_luhn_key
    from opsn.gestion.identites_demo import fill_member, fill_operator

    fill_operator(world["cdg82"])
    for key, prefix in (("a", "21820001"), ("b", "21820002")):
        world[key].siren = with_luhn_key(prefix)
        fill_member(world[key])


def launch_billing(client: Client) -> str:
    response = client.post("/facturation/", {"annee": "2020", "operateur": "cdg82"})
    assert response.status_code == 302
    assert re.fullmatch(r"/taches/[0-9a-f-]{36}/", response["Location"]), response["Location"]
    return response["Location"]


def test_billing_run_is_enqueued_then_run_by_the_worker(world) -> None:
    with_sirets(world)
    client = client_for(world["users"]["facturation"])
    url = launch_billing(client)
    waiting = page(client, url)
    assert "En attente" in waiting and 'http-equiv="refresh"' in waiting
    assert "Campagne de facturation 2020" in waiting
    still = page(client, f"{url}?actualiser=non")  # RGAA 13.1 : actualisation arrêtable
    assert "En attente" in still and 'http-equiv="refresh"' not in still
    assert not Invoice.objects.exists(), "la requête n'émet rien : la tâche le fera"
    assert run_tasks() == 1
    done = page(client, url)
    assert "Terminée" in done and 'http-equiv="refresh"' not in done
    assert "2 facture(s) émise(s) pour 2020" in done
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert len(numbers) == 2 and numbers[0] in done and numbers[1] in done
    record = BackgroundTask.objects.get()
    assert record.created_by == world["users"]["facturation"]
    assert record.progress_total == 2 and record.progress_done == 2
    result = DBTaskResult.objects.get(id=record.task_id)
    assert result.status == "SUCCESSFUL" and result.return_value["factures"] == 2
    # Relancer une campagne déjà faite ne crée rien.
    again = launch_billing(client)
    run_tasks()
    assert "Aucune facture à émettre pour 2020" in page(client, again)
    assert Invoice.objects.count() == 2
    listing = page(client, "/taches/")
    assert listing.count("Campagne de facturation 2020") == 2


def test_permission_is_checked_again_when_the_task_runs(world) -> None:
    with_sirets(world)
    user = world["users"]["facturation"]
    client = client_for(user)
    url = launch_billing(client)
    # Entre la mise en file et l'exécution, l'utilisateur perd le droit de facturer.
    StaffMembership.objects.filter(user=user).update(role=Role.TECHNICIAN)
    run_tasks()
    assert not Invoice.objects.exists()
    assert not InvoiceSequence.objects.filter(last_number__gt=0).exists()
    record = BackgroundTask.objects.get()
    assert DBTaskResult.objects.get(id=record.task_id).status == "FAILED"
    assert "ne vous permet pas de facturer" in " ".join(record.errors)
    # Il ne voit plus la tâche : son rôle ne donne plus le droit qu'elle exerce.
    assert client.get(url).status_code == 404
    admin = client_for(world["users"]["admin"])
    failed = page(admin, url)
    assert "Échec" in failed and "ne vous permet pas de facturer" in failed


def test_only_the_operator_staff_with_the_right_sees_the_task_and_its_file(world) -> None:
    with_sirets(world)
    client = client_for(world["users"]["facturation"])
    launch_billing(client)
    run_tasks()
    response = client.post("/factures/titres.csv", {"annee": "2020", "operateur": "cdg82"})
    assert response.status_code == 302
    url = response["Location"]
    run_tasks()
    done = page(client, url)
    assert "Terminée" in done and "titres-cdg82-2020.csv" in done
    download = client.get(f"{url}fichier/")
    assert download.status_code == 200
    text = b"".join(download.streaming_content).decode("utf-8")  # lu jusqu'au bout : fermé
    assert text.splitlines()[0].startswith("numero_piece;nature;date_emission")
    assert all(n in text for n in Invoice.objects.values_list("number", flat=True))
    record = BackgroundTask.objects.get(kind="titres")
    assert (data_dir_of(record) / "titres-cdg82-2020.csv").read_bytes().decode("utf-8") == text
    for name in ("facturation_gn", "technicien", "referent_a"):
        other = client_for(world["users"][name])
        for suffix in ("", "fichier/"):
            assert other.get(f"{url}{suffix}").status_code == 404, (name, suffix)
        assert other.post(f"{url}relancer/").status_code == 404, name
        listing = other.get("/taches/")
        assert "Titres de recettes" not in html.unescape(listing.content.decode()), name
    # Le personnel habilité du même opérateur la voit, même s'il ne l'a pas lancée.
    colleague = client_for(world["users"]["admin"]).get(f"{url}fichier/")
    assert colleague.status_code == 200
    assert b"".join(colleague.streaming_content).decode("utf-8") == text


def data_dir_of(record: BackgroundTask):
    return taches.exports_dir() / record.work_key


def test_import_from_the_page_reports_rows_and_columns(world) -> None:
    client = client_for(world["users"]["facturation"])
    good = HEADER + "82121;IMP-1;2019-06-15;assistance_srb;postes_n1=2 | postes_n2=3;\n"
    response = client.post(
        "/conventions/importer/",
        {"operateur": "cdg82", "fichier": _upload("conventions.csv", good)},
    )
    assert response.status_code == 302  # vers l'aperçu, puis confirmation (issue 10)
    assert "Aucune erreur" in page(client, response["Location"])
    confirmed = client.post(response["Location"] + "confirmer/")
    run_tasks()
    done = page(client, confirmed["Location"])
    assert "Terminée" in done
    assert "conventions.csv : 1 convention(s) créée(s), 1 abonnement(s) créé(s)" in done
    bad = HEADER + "99999;IMP-2;2019-13-45;assistance_srb;postes_n1=2;\n"
    response = client.post(
        "/conventions/importer/", {"operateur": "cdg82", "fichier": _upload("erreurs.csv", bad)}
    )
    failed = page(client, response["Location"])
    assert "rien ne peut être importé" in failed
    assert "Ligne 2, colonne « adherent »" in failed
    assert "Ligne 2, colonne « signature »" in failed
    assert not world["cdg82"].conventions.filter(reference="IMP-2").exists()
    refused = client.post(
        "/conventions/importer/", {"operateur": "cdg82", "fichier": _upload("x.pdf", "x")}
    )
    assert refused.status_code == 400 and ".csv ou .xlsx" in html.unescape(refused.content.decode())
    assert client_for(world["users"]["technicien"]).get("/conventions/importer/").status_code == 403


def _upload(name: str, text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def test_task_of_a_dead_worker_is_interrupted_and_can_be_retried(world, data_dir) -> None:
    with_sirets(world)
    client = client_for(world["users"]["facturation"])
    url = launch_billing(client)
    record = BackgroundTask.objects.get()
    result = DBTaskResult.objects.get(id=record.task_id)
    # Un travailleur de cette machine l'a prise, puis est mort : son verrou n'est plus tenu.
    with taches.hold_worker_lock(taches.new_worker_id()) as live_lock:
        alive_id = live_lock.read_text().strip()
        result.claim(alive_id)
        assert "En cours" in page(client, url), "travailleur vivant : la tâche est en cours"
    # Le verrou est rendu (travailleur arrêté) sans que la tâche ne soit finie.
    assert taches.worker_alive(alive_id) is False
    interrupted = page(client, url)
    assert "Interrompue" in interrupted and "Relancer la tâche" in interrupted
    assert 'http-equiv="refresh"' not in interrupted
    assert client_for(world["users"]["facturation_gn"]).post(f"{url}relancer/").status_code == 404
    response = client.post(f"{url}relancer/")
    assert response.status_code == 302 and response["Location"] != url
    old = DBTaskResult.objects.get(id=record.task_id)
    assert old.status == "FAILED" and old.exception_class_path == taches.WORKER_LOST
    assert client.post(f"{url}relancer/").status_code == 302  # refusée : déjà relancée
    assert BackgroundTask.objects.count() == 2
    assert run_tasks() == 1
    assert "2 facture(s) émise(s) pour 2020" in page(client, response["Location"])
    assert "voir la relance" in page(client, url)
    assert Invoice.objects.count() == 2


def test_recover_stale_marks_only_tasks_of_dead_workers(world) -> None:
    with_sirets(world)
    client = client_for(world["users"]["facturation"])
    launch_billing(client)
    client.post("/factures/titres.csv", {"annee": "2020", "operateur": "cdg82"})
    first, second = DBTaskResult.objects.order_by("enqueued_at")
    with taches.hold_worker_lock(taches.new_worker_id()) as lock:
        first.claim(lock.read_text().strip())
    # Verrou laissé par un travailleur tué (fichier présent, plus tenu par personne).
    leftover = taches.workers_dir() / "opsn_mort.verrou"
    leftover.write_text(taches.new_worker_id(), encoding="utf-8")
    with taches.hold_worker_lock(taches.new_worker_id()) as lock:
        second.claim(lock.read_text().strip())
        assert taches.recover_stale() == 1  # le premier est mort, le second vit
        assert DBTaskResult.objects.get(id=second.id).status == "RUNNING"
        assert lock.exists() and not leftover.exists()
    assert DBTaskResult.objects.get(id=first.id).exception_class_path == taches.WORKER_LOST
    assert taches.recover_stale() == 1


def test_archive_get_does_not_render_in_the_request(world) -> None:
    client = client_for(world["users"]["facturation"])
    response = client.get("/factures/archive.zip?annee=2020&operateur=cdg82")
    assert response.status_code == 302 and response["Location"].startswith("/factures/")
    assert not BackgroundTask.objects.exists()
    listing = page(client, "/factures/?annee=2020&operateur=cdg82")
    assert "Préparer l'archive ZIP des PDF" in listing
