"""Campagne annuelle de facturation (001 art. 6.3 : un état et une facture par an).

Déroulé : sous le verrou de la séquence de l'émetteur, une seule transaction lit les
adhérents par lots, les fait calculer par le cœur, puis crée, numérote et écrit au fil de
l'eau les factures manquantes de chaque lot (XML CII, journal chaîné). Tout ou rien : un
arrêt brutal n'écrit rien, une relance reprend tout ; une relance après succès ne crée
rien (une facture par adhérent et par année).

Échelle nationale (91 000 adhérents, 56 000 factures, 480 000 lignes, `benchmarks/`) : rien
n'est gardé d'un lot à l'autre que le résumé de chaque adhérent (`MemberBill`) ; pas
d'instance de modèle Django sur le chemin chaud (lecture `bridge.ChunkReader`, écriture
`ecriture.BulkWriter`, XML `cii`) ; ce qui ne change pas d'une pièce à l'autre (émetteur,
blocs XML du vendeur, explications et XML des lignes identiques) est préparé une fois.
`RunReport.seconds` dit où passe le temps.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, overload

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from opsn.core.bounds import YEAR_MIN
from opsn.core.errors import OpsnError
from opsn.core.pricing import Line, Pricer, Totals, compute_totals
from opsn.facturation import cii, motifs
from opsn.facturation.ecriture import BulkWriter
from opsn.facturation.identites import (
    debtor_problems,
    debtor_who,
    electronic_address,
    operator_problems,
)
from opsn.facturation.journal import JournalChain, journal_append
from opsn.gestion import bridge
from opsn.gestion.audit import acting_as
from opsn.gestion.models import (
    BillingRun,
    CatalogueVersion,
    Convention,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    InvoiceStatus,
    Member,
    Operator,
    pack_xml,
)
from opsn.gestion.permissions import require

PAYMENT_DAYS = 30
Progress = Callable[[int, int], None]


@dataclass
class MemberBill:
    """Ce qu'un adhérent doit pour l'année : lignes du cœur, motifs de blocage. `member`
    et `conventions` sont les lectures de la campagne (`bridge.BillMember`,
    `bridge.BillConvention`) : `pk`, `name` et l'identité du débiteur."""

    member: Any
    conventions: list[Any]
    lines: list[Line] = field(default_factory=list)
    catalogue: CatalogueVersion | None = None
    accounts: dict[tuple[str, str], str] = field(default_factory=dict)
    blocking: list[motifs.Blocking] = field(default_factory=list)
    already_invoiced: str | None = None
    _totals: Totals | None = field(default=None, repr=False)

    @property
    def totals(self) -> Totals:
        if self._totals is None:
            self._totals = compute_totals(self.lines)
        return self._totals

    @property
    def billable(self) -> bool:
        return (
            not self.blocking
            and self.already_invoiced is None
            and any(line.amount for line in self.lines)
        )


class CreatedInvoices(Sequence[Invoice]):
    """Factures créées par une campagne, lues à la demande (par paquets, dans l'ordre de
    leur création) : une campagne nationale n'en garde en mémoire que les clés."""

    def __init__(self, ids: list[int] | None = None) -> None:
        self.ids: list[int] = ids if ids is not None else []

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> Invoice: ...
    @overload
    def __getitem__(self, index: slice) -> list[Invoice]: ...
    def __getitem__(self, index: int | slice) -> Invoice | list[Invoice]:
        if isinstance(index, slice):
            return list(self._read(self.ids[index]))
        return next(self._read([self.ids[index]]))

    def __iter__(self) -> Iterator[Invoice]:
        return self._read(self.ids)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CreatedInvoices):
            return self.ids == other.ids
        if isinstance(other, list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self.ids)} facture(s) créée(s)>"

    @staticmethod
    def _read(ids: list[int], size: int = 2000) -> Iterator[Invoice]:
        for start in range(0, len(ids), size):
            part = ids[start : start + size]
            found = Invoice.objects.in_bulk(part)
            yield from (found[pk] for pk in part)


@dataclass
class RunReport:
    year: int
    bills: list[MemberBill]
    created: CreatedInvoices = field(default_factory=CreatedInvoices)
    run: BillingRun | None = None
    # secondes par étape : lecture, tarification, contrôles, pièces (lignes, XML, journal),
    # conformité, écriture ; « total » pour toute la campagne
    seconds: dict[str, float] = field(default_factory=dict)
    lines: int = 0

    @property
    def blocked(self) -> list[MemberBill]:
        return [b for b in self.bills if b.blocking]


def _member_blocking(member: Any) -> list[motifs.Blocking]:
    return motifs.debtor(debtor_problems(member), debtor_who(member))


