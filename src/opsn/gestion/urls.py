from django.contrib.auth import views as auth_views
from django.urls import path

from opsn.gestion import views

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
]
