"""manage.py build_snapshot --recipe FILE [--project SLUG|ID] [--name NAME]: build a dataset
snapshot here and now (the same services the API and the admin call).

The snapshot belongs to `--project` when given, else to the first project the recipe names in
`"projects"` (ids, or slugs that the command turns into ids)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from flywheel.errors import DomainError
from labeling.exports import snapshot_build, snapshot_create
from labeling.exports.recipe import ERROR_JSON, recipe_parse
from labeling.models import Project, SnapshotStatus

ERROR_NO_PROJECT = (
    'The recipe names no projects: add "projects": [id or slug, ...] to it, '
    "or pass --project SLUG|ID."
)
ERROR_UNKNOWN_PROJECT = "No project with slug or id {project!r}."


def _project(key: Any) -> Project:
    """A project by id (a number or digits) or slug."""
    text = str(key)
    found = None
    if not isinstance(key, int) or isinstance(key, bool):
        found = Project.objects.filter(slug=text).first()
    if found is None and text.isdigit():
        found = Project.objects.filter(pk=int(text)).first()
    if found is None:
        raise CommandError(ERROR_UNKNOWN_PROJECT.format(project=key))
    return found


class Command(BaseCommand):
    help = "Build a dataset snapshot from a recipe file (JSON) and print where it was written."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--recipe", required=True, help="Path to the recipe (JSON).")
        parser.add_argument(
            "--project",
            help="Project slug or id that owns the snapshot (default: the first of the "
            "recipe's `projects`).",
        )
        parser.add_argument(
            "--name", help="Snapshot name (default: the recipe's `name`, else the file name)."
        )

    def handle(self, *args, recipe: str, project: str | None, name: str | None, **options) -> None:
        path = Path(recipe)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
        except json.JSONDecodeError as error:
            raise CommandError(ERROR_JSON.format(error=error)) from None
        named = data.get("projects") if isinstance(data, dict) else None
        if isinstance(named, list) and any(isinstance(p, str) for p in named):
            # Slugs are a convenience of the file; the recipe stores ids.
            ids = [_project(p).pk if isinstance(p, str) else p for p in named]
            data = {**data, "projects": ids}
        try:
            if project:
                found = _project(project)
            else:
                projects = recipe_parse(data).projects
                if not projects:
                    raise CommandError(ERROR_NO_PROJECT)
                found = _project(projects[0])
            name = name or (data.get("name") if isinstance(data, dict) else None) or path.stem
            snapshot = snapshot_create(project=found, name=name, recipe=data, enqueue=False)
        except DomainError as error:
            raise CommandError(str(error)) from None
        snapshot = snapshot_build(snapshot=snapshot)
        if snapshot.status != SnapshotStatus.READY:
            raise CommandError(f"Snapshot {snapshot.pk} failed: {snapshot.error}")
        counts = ", ".join(f"{k} {v}" for k, v in snapshot.row_counts.items())
        self.stdout.write(
            f"Snapshot {snapshot.pk} ({snapshot.kind}) ready: {counts} rows; "
            f"hash {snapshot.content_hash}\n{snapshot.path}"
        )
