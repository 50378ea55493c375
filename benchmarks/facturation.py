"""Banc d'essai de la campagne annuelle de facturation à l'échelle nationale.

Exigence : toutes les communes du référentiel, tous les EPCI, 20 000 établissements
synthétiques, 5 à 10 abonnements chacun, sur SQLite et sur PostgreSQL ; secondes de la
simulation (dry run), de --apply (factures tarifées et numérotées), factures par seconde
pour le rendu des PDF, pics de mémoire. Cibles (issue 12, machine à 2 cœurs) : la campagne
tarifée et numérotée en moins de 30 s sous SQLite et de 40 s sous PostgreSQL, au plus 3 fois
la tarification pure des mêmes adhérents mesurée dans la même campagne, moins de 1 Go de
mémoire ; au moins 100 PDF par seconde sur 2 cœurs.

Usage :
    python3 -m uv run python benchmarks/facturation.py [--base sqlite|postgres|les-deux]
        [--echelle 1.0] [--pdf 200] [--processus 2] [--graine 2021] [--dossier DOSSIER]
        [--travailleurs 1,2,4] [--pdf-travailleurs 2000]

Déroulé, pour chaque base, dans des sous-processus neufs (les réglages Django lisent
OPSN_DONNEES ou DATABASE_URL à l'import) :
1. chargement (hors cibles, processus « charger ») : migrations, catalogues et indices
   livrés, puis en bulk_create dans une transaction :
   - chaque commune du référentiel est un adhérent du CDG82 (catalogue 2020), avec une
     convention et 5 à 10 abonnements tirés parmi les services du catalogue (exclusivités
     et prérequis respectés ; devis et bons de commande saisis) ; quelques interventions
     au tarif journalier ;
   - chaque EPCI est un adhérent de Gironde Numérique (catalogue 2021) avec ses communes
     rattachées (adhérents sans convention, `parent` = l'EPCI) : adhésion mutualisée
     (relevé `donnees_go` ≤ 3 500 Go), participation individuelle, et des prestations hors
     mutualisation (TVA 20 %) ;
   - 20 000 établissements synthétiques (syndicats, CCAS, établissements publics, budgets
     annexes, avec agents, population desservie et budget), moitié CDG82, moitié Gironde
     Numérique (un tiers de ces derniers rattachés à un EPCI) ;
   - les relevés d'usage des compteurs des services souscrits (année facturée).
   Le CDG47 n'a pas d'adhérent : ses forfaits n'ont pas de prix (R15), tout y serait bloqué.
   Tirage déterministe (`random.Random(graine)`).
2. simulation : `billing_preview` pour chaque opérateur (processus « mesurer ») ;
3. --apply : `billing_run` (tarification, création, numérotation et XML CII de chaque
   facture, une transaction par opérateur) ; le nombre de factures émises est comparé à
   celui que la simulation annonce ; `RunReport.seconds` dit où passe le temps, dont la
   tarification pure (`Pricer.quote` seul) des mêmes adhérents, base du rapport `ratio` ;
   sous SQLite, le plancher de la campagne sur ses propres données (`measure_floor` :
   lecture brute de ses entrées, écriture brute de ses lignes, rien d'autre), rapporté à
   la même tarification pure ;
4. PDF : un échantillon de N factures émises, réparties sur toute la séquence, rendu par
   le même mécanisme que `exports.render_pdfs` (factures lues et mises en forme par ce
   processus, lots de `exports.pdf_jobs` rendus par Typst dans un pool « spawn » de
   `pdf_worker`, sans Django, même taille de lot) : `render_pdfs` n'accepte pas de
   sous-ensemble et rendrait toutes les factures de l'année ; le temps compte le démarrage
   des processus. Puis, pour comparaison, quelques PDF sur un seul processus ;
5. mémoire : pic de mémoire résidente de chaque phase (VmHWM remis à zéro entre les
   phases par /proc/self/clear_refs, mémoire libérée rendue au système par `malloc_trim`
   avant), `ru_maxrss` du processus et des enfants (rendu PDF) ;
6. travailleurs (PostgreSQL, `--travailleurs 1,2,4`) : pour chaque nombre N, une copie
   neuve de la base chargée, N processus `opsn travailleur`, les campagnes des opérateurs
   mises en file (`repartition.start_campaigns`, une tâche par opérateur), puis le rendu
   des PDF d'un échantillon de pièces par lots (`repartition.start_documents`, PDF
   conservés en base) : secondes jusqu'à la fin de chaque vague de tâches.

Le nombre de requêtes SQL de chaque phase est compté (`connection.execute_wrapper`).
La dernière ligne est lisible par une machine (`apply_s=… pricing_s=… ratio=…
peak_rss_mb=… pdf_per_s=… members=… invoices=… lines=…`, SQLite si mesuré).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

YEAR = 2021
ISSUED_ON = dt.date(2022, 1, 17)
ETABLISSEMENTS = 20_000
TARGET_APPLY_SECONDS = {"sqlite": 30.0, "postgresql": 40.0}  # campagne, 2 cœurs
TARGET_RATIO = 3.0  # campagne / tarification pure des mêmes adhérents
TARGET_RSS_MB = 1000.0  # pic de mémoire de --apply
TARGET_PDF_RATE = 100.0  # PDF par seconde, 2 processus (issue 12)
ROOT = Path(__file__).resolve().parent.parent
PG_SCRIPT = ROOT / "scripts" / "ci" / "postgres.sh"

ETAB_KINDS = ("syndicat", "ccas", "etablissement_public", "budget_annexe")

# Services tirés pour chaque public (les services obligatoires sont ajoutés d'abord).
CDG82_SERVICES = (
    "assistance_srb",
    "assistance_metiers",
    "dematerialisation",
    "module_parapheur",
    "module_convocation",
    "rgpd_dpd",
    "pack_decouverte",
    "pack_confort",
    "pack_expert",
    "nom_domaine_supplementaire",
    "adresse_mel_5go",
    "supplement_mel_10go",
    "certificat_electronique",
)
GN_EPCI_MANDATORY = ("adhesion_mutualisee", "participation_individuelle")
GN_EPCI_SERVICES = (
    "informaticien_1j_mois",
    "informaticien_1j_semaine",
    "rgpd_conformite",
    "nas_50go",
    "nas_100go",
    "nas_200go",
    "demat_etat",
    "outil_collaboratif",
    "outil_conges",
    "identite_numerique",
    "certificat_rgs",
    "opendemande",  # CC et CA seulement (classes Opendemande)
    "opendemande_teleformation",
    "opendemande_ldap",
    "alerte_sms",
    "amoa_analyse_offres",
    "numerisation_etat_civil",
)
GN_ETAB_SERVICES = (
    "informaticien_1j_mois",
    "rgpd_conformite",
    "nas_50go",
    "nas_100go",
    "nas_200go",
    "demat_etat",
    "outil_collaboratif",
    "outil_conges",
    "identite_numerique",
    "certificat_rgs",
    "alerte_sms",
    "amoa_analyse_offres",
)
# Montants saisis (devis acceptés, bons de commande) : le cœur ne les prend que pour une
# composante sans prix imprimé (sur devis au-delà des grilles, bon de commande).
ENTERED_AMOUNTS = {
    "rgpd_dpd": {"mise_en_place": "2600.00", "accompagnement": "1650.00"},
    "adhesion_mutualisee": {"adhesion": "61500.00"},
    "participation_individuelle": {"participation": "32000.00"},
}
QUANTITY_RANGES = {
    "postes_n1": (1, 8),
    "postes_n2": (1, 8),
    "postes_n3": (1, 4),
    "utilisateurs": (1, 6),
    "noms": (1, 3),
    "adresses": (1, 10),
    "comptes": (1, 10),
    "certificats": (1, 3),
    "offres": (1, 4),
    "communes_supplementaires": (1, 10),
    "jours": (1, 3),
    "agents_police": (1, 9),
}
USAGE_RANGES = {
    "donnees_go": (50, 3500),  # au-delà : sur devis (R5)
    "sms": (100, 8000),
    "actes_site": (0, 3000),
    "actes_mairie": (50, 1500),
    "identite_tranches_10go": (0, 4),
}


# -- mesures -------------------------------------------------------------------------


def rss_peak_mb() -> float:
    """Pic de mémoire résidente depuis la dernière remise à zéro (VmHWM), sinon ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return maxrss_mb(resource.RUSAGE_SELF)


