"""Journal d'audit : toute modification des tarifs, conventions, abonnements, indices,
adhérents, relevés d'usage et interventions est enregistrée (qui, quand, avant, après),
quelle que soit son origine (pages, services, administration Django, import)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from django.db.models import Model
from django.db.models.signals import post_delete, post_save, pre_save
from django.http import HttpRequest, HttpResponse

_actor: ContextVar[Any] = ContextVar("opsn_audit_actor", default=None)
_reason: ContextVar[str] = ContextVar("opsn_audit_reason", default="")
# le YAML complet d'un catalogue (son empreinte suffit) ; le nom normalisé d'un adhérent
# (recalculé du nom à chaque enregistrement)
SKIPPED_FIELDS = {"content", "search_name"}


@contextmanager
def acting_as(user: Any) -> Iterator[None]:
    """Désigne l'auteur des modifications faites dans le bloc."""
    token = _actor.set(user if getattr(user, "is_authenticated", False) else None)
    try:
        yield
    finally:
        _actor.reset(token)


@contextmanager
def with_reason(reason: str) -> Iterator[None]:
    """Motif noté sur les entrées écrites dans le bloc (correction d'un indice…)."""
    token = _reason.set(reason)
    try:
        yield
    finally:
        _reason.reset(token)


def record(
    *,
    action: str,
    object_type: str,
    object_id: Any,
    object_repr: str,
    operator_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> Any:
    """Entrée explicite du journal (ce que les signaux ne voient pas : comptes, rôles)."""
    from opsn.gestion.models import AuditEntry

    return AuditEntry.objects.create(
        operator_id=operator_id,
        actor=_actor.get(),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_repr=object_repr[:300],
        before=before,
        after=after,
        reason=reason or _reason.get(),
    )


class AuditActorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting_as(getattr(request, "user", None)):
            return self.get_response(request)


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def snapshot(instance: Model) -> dict[str, Any]:
    return {
        f.attname: _json(getattr(instance, f.attname))
        for f in instance._meta.concrete_fields
        if f.attname not in SKIPPED_FIELDS
    }


def _operator_id(instance: Model) -> int | None:
    if instance._meta.model_name == "operator":
        return instance.pk
    if hasattr(instance, "operator_id"):
        return instance.operator_id
    if hasattr(instance, "member_id"):  # relevé d'usage, intervention : l'opérateur de l'adhérent
        member = getattr(instance, "member", None)
        return getattr(member, "operator_id", None)
    convention = getattr(instance, "convention", None)
    return getattr(convention, "operator_id", None)


def _before(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    if instance.pk and not kwargs.get("raw"):
        old = sender._default_manager.filter(pk=instance.pk).first()
        instance._audit_before = snapshot(old) if old else None


def _after(sender: type[Model], instance: Model, created: bool, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    from opsn.gestion.models import AuditEntry

    before = None if created else getattr(instance, "_audit_before", None)
    after = snapshot(instance)
    if before == after:
        return
    AuditEntry.objects.create(
        operator_id=_operator_id(instance),
        actor=_actor.get(),
        action="création" if created else "modification",
        object_type=sender._meta.model_name,
        object_id=str(instance.pk),
        object_repr=str(instance)[:300],
        before=before,
        after=after,
        reason=_reason.get(),
    )


def _deleted(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    from opsn.gestion.models import AuditEntry

    AuditEntry.objects.create(
        operator_id=_operator_id(instance),
        actor=_actor.get(),
        action="suppression",
        object_type=sender._meta.model_name,
        object_id=str(instance.pk),
        object_repr=str(instance)[:300],
        before=snapshot(instance),
        after=None,
        reason=_reason.get(),
    )


def connect_signals() -> None:
    from opsn.gestion import models as m

    for model in (
        m.Operator,
        m.CatalogueVersion,
        m.IndexValue,
        m.Member,
        m.Convention,
        m.Subscription,
        m.UsageRecord,  # relevés et interventions : dans le journal de l'adhérent
        m.Intervention,
    ):
        uid = f"audit-{model._meta.model_name}"
        pre_save.connect(_before, sender=model, dispatch_uid=f"{uid}-pre")
        post_save.connect(_after, sender=model, dispatch_uid=f"{uid}-post")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"{uid}-del")
