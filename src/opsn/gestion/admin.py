"""Administration Django, réservée aux administrateurs ; les modifications passent par
les mêmes signaux d'audit que le reste de l'application."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from opsn.gestion import models as m


@admin.register(m.Operator)
class OperatorAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "siren")


@admin.register(m.StaffMembership)
class StaffMembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "operator", "role", "member")
    list_filter = ("operator", "role")
    autocomplete_fields = ("member",)


@admin.register(m.CatalogueVersion)
class CatalogueVersionAdmin(admin.ModelAdmin):
    list_display = ("operator", "version", "label", "valid_from", "locked", "sha256")
    readonly_fields = ("sha256", "loaded_at")


@admin.register(m.IndexValue)
class IndexValueAdmin(admin.ModelAdmin):
    list_display = ("index", "month", "series", "value", "source")
    list_filter = ("index", "series")


class SubscriptionInline(admin.TabularInline):
    model = m.Subscription
    extra = 0


@admin.register(m.Convention)
class ConventionAdmin(admin.ModelAdmin):
    list_display = (
        "reference",
        "member",
        "operator",
        "catalogue",
        "signed_on",
        "notice_received_on",
    )
    list_filter = ("operator",)
    search_fields = ("reference", "member__name")
    inlines = [SubscriptionInline]


@admin.register(m.Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "insee", "siren", "operator", "population_totale")
    list_filter = ("operator", "kind")
    search_fields = ("name", "insee", "siren")


@admin.register(m.Amendment)
class AmendmentAdmin(admin.ModelAdmin):
    list_display = ("convention", "number", "effective_on", "created_by", "created_at")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(m.AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "action", "object_type", "object_repr")
    list_filter = ("object_type", "action")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.register(m.UsageRecord)
admin.site.register(m.Intervention)
admin.site.register(m.Certificate)
admin.site.register(m.ChangeRequest)
