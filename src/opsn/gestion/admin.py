"""L'administration Django est celle de la plateforme (`opsn.plateforme.admin`) : réservée à
l'administrateur de la plateforme, sans les données des opérateurs. Ce module, découvert
par Django (`admin.autodiscover`), ne fait que l'enregistrer."""

from opsn.plateforme import admin as platform_admin  # noqa: F401