def reset_peak() -> None:
    """Remet le pic de mémoire résidente du processus au niveau actuel (Linux)."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")


def release_memory() -> None:
    """Rend au système la mémoire libérée par Python (glibc `malloc_trim`) : le pic d'une
    phase ne compte pas ce que la précédente a laissé dans les arènes de malloc."""
    import ctypes
    import gc

    gc.collect()
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def hwm_mb(pid: int) -> float:
    """Pic de mémoire résidente d'un processus vivant (VmHWM), 0 s'il est illisible."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def maxrss_mb(who: int) -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # octets sous macOS, Kio sous Linux
    return resource.getrusage(who).ru_maxrss * scale / (1024 * 1024)


class Phase:
    """Durée, requêtes SQL et pic de mémoire d'une phase."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seconds = 0.0
        self.queries = 0
        self.peak_mb = 0.0

    @contextmanager
    def run(self) -> Iterator[Phase]:
        from django.db import connection

        def count(execute: Callable, sql: str, params: Any, many: bool, context: Any) -> Any:
            self.queries += 1
            return execute(sql, params, many, context)

        reset_peak()
        t0 = time.perf_counter()
        with connection.execute_wrapper(count):
            yield self
        self.seconds += time.perf_counter() - t0
        self.peak_mb = max(self.peak_mb, rss_peak_mb())


def say(text: str) -> None:
    print(text, flush=True)


# -- chargement ----------------------------------------------------------------------


class Chooser:
    """Tire 5 à 10 services d'un catalogue en respectant exclusivités et prérequis, et
    fabrique les abonnements (quantités, montants saisis) et les relevés d'usage."""

    def __init__(self, catalogue: Any, rng: random.Random) -> None:
        self.catalogue = catalogue
        self.rng = rng
        self.usage: dict[str, tuple[str, ...]] = {}
        for code, service in catalogue.services.items():
            counters = set()
            for comp in service.components:
                if comp.quantity.kind in ("usage", "depassement") and comp.quantity.name:
                    counters.add(comp.quantity.name)
                if comp.price.kind == "grille":
                    grid = catalogue.grids[comp.price.table]
                    for axis in (grid.columns, grid.rows):
                        if axis is not None and axis.dimension.startswith("usage."):
                            counters.add(axis.dimension.removeprefix("usage."))
            self.usage[code] = tuple(sorted(counters))

    def choose(self, mandatory: tuple[str, ...], pool: tuple[str, ...]) -> list[str]:
        services = self.catalogue.services
        wanted = self.rng.randint(5, 10)
        chosen = list(mandatory)
        codes = set(chosen)
        groups = {services[c].exclusive_group for c in chosen} - {None}
        candidates = [c for c in pool if c not in codes]
        self.rng.shuffle(candidates)
        for code in candidates:
            if len(chosen) >= wanted:
                break
            if code in codes:
                continue
            batch = [code]
            for prereq in services[code].prerequisites:
                if prereq.services and not codes & set(prereq.services):
                    batch.append(prereq.services[0])
            batch_groups = [g for g in (services[c].exclusive_group for c in batch) if g]
            if len(chosen) + len(batch) > wanted or any(g in groups for g in batch_groups):
                continue
            if len(set(batch_groups)) != len(batch_groups):
                continue
            chosen.extend(batch)
            codes.update(batch)
            groups.update(batch_groups)
        return chosen

    def quantities(self, code: str) -> dict[str, str]:
        # au plus le plus petit plafond imprimé (003 : 2 certificats, 5 utilisateurs
        # d'Opendemande), au-delà duquel le cœur refuse l'abonnement
        return {
            q.code: str(
                min(
                    self.rng.randint(*QUANTITY_RANGES.get(q.code, (1, 5))),
                    self.catalogue.smallest_cap(code, q.code) or 10**9,
                )
            )
            for q in self.catalogue.services[code].quantities
        }

    def amounts(self, code: str) -> dict[str, str]:
        if code == "certificat_electronique":  # bon de commande (001 art. 3.1)
            return {"fourniture": f"{self.rng.randint(4500, 9000) / 100:.2f}"}
        return dict(ENTERED_AMOUNTS.get(code, {}))

    def counters(self, codes: list[str]) -> dict[str, Decimal]:
        usage = {}
        for code in codes:
            for counter in self.usage[code]:
                usage[counter] = Decimal(self.rng.randint(*USAGE_RANGES.get(counter, (0, 1000))))
        return usage


