"""Judge runs against the local OpenAI-compatible server scripted as judges with known
behaviour: position bias, length bias, noise, unparseable replies, 429s and timeouts,
resumption, cancellation and the cache."""

from __future__ import annotations

import itertools
import re
import threading

import pytest

from evaluation.models import EvalRun, Judgment, JudgmentStatus, RunStatus
from evaluation.results import WARN_FLIP, WARN_INCONSISTENT, WARN_LONGER
from evaluation.services import eval_run_cancel, eval_run_create, eval_run_execute
from evaluation.services import runner as runner_module
from evaluation.services.runner import ERROR_FAILED_CALLS
from flywheel.testing.openai_server import Reply
from tests.evaluation.conftest import shown


def first_judge(request):
    return "Assistant A is better. [[A]]"


def longer_judge(request):
    answers = shown(request)
    return "[[A]]" if len(answers["A"]) >= len(answers["B"]) else "[[B]]"


def make_run(project, eval_set, config, **overrides):
    values = {
        "project": project,
        "eval_set": eval_set,
        "judge_config": config,
        "name": "alpha vs beta",
        "mode": "baseline",
        "models": ["alpha"],
        "baseline": "beta",
        "start": False,
    }
    values.update(overrides)
    return eval_run_create(**values)


def test_first_position_judge_gives_every_pair_an_inconsistent_tie(
    project, eval_set, make_config, llm_server
):
    llm_server.respond_with(first_judge)
    run = make_run(project, eval_set, make_config())
    run = eval_run_execute(run_id=run.pk)

    assert run.status == RunStatus.SUCCEEDED
    assert run.calls_total == 12 and run.calls_done == 12 and run.calls_made == 12
    assert len(llm_server.requests) == 12
    # Both raw verdicts are kept: every item has an AB and a BA row saying "A".
    rows = Judgment.objects.filter(run=run)
    assert sorted(rows.values_list("order", flat=True)) == ["AB"] * 6 + ["BA"] * 6
    assert set(rows.values_list("verdict", flat=True)) == {"A"}
    overall = run.results["overall"]
    (pair,) = overall["pairs"]
    assert (pair["wins"], pair["losses"], pair["ties"], pair["inconsistent"]) == (0, 0, 0, 6)
    assert pair["win_rate"] == 0.5
    assert overall["bias"]["flip_rate"] == 1.0
    assert overall["bias"]["p_first_wins"] == 1.0
    assert WARN_FLIP.format(rate=1.0) in run.results["warnings"]
    assert set(run.results["categories"]) == {"math", "writing"}


def test_longer_answer_judge_shows_length_bias_and_length_control_moves_toward_half(
    project, eval_set, make_config, llm_server
):
    llm_server.respond_with(longer_judge)
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)

    overall = run.results["overall"]
    (pair,) = overall["pairs"]
    # alpha is the longer answer on 4 of 6 questions and wins exactly those, consistently.
    assert (pair["wins"], pair["losses"], pair["inconsistent"]) == (4, 2, 0)
    assert pair["win_rate"] == pytest.approx(4 / 6)
    assert pair["win_rate_low"] <= pair["win_rate"] <= pair["win_rate_high"]
    assert overall["bias"]["flip_rate"] == 0.0
    assert overall["bias"]["p_longer_wins"] == 1.0
    assert abs(pair["lc_win_rate"] - 0.5) < abs(pair["win_rate"] - 0.5)
    assert WARN_LONGER.format(rate=1.0, margin=30) in overall["warnings"]
    # Per category: alpha is longer on all writing questions.
    writing = run.results["categories"]["writing"]["pairs"][0]
    assert (writing["wins"], writing["losses"]) == (3, 0)


def test_noisy_scorer_has_trial_consistency_below_one(project, eval_set, make_config, llm_server):
    counter = itertools.count()
    lock = threading.Lock()

    def noisy(request):
        with lock:
            n = next(counter)
        return f"Rating: [[{5 + n % 3}]]"

    llm_server.respond_with(noisy)
    config = make_config(family="single", trials=3)
    run = make_run(project, eval_set, config, mode="single", models=["alpha", "beta"], baseline="")
    run = eval_run_execute(run_id=run.pk)

    assert run.calls_total == 6 * 2 * 3 == Judgment.objects.filter(run=run).count()
    assert sorted(set(Judgment.objects.filter(run=run).values_list("trial", flat=True))) == [
        0,
        1,
        2,
    ]
    consistency = run.results["overall"]["consistency"]
    assert consistency["items"] == 12
    assert consistency["identical_share"] < 1
    assert consistency["mean_std"] > 0
    assert any(w.startswith(WARN_INCONSISTENT.split("{")[0]) for w in run.results["warnings"])
    scores = {s["model"]: s for s in run.results["overall"]["scores"]}
    assert 5 <= scores["alpha"]["mean"] <= 7
    assert scores["alpha"]["low"] <= scores["alpha"]["mean"] <= scores["alpha"]["high"]


