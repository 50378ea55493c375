"""Banc d'essai des documents : factures PDF/A-3b Factur-X rendues par Typst.

Cible (issue 12) : au moins 100 factures PDF par seconde sur 2 cœurs, XML Factur-X
embarqué et XMP Factur-X compris.

Usage :
    .venv/bin/python benchmarks/documents.py [--factures 600] [--processus 2] [--graine 2021]

Factures synthétiques en mémoire (jamais enregistrées), tirées d'une graine : émetteur et
débiteur complets (adresse, SIRET, SIREN, TVA, adresse électronique, IBAN, BIC), 3 à 15
lignes (9 en moyenne, comme la campagne nationale : 483 426 lignes pour 56 127 factures)
aux libellés et explications de la longueur des vraies, TVA exonérée, à 20 % ou hors champ.
Le XML CII de chaque facture est construit avant la mesure (il est enregistré à l'émission,
le rendu le relit). Mesures :
1. un processus, amorcé : mise en forme des données, compilation Typst (PDF/A-3b, PDF/UA-1,
   `factur-x.xml` joint), ajout du XMP Factur-X, par facture ;
2. pour comparaison, la voie écartée : Typst sans pièce jointe puis l'emballage du paquet
   `factur-x` (`generate_from_binary`, qui relit et réécrit le PDF avec pypdf) ;
3. N processus « spawn » comme ceux de `exports.render_pdfs` (Typst seul, sans Django ; le
   parent leur passe les factures mises en forme), chacun amorcé (une première facture)
   puis lancés ensemble : débit de rendu, et temps de démarrage des processus, à ajouter
   une fois par rendu.
La première facture est vérifiée (`facturx.get_xml_from_pdf(check_xsd=True)` rend le XML
exact). Le rendu de bout en bout sur une vraie base (lecture des factures, écriture des
fichiers) est mesuré par `benchmarks/facturation.py`.

Dernière ligne, lisible par une machine :
    pdf_per_s=… pdf_per_s_cpu=… pdf_per_s_1=… facturx_pdf_per_s_1=… demarrage_s=… factures=…
    processus=…
`pdf_per_s` est le débit mural ; `pdf_per_s_cpu` le débit d'après le temps de processeur de
chaque processus de rendu (utile quand d'autres programmes occupent la machine).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_PDF_RATE = 100.0  # PDF par seconde sur 2 processus
ISSUED_ON = dt.date(2022, 1, 17)

COMMUNES = (
    "Saint-Magne",
    "Belin-Béliet",
    "Le Barp",
    "Lugos",
    "Salles",
    "Montauban",
    "Castelsarrasin",
    "Moissac",
    "Caussade",
    "Valence-d'Agen",
    "Nègrepelisse",
    "Beaumont-de-Lomagne",
)
SERVICES = (
    ("Adhésion mutualisée de l'EPCI et de ses établissements publics", "forfait", "exonere"),
    ("Participation individuelle des communes (facturée à l'EPCI)", "commune", "exonere"),
    ("Assistance aux logiciels métiers (finances, paie, état civil)", "poste", "ttc"),
    ("Dématérialisation des actes et des flux comptables", "forfait", "ttc"),
    ("Numérisation des actes d'état civil – En mairie", "acte", "ht"),
    ("Alerte SMS – SMS envoyés", "SMS", "ht"),
    ("Informaticien mutualisé – 1 journée / mois", "jour", "exonere"),
    ("Hébergement et sauvegarde externalisée des données", "Go", "ht"),
)
VAT_LABELS = {
    "exonere": ("Services mutualisés exonérés de TVA", "Exonération de TVA – article 261 B du CGI"),
    "ht": (
        "Prestations hors mutualisation, TVA 20 %",
        "Prestations hors mutualisation soumises à TVA ; prix en euros hors taxes.",
    ),
    "ttc": ("Hors champ de la TVA", ""),
}


def setup_django() -> None:
    os.environ.setdefault("OPSN_DONNEES", tempfile.mkdtemp(prefix="opsn-bench-docs-"))
    sys.path.insert(0, str(ROOT / "src"))
    from opsn.web.bootstrap import setup

    setup()


def synthetic_invoice(index: int, seed: int) -> tuple[Any, list[Any]]:
    """Une facture émise synthétique et ses lignes, en mémoire (modèles non enregistrés)."""
    from opsn.core.money import round_cents
    from opsn.facturation.documents import invoice_xml
    from opsn.gestion.models import Invoice, InvoiceLine

    rng = random.Random(seed * 1_000_003 + index)
    # Deux émetteurs : l'un facture hors champ (CDG), l'autre exonéré et à 20 %.
    cdg = rng.random() < 0.5
    commune = rng.choice(COMMUNES)
    siren = f"2{rng.randrange(10**7, 10**8)}"
    issuer = {
        "nom": "Centre de gestion de Tarn-et-Garonne" if cdg else "Gironde Numérique",
        "adresse": "23 boulevard Vincent Auriol" if cdg else "Immeuble Gironde, 39 rue de Cursol",
        "code_postal": "82000" if cdg else "33000",
        "ville": "Montauban" if cdg else "Bordeaux",
        "siret": "28820001900026" if cdg else "20001004900019",
        "siren": "288200019" if cdg else "200010049",
        "tva": "" if cdg else "FR90200010049",
        "adresse_electronique": "288200019" if cdg else "200010049",
        "iban": "FR7630001007941234567890185",
        "bic": "BDFEFRPPCCT",
        "comptable": "Paierie départementale de Tarn-et-Garonne",
        "mention_hors_champ": "TVA non applicable – article 256 B du CGI" if cdg else "",
    }
    debtor = {
        "nom": f"Commune de {commune} ({index})",
        "adresse": f"{rng.randrange(1, 120)} place de la Mairie",
        "complement": "Service des finances" if rng.random() < 0.3 else "",
        "code_postal": "82000" if cdg else "33830",
        "ville": commune,
        "siren": siren,
        "siret": f"{siren}000{rng.randrange(10, 99)}",
        "adresse_electronique": siren,
        "convention": f"P{rng.randrange(1, 99)}-{rng.randrange(1, 9)}",
        "code_service": "SERV-FACT" if rng.random() < 0.2 else "",
        "numero_engagement": f"EJ-2021-{index:06d}" if rng.random() < 0.2 else "",
    }
    kinds = ("ttc",) if cdg else ("exonere", "ht")
    choices = [s for s in SERVICES if s[2] in kinds]
    lines = []
    for position in range(1, rng.randint(3, 15) + 1):
        label, unit, vat_kind = rng.choice(choices)
        quantity = Decimal(rng.choice((1, 1, 1, 2, 12, 250, 1200, 2500)))
        unit_price = Decimal(rng.randrange(6, 2_000_000)) / 100
        amount = round_cents(quantity * unit_price)
        population = rng.randrange(150, 40_000)
        lines.append(
            InvoiceLine(
                position=position,
                service_code=f"s{position}",
                component="base",
                label=f"{label} – {commune}",
                family="mutualisation",
                quantity=quantity,
                unit=unit,
                unit_price=unit_price,
                amount=amount,
                vat_kind=vat_kind,
                vat_rate=Decimal("20.00") if vat_kind == "ht" else Decimal("0.00"),
                vat_label=VAT_LABELS[vat_kind][0],
                vat_mention=VAT_LABELS[vat_kind][1],
                rule="003 annexe 1 – participation individuelle par nombre d'habitants",
                stratum=f"« < 10 000 » (population {population} hab.)",
                base_price=unit_price,
                base_year=2021,
                index_ratio=None,
                explanation=(
                    f"strate/palier « < 10 000 » (population {population} hab.) ; prix "
                    f"{unit_price} € (2021) ; {quantity} {unit} × {unit_price} € = {amount} €"
                ),
                revenue_account="706",
            )
        )
    breakdown = []
    for vat_kind in sorted({line.vat_kind for line in lines}):
        base = sum((line.amount for line in lines if line.vat_kind == vat_kind), Decimal(0))
        rate = Decimal("20.00") if vat_kind == "ht" else Decimal("0.00")
        breakdown.append(
            {
                "type": vat_kind,
                "taux": f"{rate:.2f}",
                "base_ht": f"{base:.2f}",
                "tva": f"{round_cents(base * rate / 100):.2f}",
                "libelle": VAT_LABELS[vat_kind][0],
                "mention": VAT_LABELS[vat_kind][1],
            }
        )
    total_ht = sum((line.amount for line in lines), Decimal(0))
    total_tva = sum((Decimal(v["tva"]) for v in breakdown), Decimal(0))
    invoice = Invoice(
        kind="facture",
        status="emise",
        year=2021,
        number=f"2022-{index + 1:06d}",
        sequence_number=index + 1,
        issued_on=ISSUED_ON,
        due_on=ISSUED_ON + dt.timedelta(days=30),
        period_start=dt.date(2021, 1, 1),
        period_end=dt.date(2021, 12, 31),
        total_ht=total_ht,
        total_tva=total_tva,
        total_ttc=total_ht + total_tva,
        vat_breakdown=breakdown,
        issuer=issuer,
        debtor=debtor,
    )
    invoice.xml = invoice_xml(invoice, lines).decode("utf-8")
    return invoice, lines


def render_all(jobs: list[tuple[Any, Any, bytes]]) -> tuple[float, float]:
    """Secondes murales et secondes de processeur (tous fils du processus) du rendu."""
    from opsn.facturation.pdf_typst import invoice_pdf_bytes

    t0, c0 = time.perf_counter(), time.process_time()
    for data, when, xml in jobs:
        invoice_pdf_bytes(data, when, xml)
    return time.perf_counter() - t0, time.process_time() - c0


def worker(jobs: list[tuple[Any, Any, bytes]], ready: Any, go: Any, results: Any) -> None:
    """Processus de rendu, comme ceux de `exports.render_pdfs` : Typst seul, sans Django ;
    démarrage (Typst, une première facture) mesuré, puis rendu de sa part des factures,
    déjà mises en forme par le parent, une fois tous les processus prêts."""
    t0 = time.perf_counter()
    sys.path.insert(0, str(ROOT / "src"))
    from opsn.facturation.pdf_typst import invoice_pdf_bytes

    invoice_pdf_bytes(*jobs[0])
    ready.put(time.perf_counter() - t0)
    go.wait()
    results.put((len(jobs), *render_all(jobs)))


def parallel(jobs: list[tuple[Any, Any, bytes]], processes: int) -> tuple[float, float, float]:
    """Débit de N processus amorcés lancés ensemble (secondes murales du premier départ à
    la dernière facture), débit d'après le temps de processeur de chacun (ce que donnerait
    une machine où rien d'autre ne tourne), et temps de démarrage d'un processus (lancement
    « spawn », Typst, première facture)."""
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    shares = [jobs[k::processes] for k in range(processes)]
    procs = [ctx.Process(target=worker, args=(share, ready, go, results)) for share in shares]
    t0 = time.perf_counter()
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=300)
    startup = time.perf_counter() - t0
    t0 = time.perf_counter()
    go.set()
    done = [results.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    for proc in procs:
        proc.join()
    cpu_rate = sum(n / cpu for n, _, cpu in done)
    return len(jobs) / wall, cpu_rate, startup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factures", type=int, default=600, help="factures rendues en parallèle")
    parser.add_argument("--sequentiel", type=int, default=150, help="factures sur 1 processus")
    parser.add_argument("--processus", type=int, default=2, help="processus de rendu")
    parser.add_argument("--graine", type=int, default=2021, help="graine du tirage")
    args = parser.parse_args(argv)

    setup_django()
    import facturx

    from opsn.facturation import documents, pdf_typst

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cœurs, typst {_version('typst')}")
    sample = [synthetic_invoice(i, args.graine) for i in range(args.sequentiel)]
    n_lines = sum(len(lines) for _, lines in sample)
    print(f"{len(sample)} factures synthétiques, {n_lines / len(sample):.1f} lignes en moyenne")

    # Vérification de la première : XML exact, XMP Factur-X.
    invoice, lines = sample[0]
    pdf = documents.invoice_pdf(invoice, lines)
    name, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert name == "factur-x.xml" and xml == invoice.xml.encode(), "XML embarqué inexact"
    assert b"<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in pdf, "XMP Factur-X"
    assert documents.invoice_pdf(invoice, lines) == pdf, "rendu non déterministe"
    print(f"  vérifié : XML embarqué exact (XSD), XMP Factur-X, {len(pdf) / 1024:.0f} Ko")
    documents.invoice_pdf(*synthetic_invoice(10**6, args.graine))  # amorce

    # 1. un processus, étape par étape
    steps = {"données": 0.0, "typst": 0.0, "xmp": 0.0}
    t_all = time.perf_counter()
    for invoice, lines in sample:
        t0 = time.perf_counter()
        data = documents.invoice_document_data(invoice, lines)
        t1 = time.perf_counter()
        raw = pdf_typst.render(
            "facture", data, documents._creation_time(invoice), invoice.xml.encode()
        )
        t2 = time.perf_counter()
        pdf_typst.facturx_xmp(raw)
        t3 = time.perf_counter()
        steps["données"] += t1 - t0
        steps["typst"] += t2 - t1
        steps["xmp"] += t3 - t2
    seconds = time.perf_counter() - t_all
    rate_1 = len(sample) / seconds
    print(f"1 processus : {rate_1:.1f} PDF/s ({seconds / len(sample) * 1000:.2f} ms par facture)")
    for step, value in steps.items():
        print(f"  {step:<8} {value / len(sample) * 1000:6.2f} ms")

    # 2. la voie écartée : Typst sans pièce jointe + emballage du paquet factur-x
    t0 = time.perf_counter()
    for invoice, lines in sample:
        bare = pdf_typst.render(
            "facture",
            documents.invoice_document_data(invoice, lines),
            documents._creation_time(invoice),
        )
        facturx.generate_from_binary(
            bare,
            invoice.xml.encode(),
            flavor="factur-x",
            level="en16931",
            check_xsd=True,
            lang="fr-FR",
        )
    seconds = time.perf_counter() - t0
    facturx_rate = len(sample) / seconds
    print(
        f"voie écartée, Typst + emballage factur-x : {facturx_rate:.1f} PDF/s "
        f"({seconds / len(sample) * 1000:.2f} ms par facture)"
    )

    # 3. N processus
    from opsn.facturation.documents import invoice_render_args

    jobs = [invoice_render_args(*synthetic_invoice(i, args.graine)) for i in range(args.factures)]
    rate, cpu_rate, startup = parallel(jobs, args.processus)
    verdict = "atteinte" if rate >= TARGET_PDF_RATE else "NON atteinte"
    print(
        f"{args.processus} processus : {args.factures} PDF, {rate:.1f} PDF/s (processus amorcés) ; "
        f"{cpu_rate:.1f} PDF/s d'après leur temps de processeur ; démarrage d'un processus "
        f"{startup:.2f} s (lancement, Typst, première facture ; les processus de rendu ne chargent "
        "pas Django)"
    )
    load = os.getloadavg()[0]
    if load > args.processus + 0.5:
        print(f"  (charge de la machine {load:.1f} : d'autres processus prennent les cœurs)")
    print(f"Cible ≥ {TARGET_PDF_RATE:.0f} PDF/s sur {args.processus} processus : {verdict}.")
    print(
        f"pdf_per_s={rate:.1f} pdf_per_s_cpu={cpu_rate:.1f} pdf_per_s_1={rate_1:.1f} "
        f"facturx_pdf_per_s_1={facturx_rate:.1f} demarrage_s={startup:.2f} "
        f"factures={args.factures} processus={args.processus}"
    )
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    raise SystemExit(main())
