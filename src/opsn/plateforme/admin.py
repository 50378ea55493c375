"""Administration Django de la plateforme : réservée à l'administrateur de la plateforme,
limitée aux données de la plateforme.

Le personnel des opérateurs n'y entre pas (ni `is_staff`, ni `is_superuser` ne suffisent :
seule compte la table `PlatformAdmin`). On n'y trouve ni adhérents, ni conventions, ni
factures, ni comptes utilisateurs : ce sont les données d'un opérateur, gérées dans
l'application par ses pages, sous ses droits. Y figurent :
- les opérateurs (création, identité) ;
- les valeurs d'indice, en lecture : la saisie passe par la page « Indices », qui applique
  les bornes, le motif des corrections et le gel des mois déjà facturés ;
- les administrateurs de la plateforme et le journal d'audit de la plateforme, en lecture.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from opsn.gestion import models as m
from opsn.plateforme.comptes import is_platform_admin


class PlatformLoginForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Identifiant ou mot de passe incorrect, ou compte qui n'est pas "
        "administrateur de la plateforme.",
    }

    def confirm_login_allowed(self, user: Any) -> None:
        if not user.is_active or not is_platform_admin(user):
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class PlatformAdminSite(admin.AdminSite):
    site_header = "opsn – administration de la plateforme"
    site_title = "opsn – plateforme"
    index_title = "Données de la plateforme"
    login_form = PlatformLoginForm

    def has_permission(self, request: HttpRequest) -> bool:
        return is_platform_admin(request.user)


platform_site = PlatformAdminSite(name="admin")


class PlatformModelAdmin(admin.ModelAdmin):
    """Droits : ceux de l'administrateur de la plateforme, pas les permissions Django."""

    read_only = False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_platform_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_platform_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not self.read_only and is_platform_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self.read_only and is_platform_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(m.Operator, site=platform_site)
class OperatorAdmin(PlatformModelAdmin):
    list_display = ("code", "name", "siren", "city")
    search_fields = ("code", "name", "siren")
    exclude = ("pes_accounts",)


@admin.register(m.IndexValue, site=platform_site)
class IndexValueAdmin(PlatformModelAdmin):
    read_only = True
    list_display = ("index", "month", "series", "value", "source")
    list_filter = ("index", "series")


@admin.register(m.PlatformAdmin, site=platform_site)
class PlatformAdminAdmin(PlatformModelAdmin):
    read_only = True
    list_display = ("user", "granted_at", "granted_by")


@admin.register(m.AuditEntry, site=platform_site)
class PlatformAuditAdmin(PlatformModelAdmin):
    """Journal de la plateforme : indices, administrateurs, opérateurs (création, identité) ;
    pas les écritures des opérateurs sur leurs propres données."""

    read_only = True
    list_display = ("at", "actor", "action", "object_type", "object_repr", "reason")
    list_filter = ("object_type", "action")

    def get_queryset(self, request: HttpRequest) -> QuerySet[m.AuditEntry]:
        return (
            super()
            .get_queryset(request)
            .filter(Q(operator__isnull=True) | Q(object_type__in=("operator", "platformadmin")))
        )
