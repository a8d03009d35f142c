"""Writes. Every view, endpoint, admin action, command and task calls these."""

from labeling.services.assignment import (
    AssignmentError,
    annotation_skip,
    annotation_submit,
    assignment_claim,
    assignment_heartbeat,
    lease_expire_due,
)
from labeling.services.drafts import DraftError, draft_clear, draft_save
from labeling.services.payloads import PayloadError
from labeling.services.projects import (
    ERROR_BAD_ROLE,
    ERROR_SLUG_TAKEN,
    ProjectError,
    membership_set,
    project_create,
)
from labeling.services.prompts import PromptError, completion_bulk_create, prompt_bulk_create
from labeling.services.review import ReviewError, review_create
from labeling.services.tasks import TaskError, task_bulk_create

__all__ = [
    "ERROR_BAD_ROLE",
    "ERROR_SLUG_TAKEN",
    "AssignmentError",
    "DraftError",
    "PayloadError",
    "ProjectError",
    "PromptError",
    "ReviewError",
    "TaskError",
    "annotation_skip",
    "annotation_submit",
    "assignment_claim",
    "assignment_heartbeat",
    "completion_bulk_create",
    "draft_clear",
    "draft_save",
    "lease_expire_due",
    "membership_set",
    "project_create",
    "prompt_bulk_create",
    "review_create",
    "task_bulk_create",
]
