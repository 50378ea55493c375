from django.urls import path

from opsn.catalogues import views

urlpatterns = [
    path("catalogues/", views.catalogue_list, name="catalogues"),
    path("catalogues/deposer/", views.catalogue_upload, name="catalogue-deposer"),
    path("catalogues/<int:version_id>/", views.version_detail, name="catalogue"),
    path("catalogues/<int:version_id>/yaml/", views.version_yaml, name="catalogue-yaml"),
    path(
        "catalogues/<int:version_id>/nouvelle-version/",
        views.version_new,
        name="catalogue-nouvelle-version",
    ),
    path(
        "catalogues/<int:version_id>/differences/",
        views.version_diff,
        name="catalogue-differences",
    ),
]