def test_steady_scorer_is_fully_consistent(project, eval_set, make_config, llm_server):
    llm_server.respond_with(lambda r: "[[8]]")
    config = make_config(family="single", trials=2)
    run = make_run(project, eval_set, config, mode="single", models=["alpha"], baseline="")
    run = eval_run_execute(run_id=run.pk)
    assert run.results["overall"]["consistency"] == {
        "items": 6,
        "identical_share": 1.0,
        "mean_std": 0.0,
    }
    assert run.results["overall"]["scores"][0]["mean"] == 8.0


def test_unparseable_replies_are_recorded_and_counted(project, eval_set, make_config, llm_server):
    def sometimes(request):
        if "Describe rain" in request["messages"][-1]["content"]:
            return "Both have merits; I cannot choose."
        return "[[A]]"

    llm_server.respond_with(sometimes)
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)

    failed = Judgment.objects.filter(run=run, status=JudgmentStatus.PARSE_ERROR)
    assert failed.count() == 2 == run.parse_failures == run.results["parse_failures"]
    assert set(failed.values_list("raw_output", flat=True)) == {
        "Both have merits; I cannot choose."
    }
    assert run.status == RunStatus.SUCCEEDED
    assert run.results["overall"]["pairs"][0]["n"] == 5  # the unparsed item is left out


def test_429s_and_timeouts_mid_run_end_with_every_call_recorded_once(
    project, eval_set, make_config, llm_server
):
    counter = itertools.count()
    lock = threading.Lock()

    def flaky(request):
        with lock:
            n = next(counter)
        if n in (3, 4, 5):
            return Reply(status=429, headers={"retry-after": "0"})
        if n in (6, 7):
            return Reply(text="[[A]]", delay=1.5)  # longer than the 0.5 s timeout
        return longer_judge(request)

    llm_server.respond_with(flaky)
    config = make_config(timeout_s=0.5, max_concurrency=2)
    run = eval_run_execute(run_id=make_run(project, eval_set, config).pk)

    assert run.status == RunStatus.SUCCEEDED
    assert run.calls_made == run.calls_total == 12
    rows = Judgment.objects.filter(run=run)
    assert rows.count() == 12
    assert len(set(rows.values_list("item_id", "order", "trial"))) == 12
    assert set(rows.values_list("status", flat=True)) == {JudgmentStatus.OK}
    assert len(llm_server.requests) == 12 + 5  # each failure retried once, nothing more
    assert run.results["overall"]["pairs"][0]["wins"] == 4


def test_rerun_is_served_from_the_cache_with_zero_calls_and_the_same_numbers(
    project, eval_set, make_config, llm_server
):
    llm_server.respond_with(longer_judge)
    config = make_config()
    first = eval_run_execute(run_id=make_run(project, eval_set, config).pk)
    calls_before = len(llm_server.requests)

    second = eval_run_execute(run_id=make_run(project, eval_set, config, name="again").pk)

    assert len(llm_server.requests) == calls_before == 12
    assert second.calls_made == 0 and second.cached_count == 12 and second.cost == 0
    assert second.results["overall"] == first.results["overall"]
    assert Judgment.objects.filter(run=second, cached=True).count() == 12


def test_cache_is_keyed_by_template_version_and_trial(project, eval_set, make_config, llm_server):
    llm_server.respond_with(longer_judge)
    eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)
    llm_server.reset()
    # Two trials: trial 0 is cached, trial 1 is new.
    more = eval_run_execute(run_id=make_run(project, eval_set, make_config(trials=2)).pk)
    assert more.cached_count == 12 and more.calls_made == 12 == len(llm_server.requests)
    versions = set(Judgment.objects.filter(run=more).values_list("template_version", flat=True))
    assert len(versions) == 2  # pairwise and pairwise-reference (math questions)


def test_failed_calls_fail_the_run_and_a_resume_calls_only_those(
    project, eval_set, make_config, llm_server
):
    def refuse_colours(request):
        if "Name a colour" in request["messages"][-1]["content"]:
            return Reply(status=400, error_message="context too long")
        return "[[A]]"

    llm_server.respond_with(refuse_colours)
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)
    assert run.status == RunStatus.FAILED
    assert run.call_errors == 2
    assert run.error.startswith(ERROR_FAILED_CALLS.split("{")[0] + "2 judge call")
    assert "context too long" in run.error

    llm_server.reset()
    llm_server.respond_with(lambda r: "[[B]]")
    EvalRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED)
    run = eval_run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED
    assert len(llm_server.requests) == 2
    assert run.calls_done == 12 and run.call_errors == 0
    assert Judgment.objects.filter(run=run).count() == 12


