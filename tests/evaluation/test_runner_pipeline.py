"""How the runner feeds the judge: the plan is sent in chunks while the rest is still being
rendered, the cache and resumption work across chunks, and a cancel stops the planning."""

from __future__ import annotations

import time

from evaluation.models import EvalRun, Judgment, RunStatus
from evaluation.services import eval_run_cancel, eval_run_execute
from evaluation.services import runner as runner_module
from tests.evaluation.test_runner import longer_judge, make_run


def test_first_calls_go_out_while_the_rest_of_the_plan_is_rendered(
    project, eval_set, make_config, llm_server, monkeypatch
):
    llm_server.respond_with(longer_judge)
    real_iter_calls = runner_module.iter_calls
    seen_before_fifth = []

    def slow_plan(run):
        for n, call in enumerate(real_iter_calls(run)):
            if n == 4:  # the first chunk of 4 has been handed out; is it on the wire?
                deadline = time.monotonic() + 5
                while not llm_server.requests and time.monotonic() < deadline:
                    time.sleep(0.01)
                seen_before_fifth.append(len(llm_server.requests))
            yield call

    monkeypatch.setattr(runner_module, "PLAN_CHUNK", 4)
    monkeypatch.setattr(runner_module, "iter_calls", slow_plan)
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)

    assert seen_before_fifth and seen_before_fifth[0] >= 1
    assert run.status == RunStatus.SUCCEEDED
    assert run.calls_made == 12 == len(llm_server.requests)
    assert len(set(Judgment.objects.filter(run=run).values_list("item_id", "order"))) == 12


def test_cache_and_resume_work_across_small_chunks(
    project, eval_set, make_config, llm_server, monkeypatch
):
    llm_server.respond_with(longer_judge)
    monkeypatch.setattr(runner_module, "PLAN_CHUNK", 5)
    eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)
    llm_server.reset()

    # Trial 0 of every pair is in the cache, trial 1 is new; chunks of 5 mix both kinds.
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config(trials=2)).pk)
    assert run.cached_count == 12 and run.calls_made == 12 == len(llm_server.requests)
    rows = Judgment.objects.filter(run=run)
    assert len(set(rows.values_list("item_id", "order", "trial"))) == rows.count() == 24

    # As if the worker died: the last 7 rows were never written. A restart takes the cached
    # ones from the cache again and calls the judge only for the fresh ones.
    lost = list(rows.order_by("-id").values_list("id", flat=True)[:7])
    fresh_lost = rows.filter(pk__in=lost, cached=False).count()
    Judgment.objects.filter(pk__in=lost).delete()
    EvalRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    llm_server.reset()
    monkeypatch.setattr(runner_module, "PLAN_CHUNK", 3)
    resumed = eval_run_execute(run_id=run.pk)

    assert len(llm_server.requests) == fresh_lost
    assert resumed.status == RunStatus.SUCCEEDED
    assert resumed.calls_done == 24
    assert len(set(rows.values_list("item_id", "order", "trial"))) == rows.count() == 24
    assert rows.filter(cached=True).count() == 12


def test_cancel_stops_planning_further_chunks(
    project, eval_set, make_config, llm_server, monkeypatch
):
    llm_server.respond_with(longer_judge)
    run = make_run(project, eval_set, make_config(max_concurrency=1))
    real_iter_calls, real_status = runner_module.iter_calls, runner_module._status
    planned = []

    def counting_plan(run):
        for call in real_iter_calls(run):
            planned.append(call)
            yield call

    def cancel_at_first_check(run_id):
        if real_status(run_id) == RunStatus.RUNNING:
            eval_run_cancel(run=run)  # a person presses Cancel right after the first chunk
        return real_status(run_id)

    monkeypatch.setattr(runner_module, "PLAN_CHUNK", 2)
    monkeypatch.setattr(runner_module, "FLUSH_S", 0)
    monkeypatch.setattr(runner_module, "iter_calls", counting_plan)
    monkeypatch.setattr(runner_module, "_status", cancel_at_first_check)
    run = eval_run_execute(run_id=run.pk)

    assert run.status == RunStatus.CANCELLED
    assert len(planned) == 2  # nothing past the first chunk was rendered
    made = len(llm_server.requests)
    assert made <= 2
    assert Judgment.objects.filter(run=run).count() == made
