"""Reads for training pages: access goes through labeling's project rules (researchers only)."""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from labeling.models import Role
from labeling.selectors import project_get_for_user, project_list_for_user

from .models import Adapter, MetricPoint, TrainingJob

User = AbstractBaseUser | AnonymousUser

ERROR_JOB_NOT_FOUND = "No such training job, or you are not a member of its project."
ERROR_ADAPTER_NOT_FOUND = "No such adapter, or you are not a member of its project."

# Lines of the page's charts: (chart id, title, y-axis label, metric names or a prefix).
CHANNEL_COLORS = [
    "#2956c4",
    "#1f7a3f",
    "#b3261e",
    "#8a5a00",
    "#6b3fa0",
    "#0f7b8a",
    "#c2410c",
    "#545a66",
]


def job_list_for_user(*, user: User) -> QuerySet[TrainingJob]:
    projects = project_list_for_user(user=user, roles=[Role.RESEARCHER])
    return (
        TrainingJob.objects.filter(project__in=projects)
        .select_related("project", "snapshot")
        .order_by("-created_at", "-id")
    )


def job_get_for_user(*, user: User, job_id: int | str) -> TrainingJob:
    from django.http import Http404

    try:
        job = TrainingJob.objects.select_related("project", "snapshot", "created_by").get(
            pk=int(job_id)
        )
    except (TrainingJob.DoesNotExist, ValueError, TypeError):
        raise Http404(ERROR_JOB_NOT_FOUND) from None
    project_get_for_user(user=user, project_id=job.project_id, roles=[Role.RESEARCHER])
    return job


def adapter_list_for_job(*, job: TrainingJob) -> QuerySet[Adapter]:
    return Adapter.objects.filter(job=job).select_related("owner_user", "owner_project")


def metric_series(*, job: TrainingJob) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for name, step, value in (
        MetricPoint.objects.filter(job=job)
        .order_by("name", "step")
        .values_list("name", "step", "value")
    ):
        series[name].append((step, value))
    return dict(series)


def _dataset(
    label: str, points: list[tuple[int, float]], color: str, *, dashed: bool = False
) -> dict:
    return {
        "label": label,
        "data": [{"x": s, "y": v} for s, v in points],
        "borderColor": color,
        "backgroundColor": color,
        "borderDash": [6, 4] if dashed else [],
        "pointRadius": 0 if len(points) > 40 else 2,
        "borderWidth": 2,
        "tension": 0,
    }


def job_charts(*, series: dict[str, list[tuple[int, float]]]) -> list[dict]:
    """Chart.js datasets for the job page: one line per loss channel (training solid,
    validation dashed), special vs content tokens, learning rate, grad norm."""
    channel_names = sorted(
        n.removeprefix("loss/")
        for n in series
        if n.startswith("loss/") and n not in ("loss/special_tokens", "loss/content_tokens")
    )
    colors = {
        name: CHANNEL_COLORS[(i + 1) % len(CHANNEL_COLORS)] for i, name in enumerate(channel_names)
    }
    channels = []
    if "loss" in series:
        channels.append(_dataset("loss (all)", series["loss"], CHANNEL_COLORS[0]))
    if "eval/loss" in series:
        channels.append(
            _dataset("validation loss (all)", series["eval/loss"], CHANNEL_COLORS[0], dashed=True)
        )
    for name in channel_names:
        channels.append(_dataset(name, series[f"loss/{name}"], colors[name]))
        if f"eval/loss/{name}" in series:
            channels.append(
                _dataset(
                    f"{name} (validation)", series[f"eval/loss/{name}"], colors[name], dashed=True
                )
            )
    tokens = []
    for key, label, color in (
        ("loss/special_tokens", "special & template tokens", "#b3261e"),
        ("loss/content_tokens", "content tokens", "#2956c4"),
    ):
        if key in series:
            tokens.append(_dataset(label, series[key], color))
        if f"eval/{key}" in series:
            tokens.append(
                _dataset(f"{label} (validation)", series[f"eval/{key}"], color, dashed=True)
            )
    charts = [
        {
            "id": "chart-channels",
            "title": "Loss per task type",
            "y": "loss (nats/token)",
            "log": True,
            "datasets": channels,
        },
        {
            "id": "chart-tokens",
            "title": "Special vs content tokens",
            "y": "loss (nats/token)",
            "log": True,
            "datasets": tokens,
        },
        {
            "id": "chart-lr",
            "title": "Learning rate",
            "y": "learning rate",
            "log": False,
            "datasets": [_dataset("learning rate", series.get("lr", []), "#1f7a3f")],
        },
        {
            "id": "chart-grad",
            "title": "Gradient norm",
            "y": "grad norm (L2)",
            "log": True,
            "datasets": [_dataset("grad norm", series.get("grad_norm", []), "#8a5a00")],
        },
    ]
    return charts


