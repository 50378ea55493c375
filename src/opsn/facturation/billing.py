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
from django.db.models import Prefetch

from opsn.core.errors import OpsnError
from opsn.core.pricing import Line, compute_totals
from opsn.facturation.identites import debtor_problems, electronic_address, operator_problems
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
    invoiced = dict(
        Invoice.objects.filter(operator=operator, year=year, kind=InvoiceKind.INVOICE)
        .exclude(status=InvoiceStatus.CANCELLED)
        .values_list("member_id", "number")
    )
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
    from opsn.facturation.documents import invoice_xml

    number, rank = _next_number(seq, issued_on)
    invoice.number, invoice.sequence_number = number, rank
    invoice.issued_on = issued_on
    invoice.due_on = issued_on + dt.timedelta(days=PAYMENT_DAYS)
    invoice.xml = invoice_xml(invoice).decode("utf-8")
    invoice.status = InvoiceStatus.ISSUED
    invoice.save()


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
    bills = billing_preview(operator=operator, year=year, progress=progress)
    report = RunReport(year, bills)
    with acting_as(actor), transaction.atomic():
        seq = _lock_sequence(operator, str(issued_on.year))
        done = set(
            Invoice.objects.filter(operator=operator, year=year, kind=InvoiceKind.INVOICE)
            .exclude(status=InvoiceStatus.CANCELLED)
            .values_list("member_id", flat=True)
        )
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
        for start in range(0, len(todo), 500):
            pairs = [
                _build_invoice(
                    bill, operator=operator, year=year, run=run, issued_on=issued_on, number=number
                )
                for bill, number in zip(
                    todo[start : start + 500], numbers[start : start + 500], strict=True
                )
            ]
            _write(pairs)
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
    require(actor, "facturer", operator=operator)
    with acting_as(actor), transaction.atomic():
        seq = _lock_sequence(operator, str(issued_on.year))
        drafts = list(
            Invoice.objects.select_for_update()
            .filter(operator=operator, year=year, status=InvoiceStatus.DRAFT)
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


def invoice_credit(*, actor: Any, invoice: Invoice, reason: str, issued_on: dt.date) -> Invoice:
    """Avoir total d'une facture émise, numéroté dans la même séquence."""
    require(actor, "facturer", operator=invoice.operator)
    if invoice.status != InvoiceStatus.ISSUED or invoice.kind != InvoiceKind.INVOICE:
        raise ValidationError("Un avoir corrige une facture émise.")
    if not reason.strip():
        raise ValidationError("Le motif de l'avoir est obligatoire.")
    with acting_as(actor), transaction.atomic():
        seq = _lock_sequence(invoice.operator, str(issued_on.year))
        # vérifié sous le verrou : deux avoirs simultanés sur la même facture sont impossibles
        if invoice.credit_notes.filter(status=InvoiceStatus.ISSUED).exists():
            raise ValidationError(f"La facture {invoice.number} a déjà un avoir total.")
        credit = Invoice.objects.create(
            operator=invoice.operator,
            member=invoice.member,
            convention=invoice.convention,
            catalogue=invoice.catalogue,
            kind=InvoiceKind.CREDIT_NOTE,
            year=invoice.year,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            total_ht=-invoice.total_ht,
            total_tva=-invoice.total_tva,
            total_ttc=-invoice.total_ttc,
            vat_breakdown=[
                {**v, "base_ht": str(-Decimal(v["base_ht"])), "tva": str(-Decimal(v["tva"]))}
                for v in invoice.vat_breakdown
            ],
            issuer=invoice.issuer,
            debtor=invoice.debtor,
            credited_invoice=invoice,
            reason=reason.strip(),
        )
        InvoiceLine.objects.bulk_create(
            [
                InvoiceLine(
                    **{
                        f.attname: getattr(line, f.attname)
                        for f in InvoiceLine._meta.concrete_fields
                        if f.attname not in ("id", "invoice_id", "amount", "quantity")
                    },
                    invoice=credit,
                    amount=-line.amount,
                    quantity=-line.quantity,
                )
                for line in invoice.lines.all()
            ]
        )
        _issue(credit, seq, issued_on)
    return credit
