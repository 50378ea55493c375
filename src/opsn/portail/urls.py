"""Adresses du portail : simulateur et devis publics, API du simulateur, espace du référent,
prospects et suite des demandes (personnel)."""

from django.urls import include, path

from opsn.portail import views
from opsn.portail.api import api

# Les vues de l'API sont publiques comme le simulateur (voir `views.public`) ; sa racine est
# la page de documentation (`api-simulateur`), qui remplace celle de django-ninja.
api_patterns = [p for p in api.urls[0] if getattr(p, "name", None) != "api-root"]
for _pattern in api_patterns:
    _pattern.callback.opsn_public = True

urlpatterns = [
    path("simulateur/", views.simulator, name="simulateur"),
    path("tarifs/", views.tariffs, name="tarifs"),
    path("devis/", views.quote_lookup, name="devis-retrouver"),
    path("devis/nouveau/", views.quote_create, name="devis-creer"),
    path("devis/<str:ref>/", views.quote_detail, name="devis"),
    path("devis/<str:ref>/pdf/", views.quote_pdf, name="devis-pdf"),
    path("devis/<str:ref>/contact/", views.quote_contact, name="devis-contact"),
    path("api/simulateur/", views.api_docs, name="api-simulateur"),
    path("api/simulateur/", include(api_patterns)),
    path("prospects/", views.leads, name="prospects"),
    path("portail/", views.portal, name="portail"),
    path("portail/demande/", views.portal_request, name="portail-demande"),
    path("portail/avis/", views.portal_read, name="portail-avis"),
    path(
        "demandes/<int:change_request_id>/accepter/",
        views.request_accept,
        name="demande-accepter",
    ),
    path(
        "demandes/<int:change_request_id>/refuser/",
        views.request_refuse,
        name="demande-refuser",
    ),
]
