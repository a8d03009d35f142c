from django.urls import path

from evaluation import views

app_name = "evaluation"

urlpatterns = [
    path("projects/<int:project_id>/", views.project_runs, name="project_runs"),
    path("projects/<int:project_id>/runs/new/", views.run_new, name="run_new"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run_resume"),
    path("runs/<int:pk>/export.<str:fmt>", views.run_export, name="run_export"),
]
