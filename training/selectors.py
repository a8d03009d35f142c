"""Reads for training pages: access goes through labeling's project rules (researchers only)."""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from labeling.models import Role
from labeling.selectors import project_get_for_user, project_list_for_user

from . import charts
from .models import Adapter, JobKind, MetricPoint, TrainingJob

User = AbstractBaseUser | AnonymousUser

ERROR_JOB_NOT_FOUND = "No such training job, or you are not a member of its project."
ERROR_ADAPTER_NOT_FOUND = "No such adapter, or you are not a member of its project."

# Kept importable from here: other page sections draw lines in the same style.
CHANNEL_COLORS = charts.CHANNEL_COLORS


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
    return charts.dataset(label, points, color, dashed=dashed)


def job_charts(
    *,
    series: dict[str, list[tuple[int, float]]],
    kind: str = JobKind.SFT,
    data_report: dict | None = None,
) -> list[dict]:
    """Chart.js specs for the job page, the ones that matter for this kind of job (SFT loss
    channels, reward-model accuracy and margins, DPO implicit rewards, PPO/GRPO/RLOO reward,
    KL, entropy...); charts with nothing logged are left out. See training/charts.py."""
    return charts.charts_for_kind(kind=kind, series=series, data_report=data_report)


def job_samples(*, job: TrainingJob) -> list[dict]:
    """Sample generations an RL run stored (PPO keeps the latest few), newest first."""
    samples = (job.data_report or {}).get("samples") or []
    return sorted(samples, key=lambda s: s.get("step", 0), reverse=True)


def ensemble_members(
    *, job: TrainingJob, series: dict[str, list[tuple[int, float]]]
) -> dict | None:
    """The member comparison of a prompt-ensemble job (None for any other job): per member
    its seed, init, state, final training loss and best/final validation loss (read from the
    `member/<i>/...` metrics, so it fills in while the run goes), the ensemble's own
    validation losses once the last member is done, and one chart of the members' curves."""
    from .ensemble import member_metric, member_plan, member_summary

    peft = (job.config or {}).get("peft") or {}
    if peft.get("ensemble_size", 1) <= 1:
        return None
    plan = member_plan(peft, seed=(job.config.get("training") or {}).get("seed", 0))
    per_member = job.total_steps // len(plan) if job.total_steps else 0
    rows = []
    for member in plan:
        summary = member_summary(series, member["index"])
        if job.status == "succeeded" or (
            per_member and job.step >= per_member * (member["index"] + 1)
        ):
            state = "done"
        elif job.is_active and (not per_member or job.step // per_member == member["index"]):
            state = "training"
        else:
            state = "stopped" if summary["steps"] else "waiting"
        rows.append({**member, **summary, "state": state})
    evaluation = ((job.data_report or {}).get("ensemble") or {}).get("eval") or None
    datasets = []
    for member in plan:
        color = charts.CHANNEL_COLORS[member["index"] % len(charts.CHANNEL_COLORS)]
        name = member["name"]
        for metric, label, dashed in (
            ("loss", name, False),
            ("eval/loss", f"{name} (validation)", True),
        ):
            points = series.get(member_metric(member["index"], metric))
            if points:
                datasets.append(charts.dataset(label, points, color, dashed=dashed))
    last = max((r["steps"] for r in rows), default=0)
    if evaluation and evaluation.get("decoding_loss") is not None and last:
        flat = [(1, evaluation["decoding_loss"]), (last, evaluation["decoding_loss"])]
        datasets.append(charts.dataset("ensemble (validation)", flat, charts.GREY, dashed=True))
    chart = {
        "id": "chart-members",
        "title": "Loss per ensemble member",
        "x": "step of each member",
        "y": charts.NATS,
        "log": True,
        "type": "line",
        "datasets": datasets,
    }
    return {"size": len(plan), "rows": rows, "eval": evaluation, "chart": chart}


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
