"""manage.py build_snapshot --project SLUG|ID --recipe FILE [--name NAME]: build a dataset
snapshot here and now (the same services the API and the admin call)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from flywheel.errors import DomainError
from labeling.exports import snapshot_build, snapshot_create
from labeling.exports.recipe import ERROR_JSON
from labeling.models import Project, SnapshotStatus


class Command(BaseCommand):
    help = "Build a dataset snapshot from a recipe file (JSON) and print where it was written."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--recipe", required=True, help="Path to the recipe (JSON).")
        parser.add_argument("--project", required=True, help="Project slug or id.")
        parser.add_argument(
            "--name", help="Snapshot name (default: the recipe's `name`, else the file name)."
        )

    def handle(self, *args, recipe: str, project: str, name: str | None, **options) -> None:
        path = Path(recipe)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
        except json.JSONDecodeError as error:
            raise CommandError(ERROR_JSON.format(error=error)) from None
        found = Project.objects.filter(slug=project).first()
        if found is None and project.isdigit():
            found = Project.objects.filter(pk=int(project)).first()
        if found is None:
            raise CommandError(f"No project with slug or id {project!r}.")
        name = name or (data.get("name") if isinstance(data, dict) else None) or path.stem
        try:
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
