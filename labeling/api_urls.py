from django.urls import path
from rest_framework.routers import SimpleRouter

from labeling import api
from labeling.api import pipeline as pipeline_api

router = SimpleRouter()
router.register("projects", api.ProjectViewSet, basename="project")

urlpatterns = [
    path("me/", api.me, name="api-me"),
    path("projects/<int:pk>/prompts/", api.project_prompts, name="api-project-prompts"),
    path("projects/<int:pk>/completions/", api.project_completions, name="api-project-completions"),
    path("projects/<int:pk>/tasks/", api.project_tasks, name="api-project-tasks"),
    path("projects/<int:pk>/rubric/", api.project_rubric, name="api-project-rubric"),
    path("projects/<int:pk>/claim/", api.project_claim, name="api-project-claim"),
    path("projects/<int:pk>/annotations/", api.project_annotations, name="api-project-annotations"),
    path("projects/<int:pk>/quality/", api.project_quality_view, name="api-project-quality"),
    path(
        "projects/<int:pk>/quality/annotators/",
        api.project_annotator_quality_view,
        name="api-project-annotator-quality",
    ),
    path("tasks/<int:pk>/heartbeat/", api.task_heartbeat, name="api-task-heartbeat"),
    path("tasks/<int:pk>/submit/", api.task_submit, name="api-task-submit"),
    path("tasks/<int:pk>/skip/", api.task_skip, name="api-task-skip"),
    path("tasks/<int:pk>/quality/", api.task_quality_view, name="api-task-quality"),
    path("annotations/<int:pk>/review/", api.annotation_review, name="api-annotation-review"),
    # The data pipeline (labeling/api/pipeline.py).
    path("projects/<int:pk>/pipeline/runs/", pipeline_api.pipeline_runs, name="api-pipeline-runs"),
    path(
        "projects/<int:pk>/pipeline/import/",
        pipeline_api.pipeline_import,
        name="api-pipeline-import",
    ),
    path(
        "projects/<int:pk>/pipeline/filter/",
        pipeline_api.pipeline_filter,
        name="api-pipeline-filter",
    ),
    path("projects/<int:pk>/pipeline/tag/", pipeline_api.pipeline_tag, name="api-pipeline-tag"),
    path(
        "projects/<int:pk>/pipeline/synthesize/",
        pipeline_api.pipeline_synthesize,
        name="api-pipeline-synthesize",
    ),
    path(
        "projects/<int:pk>/pipeline/structured/",
        pipeline_api.pipeline_structured,
        name="api-pipeline-structured",
    ),
    path(
        "projects/<int:pk>/pipeline/tasks/", pipeline_api.pipeline_tasks, name="api-pipeline-tasks"
    ),
    path("pipeline/runs/<int:pk>/", pipeline_api.pipeline_run_detail, name="api-pipeline-run"),
    path("prompts/<int:pk>/restore/", pipeline_api.prompt_restore_view, name="api-prompt-restore"),
    *router.urls,
]
