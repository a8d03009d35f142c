from django.urls import path

from evaluation import views, views_reports

app_name = "evaluation"

urlpatterns = [
    path("projects/<int:project_id>/", views.project_runs, name="project_runs"),
    path("projects/<int:project_id>/runs/new/", views.run_new, name="run_new"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run_resume"),
    path("runs/<int:pk>/export.<str:fmt>", views.run_export, name="run_export"),
    # Agreement reports (views_reports.py).
    path(
        "projects/<int:project_id>/agreement/",
        views_reports.project_agreement,
        name="agreement",
    ),
    path("judgment-sets/<int:pk>/report/", views_reports.set_report, name="set_report"),
    path("judgment-sets/<int:pk>/item/", views_reports.set_item, name="set_item"),
    path("runs/<int:pk>/report/", views_reports.run_report, name="run_report"),
    path("runs/<int:pk>/report/item/", views_reports.run_item, name="run_item"),
    path("runs/<int:pk>/human-tasks/", views_reports.run_human_tasks, name="run_human_tasks"),
    path("runs/<int:pk>/human-collect/", views_reports.run_human_collect, name="run_human_collect"),
]
