"""Writes for training: jobs and their transitions, metrics, adapters."""

from .adapters import adapter_create, adapter_merge, adapter_merge_enqueue
from .jobs import (
    job_cancel,
    job_check_alive,
    job_claim,
    job_clone,
    job_create,
    job_finish,
    job_heartbeat,
    job_launch,
    job_progress,
    job_reap_lost,
    job_record,
    job_retry,
)
from .metrics import metric_points_record, metric_points_record_steps

__all__ = [
    "adapter_create",
    "adapter_merge",
    "adapter_merge_enqueue",
    "job_cancel",
    "job_check_alive",
    "job_claim",
    "job_clone",
    "job_create",
    "job_finish",
    "job_heartbeat",
    "job_launch",
    "job_progress",
    "job_reap_lost",
    "job_record",
    "job_retry",
    "metric_points_record",
    "metric_points_record_steps",
]
