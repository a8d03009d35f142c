from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from flywheel import views

api_urlpatterns = [
    path("", include("labeling.api_urls")),
    path("", include("labeling.exports.api_urls")),
    path("", include("training.api_urls")),
    path("", include("evaluation.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include(api_urlpatterns)),
    path("", include("labeling.urls")),
    path("training/", include("training.urls")),
    path("evaluation/", include("evaluation.urls")),
]
