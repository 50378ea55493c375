"""Banc d'essai du cœur de tarification : N adhérents synthétiques sur les trois catalogues.

Exigence : tarifer 100 000 adhérents de 5 à 10 abonnements chacun, répartis sur les
catalogues livrés (cdg82, gironde-numerique, cdg47), à au moins 50 000 adhérents par
seconde sur un cœur, avec moins de 500 Mo de mémoire.

Usage :
    python3 -m uv run python benchmarks/tarification.py [--membres 100000] [--graine 2021]

Déroulé (un seul processus, un seul cœur) :
1. génération des adhérents en mémoire (dataclasses de `opsn.core.members`, tirage
   déterministe `random.Random(graine)`), hors chronomètre ; sa taille est estimée par la
   hausse de la mémoire résidente (tracemalloc ralentirait la génération d'un facteur 20) ;
2. passe chronométrée : seuls les appels `Pricer.quote` sont mesurés, sans tracemalloc
   (qui ralentirait fortement le calcul) ;
3. passe mémoire : la même tarification sous tracemalloc, pour le pic d'allocation ;
   `resource.getrusage(...).ru_maxrss` donne le pic de mémoire résidente du processus.

Les abonnements respectent le catalogue : quantités déclarées (`service.quantities`),
compteurs d'usage pour les composantes à l'usage ou au dépassement et pour les grilles
`usage.<compteur>`, communes et établissements rattachés aux EPCI (comptage des EP, R6 ;
participation des communes, R24), un seul service par groupe exclusif, prérequis ajoutés,
interventions au tarif journalier (et sur les dotations) quand le catalogue en prévoit.
Les services que le générateur ne sait pas alimenter sont écartés (voir `eligible`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import platform
import random
import resource
import sys
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from opsn.core.catalogue import find_catalogue
from opsn.core.errors import OpsnError
from opsn.core.index import load_index
from opsn.core.members import Convention, Intervention, Member, Subscription
from opsn.core.model import Catalogue, Service
from opsn.core.pricing import Pricer

YEAR = 2021
TARGET_RATE = 50_000  # adhérents par seconde (issue 12)
TARGET_MB = 500

# Part de chaque catalogue dans la population d'adhérents synthétiques.
CATALOGUES = (("cdg82", 0.40), ("gironde-numerique", 0.35), ("cdg47", 0.25))

# Types d'adhérents (hors communes rattachées) et leur poids.
KIND_WEIGHTS = {
    "commune": 70,
    "epci": 10,
    "syndicat": 5,
    "ccas": 7,
    "etablissement_public": 4,
    "budget_annexe": 4,
}
NATURE_WEIGHTS = {"CC": 75, "CA": 20, "CU": 3, "METRO": 2}

# Plage des compteurs d'usage connus ; un compteur inconnu prend DEFAULT_USAGE.
USAGE_RANGES = {
    "donnees_go": (50, 3800),  # au-delà de 3 500 Go : sur devis (R5)
    "sms": (0, 8000),
    "actes_site": (0, 3000),
    "actes_mairie": (0, 1500),
    "identite_tranches_10go": (0, 4),
    "sauvegarde_go": (0, 40),
}
DEFAULT_USAGE = (0, 1000)
# Bornes des quantités déclarées (postes, utilisateurs, certificats…).
QUANTITY_RANGES = {"agents_police": (1, 9), "certificats": (1, 3), "jours": (1, 4)}
DEFAULT_QUANTITY = (1, 12)


# Dictionnaire vide partagé (quantités, montants) : le calcul ne modifie jamais un abonnement.
NO_AMOUNTS: dict[str, Decimal] = {}

# -- génération ------------------------------------------------------------------


@dataclass
class ServiceNeeds:
    """Ce qu'un service demande à l'adhérent pour être tarifé."""

    usage: set[str] = field(default_factory=set)
    attached_communes: bool = False
    kinds: frozenset[str] | None = None  # types admis par une grille (`types`)
    amount_components: tuple[str, ...] = ()  # composantes sans prix imprimé (devis, bon)


def service_needs(catalogue: Catalogue, service: Service) -> ServiceNeeds:
    needs = ServiceNeeds()
    amounts = []
    for comp in service.components:
        q = comp.quantity
        if q.kind in ("usage", "depassement"):
            needs.usage.add(q.name or "")
        if q.kind == "communes_membres":
            needs.attached_communes = True
        price = comp.price
        if price.kind == "grille":
            grid = catalogue.grids[price.table or ""]
            for axis in (grid.columns, grid.rows):
                if axis is not None and axis.dimension.startswith("usage."):
                    needs.usage.add(axis.dimension.removeprefix("usage."))
            if grid.types is not None and q.kind != "communes_membres":
                needs.kinds = grid.types
        if price.kind in ("sur_devis", "bon_de_commande", "a_renseigner"):
            amounts.append(comp.code)
    needs.amount_components = tuple(amounts)
    return needs


def eligible(
    service: Service, needs: ServiceNeeds, member_kinds: frozenset[str], epci: bool
) -> bool:
    """Services que le générateur sait alimenter pour ce type d'adhérent."""
    if service.day_rate:  # le tarif journalier passe par les interventions
        return False
    if needs.attached_communes and not epci:
        return False
    if service.billed_to == "epci" and not epci:  # R24 : refusé à une commune seule
        return False
    return needs.kinds is None or bool(needs.kinds & member_kinds)


class Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.serial = 0
        # Valeurs partagées entre adhérents (comme le ferait un chargement depuis une base
        # avec des petits entiers internés) : sans cela, les 100 000 adhérents pèsent ~460 Mo.
        self._decimals: dict[int, Decimal] = {}
        # Communes et établissements rattachables aux EPCI : un vivier partagé
        # (valeurs immuables), comme dans un référentiel.
        self.commune_pool = [self.commune(attached=True) for _ in range(2000)]
        self.ep_pool = [self.small_body(attached=True) for _ in range(400)]

    def dec(self, value: int) -> Decimal:
        d = self._decimals.get(value)
        if d is None:
            d = self._decimals[value] = Decimal(value)
        return d

    def ident(self) -> str:
        self.serial += 1
        return f"m{self.serial:06d}"

    def population(self) -> int:
        # Répartition proche des communes françaises : médiane ≈ 500 habitants.
        return max(20, min(250_000, int(self.rng.lognormvariate(6.3, 1.3))))

    def commune(self, *, attached: bool = False) -> Member:
        pop = self.population()
        ident = self.ident()
        return Member(
            ident=ident,
            name=f"Commune {ident}",
            kind="commune",
            population_totale=pop,
            population_municipale=int(pop * 0.98),
            population_source="INSEE 2018",
            agents=max(1, pop // 120),
            budget_keur=Decimal(max(50, pop)),
            categories=self.categories(),
        )

    def small_body(self, *, attached: bool = False, kind: str | None = None) -> Member:
        rng = self.rng
        kind = kind or rng.choice(("syndicat", "ccas", "etablissement_public", "budget_annexe"))
        ident = self.ident()
        pop = max(100, int(rng.lognormvariate(7.5, 1.2)))
        return Member(
            ident=ident,
            name=f"{kind} {ident}",
            kind=kind,
            population_totale=pop,
            population_municipale=int(pop * 0.98),
            agents=rng.randint(1, 150),
            budget_keur=Decimal(rng.randint(50, 9000)),
            categories=self.categories(),
        )

    def epci(self) -> Member:
        rng = self.rng
        communes = tuple(rng.sample(self.commune_pool, rng.randint(5, 40)))
        eps = tuple(rng.sample(self.ep_pool, rng.randint(0, 8)))
        pop = sum(c.population_totale or 0 for c in communes)
        ident = self.ident()
        return Member(
            ident=ident,
            name=f"EPCI {ident}",
            kind="epci",
            nature=rng.choices(list(NATURE_WEIGHTS), weights=list(NATURE_WEIGHTS.values()))[0],
            population_totale=pop,
            population_municipale=int(pop * 0.98),
            agents=rng.randint(10, 400),
            budget_keur=Decimal(rng.randint(1000, 60000)),
            attached=communes + eps,
        )

    def categories(self) -> frozenset[str]:
        x = self.rng.random()
        if x < 0.03:
            return frozenset({"hebergee"})
        if x < 0.05:
            return frozenset({"non_affiliee"})
        return frozenset()

    def base_member(self) -> Member:
        kind = self.rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
        if kind == "commune":
            return self.commune()
        if kind == "epci":
            return self.epci()
        return self.small_body(kind=kind)


class CatalogueProfile:
    """Services d'un catalogue et ce que chacun demande, calculés une fois."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.services = list(catalogue.services.values())
        self.needs = {s.code: service_needs(catalogue, s) for s in self.services}
        self.allowance_services = {s.code for s in self.services if s.allowances}

    def member(self, gen: Generator) -> Member:
        rng = gen.rng
        base = gen.base_member()
        kinds = base.kinds
        is_epci = base.kind == "epci" and any(m.kind == "commune" for m in base.attached)
        pool = [s for s in self.services if eligible(s, self.needs[s.code], kinds, is_epci)]
        chosen: list[Service] = []
        if is_epci:  # un EPCI adhère d'abord aux services mutualisés (003, R24)
            chosen += [
                s for s in pool if self.needs[s.code].attached_communes or self.needs[s.code].kinds
            ]
        wanted = rng.randint(5, 10)
        candidates = [s for s in pool if s not in chosen]
        rng.shuffle(candidates)
        groups = {s.exclusive_group for s in chosen if s.exclusive_group}
        codes = {s.code for s in chosen}
        for service in candidates:
            if len(chosen) >= wanted:
                break
            if service.code in codes:
                continue
            # prérequis : on ajoute le premier service requis s'il manque (et s'il reste
            # de la place), sinon le service est écarté
            batch = [service]
            for prereq in service.prerequisites:
                if prereq.services and not codes & set(prereq.services):
                    batch.append(self.catalogue.services[prereq.services[0]])
            batch_groups = [s.exclusive_group for s in batch if s.exclusive_group]
            if len(chosen) + len(batch) > wanted or any(g in groups for g in batch_groups):
                continue
            if len(set(batch_groups)) != len(batch_groups):
                continue
            chosen.extend(batch)
            codes.update(s.code for s in batch)
            groups.update(batch_groups)
        signature = dt.date(rng.randint(2015, 2021), rng.randint(1, 12), rng.randint(1, 28))
        notice = None
        if rng.random() < 0.05:  # dénonciation reçue en 2021 : fin en 2021 ou 2022 (R22)
            notice = dt.date(YEAR, rng.randint(1, 12), rng.randint(1, 28))
            notice = max(notice, signature + dt.timedelta(days=1))
        usage: dict[str, Decimal] = {}
        subscriptions = []
        for service in chosen:
            needs = self.needs[service.code]
            for counter in sorted(needs.usage):
                low, high = USAGE_RANGES.get(counter, DEFAULT_USAGE)
                usage[counter] = gen.dec(rng.randint(low, high))
            quantities = {
                q.code: gen.dec(
                    min(
                        rng.randint(*QUANTITY_RANGES.get(q.code, DEFAULT_QUANTITY)),
                        self.catalogue.smallest_cap(service.code, q.code) or 10**9,
                    )
                )
                for q in service.quantities
            }
            amounts = NO_AMOUNTS
            if needs.amount_components and rng.random() < 0.3:  # devis accepté, bon de commande
                code = rng.choice(needs.amount_components)
                amounts = {code: Decimal(rng.randint(10_000, 500_000)) / 100}
            start_year = rng.randint(max(signature.year, 2017), YEAR)
            start = max(signature, dt.date(start_year, rng.randint(1, 12), 1))
            end = None
            if rng.random() < 0.05:  # résilié en cours d'année : année entière due (R21)
                end = dt.date(YEAR, 12, 31) if start.year < YEAR else None
            subscriptions.append(
                Subscription(service.code, start, quantities or NO_AMOUNTS, end, amounts)
            )
        interventions = self.interventions(gen, chosen)
        return Member(
            ident=base.ident,
            name=base.name,
            kind=base.kind,
            nature=base.nature,
            population_totale=base.population_totale,
            population_municipale=base.population_municipale,
            population_source=base.population_source,
            agents=base.agents,
            budget_keur=base.budget_keur,
            categories=base.categories,
            attached=base.attached,
            usage=usage,
            subscriptions=tuple(subscriptions),
            convention=Convention(signature, notice),
            interventions=tuple(interventions),
        )

    def interventions(self, gen: Generator, chosen: list[Service]) -> list[Intervention]:
        rng = gen.rng
        if self.catalogue.day_rate_service is None or rng.random() >= 0.2:
            return []
        allowances = [a.code for s in chosen for a in s.allowances]
        result = []
        for _ in range(rng.randint(1, 3)):
            day = dt.date(rng.randint(YEAR - 2, YEAR), rng.randint(1, 12), rng.randint(1, 28))
            allowance = rng.choice(allowances) if allowances and rng.random() < 0.5 else None
            days = Decimal(rng.choice((1, 2, 3, 4))) / 2
            result.append(Intervention(day, days, "Intervention sur site", allowance))
        return result


def load_profiles() -> list[tuple[CatalogueProfile, float]]:
    profiles = []
    for ref, weight in CATALOGUES:
        try:
            catalogue = find_catalogue(ref, YEAR)
        except OpsnError as exc:
            print(f"Note : catalogue {ref} écarté (chargement impossible) : {exc}")
            continue
        profiles.append((CatalogueProfile(catalogue), weight))
    if not profiles:
        sys.exit("Aucun catalogue chargé.")
    return profiles


def generate(
    profiles: list[tuple[CatalogueProfile, float]], count: int, seed: int
) -> list[tuple[int, Member]]:
    rng = random.Random(seed)
    gen = Generator(rng)
    weights = [w for _, w in profiles]
    which = rng.choices(range(len(profiles)), weights=weights, k=count)
    return [(i, profiles[i][0].member(gen)) for i in which]


# -- mesure ---------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    lines: int
    statuses: Counter
    per_catalogue: Counter
    total_net: Decimal


def price_all(
    pricers: list[Pricer], members: list[tuple[int, Member]], keep: bool, timed: bool
) -> tuple[Run, list]:
    lines = 0
    statuses: Counter = Counter()
    per_catalogue: Counter = Counter()
    total = Decimal(0)
    kept = []
    quote_fns = [p.quote for p in pricers]
    clock = time.perf_counter
    elapsed = 0.0
    for i, member in members:
        t0 = clock()
        quote = quote_fns[i](member)
        elapsed += clock() - t0
        lines += len(quote.lines)
        per_catalogue[i] += 1
        total += quote.totals.net
        if not timed:
            for line in quote.lines:
                statuses[line.status] += 1
        if keep:
            kept.append(quote)
    return Run(elapsed, lines, statuses, per_catalogue, total), kept


def current_rss_mb() -> float | None:
    """Mémoire résidente actuelle (Linux : /proc/self/statm) ; None ailleurs."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * resource.getpagesize() / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--membres", type=int, default=100_000, help="nombre d'adhérents")
    parser.add_argument("--graine", type=int, default=2021, help="graine du tirage")
    parser.add_argument(
        "--conserver-devis",
        action="store_true",
        help="garde tous les devis en mémoire (sinon ils sont agrégés puis libérés)",
    )
    parser.add_argument(
        "--sans-passe-memoire",
        action="store_true",
        help="ne refait pas la tarification sous tracemalloc",
    )
    args = parser.parse_args(argv)

    from opsn.core import native

    core = "compilé (opsn coeur compiler)" if native.active() else "Python pur"
    print(
        f"Python {sys.version.split()[0]} ({platform.python_implementation()}), "
        f"{platform.machine()}, un seul processus ; cœur : {core}"
    )
    profiles = load_profiles()
    index = load_index("syntec")
    pricers = [Pricer(p.catalogue, index, YEAR) for p, _ in profiles]
    names = [p.catalogue.ident for p, _ in profiles]

    rss_before = current_rss_mb()
    t0 = time.perf_counter()
    members = generate(profiles, args.membres, args.graine)
    gen_seconds = time.perf_counter() - t0
    members_mb = current_rss_mb() - rss_before if rss_before is not None else None
    subs = sum(len(m.subscriptions) for _, m in members)
    size = f", ≈ {members_mb:.0f} Mo de RSS" if members_mb is not None else ""
    print(
        f"Génération (non chronométrée avec la tarification) : {len(members)} adhérents, "
        f"{subs} abonnements ({subs / len(members):.1f} par adhérent) en {gen_seconds:.1f} s{size}"
    )

    gc.collect()
    run, kept = price_all(pricers, members, args.conserver_devis, timed=True)
    rate = len(members) / run.seconds
    del kept
    gc.collect()

    peak_mb = None
    statuses: Counter = Counter()
    if not args.sans_passe_memoire:
        tracemalloc.start()
        mem_run, kept = price_all(pricers, members, args.conserver_devis, timed=False)
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        statuses = mem_run.statuses
        assert mem_run.lines == run.lines and mem_run.total_net == run.total_net
        del kept
    # ru_maxrss : kilo-octets sous Linux, octets sous macOS
    scale = 1 if sys.platform == "darwin" else 1024
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6

    print("\nTarification (Pricer.quote seul, année 2021)")
    for i, name in enumerate(names):
        print(f"  {name:<30} {run.per_catalogue[i]:>8} adhérents")
    print(f"  adhérents            {len(members):>12}")
    print(f"  lignes               {run.lines:>12}")
    if statuses:
        print("  lignes par statut    " + ", ".join(f"{k} {v}" for k, v in statuses.most_common()))
    print(f"  total HT             {run.total_net:>12} €")
    print(f"  secondes             {run.seconds:>12.2f}")
    print(f"  adhérents/s          {rate:>12.0f}   (cible ≥ {TARGET_RATE})")
    print(f"  lignes/s             {run.lines / run.seconds:>12.0f}")
    if peak_mb is not None:
        what = "devis conservés" if args.conserver_devis else "devis agrégés puis libérés"
        print(f"  pic tracemalloc      {peak_mb:>12.1f} Mo (tarification seule, {what})")
        if members_mb is not None:
            print(
                f"  + adhérents générés  {members_mb:>12.1f} Mo (hausse de la RSS à la génération)"
            )
    print(f"  pic RSS (ru_maxrss)  {rss_mb:>12.1f} Mo   (cible < {TARGET_MB}, processus entier)")
    ok = rate >= TARGET_RATE and rss_mb < TARGET_MB
    print(f"\nCible {'atteinte' if ok else 'NON atteinte'}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