def test_a_restart_after_a_crash_continues_where_it_stopped(
    project, eval_set, make_config, llm_server
):
    llm_server.respond_with(first_judge)
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)
    # As if the worker died after 8 of 12 calls: the last 4 rows never got written.
    lost = list(Judgment.objects.filter(run=run).order_by("-id").values_list("id", flat=True)[:4])
    Judgment.objects.filter(pk__in=lost).delete()
    EvalRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    llm_server.reset()

    run = eval_run_execute(run_id=run.pk)

    assert len(llm_server.requests) == 4
    assert run.status == RunStatus.SUCCEEDED
    assert run.calls_done == 12 == Judgment.objects.filter(run=run).count()


def test_cancel_stops_a_running_run_and_keeps_what_was_judged(
    project, eval_set, make_config, llm_server, monkeypatch
):
    llm_server.respond_with(lambda r: Reply(text="[[A]]", delay=0.05))
    run = make_run(project, eval_set, make_config(max_concurrency=1))
    real_status = runner_module._status

    def cancel_after_some_calls(run_id):
        # The runner checks the row between flushes; a person presses Cancel after 3 calls.
        if len(llm_server.requests) >= 3 and real_status(run_id) == RunStatus.RUNNING:
            eval_run_cancel(run=run)
        return real_status(run_id)

    monkeypatch.setattr(runner_module, "_status", cancel_after_some_calls)
    monkeypatch.setattr(runner_module, "FLUSH_S", 0.01)
    run = eval_run_execute(run_id=run.pk)

    assert run.status == RunStatus.CANCELLED
    made = len(llm_server.requests)
    assert 3 <= made < 12
    assert Judgment.objects.filter(run=run).count() == made  # calls in flight were kept


def test_cancelled_queued_run_never_calls(project, eval_set, make_config, llm_server):
    run = make_run(project, eval_set, make_config())
    eval_run_cancel(run=run)
    run = eval_run_execute(run_id=run.pk)
    assert run.status == RunStatus.CANCELLED
    assert llm_server.requests == []


def test_calls_run_concurrently_under_the_configured_limit(
    project, eval_set, make_config, llm_server
):
    llm_server.respond_with(lambda r: Reply(text="[[C]]", delay=0.05))
    eval_run_execute(run_id=make_run(project, eval_set, make_config(max_concurrency=3)).pk)
    assert llm_server.max_in_flight == 3


def test_gold_references_and_multi_turn_templates_are_used(
    project, eval_set, make_config, llm_server
):
    llm_server.respond_with(first_judge)
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config(), turns=[1, 2]).pk)
    assert run.items_total == 12
    prompts = [r["messages"][-1]["content"] for r in llm_server.requests]
    math_turn_1 = [p for p in prompts if "[User question]\n2+2?" in p]
    assert math_turn_1 and all("reference answer]\n4\n" in p for p in math_turn_1)
    turn_2 = [p for p in prompts if "conversation with assistant A" in p]
    assert len(turn_2) == 12
    assert any("Times 3?" in p and "reference conversation" in p for p in turn_2)
    writing_turn_2 = next(p for p in turn_2 if "Now a limerick." in p)
    assert "Write a haiku." in writing_turn_2 and "reference" not in writing_turn_2


def test_round_robin_gives_bradley_terry_ratings(project, eval_set, make_config, llm_server):
    from evaluation.services import candidates_import
    from tests.evaluation.conftest import answers

    candidates_import(
        eval_set=eval_set,
        lines=[re.sub('"model": "alpha"', '"model": "gamma"', a) for a in answers("alpha")],
    )
    llm_server.respond_with(longer_judge)
    run = make_run(
        project, eval_set, make_config(), mode="round_robin", models=["alpha", "beta", "gamma"]
    )
    run = eval_run_execute(run_id=run.pk)
    ratings = {r["model"]: r for r in run.results["overall"]["ratings"]}
    assert set(ratings) == {"alpha", "beta", "gamma"}
    assert ratings["alpha"]["rating"] == pytest.approx(ratings["gamma"]["rating"])
    assert ratings["alpha"]["rating"] > ratings["beta"]["rating"]
    assert len(run.results["overall"]["pairs"]) == 3


def test_multidimensional_template_stores_dimension_scores(
    project, eval_set, make_config, llm_server
):
    llm_server.respond_with(
        lambda r: 'Reasoning first.\n{"correctness": 6, "clarity": 9, "overall": 7}'
    )
    config = make_config(family="multidimensional")
    run = make_run(project, eval_set, config, mode="single", models=["alpha"], baseline="")
    run = eval_run_execute(run_id=run.pk)
    row = Judgment.objects.filter(run=run).first()
    assert row.score == 7 and row.dimension_scores == {"correctness": 6.0, "clarity": 9.0}
    assert run.results["overall"]["dimensions"]["alpha"] == {"clarity": 9.0, "correctness": 6.0}
    prompt = llm_server.requests[0]["messages"][-1]["content"]
    assert "[Dimensions to grade]\n- " in prompt