def random_day(rng: random.Random, first_year: int, last_year: int) -> dt.date:
    return dt.date(rng.randint(first_year, last_year), rng.randint(1, 12), rng.randint(1, 28))


def load_data(scale: float, seed: int) -> dict[str, Any]:
    from django.db import transaction

    from opsn.facturation.identites import with_luhn_key
    from opsn.gestion import bridge
    from opsn.gestion.identites_demo import debtor_fields, fill_operator
    from opsn.gestion.models import (
        CatalogueVersion,
        Convention,
        Intervention,
        Member,
        Operator,
        Subscription,
        UsageRecord,
    )
    from opsn.referentiel import Referentiel
    from opsn.referentiel.resolve import member_fields

    rng = random.Random(seed)
    ref = Referentiel.charger()
    communes = sorted(ref.communes(), key=lambda c: c.insee)
    epcis = sorted(ref.epcis(), key=lambda e: e.siren)
    n_etab = ETABLISSEMENTS
    if scale < 1:
        communes = sorted(rng.sample(communes, max(1, round(len(communes) * scale))), key=str)
        epcis = sorted(rng.sample(epcis, max(1, round(len(epcis) * scale))), key=str)
        n_etab = max(2, round(ETABLISSEMENTS * scale))
    by_insee = {c.insee: c for c in ref.communes()}

    cdg82 = Operator.objects.get(code="cdg82")
    gn = Operator.objects.get(code="gironde-numerique")
    cat82 = CatalogueVersion.objects.get(operator=cdg82, version="2020")
    catgn = CatalogueVersion.objects.get(operator=gn, version="2021")
    choose82 = Chooser(bridge.catalogue_of(cat82), rng)
    choosegn = Chooser(bridge.catalogue_of(catgn), rng)

    # Identités complètes (SIREN/SIRET à clé valide, adresses) : sans elles, tout serait
    # bloqué avant l'émission (opsn.facturation.identites).
    fill_operator(cdg82)
    fill_operator(gn)

    def commune_member(operator: Any, c: Any, parent: Any = None) -> Any:
        pop = c.population_totale
        fields = member_fields(c)
        return Member(
            operator=operator,
            **fields,
            **debtor_fields(
                kind="commune",
                name=c.nom,
                siren=fields["siren"],
                postcode=c.codes_postaux[0] if c.codes_postaux else "",
                city=c.nom,
            ),
            agents=max(1, (pop or 0) // 120),
            budget_keur=Decimal(max(50, pop or 0)),
            parent=parent,
        )

    serial = 0

    def etab_member(operator: Any, parent: Any = None) -> Any:
        nonlocal serial
        serial += 1
        kind = rng.choice(ETAB_KINDS)
        siren = with_luhn_key(f"9{serial:07d}")
        pop = max(100, int(rng.lognormvariate(7.5, 1.2)))
        name = f"{kind.replace('_', ' ').capitalize()} synthétique n° {serial}"
        return Member(
            operator=operator,
            kind=kind,
            name=name,
            siren=siren,
            **debtor_fields(kind=kind, name=name, siren=siren, postcode="33000", city="Bordeaux"),
            population_totale=pop,
            population_municipale=int(pop * 0.98),
            population_source="population desservie (synthétique)",
            agents=rng.randint(1, 150),
            budget_keur=Decimal(rng.randint(50, 9000)),
            parent=parent,
        )

    batch = 2000
    counts: Counter = Counter()
    with transaction.atomic():
        # -- adhérents
        members82 = [commune_member(cdg82, c) for c in communes]
        members82 += [etab_member(cdg82) for _ in range(n_etab // 2)]
        Member.objects.bulk_create(members82, batch_size=batch)

        def seat(e: Any) -> Any:  # commune du siège : la première commune membre
            return next((by_insee[i] for i in e.membres if i in by_insee), None)

        epci_members = [
            Member(
                operator=gn,
                **member_fields(e),
                **debtor_fields(
                    kind="epci",
                    name=e.nom,
                    siren=e.siren,
                    postcode=(seat(e).codes_postaux or ["33000"])[0] if seat(e) else "33000",
                    city=seat(e).nom if seat(e) else e.nom,
                ),
                agents=rng.randint(10, 400),
                budget_keur=Decimal(rng.randint(1000, 60000)),
            )
            for e in epcis
        ]
        Member.objects.bulk_create(epci_members, batch_size=batch)
        attached = [
            commune_member(gn, by_insee[insee], parent=epci_member)
            for e, epci_member in zip(epcis, epci_members, strict=True)
            for insee in e.membres
            if insee in by_insee
        ]
        etabs_gn = [
            etab_member(gn, parent=rng.choice(epci_members) if rng.random() < 1 / 3 else None)
            for _ in range(n_etab - n_etab // 2)
        ]
        Member.objects.bulk_create(attached + etabs_gn, batch_size=batch)
        counts["communes CDG82"] = len(communes)
        counts["établissements CDG82"] = n_etab // 2
        counts["EPCI Gironde Numérique"] = len(epci_members)
        counts["communes rattachées aux EPCI"] = len(attached)
        counts["établissements Gironde Numérique"] = len(etabs_gn)

        # -- conventions, abonnements, usages, interventions
        billed: list[tuple[Any, Any, Any, Chooser, list[str]]] = []
        for member in members82:
            pool = CDG82_SERVICES
            billed.append((member, cdg82, cat82, choose82, choose82.choose((), pool)))
        for member in epci_members:
            pool = GN_EPCI_SERVICES
            if member.nature not in ("CC", "CA"):
                pool = tuple(s for s in pool if not s.startswith("opendemande"))
            billed.append((member, gn, catgn, choosegn, choosegn.choose(GN_EPCI_MANDATORY, pool)))
        for member in etabs_gn:
            billed.append((member, gn, catgn, choosegn, choosegn.choose((), GN_ETAB_SERVICES)))

        conventions, subscriptions, usages, interventions = [], [], [], []
        for member, operator, catalogue, chooser, codes in billed:
            signed = random_day(rng, 2015, YEAR)
            notice = None
            if rng.random() < 0.03:  # dénonciation reçue dans l'année facturée (R22)
                notice = max(random_day(rng, YEAR, YEAR), signed + dt.timedelta(days=1))
            prefix = "CDG82" if operator is cdg82 else "GN"
            conv = Convention(
                operator=operator,
                member=member,
                reference=f"{prefix}-{member.insee or member.siren}",
                catalogue=catalogue,
                signed_on=signed,
                notice_received_on=notice,
            )
            conventions.append(conv)
            for code in codes:
                start = max(signed, dt.date(rng.randint(max(signed.year, 2017), YEAR), 1, 1))
                start = max(start, dt.date(start.year, rng.randint(1, 12), 1))
                subscriptions.append(
                    Subscription(
                        convention=conv,
                        service_code=code,
                        started_on=start,
                        quantities=chooser.quantities(code),
                        amounts=chooser.amounts(code),
                    )
                )
            for counter, quantity in chooser.counters(codes).items():
                usages.append(
                    UsageRecord(member=member, year=YEAR, counter=counter, quantity=quantity)
                )
            if operator is cdg82 and rng.random() < 0.1:  # tarif journalier (001 art. 6.2)
                for _ in range(rng.randint(1, 2)):
                    interventions.append(
                        Intervention(
                            member=member,
                            day=random_day(rng, YEAR, YEAR),
                            days=Decimal(rng.choice((1, 2, 3, 4))) / 2,
                            label="Intervention hors convention",
                        )
                    )
        Convention.objects.bulk_create(conventions, batch_size=batch)
        for sub in subscriptions:
            sub.convention_id = sub.convention.pk
        Subscription.objects.bulk_create(subscriptions, batch_size=batch)
        UsageRecord.objects.bulk_create(usages, batch_size=batch)
        Intervention.objects.bulk_create(interventions, batch_size=batch)
    counts["conventions"] = len(conventions)
    counts["abonnements"] = len(subscriptions)
    counts["relevés d'usage"] = len(usages)
    counts["interventions"] = len(interventions)
    counts["adhérents (toutes lignes)"] = Member.objects.count()
    return dict(counts)


def stage_load(args: argparse.Namespace) -> dict[str, Any]:
    from opsn.web.bootstrap import setup

    setup()
    from django.core.management import call_command
    from django.db import connection

    from opsn.gestion import services

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    services.catalogues_load_shipped()
    services.index_values_load_shipped()
    migrate_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    counts = load_data(args.echelle, args.graine)
    seconds = time.perf_counter() - t0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    say(f"  migrations, catalogues et indices : {migrate_seconds:.1f} s")
    say(f"  données chargées en {seconds:.1f} s (bulk_create, une transaction) :")
    for name, value in counts.items():
        say(f"    {name:<34} {value:>9}")
    return {
        "vendor": connection.vendor,
        "load_seconds": seconds,
        "migrate_seconds": migrate_seconds,
        "counts": counts,
        "load_peak_mb": maxrss_mb(resource.RUSAGE_SELF),
    }


# -- mesures de la campagne ------------------------------------------------------------


def render_subset(ids: list[int], directory: Path, workers: int) -> tuple[list[Path], list[float]]:
    """Même mécanisme que `exports.render_pdfs` (lots `exports.pdf_jobs` lus et mis en
    forme dans ce processus, pool `exports.pdf_pool` de processus Typst sans Django,
    `exports.render_in_pool`), sur une liste de factures donnée ; rend aussi le pic de
    mémoire de chaque processus de rendu (lu avant leur arrêt : le `ru_maxrss` des enfants
    hérite de celui du parent au fork et ne dit rien d'eux)."""
    from opsn.facturation import exports, pdf_worker

    directory.mkdir(parents=True, exist_ok=True)
    size = max(1, min(exports.PDF_BATCH, -(-len(ids) // workers)))
    batches = exports.pdf_jobs(ids, directory, size)
    done: list[Path] = []
    if workers <= 1:
        for batch in batches:
            done.extend(Path(p) for p in pdf_worker.render_jobs(batch))
        return done, []
    with exports.pdf_pool(workers) as pool:
        for paths in exports.render_in_pool(pool, batches, workers):
            done.extend(Path(p) for p in paths)
        peaks = [hwm_mb(proc.pid) for proc in getattr(pool, "_processes", {}).values()]
    return done, peaks


def stage_measure(args: argparse.Namespace) -> dict[str, Any]:
    from opsn.web.bootstrap import setup

    setup()
    from django.db import connection

    from opsn.facturation.billing import billing_preview, billing_run
    from opsn.gestion.models import Invoice, InvoiceLine, InvoiceStatus, Member, Operator
    from opsn.gestion.permissions import SYSTEM

    operators = list(Operator.objects.filter(members__isnull=False).distinct().order_by("code"))
    result: dict[str, Any] = {"vendor": connection.vendor, "operators": {}}

    # 2. simulation
    preview = Phase("simulation")
    say("  simulation (billing_preview) :")
    for op in operators:
        t0 = time.perf_counter()
        with preview.run():
            bills = billing_preview(operator=op, year=YEAR)
        seconds = time.perf_counter() - t0
        billable = sum(1 for b in bills if b.billable)
        blocked = [b for b in bills if b.blocking]
        lines = sum(len(b.lines) for b in bills)
        reasons = Counter(r[:110] for b in blocked for r in b.blocking)
        result["operators"][op.code] = {
            "preview_seconds": seconds,
            "bills": len(bills),
            "billable": billable,
            "blocked": len(blocked),
            "lines": lines,
            "reasons": reasons.most_common(4),
        }
        say(
            f"    {op.code:<20} {seconds:7.1f} s  {len(bills):>6} adhérents, {billable:>6} "
            f"facturables, {len(blocked):>5} bloqués, {lines:>7} lignes"
        )
        for reason, n in reasons.most_common(3):
            say(f"      bloqué ({n}) : {reason}")
        del bills, blocked
    say(
        f"    total {preview.seconds:.1f} s, {preview.queries} requêtes SQL, "
        f"pic RSS {preview.peak_mb:.0f} Mo"
    )

    # 3. --apply
    release_memory()
    apply = Phase("apply")
    say("  --apply (billing_run : tarification, création, numérotation, XML CII) :")
    created = 0
    steps: Counter = Counter()
    for op in operators:
        t0 = time.perf_counter()
        with apply.run():
            report = billing_run(actor=SYSTEM, operator=op, year=YEAR, issued_on=ISSUED_ON)
        seconds = time.perf_counter() - t0
        n = len(report.created)
        created += n
        steps.update(report.seconds)
        result["operators"][op.code].update(apply_seconds=seconds, created=n, steps=report.seconds)
        say(f"    {op.code:<20} {seconds:7.1f} s  {n:>6} factures émises ({n / seconds:.0f}/s)")
        del report
    invoice_lines = InvoiceLine.objects.filter(invoice__year=YEAR).count()
    expected = sum(x["billable"] for x in result["operators"].values())
    pricing = steps.get("tarification (cœur seul)", 0.0)
    say(
        f"    total {apply.seconds:.1f} s, {created} factures (simulation : {expected}), "
        f"{invoice_lines} lignes, {apply.queries} requêtes SQL, pic RSS {apply.peak_mb:.0f} Mo"
    )
    say("    où passe le temps (secondes, les deux opérateurs) :")
    for step, value in steps.items():
        if step != "total":
            say(f"      {step:<34} {value:6.2f}")
    say(
        f"    tarification pure (Pricer.quote seul) : {pricing:.2f} s ; campagne = "
        f"{apply.seconds / pricing:.1f} × la tarification pure"
        if pricing
        else "    tarification pure : non mesurée"
    )

    floor: dict[str, float] = {}
    if connection.vendor == "sqlite" and pricing:
        floor = measure_floor(Path(connection.settings_dict["NAME"]), pricing)

    # 4. PDF
    ids = list(
        Invoice.objects.filter(year=YEAR, status=InvoiceStatus.ISSUED)
        .order_by("operator_id", "sequence_number")
        .values_list("pk", flat=True)
    )
    n = min(args.pdf, len(ids))
    subset = [ids[int(i * len(ids) / n)] for i in range(n)] if n else []
    pdf: dict[str, Any] = {"count": n, "workers": args.processus}
    if subset:
        directory = Path(args.dossier_pdf)
        say(f"  PDF Factur-X : {n} factures sur {args.processus} processus (pool spawn)…")
        t0 = time.perf_counter()
        paths, peaks = render_subset(subset, directory / "parallele", args.processus)
        seconds = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in paths)
        pdf.update(
            seconds=seconds,
            rate=len(paths) / seconds,
            children_peak_mb=max(peaks, default=0.0),
            mean_kb=size / len(paths) / 1024,
        )
        say(
            f"    {len(paths)} PDF en {seconds:.1f} s = {pdf['rate']:.1f} PDF/s "
            f"(démarrage des processus compris), {pdf['mean_kb']:.0f} Ko en moyenne, "
            f"pic RSS par processus de rendu {pdf['children_peak_mb']:.0f} Mo"
        )
        seq_n = min(args.pdf_sequentiel, n - 1)
        if seq_n > 0:
            # une facture d'amorce, non chronométrée : import de Typst, polices, gabarits
            render_subset(subset[-1:], directory / "amorce", 1)
            reset_peak()
            t0 = time.perf_counter()
            render_subset(subset[:seq_n], directory / "sequentiel", 1)
            seconds = time.perf_counter() - t0
            pdf.update(
                seq_count=seq_n,
                seq_rate=seq_n / seconds,
                seq_peak_mb=rss_peak_mb(),
            )
            say(
                f"    un seul processus : {seq_n} PDF en {seconds:.1f} s = "
                f"{pdf['seq_rate']:.1f} PDF/s (processus amorcé ; c'est le processus de "
                "mesure, qui garde en mémoire la campagne)"
            )
    result.update(
        preview_seconds=preview.seconds,
        preview_queries=preview.queries,
        preview_peak_mb=preview.peak_mb,
        apply_seconds=apply.seconds,
        apply_queries=apply.queries,
        apply_peak_mb=apply.peak_mb,
        apply_steps=dict(steps),
        pricing_seconds=pricing,
        floor=floor,
        expected_invoices=expected,
        members=Member.objects.count(),
        invoices=created,
        invoice_lines=invoice_lines,
        pdf=pdf,
        # les remises à zéro de VmHWM abaissent aussi ru_maxrss : on garde le plus haut
        maxrss_mb=max(maxrss_mb(resource.RUSAGE_SELF), preview.peak_mb, apply.peak_mb),
    )
    return result


def measure_floor(database: Path, pricing: float) -> dict[str, float]:
    """Plancher de la campagne sous SQLite, mesuré sur ses propres données : lecture brute
    de ses entrées et écriture brute de ses sorties, sans rien entre les deux.

    - lecture : les colonnes que lit `ChunkReader` (adhérents, conventions, abonnements,
      relevés d'usage, interventions, populations en vigueur), table par table, par une
      connexion `sqlite3` neuve sans convertisseur (ni dates, ni décimaux, ni objets) ;
    - écriture : les factures (sans leur XML), lignes et entrées de journal que la campagne
      vient d'écrire, relues hors chronomètre puis insérées par `executemany`, clés
      données, dans une base vide aux mêmes tables et index, mêmes réglages (WAL,
      synchronous=NORMAL), validées par COMMIT.

    C'est une borne basse généreuse : ni tarification des lignes, ni numérotation, ni XML,
    ni contrôles, ni conversion des valeurs lues. Plancher / tarification pure dit si la
    cible « au plus 3 × la tarification pure » est à la portée d'un programme qui lit ses
    entrées et écrit ses lignes dans cette base sur cette machine."""
    import sqlite3

    from opsn.gestion import models as m
    from opsn.gestion.bridge import BILL_MEMBER_FIELDS, PopulationsInForce

    def table(model: Any) -> str:
        return model._meta.db_table

    members = ", ".join(
        m.Member._meta.get_field(f.removesuffix("_id")).column for f in BILL_MEMBER_FIELDS
    )
    year = PopulationsInForce(YEAR).table_year
    reads = [
        (f"SELECT {members} FROM {table(m.Member)}", ()),
        (
            "SELECT id, member_id, catalogue_id, reference, signed_on, notice_received_on, "
            f"ended_on FROM {table(m.Convention)}",
            (),
        ),
        (
            "SELECT id, convention_id, service_code, started_on, ended_on, quantities, "
            f"amounts, previous_id FROM {table(m.Subscription)}",
            (),
        ),
        (
            f"SELECT member_id, counter, quantity FROM {table(m.UsageRecord)} WHERE year = ?",
            (YEAR,),
        ),
        (f"SELECT member_id, day, days, label, allowance FROM {table(m.Intervention)}", ()),
        (
            "SELECT code, population_totale, population_municipale, epci_siren, source "
            f"FROM {table(m.ReferentialPopulation)} WHERE year = ?",
            (year,),
        ),
    ]
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    t0 = time.perf_counter()
    rows_read = sum(len(source.execute(sql, params).fetchall()) for sql, params in reads)
    read = time.perf_counter() - t0

    def everything(model: Any, alias: str) -> tuple[tuple[str, ...], str]:
        """Toutes les colonnes de la table (celles que la campagne donne et celles qu'elle
        remplit par défaut) ; le XML des factures remplacé par un contenu vide."""
        info = source.execute(f"PRAGMA table_info({table(model)})").fetchall()
        columns = tuple(row[1] for row in info)
        chosen = ", ".join("X''" if c == "xml_compressed" else f"{alias}.{c}" for c in columns)
        return columns, chosen

    invoice = table(m.Invoice)
    outputs = []
    for model, alias, join in (
        (m.Invoice, "i", ""),
        (m.InvoiceLine, "l", f"JOIN {invoice} i ON i.id = l.invoice_id"),
        (m.JournalEntry, "j", f"JOIN {invoice} i ON i.id = j.invoice_id"),
    ):
        columns, chosen = everything(model, alias)
        sql = f"SELECT {chosen} FROM {table(model)} {alias} {join} WHERE i.year = ?"
        outputs.append((table(model), columns, sql))
    data = [
        (name, columns, source.execute(sql, (YEAR,)).fetchall()) for name, columns, sql in outputs
    ]
    names = tuple(name for name, _, _ in data)
    schema = [
        sql
        for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join('?' * len(names))}) ORDER BY type DESC",
            names,
        )
    ]
    source.close()
    scratch = database.with_name("plancher.sqlite3")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    target = sqlite3.connect(scratch, isolation_level=None)
    target.execute("PRAGMA journal_mode=WAL")
    target.execute("PRAGMA synchronous=NORMAL")
    for sql in schema:
        target.execute(sql)
    t0 = time.perf_counter()
    target.execute("BEGIN")
    for name, columns, rows in data:
        marks = ", ".join("?" * len(columns))
        target.executemany(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})", rows)
    target.execute("COMMIT")
    write = time.perf_counter() - t0
    rows_written = sum(len(rows) for _, _, rows in data)
    target.close()
    del data
    for suffix in ("", "-wal", "-shm"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    total = read + pricing + write
    say(
        f"    plancher (SQLite brut, même machine, mêmes données) : lecture {read:.2f} s "
        f"({rows_read} lignes), tarification pure {pricing:.2f} s, écriture {write:.2f} s "
        f"({rows_written} lignes, sans XML) = {total:.2f} s, soit {total / pricing:.1f} × "
        "la tarification pure"
    )
    return {
        "read_seconds": read,
        "write_seconds": write,
        "seconds": total,
        "ratio": total / pricing,
        "rows_read": rows_read,
        "rows_written": rows_written,
    }


# -- travailleurs (PostgreSQL) --------------------------------------------------------


def wait_tasks(task_ids: list[Any], timeout: float = 1800.0) -> Counter:
    """Attend la fin des tâches (file en base) ; rend le compte de leurs états."""
    from django_tasks_db.models import DBTaskResult

    deadline = time.monotonic() + timeout
    while True:
        states = Counter(
            DBTaskResult.objects.filter(id__in=task_ids).values_list("status", flat=True)
        )
        if sum(n for state, n in states.items() if state not in ("READY", "RUNNING")) == len(
            task_ids
        ):
            return states
        if time.monotonic() > deadline:
            raise TimeoutError(f"tâches non terminées : {dict(states)}")
        time.sleep(0.1)


def stage_workers(args: argparse.Namespace) -> dict[str, Any]:
    """N processus `opsn travailleur` : campagnes des opérateurs (une tâche chacun), puis
    PDF d'un échantillon de pièces par lots ; secondes jusqu'à la fin de chaque vague."""
    import signal

    from opsn.web.bootstrap import setup

    setup()
    from django.contrib.auth import get_user_model

    from opsn.facturation import repartition
    from opsn.gestion.models import (
        Invoice,
        InvoiceDocument,
        InvoiceStatus,
        Operator,
        Role,
        StaffMembership,
    )
    from opsn.plateforme.taches import workers_dir

    count = args.nombre_travailleurs
    operators = list(Operator.objects.filter(members__isnull=False).distinct().order_by("code"))
    user = get_user_model().objects.create_user("banc-travailleurs")
    for op in operators:
        StaffMembership.objects.create(user=user, operator=op, role=Role.ADMIN)
    log = open(Path(args.resultat).with_suffix(".log"), "w", encoding="utf-8")  # noqa: SIM115
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "opsn", "travailleur", "--intervalle", "0.2"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(count)
    ]
    result: dict[str, Any] = {"workers": count}
    try:
        deadline = time.monotonic() + 120
        while len(list(workers_dir().glob("*.verrou"))) < count:
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                raise RuntimeError("les travailleurs n'ont pas démarré (voir le journal)")
            time.sleep(0.1)
        say(f"  {count} travailleur(s) prêts ; campagnes de {len(operators)} opérateurs en file…")
        t0 = time.perf_counter()
        records = repartition.start_campaigns(
            operators=operators, year=YEAR, user=user, issued_on=ISSUED_ON
        )
        states = wait_tasks([r.task_id for r in records])
        billing = time.perf_counter() - t0
        issued = list(
            Invoice.objects.filter(year=YEAR, status=InvoiceStatus.ISSUED)
            .order_by("operator_id", "sequence_number")
            .values_list("pk", "operator_id")
        )
        say(
            f"    campagnes : {billing:.1f} s, {len(issued)} factures émises, tâches {dict(states)}"
        )
        n = min(args.pdf_travailleurs, len(issued))
        sample = [issued[int(i * len(issued) / n)] for i in range(n)] if n else []
        t0 = time.perf_counter()
        batches = []
        for op in operators:
            ids = [pk for pk, op_id in sample if op_id == op.pk]
            batches += repartition.start_documents(operator=op, user=user, ids=ids)
        doc_states = wait_tasks([r.task_id for r in batches]) if batches else Counter()
        documents = time.perf_counter() - t0
        kept = InvoiceDocument.objects.count()
        say(
            f"    documents : {kept} PDF conservés en {documents:.1f} s = "
            f"{kept / documents if documents else 0:.1f} PDF/s, {len(batches)} lots, "
            f"tâches {dict(doc_states)}"
        )
        result.update(
            billing_seconds=billing,
            invoices=len(issued),
            billing_states=dict(states),
            pdf=kept,
            pdf_seconds=documents,
            pdf_rate=kept / documents if documents else 0.0,
            document_states=dict(doc_states),
            workers_peak_mb=max((hwm_mb(w.pid) for w in workers), default=0.0),
        )
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
        log.close()
    return result


# -- orchestration ---------------------------------------------------------------------


def child(
    stage: str,
    args: argparse.Namespace,
    env: dict[str, str],
    workdir: Path,
    *extra: str,
    name: str | None = None,
) -> dict:
    out = workdir / f"{name or stage}.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--etape",
        stage,
        "--resultat",
        str(out),
        "--echelle",
        str(args.echelle),
        "--graine",
        str(args.graine),
        "--pdf",
        str(args.pdf),
        "--pdf-sequentiel",
        str(args.pdf_sequentiel),
        "--processus",
        str(args.processus),
        "--dossier-pdf",
        str(workdir / "pdf"),
        "--pdf-travailleurs",
        str(args.pdf_travailleurs),
        *extra,
    ]
    wall = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, cwd=ROOT)
    data = json.loads(out.read_text(encoding="utf-8"))
    data["wall_seconds"] = time.perf_counter() - wall
    return data


