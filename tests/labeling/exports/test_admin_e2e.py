"""A researcher adds a snapshot in the admin and reads the list with its progress column.
Screenshots at 1280x800 and 390x844."""

import pytest

from labeling.exports import snapshot_build
from labeling.models import DatasetSnapshot, SnapshotStatus
from tests.conftest import login
from tests.labeling.exports.conftest import answer, tasks_for

pytestmark = pytest.mark.e2e


def shoot(page, screenshot_dir, name):
    page.screenshot(path=str(screenshot_dir / f"{name}-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshot_dir / f"{name}-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_admin_add_then_list(page, screenshot_dir, project, coders, make_user):
    tasks = tasks_for(project, kind="ranking", task_types=["qa", "code"], answers=3)
    for task in tasks:
        answer(
            project,
            coders[0],
            task,
            {"ranking": list(task.completions.values_list("id", flat=True))},
        )
    make_user("root", superuser=True)
    login(page, "root")
    page.wait_for_url("**/dashboard/")
    page.goto("/admin/labeling/datasetsnapshot/add/")
    page.select_option("#id_project", str(project.pk))
    page.fill("#id_name", "Rankings v1")
    page.fill("#id_recipe", '{"kind": "preference", "aggregation": "majority"}')
    shoot(page, screenshot_dir, "snapshot-admin-add")
    page.click("input[name=_save]")
    page.wait_for_url("**/datasetsnapshot/")
    snap = DatasetSnapshot.objects.get()
    assert snap.status == SnapshotStatus.BUILDING and snap.recipe["aggregation"] == "majority"
    snapshot_build(snapshot=snap)  # what the worker does
    page.reload()
    assert "train 6" in page.locator("#result_list").inner_text()
    shoot(page, screenshot_dir, "snapshot-admin-list")
