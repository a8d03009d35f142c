"""Reads that span relations. Access rules live in `access` so every view and endpoint
shares them; quality statistics in `quality`."""

from labeling.selectors.access import (
    ERROR_NOT_FOUND,
    ERROR_ROLE,
    project_get_for_user,
    project_list_for_user,
    role_for_user,
    roles_for_user,
)
from labeling.selectors.work import (
    annotation_list_for_user,
    draft_get,
    task_get_for_user,
    task_list,
    user_may_review,
)

__all__ = [
    "ERROR_NOT_FOUND",
    "ERROR_ROLE",
    "annotation_list_for_user",
    "draft_get",
    "project_get_for_user",
    "project_list_for_user",
    "role_for_user",
    "roles_for_user",
    "task_get_for_user",
    "task_list",
    "user_may_review",
]
