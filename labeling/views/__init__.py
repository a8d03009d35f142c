"""Labeler and reviewer pages. Thin: parse input, call one service or selector, render."""

from labeling.views.review import review_decide, review_list, review_task
from labeling.views.work import (
    markdown_preview,
    project_start,
    queue,
    task_detail,
    task_draft,
    task_heartbeat,
    task_leave,
    task_skip,
    task_submit,
)

__all__ = [
    "markdown_preview",
    "project_start",
    "queue",
    "review_decide",
    "review_list",
    "review_task",
    "task_detail",
    "task_draft",
    "task_heartbeat",
    "task_leave",
    "task_skip",
    "task_submit",
]
