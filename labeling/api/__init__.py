"""REST API of labeling. Thin: input serializers validate, a service or selector acts, an
output serializer answers."""

from labeling.api.projects import (
    ProjectViewSet,
    me,
    project_completions,
    project_prompts,
    project_rubric,
    project_tasks,
)
from labeling.api.review import (
    annotation_review,
    project_annotations,
    project_annotator_quality_view,
    project_quality_view,
    task_quality_view,
)
from labeling.api.work import project_claim, task_heartbeat, task_skip, task_submit

__all__ = [
    "ProjectViewSet",
    "annotation_review",
    "me",
    "project_annotations",
    "project_annotator_quality_view",
    "project_claim",
    "project_completions",
    "project_prompts",
    "project_quality_view",
    "project_rubric",
    "project_tasks",
    "task_heartbeat",
    "task_quality_view",
    "task_skip",
    "task_submit",
]
