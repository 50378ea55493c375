from django.contrib.auth import views as auth_views
from django.urls import path

from opsn.facturation import identites_pages
from opsn.facturation import views as views_billing
from opsn.gestion import import_views, views
from opsn.plateforme import pages_taches

urlpatterns = [
    path("connexion/", auth_views.LoginView.as_view(), name="connexion"),
    path("deconnexion/", auth_views.LogoutView.as_view(), name="deconnexion"),
    path("", views.dashboard, name="tableau-de-bord"),
    path("adherents/", views.member_list, name="adherents"),
    path("adherents/<int:member_id>/", views.member_detail, name="adherent"),
    path("conventions/<int:convention_id>/", views.convention_detail, name="convention"),
    path(
        "conventions/<int:convention_id>/modifier/",
        views.convention_edit,
        name="convention-modifier",
    ),
    path("adherents/<int:member_id>/demande/", views.change_request, name="adherent-demande"),
    path(
        "adherents/<int:member_id>/identite/",
        identites_pages.member_identity,
        name="adherent-identite",
    ),
    path("operateur/identite/", identites_pages.operator_identity, name="operateur-identite"),
    path("adherents/<int:member_id>/<str:what>/", views.member_record, name="adherent-saisie"),
    path("facturation/", views_billing.billing_page, name="facturation"),
    path("facturation/brouillons/", views_billing.drafts_action, name="brouillons"),
    path("factures/", views_billing.invoice_list, name="factures"),
    path("factures/titres.csv", views_billing.titres_export, name="titres"),
    path("factures/archive.zip", views_billing.pdf_archive, name="archive"),
    path("factures/pes.xml", views_billing.pes_flow, name="pes"),
    path("factures/<int:invoice_id>/", views_billing.invoice_detail, name="facture"),
    path(
        "factures/<int:invoice_id>/<str:kind>/",
        views_billing.invoice_document,
        name="facture-document",
    ),
    path("rapports/evolution/", views_billing.evolution_page, name="evolution"),
    path("conventions/importer/", import_views.conventions_import_page, name="import-conventions"),
    path(
        "conventions/importer/modele.csv",
        import_views.conventions_import_template,
        {"kind": "csv"},
        name="import-modele-csv",
    ),
    path(
        "conventions/importer/modele.xlsx",
        import_views.conventions_import_template,
        {"kind": "xlsx"},
        name="import-modele-xlsx",
    ),
    path(
        "conventions/importer/<uuid:depot>/",
        import_views.conventions_import_preview,
        name="import-apercu",
    ),
    path(
        "conventions/importer/<uuid:depot>/confirmer/",
        import_views.conventions_import_confirm,
        name="import-confirmer",
    ),
    path("taches/", pages_taches.task_list, name="taches"),
    path("taches/<uuid:task_id>/", pages_taches.task_detail, name="tache"),
    path("taches/<uuid:task_id>/fichier/", pages_taches.task_download, name="tache-fichier"),
    path("taches/<uuid:task_id>/relancer/", pages_taches.task_retry, name="tache-relancer"),
]
