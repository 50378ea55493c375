"""Campagne annuelle de facturation (001 art. 6.3 : un état et une facture par an).

Déroulé : le cœur calcule chaque adhérent (lecture seule, hors transaction) ; puis, sous le
verrou de la séquence de l'émetteur, une seule transaction crée les factures manquantes et
les numérote. Tout ou rien : un arrêt brutal n'écrit rien, une relance reprend tout ;
une relance après succès ne crée rien (une facture par adhérent et par année).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Prefetch, Sum

from opsn.core.errors import OpsnError
from opsn.core.pricing import Line, compute_totals
from opsn.facturation.identites import debtor_problems, electronic_address, operator_problems
from opsn.facturation.journal import journal_append
from opsn.gestion import bridge
from opsn.gestion.audit import acting_as
from opsn.gestion.models import (
    BillingRun,
    CatalogueVersion,
    Convention,
    Intervention,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    InvoiceStatus,
    Member,
    Operator,
    Subscription,
    UsageRecord,
)
from opsn.gestion.permissions import require

PAYMENT_DAYS = 30
Progress = Callable[[int, int], None]


@dataclass
class MemberBill:
    member: Member
    conventions: list[Convention]
    lines: list[Line] = field(default_factory=list)
    catalogue: CatalogueVersion | None = None
    accounts: dict[tuple[str, str], str] = field(default_factory=dict)
    blocking: list[str] = field(default_factory=list)
    already_invoiced: str | None = None

    @property
    def totals(self):  # noqa: ANN201
        return compute_totals(self.lines)

    @property
    def billable(self) -> bool:
        return (
            not self.blocking
            and self.already_invoiced is None
            and any(line.amount for line in self.lines)
        )


@dataclass
class RunReport:
    year: int
    bills: list[MemberBill]
    created: list[Invoice] = field(default_factory=list)
    run: BillingRun | None = None

    @property
    def blocked(self) -> list[MemberBill]:
        return [b for b in self.bills if b.blocking]


def _member_blocking(member: Member) -> list[str]:
    return debtor_problems(member)


CHUNK = 1000  # adhérents calculés à la fois : la mémoire reste bornée à l'échelle nationale


def _conventions(operator: Operator, year: int, member_ids: list[int]) -> list[Convention]:
    """Conventions d'un lot d'adhérents, avec tout ce que le calcul lit, en peu de requêtes."""
    return list(
        Convention.objects.filter(operator=operator, member_id__in=member_ids)
        .select_related("member", "catalogue")
        .prefetch_related(
            Prefetch("subscriptions", queryset=Subscription.objects.order_by()),
            Prefetch("member__attached", queryset=Member.objects.order_by()),
            Prefetch(
                "member__usage_records",
                queryset=UsageRecord.objects.filter(year=year).order_by(),
                to_attr="usage_of_year",
            ),
            Prefetch("member__interventions", queryset=Intervention.objects.order_by()),
        )
        .order_by()
    )


def billing_preview(
    *, operator: Operator, year: int, progress: Progress | None = None
) -> list[MemberBill]:
    """Calcule chaque adhérent de l'opérateur pour l'année, sans rien écrire."""
    order = list(
        Convention.objects.filter(operator=operator)
        .order_by("member__name", "member_id")
        .values_list("member_id", flat=True)
        .distinct()
    )
    order = list(dict.fromkeys(order))
    index = bridge.index_table()
    invoiced = {m: number for m, (number, _) in live_invoices(operator, year).items()}
    result: list[MemberBill] = []
    pricers: dict = {}
    issuer_checks: dict[frozenset[str], list[str]] = {}
    done = 0
    for start in range(0, len(order), CHUNK):
        chunk = order[start : start + CHUNK]
        bills: dict[int, MemberBill] = {}
        conventions = sorted(_conventions(operator, year, chunk), key=lambda c: (c.signed_on, c.pk))
        for conv in conventions:
            bill = bills.setdefault(conv.member_id, MemberBill(conv.member, []))
            bill.conventions.append(conv)
            try:
                quote = bridge.quote(conv, year, index, pricers)
            except OpsnError as exc:
                bill.blocking.append(str(exc))
            else:
                catalogue = bridge.catalogue_of(conv.catalogue)
                bill.lines.extend(quote.lines)
                bill.catalogue = bill.catalogue or conv.catalogue
                for line in quote.lines:
                    bill.accounts[(line.service, line.component)] = catalogue.account_of(
                        line.service
                    )
                    if line.status == "sur_devis":
                        bill.blocking.append(
                            f"« {line.service_label} – {line.label} » est sur devis et n'a pas "
                            "de montant saisi (R14)."
                        )
                    elif line.status == "prix_manquant":
                        bill.blocking.append(
                            f"« {line.service_label} – {line.label} » : prix manquant dans le "
                            "catalogue (R15)."
                        )
        for member_id in chunk:
            bill = bills.get(member_id)
            if bill is None:
                continue
            for conv in bill.conventions:  # libère les objets préchargés du lot
                conv._prefetched_objects_cache = {}
            bill.member._prefetched_objects_cache = {}
            if not bill.lines and not bill.blocking:
                continue  # rien n'est dû cette année (convention finie, pas commencée…)
            if any(line.amount for line in bill.lines):
                bill.blocking.extend(_member_blocking(bill.member))
                kinds = frozenset(line.vat.kind for line in bill.lines if line.amount)
                if kinds not in issuer_checks:
                    issuer_checks[kinds] = operator_problems(operator, vat_kinds=set(kinds))
                bill.blocking.extend(issuer_checks[kinds])
            bill.already_invoiced = invoiced.get(member_id)
            result.append(bill)
        done += len(chunk)
        if progress:
            progress(done, len(order))
    return result


YEAR_MIN = 2000


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


def _conformity(invoices: list[Invoice], seen: set[tuple]) -> None:
    """Contrôle, sous les trois jeux de règles (EN 16931, Factur-X, BR-FR), une pièce de
    chaque forme rencontrée (régimes de TVA, avoir, code service, engagement) : une forme
    rejetée annule toute la campagne avant qu'une pièce ne soit émise."""
    from opsn.facturation.conformite import fatal

    for invoice in invoices:
        shape = (
            invoice.kind,
            tuple(sorted({v["type"] for v in invoice.vat_breakdown})),
            bool(invoice.debtor.get("code_service")),
            bool(invoice.debtor.get("numero_engagement")),
            bool(invoice.issuer.get("tva")),
        )
        if shape in seen:
            continue
        seen.add(shape)
        problems = fatal(invoice.xml.encode("utf-8"))
        if problems:
            raise ValidationError(
                [f"La pièce de {invoice.debtor.get('nom')} serait rejetée : {p}" for p in problems]
            )


