"""Reads of pipeline runs and the prompts they filtered, behind the project's access rules."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from labeling.models import PipelineRun, Project, Prompt, PromptStatus, Role
from labeling.selectors.access import ERROR_NOT_FOUND, project_get_for_user

RESEARCHERS = [Role.RESEARCHER]
# The list pages show these; the funnel, rejects and disagreements load on the run page only.
LIST_FIELDS = (
    "id",
    "project_id",
    "stage",
    "status",
    "input_name",
    "done",
    "total",
    "counts",
    "error",
    "cost_usd",
    "created_at",
    "finished_at",
)


def pipeline_run_list(*, project: Project) -> QuerySet[PipelineRun]:
    """The project's runs (the caller has checked access), light enough for a list."""
    return PipelineRun.objects.filter(project=project).only(*LIST_FIELDS)


def pipeline_run_get_for_user(*, run_id: int, user: AbstractBaseUser) -> PipelineRun:
    """The run, for a researcher of its project: 404 for anyone outside the project."""
    run = PipelineRun.objects.select_related("project").filter(pk=run_id).first()
    if run is None:
        raise Http404(ERROR_NOT_FOUND)
    project_get_for_user(user=user, project_id=run.project_id, roles=RESEARCHERS)
    return run


def prompt_get_for_researcher(*, prompt_id: int, user: AbstractBaseUser) -> Prompt:
    prompt = Prompt.objects.filter(pk=prompt_id).first()
    if prompt is None:
        raise Http404(ERROR_NOT_FOUND)
    project_get_for_user(user=user, project_id=prompt.project_id, roles=RESEARCHERS)
    return prompt


def filtered_prompts(*, project: Project) -> QuerySet[Prompt]:
    return Prompt.objects.filter(project=project, status=PromptStatus.FILTERED)
