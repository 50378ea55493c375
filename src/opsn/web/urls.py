from django.urls import include, path

from opsn.plateforme.admin import platform_site

urlpatterns = [
    path("admin/", platform_site.urls),  # administration de la plateforme seulement
    path("", include("opsn.plateforme.urls")),
    path("", include("opsn.portail.urls")),
    path("", include("opsn.adherents.urls")),
    path("", include("opsn.catalogues.urls")),
    path("", include("opsn.gestion.urls")),
]