CHUNK = 1000  # adhérents calculés à la fois : la mémoire reste bornée à l'échelle nationale


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Ramasse-miettes cyclique suspendu pendant une campagne : elle crée des millions
    d'objets (lignes, valeurs du cœur) qui vivent jusqu'à sa fin et ne forment pas de
    cycles ; leurs parcours répétés coûtaient le quart du temps à l'échelle nationale.
    La mémoire est rendue normalement (comptage de références)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Clock:
    """Secondes cumulées par étape (`RunReport.seconds`)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - self._last
        self._last = now

    def add(self, step: str, seconds: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + seconds


class _Catalogues:
    """Versions de catalogue d'une campagne : un calculateur par catalogue (ses caches de
    révisions et de strates servent à tous les adhérents) et l'imputation de chaque
    service."""

    def __init__(self, year: int) -> None:
        self.year = year
        self.index = bridge.index_table()
        self._found: dict[int, tuple[CatalogueVersion, Pricer, dict[tuple[str, str], str]]] = {}

    def get(self, catalogue_id: int) -> tuple[CatalogueVersion, Pricer, dict[tuple[str, str], str]]:
        found = self._found.get(catalogue_id)
        if found is None:
            version = CatalogueVersion.objects.get(pk=catalogue_id)
            catalogue = bridge.catalogue_of(version)
            # imputation de chaque (service, composante) du catalogue : un seul dictionnaire,
            # partagé (en lecture) par les adhérents dont c'est le seul catalogue
            accounts = {
                (code, comp.code): catalogue.account_of(code)
                for code, service in catalogue.services.items()
                for comp in service.components
            }
            found = (version, Pricer(catalogue, self.index, self.year), accounts)
            self._found[catalogue_id] = found
        return found


def _bill_chunks(
    operator: Operator,
    year: int,
    *,
    invoiced: dict[int, str | None],
    progress: Progress | None = None,
    clock: _Clock | None = None,
) -> Iterator[list[MemberBill]]:
    """Adhérents de l'opérateur, par lots, dans l'ordre de leur nom : chacun calculé par le
    cœur, avec ses motifs de blocage (R14, R15, identités)."""
    clock = clock or _Clock()
    order = list(
        Convention.objects.filter(operator=operator)
        .order_by("member__name", "member_id")
        .values_list("member_id", flat=True)
        .distinct()
    )
    order = list(dict.fromkeys(order))
    reader = bridge.ChunkReader(operator, year)
    catalogues = _Catalogues(year)
    issuer_checks: dict[frozenset[str], list[motifs.Blocking]] = {}
    clock.lap("lecture")
    done = 0
    perf = time.perf_counter
    for start in range(0, len(order), CHUNK):
        chunk_ids = order[start : start + CHUNK]
        chunk = reader.read(chunk_ids)
        clock.lap("lecture")
        bills: dict[int, MemberBill] = {}
        pricing = 0.0
        for conv in chunk.conventions:
            bill = bills.get(conv.member_id)
            if bill is None:
                bill = bills[conv.member_id] = MemberBill(chunk.members[conv.member_id], [])
            bill.conventions.append(conv)
            try:
                version, pricer, accounts = catalogues.get(conv.catalogue_id)
                t0 = perf()
                quote = pricer.quote(chunk.values[conv.pk])
                pricing += perf() - t0
            except OpsnError as exc:
                bill.blocking.append(motifs.from_error(exc))
                continue
            bill.lines.extend(quote.lines)
            bill.catalogue = bill.catalogue or version
            if len(bill.conventions) == 1:
                bill.accounts = accounts
            else:  # plusieurs conventions : la dernière qui facture une prestation l'impute
                bill.accounts = {**bill.accounts}
                bill.accounts.update(
                    ((line.service, line.component), accounts[(line.service, line.component)])
                    for line in quote.lines
                )
            for line in quote.lines:
                if line.status == "sur_devis":
                    bill.blocking.append(
                        motifs.Blocking(
                            f"« {line.service_label} – {line.label} » est sur devis et n'a "
                            "pas de montant saisi (R14).",
                            motifs.QUOTE,
                        )
                    )
                elif line.status == "prix_manquant":
                    bill.blocking.append(
                        motifs.Blocking(
                            f"« {line.service_label} – {line.label} » : prix manquant dans "
                            "le catalogue (R15).",
                            motifs.PRICE,
                        )
                    )
        clock.lap("tarification")
        clock.add("tarification (cœur seul)", pricing)
        result = []
        for member_id in chunk_ids:
            bill = bills.get(member_id)
            if bill is None:
                continue
            if not bill.lines and not bill.blocking:
                continue  # rien n'est dû cette année (convention finie, pas commencée…)
            if any(line.amount for line in bill.lines):
                bill.blocking.extend(_member_blocking(bill.member))
                kinds = frozenset(line.vat.kind for line in bill.lines if line.amount)
                if kinds not in issuer_checks:
                    issuer_checks[kinds] = motifs.issuer(
                        operator_problems(operator, vat_kinds=set(kinds))
                    )
                bill.blocking.extend(issuer_checks[kinds])
            bill.already_invoiced = invoiced.get(member_id)
            result.append(bill)
        clock.lap("contrôles")
        done += len(chunk_ids)
        yield result
        if progress:
            progress(done, len(order))


def billing_preview(
    *, operator: Operator, year: int, progress: Progress | None = None
) -> list[MemberBill]:
    """Calcule chaque adhérent de l'opérateur pour l'année, sans rien écrire."""
    invoiced = {m: number for m, (number, _) in live_invoices(operator, year).items()}
    result: list[MemberBill] = []
    with _gc_paused():
        for bills in _bill_chunks(operator, year, invoiced=invoiced, progress=progress):
            result.extend(bills)
    return result


def live_invoices(operator: Operator, year: int) -> dict[int, tuple[str | None, int]]:
    """Adhérents qui ont déjà, pour l'année, une facture non annulée et non entièrement
    corrigée par avoir : {adhérent: (numéro, rang de la facture dans l'année)}.

    Après l'avoir total d'une facture, l'adhérent peut être facturé de nouveau pour la même
    année : la nouvelle facture prend le rang suivant (`generation`)."""
    rows = list(
        Invoice.objects.filter(operator=operator, year=year, kind=InvoiceKind.INVOICE)
        .exclude(status=InvoiceStatus.CANCELLED)
        .values_list("pk", "member_id", "number", "generation", "total_ttc", "status")
    )
    credited = dict(
        Invoice.objects.filter(
            credited_invoice_id__in=[r[0] for r in rows],
            kind=InvoiceKind.CREDIT_NOTE,
            status=InvoiceStatus.ISSUED,
        )
        .values("credited_invoice_id")
        .annotate(total=Sum("total_ttc"))
        .values_list("credited_invoice_id", "total")
    )
    result: dict[int, tuple[str | None, int]] = {}
    for pk, member_id, number, generation, total, status in rows:
        fully_credited = status == InvoiceStatus.ISSUED and total + credited.get(pk, 0) == 0
        if not fully_credited:
            result[member_id] = (number, generation)
    return result


def _next_generations(operator: Operator, year: int) -> dict[int, int]:
    return {
        row["member_id"]: row["top"] + 1
        for row in Invoice.objects.filter(operator=operator, year=year, kind=InvoiceKind.INVOICE)
        .values("member_id")
        .annotate(top=Max("generation"))
    }


def check_chronology(operator: Operator, *, issued_on: dt.date, year: int | None = None) -> None:
    """Un émetteur n'a qu'un ordre chronologique : pas de date d'émission antérieure à sa
    dernière pièce émise, pas d'année facturée au-delà de l'année suivante (R25). Tous les
    motifs de refus sont donnés ensemble."""
    errors = []
    if not YEAR_MIN <= issued_on.year <= 2099:
        errors.append(
            f"Date d'émission du {issued_on:%d/%m/%Y} refusée : les pièces sont datées de "
            f"{YEAR_MIN} à 2099."
        )
    last = InvoiceSequence.objects.filter(operator=operator).aggregate(last=Max("last_issued_on"))[
        "last"
    ]
    if last and issued_on < last:
        errors.append(
            f"Ordre chronologique : la dernière pièce de {operator.name} a été émise le "
            f"{last:%d/%m/%Y} ; une nouvelle pièce ne peut pas être datée du "
            f"{issued_on:%d/%m/%Y}."
        )
    if year is not None and not YEAR_MIN <= year <= issued_on.year + 1:
        errors.append(
            f"Année facturée {year} refusée : une pièce émise le {issued_on:%d/%m/%Y} facture "
            f"une année de {YEAR_MIN} à {issued_on.year + 1} (au plus l'année suivante)."
        )
    if errors:
        raise ValidationError(errors)


def _shape(kind: str, breakdown: list[dict], debtor: dict, issuer: dict) -> tuple:
    """Forme d'une pièce pour le contrôle de conformité : régimes de TVA, avoir, code
    service, engagement, numéro de TVA de l'émetteur."""
    return (
        kind,
        tuple(sorted({v["type"] for v in breakdown})),
        bool(debtor.get("code_service")),
        bool(debtor.get("numero_engagement")),
        bool(issuer.get("tva")),
    )


def _check_document(xml: str, debtor: dict) -> None:
    from opsn.facturation.conformite import fatal

    problems = fatal(xml.encode("utf-8"))
    if problems:
        raise ValidationError(
            [f"La pièce de {debtor.get('nom')} serait rejetée : {p}" for p in problems]
        )


def _conformity(invoices: list[Invoice], seen: set[tuple]) -> None:
    """Contrôle, sous les trois jeux de règles (EN 16931, Factur-X, BR-FR), une pièce de
    chaque forme rencontrée (régimes de TVA, avoir, code service, engagement) : une forme
    rejetée annule toute la campagne avant qu'une pièce ne soit émise."""
    for invoice in invoices:
        shape = _shape(invoice.kind, invoice.vat_breakdown, invoice.debtor, invoice.issuer)
        if shape in seen:
            continue
        seen.add(shape)
        _check_document(invoice.xml, invoice.debtor)


def _lock_sequence(operator: Operator, prefix: str) -> InvoiceSequence:
    """Verrou qui sérialise les campagnes d'un émetteur (ligne verrouillée ; verrou
    consultatif en plus sous PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [4242, operator.pk])
    InvoiceSequence.objects.get_or_create(operator=operator, prefix=prefix)
    return InvoiceSequence.objects.select_for_update().get(operator=operator, prefix=prefix)


def _check_numbering(seq: InvoiceSequence, issued_on: dt.date) -> None:
    if seq.last_issued_on and issued_on < seq.last_issued_on:
        raise ValidationError(
            f"Numérotation chronologique : la dernière pièce a été émise le "
            f"{seq.last_issued_on:%d/%m/%Y} ; impossible d'émettre au {issued_on:%d/%m/%Y}."
        )


def _reserve_numbers(seq: InvoiceSequence, count: int, issued_on: dt.date) -> list[tuple[str, int]]:
    """Réserve `count` numéros consécutifs (une seule écriture de la séquence)."""
    _check_numbering(seq, issued_on)
    first = seq.last_number + 1
    seq.last_number += count
    seq.last_issued_on = issued_on
    seq.save(update_fields=["last_number", "last_issued_on"])
    return [(f"{seq.prefix}-{n:06d}", n) for n in range(first, first + count)]


def _next_number(seq: InvoiceSequence, issued_on: dt.date) -> tuple[str, int]:
    return _reserve_numbers(seq, 1, issued_on)[0]


def _snapshot_issuer(operator: Operator) -> dict[str, Any]:
    """Identité de l'émetteur figée dans la pièce (la pièce ne change plus ensuite)."""
    return {
        "nom": operator.name,
        "siren": operator.siren,
        "siret": operator.siret,
        "tva": operator.vat_number,
        "adresse": operator.address,
        "complement": operator.address_complement,
        "code_postal": operator.postcode,
        "ville": operator.city,
        "courriel": operator.email,
        "adresse_electronique": electronic_address(operator),
        "schema_adresse_electronique": operator.electronic_address_scheme or "0225",
        "mention_hors_champ": operator.vat_outside_scope_mention,
        "comptable": operator.accountant_name,
        "adresse_comptable": operator.accountant_address,
        "iban": operator.iban.replace(" ", ""),
        "bic": operator.bic,
    }


def _snapshot_debtor(member: Member, convention: Convention | None = None) -> dict[str, Any]:
    return {
        "nom": member.name,
        "siren": member.siren,
        "siret": member.siret,
        "adresse": member.address,
        "complement": member.address_complement,
        "code_postal": member.postcode,
        "ville": member.city,
        "courriel": member.email,
        "adresse_electronique": electronic_address(member),
        "schema_adresse_electronique": member.electronic_address_scheme or "0225",
        "insee": member.insee,
        "type": member.kind,
        "code_service": member.service_code,
        "numero_engagement": member.engagement_number,
        "convention": convention.reference if convention else "",
    }


def _issue(invoice: Invoice, seq: InvoiceSequence, issued_on: dt.date) -> None:
    """Émet une pièce (brouillon ou avoir) : numéro suivant, XML, contrôle de conformité,
    entrée au journal chaîné."""
    from opsn.facturation.documents import invoice_xml

    number, rank = _next_number(seq, issued_on)
    invoice.number, invoice.sequence_number = number, rank
    invoice.issued_on = issued_on
    invoice.due_on = issued_on + dt.timedelta(days=PAYMENT_DAYS)
    invoice.xml = invoice_xml(invoice).decode("utf-8")
    _conformity([invoice], set())
    invoice.status = InvoiceStatus.ISSUED
    invoice.save()
    journal_append(invoice.operator, [invoice])


class _Doc:
    """Ce que le XML CII lit d'une pièce (mêmes attributs que `Invoice`)."""

    __slots__ = (
        "debtor",
        "due_on",
        "issued_on",
        "issuer",
        "kind",
        "number",
        "period_end",
        "period_start",
        "total_ht",
        "total_ttc",
        "total_tva",
        "vat_breakdown",
    )
    reason = ""
    credited_invoice_id = None


class _Campaign:
    """Écriture d'une campagne, lot après lot, dans sa transaction et sous le verrou de
    la séquence : numéros consécutifs donnés au fil de l'eau, pièces, contrôle de
    conformité d'une pièce par forme, journal chaîné."""

    def __init__(
        self,
        *,
        operator: Operator,
        year: int,
        run: BillingRun,
        seq: InvoiceSequence,
        issued_on: dt.date,
        issue: bool,
        generations: dict[int, int],
        clock: _Clock,
    ) -> None:
        self.operator = operator
        self.year = year
        self.run = run
        self.seq = seq
        self.issued_on = issued_on
        self.issue = issue
        self.generations = generations
        self.clock = clock
        self.writer = BulkWriter()
        self.issuer = _snapshot_issuer(operator)
        self.due_on = issued_on + dt.timedelta(days=PAYMENT_DAYS)
        self.period = (dt.date(year, 1, 1), dt.date(year, 12, 31))
        self.next_number = seq.last_number + 1
        self.fragments = cii.Fragments()
        self.chain = JournalChain(operator) if issue else None
        self.now = self.writer.now(timezone.now())
        self.shapes: set[tuple] = set()
        self.created: list[int] = []
        self.catalogues: set[int] = set()
        self.lines = 0
        self._explanations: dict[tuple, str] = {}
        self._ratios: dict[int, Decimal | None] = {}

    def _explanation(self, line: Line) -> str:
        """Explication (R25) d'une ligne ; les mêmes prestations reviennent d'un adhérent à
        l'autre avec la même explication, rédigée une fois."""
        if line.note is not None or line.service_ref is None:
            return line.detail
        key = (
            id(line.component_ref),
            line.phase,
            line.quantity,
            line.unit_price,
            line.amount,
            line.base_price,
            line.base_year,
            id(line.revision),
            line.stratum,
            line.status,
            line.qty_note,
            line.origin,
        )
        found = self._explanations.get(key)
        if found is None:
            if len(self._explanations) > 200_000:
                self._explanations.clear()
            found = self._explanations[key] = line.detail
        return found

    def _ratio(self, line: Line) -> Decimal | None:
        revision = line.revision
        if revision is None:
            return None
        key = id(revision)
        if key not in self._ratios:
            self._ratios[key] = line.index_ratio
        return self._ratios[key]

    def write(self, bills: list[MemberBill]) -> None:
        if not bills:
            return
        clock = self.clock
        operator_id = self.operator.pk
        invoices: list[list[Any]] = []
        lines_of: list[list[list[Any]]] = []
        hashes: list[tuple[str, str]] = []
        checks: list[tuple[str, _Doc]] = []
        status = InvoiceStatus.ISSUED if self.issue else InvoiceStatus.DRAFT
        for bill in bills:
            totals = bill.totals
            convention = bill.conventions[0]
            rows: list[list[Any]] = []
            position = 0
            for line in bill.lines:
                if line.amount is None:
                    continue
                position += 1
                vat = line.vat
                rows.append(
                    [
                        None,
                        position,
                        line.service,
                        line.component,
                        f"{line.service_label} – {line.label}"[:400],
                        line.family,
                        line.quantity,
                        line.unit,
                        line.unit_price or Decimal(0),
                        line.amount,
                        vat.kind,
                        vat.rate,
                        vat.label,
                        vat.mention or "",
                        line.rule[:300],
                        (line.stratum or "")[:300],
                        line.base_price,
                        line.base_year,
                        self._ratio(line),
                        self._explanation(line),
                        bill.accounts.get((line.service, line.component), ""),
                    ]
                )
            doc = _Doc()
            doc.kind = InvoiceKind.INVOICE
            doc.issuer = self.issuer
            doc.debtor = _snapshot_debtor(bill.member, convention)
            doc.vat_breakdown = [
                {
                    "regime": t.regime.code,
                    "type": t.regime.kind,
                    "taux": str(t.regime.rate),
                    "base_ht": str(t.net),
                    "tva": str(t.vat),
                    "libelle": t.regime.label,
                    "mention": t.regime.mention or "",
                }
                for t in totals.by_rate
            ]
            doc.period_start, doc.period_end = self.period
            doc.due_on = self.due_on
            doc.total_ht, doc.total_tva, doc.total_ttc = totals.net, totals.vat, totals.gross
            number = rank = issued_on = None
            xml = ""
            if self.issue:
                rank = self.next_number
                self.next_number += 1
                number = f"{self.seq.prefix}-{rank:06d}"
                issued_on = self.issued_on
                doc.number, doc.issued_on = number, issued_on
                xml = cii.document(
                    doc,
                    [(r[1], r[4], r[8], r[6], r[7], r[10], r[11], r[9]) for r in rows],
                    self.fragments,
                )
                data = xml.encode("utf-8")
                hashes.append((number, hashlib.sha256(data).hexdigest()))
                checks.append((xml, doc))
                stored = pack_xml(data)
            else:
                stored = b""
            if bill.catalogue is not None:
                self.catalogues.add(bill.catalogue.pk)
            invoices.append(
                [
                    operator_id,
                    bill.member.pk,
                    self.run.pk,
                    convention.pk,
                    bill.catalogue.pk if bill.catalogue is not None else None,
                    InvoiceKind.INVOICE.value,
                    status.value,
                    self.year,
                    number,
                    rank,
                    issued_on,
                    self.due_on,
                    self.period[0],
                    self.period[1],
                    totals.net,
                    totals.vat,
                    totals.gross,
                    doc.vat_breakdown,
                    self.issuer,
                    doc.debtor,
                    self.generations.get(bill.member.pk, 1),
                    stored,
                ]
            )
            lines_of.append(rows)
        clock.lap("pièces (lignes, XML CII)")
        for xml, doc in checks:
            self._conformity(xml, doc)
        clock.lap("conformité (schématrons)")
        ids = self.writer.write_invoices(invoices)
        for invoice_id, rows in zip(ids, lines_of, strict=True):
            for row in rows:
                row[0] = invoice_id
        self.writer.write_lines(row for rows in lines_of for row in rows)
        self.lines += sum(len(rows) for rows in lines_of)
        if self.chain is not None:
            journal = []
            for invoice_id, (number, document) in zip(ids, hashes, strict=True):
                position, previous, link = self.chain.link(number, document)
                journal.append(
                    (operator_id, position, invoice_id, document, previous, link, self.now)
                )
            self.writer.write_journal(journal)
        self.created.extend(ids)
        clock.lap("écriture")

    def _conformity(self, xml: str, doc: _Doc) -> None:
        """Une pièce de chaque forme sous les trois jeux de règles (voir `_conformity`)."""
        shape = _shape(InvoiceKind.INVOICE, doc.vat_breakdown, doc.debtor, doc.issuer)
        if shape in self.shapes:
            return
        self.shapes.add(shape)
        _check_document(xml, doc.debtor)

    def finish(self, blocked: list[MemberBill]) -> None:
        if self.issue and self.created:
            _check_numbering(self.seq, self.issued_on)
            self.seq.last_number = self.next_number - 1
            self.seq.last_issued_on = self.issued_on
            self.seq.save(update_fields=["last_number", "last_issued_on"])
        self.run.invoices_created = len(self.created)
        self.run.blocked = [{"adherent": b.member.name, "motifs": b.blocking} for b in blocked]
        self.run.save(update_fields=["invoices_created", "blocked"])
        if self.issue and self.created:
            CatalogueVersion.objects.filter(pk__in=self.catalogues).update(locked=True)


def billing_run(
    *,
    actor: Any,
    operator: Operator,
    year: int,
    issued_on: dt.date,
    issue: bool = True,
    progress: Progress | None = None,
) -> RunReport:
    """Crée (et émet, par défaut) les factures de l'année qui manquent encore."""
    require(actor, "facturer", operator=operator)
    check_chronology(operator, issued_on=issued_on, year=year)
    clock = _Clock()
    started = time.perf_counter()
    report = RunReport(year, [])
    with acting_as(actor), _gc_paused(), transaction.atomic():
        seq = _lock_sequence(operator, str(issued_on.year))
        if issue:
            check_chronology(operator, issued_on=issued_on, year=year)
            _check_numbering(seq, issued_on)
        done = live_invoices(operator, year)
        invoiced = {m: number for m, (number, _) in done.items()}
        run = BillingRun.objects.create(
            operator=operator,
            year=year,
            issued_on=issued_on,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            blocked=[],
        )
        campaign = _Campaign(
            operator=operator,
            year=year,
            run=run,
            seq=seq,
            issued_on=issued_on,
            issue=issue,
            generations=_next_generations(operator, year),
            clock=clock,
        )
        clock.lap("lecture")
        for bills in _bill_chunks(
            operator, year, invoiced=invoiced, progress=progress, clock=clock
        ):
            report.bills.extend(bills)
            campaign.write([b for b in bills if b.billable and b.member.pk not in done])
        campaign.finish(report.blocked)
        clock.lap("écriture")
        report.run = run
    clock.lap("validation de la transaction")  # COMMIT (et point de reprise du WAL SQLite)
    report.created = CreatedInvoices(campaign.created)
    report.lines = campaign.lines
    report.seconds = {**clock.seconds, "total": time.perf_counter() - started}
    return report


def invoices_issue_drafts(
    *, actor: Any, operator: Operator, year: int, issued_on: dt.date
) -> list[Invoice]:
    """Émet les brouillons de l'année, dans l'ordre de leur création."""
    require(actor, "facturer", operator=operator)
    with acting_as(actor), transaction.atomic():
        seq = _lock_sequence(operator, str(issued_on.year))
        check_chronology(operator, issued_on=issued_on, year=year)
        drafts = list(
            Invoice.objects.select_for_update(of=("self",))
            .filter(operator=operator, year=year, status=InvoiceStatus.DRAFT)
            .select_related("operator", "credited_invoice")
            .order_by("pk")
        )
        for invoice in drafts:
            _issue(invoice, seq, issued_on)
        CatalogueVersion.objects.filter(
            pk__in={i.catalogue_id for i in drafts if i.catalogue_id}
        ).update(locked=True)
    return drafts


def invoice_cancel_draft(*, actor: Any, invoice: Invoice) -> Invoice:
    """Abandonne un brouillon : il n'avait pas de numéro, la séquence reste sans trou."""
    require(actor, "facturer", operator=invoice.operator)
    if invoice.status != InvoiceStatus.DRAFT:
        raise ValidationError(
            "Seul un brouillon peut être abandonné ; corrigez une facture émise par un avoir."
        )
    with acting_as(actor), transaction.atomic():
        invoice.status = InvoiceStatus.CANCELLED
        invoice.save()
    return invoice


def drafts_cancel(*, actor: Any, operator: Operator, year: int) -> int:
    """Abandonne tous les brouillons de l'année (aucun numéro n'est consommé)."""
    require(actor, "facturer", operator=operator)
    with acting_as(actor), transaction.atomic():
        drafts = list(
            Invoice.objects.select_for_update().filter(
                operator=operator, year=year, status=InvoiceStatus.DRAFT
            )
        )
        for invoice in drafts:
            invoice.status = InvoiceStatus.CANCELLED
            invoice.save()
    return len(drafts)


def _credit_breakdown(invoice: Invoice, lines: list[InvoiceLine]) -> list[dict[str, str]]:
    """TVA des lignes d'avoir, taux par taux, comme celle d'une facture : base arrondie,
    TVA = base × taux arrondie au centime (demi supérieur)."""
    from opsn.core.money import round_cents

    known = {(v["type"], Decimal(v["taux"])): v for v in invoice.vat_breakdown}
    bases: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        key = (line.vat_kind, Decimal(line.vat_rate))
        bases[key] = bases.get(key, Decimal(0)) + line.amount
    result = []
    for (kind, rate), base in bases.items():
        model = known.get((kind, rate), {})
        vat = round_cents(base * rate / 100) if kind == "ht" else Decimal("0.00")
        result.append(
            {
                "regime": model.get("regime", kind),
                "type": kind,
                "taux": str(rate),
                "base_ht": str(round_cents(base)),
                "tva": str(vat),
                "libelle": model.get("libelle", ""),
                "mention": model.get("mention", ""),
            }
        )
    return result


def invoice_credit(
    *,
    actor: Any,
    invoice: Invoice,
    reason: str,
    issued_on: dt.date,
    positions: list[int] | None = None,
    amount: Decimal | None = None,
) -> Invoice:
    """Avoir sur une facture émise, numéroté dans la même séquence : total (par défaut), sur
    des lignes choisies (`positions`), ou d'un montant hors taxes (`amount`, facture à un
    seul régime de TVA). Une ligne n'est jamais annulée deux fois et le total des avoirs
    ne dépasse jamais la facture."""
    require(actor, "facturer", operator=invoice.operator)
    if invoice.status != InvoiceStatus.ISSUED or invoice.kind != InvoiceKind.INVOICE:
        raise ValidationError("Un avoir corrige une facture émise.")
    if not reason.strip():
        raise ValidationError("Le motif de l'avoir est obligatoire.")
    if positions is not None and amount is not None:
        raise ValidationError("Choisissez des lignes ou un montant, pas les deux.")
    with acting_as(actor), transaction.atomic():
        seq = _lock_sequence(invoice.operator, str(issued_on.year))
        check_chronology(invoice.operator, issued_on=issued_on)
        # vérifié sous le verrou : deux avoirs simultanés ne peuvent dépasser la facture
        previous = list(
            Invoice.objects.filter(
                credited_invoice=invoice,
                kind=InvoiceKind.CREDIT_NOTE,
                status=InvoiceStatus.ISSUED,
            ).prefetch_related("lines")
        )
        already = -sum((c.total_ttc for c in previous), Decimal(0))
        if already >= invoice.total_ttc:
            raise ValidationError(f"La facture {invoice.number} est déjà entièrement annulée.")
        credited_positions = {line.origin_position for c in previous for line in c.lines.all()} | {
            None
        }
        originals = list(invoice.lines.order_by("position"))
        copied = {
            f.attname
            for f in InvoiceLine._meta.concrete_fields
            if f.attname
            not in ("id", "invoice_id", "amount", "quantity", "position", "origin_position")
        }
        if amount is None:
            wanted = [
                line
                for line in originals
                if (positions is None or line.position in positions)
                and line.position not in credited_positions
            ]
            if positions is not None:
                unknown = set(positions) - {line.position for line in originals}
                if unknown:
                    raise ValidationError(
                        f"Ligne(s) {', '.join(map(str, sorted(unknown)))} inconnue(s) sur la "
                        f"facture {invoice.number}."
                    )
                twice = set(positions) & credited_positions
                if twice:
                    raise ValidationError(
                        f"Ligne(s) {', '.join(map(str, sorted(twice)))} déjà annulée(s) par "
                        "un avoir."
                    )
            if not wanted:
                raise ValidationError("Aucune ligne à annuler sur cette facture.")
            credit_lines = [
                InvoiceLine(
                    **{name: getattr(line, name) for name in copied},
                    position=i,
                    amount=-line.amount,
                    quantity=-line.quantity,
                    origin_position=line.position,
                )
                for i, line in enumerate(wanted, start=1)
            ]
        else:
            regimes = {(v["type"], v["taux"]) for v in invoice.vat_breakdown}
            if len(regimes) != 1:
                raise ValidationError(
                    "Avoir d'un montant : la facture mêle plusieurs régimes de TVA, choisissez "
                    "les lignes à annuler."
                )
            if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
                raise ValidationError("Le montant de l'avoir est un montant positif en euros.")
            if amount > invoice.total_ht + sum((c.total_ht for c in previous), Decimal(0)):
                raise ValidationError(
                    f"Le montant de l'avoir dépasse ce qui reste de la facture {invoice.number}."
                )
            model = originals[0]
            credit_lines = [
                InvoiceLine(
                    **{name: getattr(model, name) for name in copied},
                    position=1,
                    quantity=Decimal(-1),
                    amount=-amount,
                    origin_position=None,
                )
            ]
            line = credit_lines[0]
            line.label = f"Réduction sur la facture {invoice.number}"[:400]
            line.unit, line.unit_price = "forfait", amount
            line.rule = "Avoir partiel (montant)"
            line.stratum, line.base_price, line.base_year, line.index_ratio = "", None, None, None
            line.explanation = reason.strip()
            line.service_code, line.component = "avoir", "reduction"
        full = amount is None and positions is None and not previous
        if full:
            breakdown = [
                {**v, "base_ht": str(-Decimal(v["base_ht"])), "tva": str(-Decimal(v["tva"]))}
                for v in invoice.vat_breakdown
            ]
        else:
            breakdown = _credit_breakdown(invoice, credit_lines)
        total_ht = sum((Decimal(v["base_ht"]) for v in breakdown), Decimal(0))
        total_tva = sum((Decimal(v["tva"]) for v in breakdown), Decimal(0))
        if -(total_ht + total_tva) > invoice.total_ttc - already:
            raise ValidationError(
                f"Le total des avoirs dépasserait celui de la facture {invoice.number}."
            )
        credit = Invoice.objects.create(
            operator=invoice.operator,
            member=invoice.member,
            convention=invoice.convention,
            catalogue=invoice.catalogue,
            kind=InvoiceKind.CREDIT_NOTE,
            year=invoice.year,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            total_ht=total_ht,
            total_tva=total_tva,
            total_ttc=total_ht + total_tva,
            vat_breakdown=breakdown,
            issuer=invoice.issuer,
            debtor=invoice.debtor,
            credited_invoice=invoice,
            reason=reason.strip(),
        )
        for line in credit_lines:
            line.invoice = credit
        InvoiceLine.objects.bulk_create(credit_lines)
        _issue(credit, seq, issued_on)
    return credit