def start_postgres(directory: Path) -> str:
    text = subprocess.run(
        ["bash", str(PG_SCRIPT), "start", str(directory)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    url = text.strip().split("=", 1)[1].strip("'")
    pg_admin(directory, "DROP DATABASE IF EXISTS opsn", "CREATE DATABASE opsn")
    return url


def pg_admin(directory: Path, *statements: str) -> None:
    import psycopg

    admin = {"host": str(directory), "port": 54329, "user": "postgres", "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def run_backend(base: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    workdir = root / base
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["OPSN_DONNEES"] = str(workdir / "donnees")
    env.pop("DATABASE_URL", None)
    env.pop("OPSN_DEBUG", None)
    pg_dir = root / "postgres-serveur"
    if base == "postgres":
        env["DATABASE_URL"] = start_postgres(pg_dir)
    try:
        say(f"\n=== {base} : chargement (hors cibles) ===")
        load = child("charger", args, env, workdir)
        workers: list[dict[str, Any]] = []
        counts = [int(n) for n in args.travailleurs.split(",") if n.strip()]
        if base == "postgres" and counts:
            # copie de la base chargée, avant la campagne : chaque mesure part d'elle
            pg_admin(pg_dir, "CREATE DATABASE opsn_modele TEMPLATE opsn")
        say(f"\n=== {base} : campagne {YEAR} ===")
        measure = child("mesurer", args, env, workdir)
        if base == "postgres":
            for count in counts:
                say(f"\n=== {base} : {count} travailleur(s) ===")
                pg_admin(
                    pg_dir,
                    "DROP DATABASE IF EXISTS opsn_travailleurs",
                    "CREATE DATABASE opsn_travailleurs TEMPLATE opsn_modele",
                )
                sub = dict(env)
                sub["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + "/opsn_travailleurs"
                sub["OPSN_DONNEES"] = str(workdir / f"travailleurs-{count}")
                workers.append(
                    child(
                        "travailleurs",
                        args,
                        sub,
                        workdir,
                        "--nombre-travailleurs",
                        str(count),
                        name=f"travailleurs-{count}",
                    )
                )
    finally:
        if base == "postgres":
            subprocess.run(["bash", str(PG_SCRIPT), "stop", str(pg_dir)], check=False)
    return {"base": base, "load": load, "measure": measure, "workers": workers}


def verdict(ok: bool) -> str:
    return "atteinte" if ok else "NON atteinte"


def summary(results: list[dict[str, Any]], args: argparse.Namespace) -> bool:
    say(f"\n=== Résumé (échelle {args.echelle:g}, {os.cpu_count()} cœurs) ===")
    header = f"{'':<44}" + "".join(f"{r['base']:>14}" for r in results)
    say(header)

    def row(label: str, values: list[str]) -> None:
        say(f"{label:<44}" + "".join(f"{v:>14}" for v in values))

    m = [r["measure"] for r in results]
    row(
        "chargement des données (s, hors cible)",
        [f"{r['load']['load_seconds']:.1f}" for r in results],
    )
    row(
        "adhérents (toutes lignes)",
        [str(r["load"]["counts"]["adhérents (toutes lignes)"]) for r in results],
    )
    row("abonnements", [str(r["load"]["counts"]["abonnements"]) for r in results])
    row("simulation (s)", [f"{x['preview_seconds']:.1f}" for x in m])
    row("  requêtes SQL", [str(x["preview_queries"]) for x in m])
    row("  pic RSS (Mo)", [f"{x['preview_peak_mb']:.0f}" for x in m])
    row("--apply, tarifé et numéroté (s)", [f"{x['apply_seconds']:.1f}" for x in m])
    row("  tarification pure des mêmes adhérents (s)", [f"{x['pricing_seconds']:.2f}" for x in m])
    row("  rapport campagne / tarification pure", [f"{ratio(x):.1f}" for x in m])
    row(
        "  plancher brut / tarification pure",
        [f"{x['floor']['ratio']:.1f}" if x.get("floor") else "—" for x in m],
    )
    row("  factures émises", [str(x["invoices"]) for x in m])
    row("  factures annoncées par la simulation", [str(x["expected_invoices"]) for x in m])
    row("  lignes", [str(x["invoice_lines"]) for x in m])
    row("  factures/s", [f"{x['invoices'] / x['apply_seconds']:.0f}" for x in m])
    row("  requêtes SQL", [str(x["apply_queries"]) for x in m])
    row("  pic RSS (Mo)", [f"{x['apply_peak_mb']:.0f}" for x in m])
    row(
        f"PDF/s ({args.processus} processus)",
        [f"{x['pdf'].get('rate', 0):.1f}" for x in m],
    )
    row("  PDF/s (1 processus amorcé)", [f"{x['pdf'].get('seq_rate', 0):.1f}" for x in m])
    row(
        "  pic RSS par processus PDF (Mo)",
        [f"{x['pdf'].get('children_peak_mb', 0):.0f}" for x in m],
    )
    row("pic RSS du processus de mesure (Mo)", [f"{x['maxrss_mb']:.0f}" for x in m])
    row(
        "ru_maxrss processus de chargement (Mo)",
        [f"{r['load']['load_peak_mb']:.0f}" for r in results],
    )
    for r in results:
        if r.get("workers"):
            say(f"\nTravailleurs ({r['base']}) : campagnes des opérateurs puis PDF par lots")
            say(f"{'travailleurs':>14}{'campagnes (s)':>16}{'PDF':>8}{'PDF (s)':>10}{'PDF/s':>9}")
            for w in r["workers"]:
                say(
                    f"{w['workers']:>14}{w['billing_seconds']:>16.1f}{w['pdf']:>8}"
                    f"{w['pdf_seconds']:>10.1f}{w['pdf_rate']:>9.1f}"
                )

    ok = True
    say("")
    for r in results:
        x = r["measure"]
        vendor = x["vendor"]
        target = TARGET_APPLY_SECONDS[vendor]
        checks = [
            (
                f"--apply ≤ {target:.0f} s ({r['base']})",
                x["apply_seconds"] <= target,
                f"{x['apply_seconds']:.1f} s",
            ),
            (
                f"--apply ≤ {TARGET_RATIO:.0f} × la tarification pure ({r['base']})",
                ratio(x) <= TARGET_RATIO,
                f"{ratio(x):.1f} × ({x['pricing_seconds']:.2f} s de tarification pure)",
            ),
            (
                f"pic de mémoire de --apply < {TARGET_RSS_MB:.0f} Mo ({r['base']})",
                x["apply_peak_mb"] < TARGET_RSS_MB,
                f"{x['apply_peak_mb']:.0f} Mo",
            ),
            (
                f"factures émises = factures annoncées par la simulation ({r['base']})",
                x["invoices"] == x["expected_invoices"],
                f"{x['invoices']} / {x['expected_invoices']}",
            ),
        ]
        for label, good, value in checks:
            ok &= good
            say(f"Cible {label} : {value}, {verdict(good)}.")
        floor = x.get("floor")
        if floor and floor["ratio"] > TARGET_RATIO:
            say(
                f"  (plancher mesuré : lire les entrées et écrire les lignes de la campagne en "
                f"SQLite brut, sans rien d'autre, prend déjà {floor['seconds']:.2f} s, "
                f"{floor['ratio']:.1f} × la tarification pure : la cible de "
                f"{TARGET_RATIO:.0f} × est hors de portée sur cette machine pour toute "
                "campagne qui lit ces entrées et écrit ces lignes, une ligne de table par "
                "ligne de facture, quel que soit son code.)"
            )
        rate = x["pdf"].get("rate", 0.0)
        good = rate >= TARGET_PDF_RATE
        ok &= good
        say(
            f"Cible PDF ≥ {TARGET_PDF_RATE:.0f}/s sur {args.processus} processus ({r['base']}) : "
            f"{rate:.1f}/s, {verdict(good)}."
        )
    if args.echelle != 1:
        say(f"(échelle {args.echelle:g} : les cibles portent sur l'échelle 1.)")
    return ok


def ratio(measure: dict[str, Any]) -> float:
    pricing = measure.get("pricing_seconds") or 0.0
    return measure["apply_seconds"] / pricing if pricing else float("inf")


def machine_line(result: dict[str, Any]) -> str:
    """Dernière ligne du banc, lisible par une machine (issue 12, point 6)."""
    x = result["measure"]
    return (
        f"apply_s={x['apply_seconds']:.2f} pricing_s={x['pricing_seconds']:.2f} "
        f"ratio={ratio(x):.2f} peak_rss_mb={x['apply_peak_mb']:.0f} "
        f"pdf_per_s={x['pdf'].get('rate', 0.0):.1f} members={x['members']} "
        f"invoices={x['invoices']} lines={x['invoice_lines']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", choices=("sqlite", "postgres", "les-deux"), default="sqlite")
    parser.add_argument(
        "--echelle", type=float, default=1.0, help="fraction de l'échelle nationale (0.05…)"
    )
    parser.add_argument("--pdf", type=int, default=200, help="factures rendues en PDF")
    parser.add_argument(
        "--pdf-sequentiel",
        type=int,
        default=20,
        help="factures rendues ensuite sur un seul processus, pour comparaison (0 : aucune)",
    )
    parser.add_argument("--processus", type=int, default=2, help="processus de rendu PDF")
    parser.add_argument("--graine", type=int, default=2021, help="graine du tirage")
    parser.add_argument("--dossier", type=Path, help="dossier de travail (sinon temporaire)")
    parser.add_argument("--garder", action="store_true", help="garde les bases et les PDF")
    parser.add_argument(
        "--travailleurs",
        default="1,2,4",
        help="PostgreSQL : nombres de processus « opsn travailleur » mesurés (vide : aucun)",
    )
    parser.add_argument(
        "--pdf-travailleurs",
        type=int,
        default=2000,
        help="PDF de l'échantillon rendus par les travailleurs (lots de la file « documents »)",
    )
    parser.add_argument(
        "--etape", choices=("charger", "mesurer", "travailleurs"), help=argparse.SUPPRESS
    )
    parser.add_argument("--nombre-travailleurs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--resultat", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dossier-pdf", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.etape:  # sous-processus
        stage = {"charger": stage_load, "mesurer": stage_measure, "travailleurs": stage_workers}[
            args.etape
        ]
        data = stage(args)
        args.resultat.write_text(json.dumps(data, default=str), encoding="utf-8")
        return 0

    from opsn.core import native

    say(
        f"Python {sys.version.split()[0]} ({platform.python_implementation()}), "
        f"{platform.machine()}, {os.cpu_count()} cœurs ; année facturée {YEAR}, "
        f"émission au {ISSUED_ON:%d/%m/%Y} ; échelle {args.echelle:g} ; cœur de tarification "
        + ("compilé (opsn coeur compiler)" if native.active() else "en Python pur")
    )
    root = args.dossier or Path(tempfile.mkdtemp(prefix="opsn-banc-facturation-"))
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # le serveur PostgreSQL jetable tourne sous l'utilisateur postgres
    bases = ("sqlite", "postgres") if args.base == "les-deux" else (args.base,)
    results = []
    try:
        for base in bases:
            results.append(run_backend(base, args, root))
    finally:
        if not args.garder and args.dossier is None:
            shutil.rmtree(root, ignore_errors=True)
    ok = summary(results, args)
    say(f"\nCibles {'atteintes' if ok else 'NON atteintes'}.")
    # une ligne par base, celle de SQLite (base des cibles) en dernier
    for result in sorted(results, key=lambda r: r["base"] == "sqlite"):
        say(machine_line(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
