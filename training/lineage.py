"""Adapter lineage: where a job's model came from, base -> SFT -> reward -> PPO/DPO, with the
snapshot each step learned from. Read-only (a selector module)."""

from __future__ import annotations

from dataclasses import dataclass

from .models import Adapter, TrainingJob

MAX_DEPTH = 10


@dataclass(frozen=True)
class LineageStep:
    role: str  # "base", "policy", "reward" or "this job"
    kind: str
    job: TrainingJob | None
    adapter: Adapter | None
    base_model: str
    snapshot_name: str
    snapshot_hash: str


def _step(role: str, job: TrainingJob, adapter: Adapter | None) -> LineageStep:
    return LineageStep(
        role=role,
        kind=job.get_kind_display(),
        job=job,
        adapter=adapter,
        base_model=job.base_model,
        snapshot_name=job.snapshot.name,
        snapshot_hash=job.snapshot.content_hash[:12],
    )


def job_lineage(*, job: TrainingJob) -> list[LineageStep]:
    """The chain that led to `job`, oldest first, ending with the job itself: the base model,
    the adapters it was trained from (a PPO job's SFT policy and reward model; a job whose
    base is another adapter's merged folder), each with its job and snapshot."""
    steps: list[LineageStep] = [_step("this job", job, None)]
    current = job
    for _ in range(MAX_DEPTH):
        rl = current.config.get("rl", {}) if isinstance(current.config, dict) else {}
        parents = [(role, rl.get(key)) for role, key in (("policy", "policy_adapter"),
                                                         ("reward", "reward_adapter"))]  # fmt: skip
        ids = [pk for _, pk in parents if pk]
        adapters = {
            a.pk: a
            for a in Adapter.objects.filter(pk__in=ids).select_related("job", "job__snapshot")
        }
        if not adapters:
            merged = (
                Adapter.objects.filter(merged_path=current.base_model)
                .exclude(merged_path="")
                .select_related("job", "job__snapshot")
                .first()
            )
            if merged is None:
                break
            adapters = {merged.pk: merged}
            parents = [("policy", merged.pk)]
        for role, pk in reversed(parents):
            if pk in adapters:
                steps.insert(0, _step(role, adapters[pk].job, adapters[pk]))
        policy = next(
            (adapters[pk] for role, pk in parents if pk in adapters and role == "policy"), None
        )
        if policy is None:
            break
        current = policy.job
    steps.insert(
        0,
        LineageStep(
            role="base",
            kind="Base model",
            job=None,
            adapter=None,
            base_model=steps[0].base_model,
            snapshot_name="",
            snapshot_hash="",
        ),
    )
    return steps
