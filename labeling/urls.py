from django.urls import path

from labeling import views, views_pipeline

app_name = "labeling"

urlpatterns = [
    path("queue/", views.queue, name="queue"),
    path("projects/<int:pk>/start/", views.project_start, name="start"),
    path("tasks/<int:pk>/", views.task_detail, name="task"),
    path("tasks/<int:pk>/submit/", views.task_submit, name="submit"),
    path("tasks/<int:pk>/skip/", views.task_skip, name="skip"),
    path("tasks/<int:pk>/heartbeat/", views.task_heartbeat, name="heartbeat"),
    path("tasks/<int:pk>/leave/", views.task_leave, name="leave"),
    path("tasks/<int:pk>/draft/", views.task_draft, name="draft"),
    path("tasks/<int:pk>/preview/", views.markdown_preview, name="preview"),
    path("review/projects/<int:pk>/", views.review_list, name="review_list"),
    path("review/tasks/<int:pk>/", views.review_task, name="review_task"),
    path("review/annotations/<int:pk>/", views.review_decide, name="review_decide"),
    # The data pipeline (labeling/views_pipeline.py).
    path("projects/<int:pk>/pipeline/", views_pipeline.pipeline, name="pipeline"),
    path(
        "projects/<int:pk>/pipeline/import/",
        views_pipeline.pipeline_import,
        name="pipeline_import",
    ),
    path(
        "projects/<int:pk>/pipeline/structured/",
        views_pipeline.pipeline_structured,
        name="pipeline_structured",
    ),
    path(
        "projects/<int:pk>/pipeline/<str:stage>/",
        views_pipeline.pipeline_stage,
        name="pipeline_stage",
    ),
    path("pipeline/runs/<int:pk>/", views_pipeline.pipeline_run, name="pipeline_run"),
    path("prompts/<int:pk>/restore/", views_pipeline.prompt_restore_view, name="prompt_restore"),
]
