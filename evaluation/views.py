"""Evaluation pages: a project's runs, and a run page that polls while the run goes."""

from __future__ import annotations

import csv
import json

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling, trigger_client_event
from django_htmx.middleware import HtmxDetails

from evaluation.forms import EvalRunForm
from evaluation.models import CandidateAnswer, EvalRun
from evaluation.selectors import (
    EXPORT_FIELDS,
    READ_ROLES,
    WRITE_ROLES,
    eval_run_get_for_user,
    eval_run_list,
    eval_run_progress,
    judgment_export_rows,
)
from evaluation.services import (
    eval_run_cancel,
    eval_run_check_alive,
    eval_run_create,
    eval_run_resume,
)
from flywheel.errors import DomainError
from labeling.selectors import project_get_for_user


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _get_run_for_user(request: HttpRequest, pk: int, *, write: bool = False) -> EvalRun:
    return eval_run_get_for_user(user=request.user, run_id=pk, write=write)


@require_GET
@login_required
def project_runs(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, roles=READ_ROLES)
    runs = list(eval_run_list(project=project)[:200])
    return render(request, "evaluation/project_runs.html", {"project": project, "runs": runs})


@require_http_methods(["GET", "POST"])
@login_required
def run_new(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """Start a run: the form parses, eval_run_create decides, the worker judges."""
    project = project_get_for_user(user=request.user, project_id=project_id, roles=WRITE_ROLES)
    form = EvalRunForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        try:
            run = eval_run_create(project=project, created_by=request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("evaluation:run", pk=run.pk)
    models = (
        CandidateAnswer.objects.filter(question__eval_set__project=project)
        .order_by("model")
        .values_list("model", flat=True)
        .distinct()
    )
    return render(
        request,
        "evaluation/run_new.html",
        {"project": project, "form": form, "known_models": list(models)},
    )


def _run_context(run: EvalRun) -> dict:
    return {
        "run": run,
        "progress": eval_run_progress(run=run),
        "results": run.results or {},
        "overall": (run.results or {}).get("overall", {}),
        "categories": (run.results or {}).get("categories", {}),
    }


@require_GET
@login_required
def run_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = eval_run_check_alive(run=_get_run_for_user(request, pk))
    context = _run_context(run)
    if request.htmx:
        response = render(request, "evaluation/run_detail.html#run", context)
        if not run.is_active:
            # Final render of the region, and htmx stops polling.
            stop = HttpResponseStopPolling(response.content)
            return stop
        return response
    return render(request, "evaluation/run_detail.html", context)


@require_POST
@login_required
def run_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk, write=True)
    return _act(request, run, eval_run_cancel, "Run cancelled.")


@require_POST
@login_required
def run_resume(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk, write=True)
    return _act(request, run, eval_run_resume, "Run queued again; it continues where it stopped.")


def _act(request: HtmxHttpRequest, run: EvalRun, service, done: str) -> HttpResponse:
    error = ""
    try:
        run = service(run=run)
    except DomainError as exc:
        error = str(exc)
    run = _get_run_for_user(request, run.pk)
    if not request.htmx:
        return redirect("evaluation:run", pk=run.pk)
    context = _run_context(run) | {"action_error": error}
    response = render(request, "evaluation/run_detail.html#run", context)
    if not error:
        trigger_client_event(response, "showToast", {"message": done, "level": "success"})
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@login_required
def run_export(request: HtmxHttpRequest, pk: int, fmt: str) -> HttpResponse:
    """Every judgment of the run as CSV, or the results and judgments as JSON."""
    run = _get_run_for_user(request, pk)
    filename = f"eval-run-{run.pk}"
    if fmt == "csv":
        writer = csv.DictWriter(_Echo(), fieldnames=EXPORT_FIELDS)

        def rows():
            yield writer.writeheader()
            for row in judgment_export_rows(run=run):
                yield writer.writerow(row)

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
        return response
    payload = {
        "run": {
            "id": run.pk,
            "name": run.name,
            "mode": run.mode,
            "models": run.candidate_models,
            "baseline": run.baseline,
            "turns": run.turns,
            "status": run.status,
            "judge": run.config_snapshot,
        },
        "results": run.results,
        "judgments": list(judgment_export_rows(run=run)),
    }
    response = HttpResponse(json.dumps(payload, indent=1), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}.json"'
    return response
