from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "opsn – administration"
admin.site.site_title = "opsn"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("opsn.gestion.urls")),
]