def _lock_sequence(operator: Operator, prefix: str) -> InvoiceSequence:
    """Verrou qui sérialise les campagnes d'un émetteur (ligne verrouillée ; verrou
    consultatif en plus sous PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [4242, operator.pk])
    InvoiceSequence.objects.get_or_create(operator=operator, prefix=prefix)
    return InvoiceSequence.objects.select_for_update().get(operator=operator, prefix=prefix)


def _reserve_numbers(seq: InvoiceSequence, count: int, issued_on: dt.date) -> list[tuple[str, int]]:
    """Réserve `count` numéros consécutifs (une seule écriture de la séquence)."""
    if seq.last_issued_on and issued_on < seq.last_issued_on:
        raise ValidationError(
            f"Numérotation chronologique : la dernière pièce a été émise le "
            f"{seq.last_issued_on:%d/%m/%Y} ; impossible d'émettre au {issued_on:%d/%m/%Y}."
        )
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


def _build_invoice(
    bill: MemberBill,
    *,
    operator: Operator,
    year: int,
    run: BillingRun,
    issued_on: dt.date,
    number: tuple[str, int] | None,
    generation: int = 1,
) -> tuple[Invoice, list[InvoiceLine]]:
    """Facture et lignes en mémoire (écrites ensuite par lots)."""
    from opsn.facturation.documents import invoice_xml

    totals = bill.totals
    invoice = Invoice(
        operator=operator,
        member=bill.member,
        run=run,
        convention=bill.conventions[0],
        catalogue=bill.catalogue,
        kind=InvoiceKind.INVOICE,
        year=year,
        generation=generation,
        period_start=dt.date(year, 1, 1),
        period_end=dt.date(year, 12, 31),
        total_ht=totals.net,
        total_tva=totals.vat,
        total_ttc=totals.gross,
        vat_breakdown=[
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
        ],
        issuer=_snapshot_issuer(operator),
        debtor=_snapshot_debtor(bill.member, bill.conventions[0]),
        due_on=issued_on + dt.timedelta(days=PAYMENT_DAYS),
    )
    lines = [
        InvoiceLine(
            position=i,
            service_code=line.service,
            component=line.component,
            label=f"{line.service_label} – {line.label}"[:400],
            family=line.family,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price or Decimal(0),
            amount=line.amount,
            vat_kind=line.vat.kind,
            vat_rate=line.vat.rate,
            vat_label=line.vat.label,
            vat_mention=line.vat.mention or "",
            rule=line.rule[:300],
            stratum=(line.stratum or "")[:300],
            base_price=line.base_price,
            base_year=line.base_year,
            index_ratio=line.index_ratio,
            explanation=line.detail,
            revenue_account=bill.accounts.get((line.service, line.component), ""),
        )
        for i, line in enumerate((x for x in bill.lines if x.amount is not None), start=1)
    ]
    if number is not None:
        invoice.number, invoice.sequence_number = number
        invoice.issued_on = issued_on
        invoice.status = InvoiceStatus.ISSUED
        invoice.xml = invoice_xml(invoice, lines=lines).decode("utf-8")
    return invoice, lines


_LINE_FIELDS = [f for f in InvoiceLine._meta.concrete_fields if not f.primary_key]
_LINE_INSERT = "INSERT INTO {table} ({columns}) VALUES ({values})"


def _write(pairs: list[tuple[Invoice, list[InvoiceLine]]]) -> None:
    """Écrit un lot de factures (bulk_create, pour récupérer leurs clés) puis leurs lignes
    par un INSERT multiple direct : les valeurs sont déjà des types simples (texte, entier,
    Decimal), la préparation champ par champ de Django coûtait l'essentiel du temps."""
    Invoice.objects.bulk_create([invoice for invoice, _ in pairs])
    rows = []
    for invoice, invoice_lines in pairs:
        for line in invoice_lines:
            line.invoice_id = invoice.pk
            rows.append([getattr(line, f.attname) for f in _LINE_FIELDS])
    if not rows:
        return
    sql = _LINE_INSERT.format(
        table=connection.ops.quote_name(InvoiceLine._meta.db_table),
        columns=", ".join(connection.ops.quote_name(f.column) for f in _LINE_FIELDS),
        values=", ".join(["%s"] * len(_LINE_FIELDS)),
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


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
    bills = billing_preview(operator=operator, year=year, progress=progress)
    report = RunReport(year, bills)
    with acting_as(actor), transaction.atomic():
        seq = _lock_sequence(operator, str(issued_on.year))
        if issue:
            check_chronology(operator, issued_on=issued_on, year=year)
        done = set(live_invoices(operator, year))
        generations = _next_generations(operator, year)
        todo = [b for b in bills if b.billable and b.member.pk not in done]
        run = BillingRun.objects.create(
            operator=operator,
            year=year,
            issued_on=issued_on,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            blocked=[
                {"adherent": b.member.name, "motifs": b.blocking} for b in bills if b.blocking
            ],
        )
        numbers = (
            _reserve_numbers(seq, len(todo), issued_on) if issue and todo else [None] * len(todo)
        )
        shapes: set[tuple] = set()
        for start in range(0, len(todo), 500):
            pairs = [
                _build_invoice(
                    bill,
                    operator=operator,
                    year=year,
                    run=run,
                    issued_on=issued_on,
                    number=number,
                    generation=generations.get(bill.member.pk, 1),
                )
                for bill, number in zip(
                    todo[start : start + 500], numbers[start : start + 500], strict=True
                )
            ]
            if issue:
                _conformity([invoice for invoice, _ in pairs], shapes)
            _write(pairs)
            if issue:
                journal_append(operator, [invoice for invoice, _ in pairs])
            report.created.extend(invoice for invoice, _ in pairs)
        run.invoices_created = len(report.created)
        run.save(update_fields=["invoices_created"])
        if issue and report.created:
            CatalogueVersion.objects.filter(
                pk__in={i.catalogue_id for i in report.created if i.catalogue_id}
            ).update(locked=True)
        report.run = run
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
            Invoice.objects.select_for_update()
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
