"""The training job page in a browser: charts drawn from a real tiny run, the log-scale
toggle, htmx polling that stops when the job ends, and screenshots at desktop and phone size."""

import io

import pytest

from tests.conftest import login
from training.demo import load_demo
from training.models import JobStatus, TrainingJob
from training.services import job_claim, job_launch, metric_points_record

pytestmark = [pytest.mark.e2e, pytest.mark.training, pytest.mark.slow]


def test_job_page_shows_charts_diagnostics_and_stops_polling(page, screenshot_dir, owner, project):
    errors = []
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.location.get("url", "").endswith("favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    done = load_demo(project=project, users={"researcher": owner}, stdout=io.StringIO())
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert load_demo(project=project, users={"researcher": owner}, stdout=io.StringIO()) == done

    login(page, "owner")
    page.goto(f"/training/jobs/{done.pk}/")
    assert page.locator("#job-status").inner_text() == "Succeeded"
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-channels')")
    labels = page.evaluate("() => Chart.getChart('chart-channels').data.datasets.map(d => d.label)")
    assert labels[:2] == ["loss (all)", "validation loss (all)"]
    assert {"creative", "math", "qa"} <= set(labels)
    assert page.evaluate("() => Chart.getChart('chart-channels').options.scales.y.type") == "linear"
    page.check("#log-scale")
    assert (
        page.evaluate("() => Chart.getChart('chart-channels').options.scales.y.type")
        == "logarithmic"
    )
    assert page.locator(".diagnostics li").count() >= 2
    assert page.locator("#job-live").get_attribute("hx-trigger") is None
    page.screenshot(path=str(screenshot_dir / "training-job-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshot_dir / "training-job-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    # Lines take the theme's chart colours, and switching to dark redraws them.
    first_color = "() => Chart.getChart('chart-channels').data.datasets[0].borderColor"
    assert page.evaluate(first_color) == "#2956c4"
    page.emulate_media(color_scheme="dark")
    page.wait_for_function(f"() => ({first_color})() === '#8fb0ff'")
    grid = "() => Chart.getChart('chart-channels').options.scales.x.grid.color"
    assert page.evaluate(grid) == "#474d58"
    page.screenshot(path=str(screenshot_dir / "training-job-dark-1280.png"), full_page=True)
    page.emulate_media(color_scheme="light")

    # A running job polls; when it ends the server answers 286 and the polling stops.
    running = TrainingJob.objects.get(pk=done.pk)
    running.pk = None
    running.name = "Running job"
    running.status = JobStatus.DRAFT
    running.save()
    job_launch(job=running)
    job_claim(job_id=running.pk, host="gpu-7")
    TrainingJob.objects.filter(pk=running.pk).update(step=1, total_steps=10)
    page.goto(f"/training/jobs/{running.pk}/")
    assert page.locator("#job-live").get_attribute("hx-trigger") == "every 2s"
    metric_points_record(job_id=running.pk, step=1, values={"loss": 3.0, "loss/qa": 2.5})
    TrainingJob.objects.filter(pk=running.pk).update(step=4)
    page.wait_for_function("() => document.getElementById('job-step').textContent === '4'")
    page.wait_for_function(
        "() => Chart.getChart('chart-channels')"
        " && Chart.getChart('chart-channels').data.datasets.length === 2"
    )
    assert page.evaluate("() => Chart.getChart('chart-channels').canvas.isConnected")
    page.screenshot(path=str(screenshot_dir / "training-job-running-1280.png"), full_page=True)
    TrainingJob.objects.filter(pk=running.pk).update(
        status=JobStatus.FAILED, error="CUDA out of memory."
    )
    page.wait_for_function("() => document.getElementById('job-status').textContent === 'Failed'")
    assert page.locator("#job-live").get_attribute("hx-trigger") is None
    assert "CUDA out of memory." in page.locator("[role=alert]").inner_text()
    page.screenshot(path=str(screenshot_dir / "training-job-failed-1280.png"), full_page=True)

    assert errors == []
    page.goto("/training/")
    # The demo's jobs (the SFT run and the prompt-tuning ensemble) and the running copy.
    assert page.locator("table.data tbody tr").count() == TrainingJob.objects.count() == 3
    assert "Running job" in page.locator("table.data").inner_text()
    page.screenshot(path=str(screenshot_dir / "training-list-1280.png"), full_page=True)


def test_empty_job_list_says_what_to_do(page, owner, project):
    login(page, "owner")
    page.goto("/training/")
    assert "No training jobs yet." in page.locator(".empty").inner_text()