def data_report_rows(*, job: TrainingJob) -> list[dict]:
    """Rows, truncated, dropped and trained per split and task type, for a table."""
    before = (job.data_report or {}).get("before", {})
    after = (job.data_report or {}).get("after", {})
    rows = []
    for split in ("train", "validation"):
        for task_type, counts in sorted(before.get(split, {}).items()):
            rows.append(
                {
                    "split": split,
                    "task_type": task_type,
                    "rows": counts["rows"],
                    "truncated": counts["truncated"],
                    "dropped": counts["dropped"],
                    "trained": after.get(split, {}).get(task_type) if after else None,
                }
            )
    return rows


# --------------------------------------------------------------------------- the API


def job_search_for_user(
    *,
    user: User,
    project_id: int | None = None,
    kind: str | None = None,
    status: str | None = None,
) -> QuerySet[TrainingJob]:
    """The jobs a researcher may see, optionally of one project, kind and status."""
    jobs = job_list_for_user(user=user).select_related("created_by").prefetch_related("adapters")
    if project_id is not None:
        jobs = jobs.filter(project_id=project_id)
    if kind:
        jobs = jobs.filter(kind=kind)
    if status:
        jobs = jobs.filter(status=status)
    return jobs


def metric_points_since(
    *, job: TrainingJob, names: list[str] | None = None, since_step: int | None = None
) -> dict[str, list[tuple[int, float]]]:
    """The job's metric series (all, or `names`), only steps after `since_step`: what a
    client polling a running job has not seen yet."""
    points = MetricPoint.objects.filter(job=job)
    if names:
        points = points.filter(name__in=names)
    if since_step is not None:
        points = points.filter(step__gt=since_step)
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for name, step, value in points.order_by("name", "step").values_list("name", "step", "value"):
        series[name].append((step, value))
    return dict(series)


def adapter_list_for_user(*, user: User, project_id: int | None = None) -> QuerySet[Adapter]:
    """Adapters of the jobs of the researcher's projects, newest first."""
    projects = project_list_for_user(user=user, roles=[Role.RESEARCHER])
    adapters = Adapter.objects.filter(job__project__in=projects)
    if project_id is not None:
        adapters = adapters.filter(job__project_id=project_id)
    return adapters.select_related("job", "owner_user", "owner_project").order_by("-id")


def adapter_get_for_user(*, user: User, adapter_id: int | str) -> Adapter:
    """The adapter, for a researcher of its job's project (404 for anyone else)."""
    from django.http import Http404

    try:
        adapter = Adapter.objects.select_related(
            "job", "job__snapshot", "owner_user", "owner_project"
        ).get(pk=int(adapter_id))
    except (Adapter.DoesNotExist, ValueError, TypeError):
        raise Http404(ERROR_ADAPTER_NOT_FOUND) from None
    project_get_for_user(user=user, project_id=adapter.job.project_id, roles=[Role.RESEARCHER])
    return adapter
