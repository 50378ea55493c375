from django.urls import path

from opsn.adherents import views

urlpatterns = [
    path("adherents/nouveau/", views.member_add, name="adherent-nouveau"),
    path("adherents/nouveau/organisme/", views.member_add_body, name="adherent-nouveau-organisme"),
    path(
        "conventions/<int:convention_id>/montants/",
        views.convention_amounts,
        name="convention-montants",
    ),
    path("releves/<int:usagerecord_id>/supprimer/", views.usage_delete, name="releve-supprimer"),
    path(
        "interventions/<int:intervention_id>/supprimer/",
        views.intervention_delete,
        name="intervention-supprimer",
    ),
]
