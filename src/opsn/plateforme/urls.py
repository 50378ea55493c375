from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from opsn.plateforme import views

urlpatterns = [
    path("indices/", views.index_values, name="indices"),
    path("equipe/", views.team, name="equipe"),
    path("equipe/<int:membership_id>/", views.team_membership, name="equipe-habilitation"),
    path("plateforme/", views.operators, name="plateforme"),
    path(
        "compte/mot-de-passe/",
        auth_views.PasswordChangeView.as_view(
            template_name="plateforme/mot_de_passe.html",
            success_url=reverse_lazy("mot-de-passe-change"),
        ),
        name="mot-de-passe",
    ),
    path(
        "compte/mot-de-passe/change/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="plateforme/mot_de_passe.html", extra_context={"termine": True}
        ),
        name="mot-de-passe-change",
    ),
]
