"""A run whose worker stopped (a deploy, a crash) does not poll forever: once its heartbeat is
older than the timeout it is failed as "worker lost", and a resume continues it without
calling the judge again for what was recorded. A live run with slow judge calls keeps its
heartbeat fresh."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from evaluation.models import EvalRun, Judgment, RunStatus
from evaluation.services import eval_run_execute, eval_run_reap_lost, eval_run_resume
from evaluation.services import runner as runner_module
from evaluation.services.runs import ERROR_WORKER_LOST
from evaluation.tasks import eval_run_task
from flywheel.testing.openai_server import Reply
from tests.conftest import PASSWORD
from tests.evaluation.test_runner import make_run


def _stall(run: EvalRun, *, seconds: int) -> None:
    """The run was running on a worker that went away `seconds` ago."""
    at = timezone.now() - timedelta(seconds=seconds)
    EvalRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=at, heartbeat_at=at
    )


def test_only_runs_past_the_timeout_are_failed_and_they_say_how_to_go_on(
    project, eval_set, make_config, settings
):
    settings.FLYWHEEL_WORKER_HEARTBEAT_TIMEOUT = 120
    lost, alive, queued = (make_run(project, eval_set, make_config()) for _ in range(3))
    _stall(lost, seconds=300)
    _stall(alive, seconds=30)
    assert eval_run_reap_lost() == [lost.pk]
    for run in (lost, alive, queued):
        run.refresh_from_db()
    assert lost.status == RunStatus.FAILED and lost.finished_at is not None
    assert lost.error == ERROR_WORKER_LOST.format(seconds=120)
    assert "Resume" in lost.error
    assert alive.status == RunStatus.RUNNING
    assert queued.status == RunStatus.QUEUED  # waiting for a worker is not lost
    assert eval_run_reap_lost() == []


def test_the_run_page_and_the_api_show_a_lost_run_as_failed_and_resumable(
    client, owner, project, eval_set, make_config
):
    page_run, api_run = (make_run(project, eval_set, make_config()) for _ in range(2))
    for run in (page_run, api_run):
        _stall(run, seconds=3600)
    assert client.login(username=owner.username, password=PASSWORD)
    url = reverse("evaluation:run", args=[page_run.pk])
    poll = client.get(url, headers={"HX-Request": "true"})
    assert poll.status_code == 286  # no longer active: the polling stops
    html = client.get(url).content.decode()
    assert "Worker lost" in html and "hx-trigger" not in html
    assert reverse("evaluation:run_resume", args=[page_run.pk]) in html

    api = APIClient()
    api.force_authenticate(owner)
    body = api.get(f"/api/evaluation/runs/{api_run.pk}/").json()
    assert body["status"] == RunStatus.FAILED and body["error"].startswith("Worker lost")


def test_a_resumed_lost_run_calls_only_what_was_not_recorded(
    project, eval_set, make_config, llm_server
):
    llm_server.respond_with(lambda r: Reply(text="[[A]]"))
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)
    total = Judgment.objects.filter(run=run).count()
    # The worker died with a third of the judgments still to record.
    doomed = list(Judgment.objects.filter(run=run).values_list("pk", flat=True)[: total // 3])
    Judgment.objects.filter(pk__in=doomed).delete()
    _stall(run, seconds=3600)
    llm_server.reset()
    assert eval_run_reap_lost() == [run.pk]

    eval_run_resume(run=run)
    run = eval_run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED
    assert len(llm_server.requests) == total // 3
    assert Judgment.objects.filter(run=run).count() == total


def test_the_next_run_task_fails_runs_a_dead_worker_left_running(
    project, eval_set, make_config, llm_server
):
    llm_server.respond_with(lambda r: Reply(text="[[A]]"))
    left_behind = make_run(project, eval_set, make_config())
    _stall(left_behind, seconds=3600)
    result = eval_run_task.call(run_id=make_run(project, eval_set, make_config()).pk)
    assert result["status"] == RunStatus.SUCCEEDED
    left_behind.refresh_from_db()
    assert left_behind.status == RunStatus.FAILED


@pytest.mark.django_db(transaction=True)
def test_slow_judge_calls_keep_the_heartbeat_fresh(
    project, eval_set, make_config, llm_server, monkeypatch
):
    # Every call is slower than the heartbeat interval: no judgment is recorded for a while,
    # yet the run must not look lost.
    monkeypatch.setattr(runner_module, "HEARTBEAT_S", 0.2)
    monkeypatch.setattr(runner_module, "FLUSH_S", 0.05)
    llm_server.respond_with(lambda r: Reply(text="[[A]]", delay=0.8))
    run = make_run(project, eval_set, make_config(max_concurrency=12))
    beats = []
    real_beat = runner_module._beat

    def beat(run_id):
        beats.append(timezone.now())
        real_beat(run_id)

    monkeypatch.setattr(runner_module, "_beat", beat)
    started = timezone.now()
    eval_run_execute(run_id=run.pk)
    run.refresh_from_db()
    # Heartbeats were written during the 0.8 s in which every call was still in flight.
    early = [b for b in beats if (b - started).total_seconds() < 0.75]
    assert len(early) >= 2
    assert run.heartbeat_at >= beats[-1]
    assert run.status == RunStatus.SUCCEEDED
