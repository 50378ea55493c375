"""Deux opérateurs complets sur une même base, pour les tests de cloisonnement.

Chaque opérateur reçoit, à partir des scénarios d'acceptance (`billing.scenarios`) : des
adhérents (renommés d'un nom reconnaissable, « A-ADHERENT-01 »…), leurs conventions,
abonnements, un avenant, des usages, une intervention, un certificat, une demande du
référent, des factures émises (campagne `billing_run`) et un avoir, une tâche de fond, et
un compte par rôle (administrateur, facturation, technicien, référent).

Les numéros de facture des deux opérateurs n'ont pas le même préfixe (années d'émission
différentes) : un numéro de l'autre opérateur trouvé dans une page est donc une fuite.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model

from billing.scenarios import load_case, make_user
from opsn.facturation.billing import billing_run, invoice_credit
from opsn.gestion import services
from opsn.gestion.models import (
    BackgroundTask,
    Certificate,
    Convention,
    Intervention,
    Invoice,
    InvoiceStatus,
    Member,
    Operator,
    Role,
    UsageRecord,
)
from opsn.gestion.permissions import SYSTEM

User = get_user_model()
PLATFORM = "plateforme"
MARKERS = ("INTERVENTION", "TITULAIRE", "DEMANDE", "AVOIR", "AVENANT", "TACHE")


@dataclass
class Tenant:
    tag: str
    operator: Operator
    users: dict[str, object] = field(default_factory=dict)  # rôle → compte
    referent_member: Member | None = None
    years: list[int] = field(default_factory=list)

    def members(self) -> list[Member]:
        return list(Member.objects.filter(operator=self.operator).order_by("pk"))

    def secrets(self, *, except_member: Member | None = None) -> set[str]:
        """Textes qui n'appartiennent qu'à cet opérateur : noms et SIREN/SIRET de ses
        adhérents, références de ses conventions, numéros de ses pièces, identifiants de
        ses comptes, raison sociale et SIREN de l'opérateur. Avec `except_member` : ce que
        le référent de cet adhérent ne doit pas voir de son propre opérateur."""
        near: set[int] = set()
        if except_member is not None:
            near = {except_member.pk}
            near |= set(Member.objects.filter(parent=except_member).values_list("pk", flat=True))
            if except_member.parent_id:
                near.add(except_member.parent_id)
        result: set[str] = set()
        for m in Member.objects.filter(operator=self.operator).exclude(pk__in=near):
            result |= {m.name, m.siren, m.siret}
        conventions = Convention.objects.filter(operator=self.operator).exclude(member__in=near)
        result |= set(conventions.values_list("reference", flat=True))
        invoices = Invoice.objects.filter(operator=self.operator, number__isnull=False)
        result |= set(invoices.exclude(member__in=near).values_list("number", flat=True))
        if except_member is None:
            result |= {self.operator.name, self.operator.siren}
            result |= {f"{self.tag}-{what}" for what in MARKERS}
            result |= set(
                User.objects.filter(memberships__operator=self.operator).values_list(
                    "username", flat=True
                )
            )
        return {s for s in result if s and len(s) >= 6}


def _tenant(tag: str, cases: list[str], issued_on: dt.date) -> Tenant:
    loaded = [load_case(case) for case in cases]
    operator = loaded[0].operator
    tenant = Tenant(tag, operator, years=sorted({case.year for case in loaded}))
    # noms reconnaissables (avant la facturation : les factures en gardent une copie)
    for i, member in enumerate(tenant.members(), start=1):
        member.name = f"{tag}-ADHERENT-{i:02d}"
        member.save()
    for i, convention in enumerate(
        Convention.objects.filter(operator=operator).order_by("pk"), start=1
    ):
        convention.reference = f"{tag}-CONVENTION-{i:02d}"
        convention.save()
    for role, name in (
        (Role.ADMIN, "admin"),
        (Role.BILLING, "facturation"),
        (Role.TECHNICIAN, "technicien"),
    ):
        tenant.users[name] = make_user(f"compte-{tag.lower()}-{name}", operator, role)
    first = loaded[0].members[next(iter(loaded[0].members))]
    tenant.referent_member = first
    tenant.users["referent"] = make_user(
        f"compte-{tag.lower()}-referent", operator, Role.REFERENT, first
    )

    for year in tenant.years:
        report = billing_run(actor=SYSTEM, operator=operator, year=year, issued_on=issued_on)
        blocking = [(b.member.name, b.blocking) for b in report.bills if b.blocking]
        assert report.created and not blocking, f"{tag} {year} : {blocking}"
    issued = Invoice.objects.filter(operator=operator, status=InvoiceStatus.ISSUED)
    invoice_credit(
        actor=SYSTEM,
        invoice=issued.order_by("pk").first(),
        reason=f"{tag}-AVOIR",
        issued_on=issued_on,
    )
    # après la facturation, un objet de chaque sorte que les pages désignent par un identifiant
    for member in tenant.members():
        UsageRecord.objects.get_or_create(
            member=member,
            year=tenant.years[-1],
            counter="donnees_go",
            defaults={"quantity": Decimal(12)},
        )
        Intervention.objects.create(
            member=member,
            day=dt.date(tenant.years[-1], 3, 4),
            days=Decimal("0.5"),
            label=f"{tag}-INTERVENTION",
        )
        Certificate.objects.create(
            member=member,
            holder=f"{tag}-TITULAIRE",
            issued_on=dt.date(tenant.years[-1], 1, 1),
            expires_on=dt.date(tenant.years[-1] + 3, 1, 1),
        )
        author = tenant.users["referent"] if member == first else tenant.users["admin"]
        services.change_request_submit(
            actor=author, member=member, message=f"{tag}-DEMANDE", convention=None
        )
    convention = Convention.objects.filter(member=first).first()
    services.convention_amend(  # après la facturation : un préavis reçu, un avenant
        actor=SYSTEM,
        convention=convention,
        effective_on=issued_on,
        changes=[],
        reason=f"{tag}-AVENANT",
        notice_received_on=issued_on,
    )
    BackgroundTask.objects.create(
        task_id=uuid.uuid4(),
        kind="facturation",
        label=f"{tag}-TACHE",
        operator=operator,
        action="facturer",
        created_by=tenant.users["facturation"],
        work_key=uuid.uuid4().hex,
    )
    return tenant


def build_two_tenants() -> tuple[Tenant, Tenant]:
    """CDG82 (P01 2020, P03 2021 ; pièces de 2022) et Gironde Numérique (P12, P14 2021 ;
    pièces de 2023) ; un administrateur de la plateforme (« plateforme »)."""
    a = _tenant("A", ["P01", "P03"], dt.date(2022, 2, 1))
    b = _tenant("B", ["P12", "P14"], dt.date(2023, 2, 1))
    from opsn.plateforme.comptes import platform_admin_create

    platform_admin_create(actor=SYSTEM, username=PLATFORM, password="mot-de-passe-test")
    clash = a.secrets() & b.secrets()
    assert not clash, f"textes communs aux deux opérateurs : {clash}"
    return a, b
