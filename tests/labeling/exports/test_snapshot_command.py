"""manage.py build_snapshot: `--project` names the snapshot's project, or the recipe does with
`"projects"` (ids or slugs); a recipe that names none, without --project, is refused."""

import json

import pytest
from django.core.management import CommandError, call_command

from labeling.management.commands.build_snapshot import ERROR_NO_PROJECT, ERROR_UNKNOWN_PROJECT
from labeling.models import DatasetSnapshot, SnapshotStatus
from labeling.services import project_create

from .conftest import answer, tasks_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered(project, coders):
    tasks = tasks_for(project, kind="demonstration", task_types=["qa", "qa", "code"], answers=0)
    for i, task in enumerate(tasks):
        answer(project, coders[0], task, {"text": f"answer {i}"})
    return tasks


def write(tmp_path, recipe):
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    return str(path)


def test_the_recipes_projects_name_the_snapshots_project(project, answered, tmp_path, capsys):
    path = write(tmp_path, {"kind": "sft", "projects": [project.pk], "validation_fraction": 0})
    call_command("build_snapshot", "--recipe", path)
    snap = DatasetSnapshot.objects.get()
    assert snap.project == project and snap.status == SnapshotStatus.READY
    assert snap.name == "recipe"  # the file's name when the recipe has none
    assert snap.recipe["projects"] == [project.pk]
    assert snap.row_counts == {"train": 3}
    assert snap.content_hash in capsys.readouterr().out


def test_a_slug_in_the_recipe_becomes_the_projects_id(project, owner, answered, tmp_path):
    other = project_create(name="Other", created_by=owner)
    recipe = {"kind": "sft", "name": "two", "projects": [project.slug, other.pk]}
    call_command("build_snapshot", "--recipe", write(tmp_path, recipe))
    snap = DatasetSnapshot.objects.get()
    assert snap.project == project
    assert snap.recipe["projects"] == [project.pk, other.pk]


def test_project_option_still_works_and_comes_first(project, owner, answered, tmp_path):
    other = project_create(name="Other", created_by=owner)
    path = write(tmp_path, {"kind": "sft", "name": "given", "projects": [other.pk]})
    call_command("build_snapshot", "--recipe", path, "--project", project.slug)
    snap = DatasetSnapshot.objects.get()
    assert snap.project == project and snap.status == SnapshotStatus.READY
    assert snap.recipe["projects"] == [project.pk, other.pk]
    call_command(
        "build_snapshot", "--recipe", write(tmp_path, {"kind": "sft"}), "--project", str(project.pk)
    )
    assert DatasetSnapshot.objects.count() == 2


def test_no_projects_and_no_project_option_is_refused(project, answered, tmp_path):
    with pytest.raises(CommandError) as error:
        call_command("build_snapshot", "--recipe", write(tmp_path, {"kind": "sft"}))
    assert str(error.value) == ERROR_NO_PROJECT
    assert not DatasetSnapshot.objects.exists()


def test_an_unknown_project_in_the_recipe_is_named(project, answered, tmp_path):
    with pytest.raises(CommandError) as error:
        call_command("build_snapshot", "--recipe", write(tmp_path, {"projects": ["nope"]}))
    assert str(error.value) == ERROR_UNKNOWN_PROJECT.format(project="nope")
    with pytest.raises(CommandError) as error:
        call_command(
            "build_snapshot", "--recipe", write(tmp_path, {"kind": "sft", "projects": [99999]})
        )
    assert str(error.value) == ERROR_UNKNOWN_PROJECT.format(project=99999)


def test_a_bad_recipe_without_project_gets_the_recipes_own_message(project, tmp_path):
    with pytest.raises(CommandError, match="A recipe must be a JSON object"):
        call_command("build_snapshot", "--recipe", write(tmp_path, ["sft"]))
    with pytest.raises(CommandError, match="`kind` must be one of"):
        call_command("build_snapshot", "--recipe", write(tmp_path, {"kind": "rl"}))
