from __future__ import annotations

import math

from ..models import MetricPoint


def metric_points_record(*, job_id: int, step: int, values: dict[str, float]) -> int:
    """Store one step's metrics; see metric_points_record_steps."""
    return metric_points_record_steps(job_id=job_id, steps=[(step, values)])


def metric_points_record_steps(*, job_id: int, steps: list[tuple[int, dict[str, float]]]) -> int:
    """Store several steps' metrics in one statement; a step logged again (after a resume)
    replaces its values. Non-finite values are skipped: a NaN loss shows in the run's error,
    not as a gap-making point on the chart."""
    latest: dict[tuple[str, int], float] = {}
    for step, values in steps:
        for name, value in values.items():
            if value is not None and math.isfinite(float(value)):
                latest[(name, step)] = float(value)
    rows = [
        MetricPoint(job_id=job_id, step=step, name=name, value=value)
        for (name, step), value in latest.items()
    ]
    MetricPoint.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["job", "name", "step"],
        update_fields=["value"],
    )
    return len(rows)
