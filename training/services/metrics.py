from __future__ import annotations

import math

from ..models import MetricPoint


def metric_points_record(*, job_id: int, step: int, values: dict[str, float]) -> int:
    """Store one step's metrics; a step logged again (after a resume) replaces its values.
    Non-finite values are skipped: a NaN loss is reported by the run's error, not charted."""
    rows = [
        MetricPoint(job_id=job_id, step=step, name=name, value=float(value))
        for name, value in values.items()
        if value is not None and math.isfinite(float(value))
    ]
    MetricPoint.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["job", "name", "step"],
        update_fields=["value"],
    )
    return len(rows)
