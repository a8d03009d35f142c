from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from .diagnostics import job_diagnostics
from .lineage import job_lineage
from .models import TrainingJob
from .selectors import (
    adapter_list_for_job,
    data_report_rows,
    ensemble_members,
    job_charts,
    job_get_for_user,
    job_list_for_user,
    job_samples,
    metric_series,
)
from .services import job_check_alive

LIST_LIMIT = 100


def _get_job_for_user(request: HttpRequest, pk: int) -> TrainingJob:
    return job_get_for_user(user=request.user, job_id=pk)


@require_GET
@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = list(job_list_for_user(user=request.user)[:LIST_LIMIT])
    return render(request, "training/job_list.html", {"jobs": jobs})


@require_GET
@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = job_check_alive(job=_get_job_for_user(request, pk))
    series = metric_series(job=job)
    context = {
        "job": job,
        "charts": job_charts(series=series, kind=job.kind, data_report=job.data_report),
        "ensemble": ensemble_members(job=job, series=series),
        "samples": job_samples(job=job),
        "diagnostics": job_diagnostics(job=job, series=series),
        "report_rows": data_report_rows(job=job),
        "adapters": list(adapter_list_for_job(job=job)),
        # A generate job's sources and their jobs are in its "Generated" section.
        "lineage": job_lineage(job=job) if job.kind not in ("sft", "generate") else [],
        "trainable_percent": 100 * job.trainable_params / job.total_params
        if job.trainable_params and job.total_params
        else None,
        "adapter_ratio": 100 * job.adapter_size_bytes / job.full_model_size_bytes
        if job.adapter_size_bytes and job.full_model_size_bytes
        else None,
    }
    if context["ensemble"]:  # the members' curves lead the ensemble's charts
        context["charts"].insert(0, context["ensemble"]["chart"])
    if request.htmx:
        html = render_to_string("training/job_detail.html#live", context, request=request)
        if not job.is_active:
            return HttpResponseStopPolling(html)
        return HttpResponse(html)
    return render(request, "training/job_detail.html", context)
