from django.urls import path

from opsn.plateforme import views

urlpatterns = [
    path("indices/", views.index_values, name="indices"),
    path("equipe/", views.team, name="equipe"),
    path("equipe/<int:membership_id>/", views.team_membership, name="equipe-habilitation"),
    path("plateforme/", views.operators, name="plateforme"),
]
