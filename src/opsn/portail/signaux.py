"""Avis au référent quand une pièce de son adhérent est émise, quel que soit le chemin
d'émission, sans toucher à la facturation :
- pièce enregistrée une à une (brouillon émis, avoir) : `post_save` d'`Invoice` quand son
  statut devient « émise » ;
- campagne (pièces écrites par lots, sans signal de modèle) : `post_save` de la
  `BillingRun` quand elle enregistre son nombre de pièces créées, à la fin de la campagne.
L'avis est créé dans la transaction d'émission (annulée avec elle) ; le courriel part après
la validation (`services.notify_invoices`). Un avis n'est jamais créé deux fois pour une
même pièce."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save, pre_save


def _before(sender: Any, instance: Any, **kwargs: Any) -> None:
    if kwargs.get("raw") or instance.pk is None:
        instance._portail_status = None
        return
    instance._portail_status = (
        sender._base_manager.filter(pk=instance.pk).values_list("status", flat=True).first()
    )


def _invoice_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    from opsn.gestion.models import InvoiceStatus
    from opsn.portail.services import notify_invoices

    if kwargs.get("raw") or instance.status != InvoiceStatus.ISSUED:
        return
    if created or getattr(instance, "_portail_status", None) != InvoiceStatus.ISSUED:
        notify_invoices([instance])


def _run_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    from opsn.gestion.models import Invoice, InvoiceStatus
    from opsn.portail.services import notify_invoices

    fields = kwargs.get("update_fields") or ()
    if kwargs.get("raw") or "invoices_created" not in fields or not instance.invoices_created:
        return
    issued = Invoice.objects.filter(run=instance, status=InvoiceStatus.ISSUED).only(
        "pk", "member_id", "number", "issued_on", "year", "total_ttc", "kind"
    )
    notify_invoices(issued)


def connect() -> None:
    from opsn.gestion.models import BillingRun, Invoice

    pre_save.connect(_before, sender=Invoice, dispatch_uid="portail-facture-avant")
    post_save.connect(_invoice_saved, sender=Invoice, dispatch_uid="portail-facture-emise")
    post_save.connect(_run_saved, sender=BillingRun, dispatch_uid="portail-campagne")
