from django.urls import path

from labeling.exports import api

urlpatterns = [
    path("projects/<int:pk>/snapshots/", api.project_snapshots, name="api-project-snapshots"),
    path("snapshots/<int:pk>/", api.snapshot_detail, name="api-snapshot"),
    path("snapshots/<int:pk>/download/", api.snapshot_download, name="api-snapshot-download"),
]
