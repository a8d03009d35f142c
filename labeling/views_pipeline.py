"""Researcher pages of the data pipeline: start a stage, watch its run, read its funnel,
rejects and disagreements, restore filtered prompts. Thin: forms parse, services act."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from flywheel.errors import DomainError
from labeling.forms_pipeline import STAGE_FORMS, ImportForm, StructuredForm
from labeling.models import PipelineRun, Project, Prompt
from labeling.selectors.access import project_get_for_user
from labeling.selectors.pipeline import (
    RESEARCHERS,
    filtered_prompts,
    pipeline_run_get_for_user,
    pipeline_run_list,
    prompt_get_for_researcher,
)
from labeling.services.pipeline import (
    import_run_start,
    prompts_filter,
    prompts_synthesize,
    prompts_tag,
    tasks_create_from_prompts,
)
from labeling.services.prompts import prompt_restore
from labeling.services.structured import prompts_synthesize_structured

RUNS_SHOWN = 50
FILTERED_SHOWN = 50


def _get_project_for_user(request: HttpRequest, pk: int) -> Project:
    return project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)


def _get_run_for_user(request: HttpRequest, pk: int) -> PipelineRun:
    return pipeline_run_get_for_user(run_id=pk, user=request.user)


def _page(request: HttpRequest, project: Project, forms: dict, status: int = 200) -> HttpResponse:
    context = {
        "project": project,
        "runs": list(pipeline_run_list(project=project)[:RUNS_SHOWN]),
        "filtered": list(filtered_prompts(project=project).order_by("-id")[:FILTERED_SHOWN]),
        "import_form": forms.get("import") or ImportForm(),
        "structured_form": forms.get("structured") or StructuredForm(),
        "stage_forms": [
            (name, forms.get(name) or form_class()) for name, form_class in STAGE_FORMS.items()
        ],
    }
    return render(request, "labeling/pipeline.html", context, status=status)


@require_GET
@login_required
def pipeline(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, _get_project_for_user(request, pk), {})


@require_POST
@login_required
def pipeline_import(request: HttpRequest, pk: int) -> HttpResponse:
    project = _get_project_for_user(request, pk)
    form = ImportForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            run = import_run_start(
                project=project,
                upload=data["file"],
                filename=data["file"].name,
                format=data["format"] or None,
                since=data["since"],
                skip_invalid=data["skip_invalid"],
                filters=form.filter_options(),
                created_by=request.user,
            )
        except DomainError as error:
            form.add_error(None, str(error))
        else:
            return redirect("labeling:pipeline_run", pk=run.pk)
    return _page(request, project, {"import": form}, status=400)


@require_POST
@login_required
def pipeline_stage(request: HttpRequest, pk: int, stage: str) -> HttpResponse:
    project = _get_project_for_user(request, pk)
    if stage not in STAGE_FORMS:
        return HttpResponse(status=404)
    form = STAGE_FORMS[stage](request.POST)
    if form.is_valid():
        data = form.cleaned_data
        user = request.user
        try:
            if stage == "filter":
                run = prompts_filter(
                    project=project, filters=form.filter_options(), created_by=user
                )
            elif stage == "tag":
                run = prompts_tag(
                    project=project,
                    llm_model=data["llm_model"],
                    retag=data["retag"],
                    created_by=user,
                    **form.prices(),
                )
            elif stage == "synthesize":
                run = prompts_synthesize(
                    project=project,
                    rewrites=data["rewrites"],
                    llm_rewrite=data["llm_rewrite"],
                    drafts=data["drafts"],
                    candidates=data["candidates"] or 0,
                    candidate_models=(data["candidate_models"] or "").split(","),
                    candidate_temperatures=(data["candidate_temperatures"] or "").split(","),
                    self_instruct=data["self_instruct"] or 0,
                    llm_model=data["llm_model"],
                    limit=data["limit"],
                    created_by=user,
                    **form.prices(),
                )
            else:
                run = tasks_create_from_prompts(
                    project=project,
                    kind=data["kind"],
                    limit=data["limit"],
                    gold_share=data["gold_share"],
                    created_by=user,
                )
        except DomainError as error:
            form.add_error(None, str(error))
        else:
            return redirect("labeling:pipeline_run", pk=run.pk)
    return _page(request, project, {stage: form}, status=400)


@require_POST
@login_required
def pipeline_structured(request: HttpRequest, pk: int) -> HttpResponse:
    project = _get_project_for_user(request, pk)
    form = StructuredForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            run = prompts_synthesize_structured(
                project=project,
                kind=data["kind"],
                llm_model=data["llm_model"],
                questions_per_document=data["questions_per_document"],
                count=data["count"],
                passages_per_item=data["passages_per_item"],
                input_name=data["input_name"],
                created_by=request.user,
                **form.prices(),
                **data["input"],
            )
        except DomainError as error:
            form.add_error(None, str(error))
        else:
            return redirect("labeling:pipeline_run", pk=run.pk)
    return _page(request, project, {"structured": form}, status=400)


@require_GET
@login_required
def pipeline_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk)
    context = {"run": run, "project": run.project}
    if request.htmx:
        html = render_to_string("labeling/pipeline_run.html#live", context, request=request)
        if run.finished:
            return HttpResponseStopPolling(html)
        return HttpResponse(html)
    return render(request, "labeling/pipeline_run.html", context)


@require_POST
@login_required
def prompt_restore_view(request: HttpRequest, pk: int) -> HttpResponse:
    prompt: Prompt = prompt_get_for_researcher(prompt_id=pk, user=request.user)
    try:
        prompt_restore(prompt=prompt, user=request.user)
    except DomainError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Prompt #{prompt.pk} is back among the active prompts.")
    return redirect("labeling:pipeline", pk=prompt.project_id)
