from django.urls import path
from rest_framework.routers import SimpleRouter

from labeling import api

router = SimpleRouter()
router.register("projects", api.ProjectViewSet, basename="project")

urlpatterns = [
    path("me/", api.me, name="api-me"),
    *router.urls,
]
