"""Executing an eval run: plan the calls, reuse cached judgments, call the judge concurrently
under the client's limit, record every call as a Judgment, and compute the results.

Resumable by construction: the plan is derived from the run's items, a (item, order, trial)
already recorded is never called again, and calls that failed are retried on the next
execution. The database row is the source of truth for progress and cancellation.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from evaluation.judging.parsing import parse
from evaluation.judging.prompts import conversation, render
from evaluation.judging.rubric import rubric_text, template_rubric
from evaluation.models import (
    CandidateAnswer,
    EvalItem,
    EvalRun,
    JudgeTemplate,
    Judgment,
    JudgmentStatus,
    Order,
    RaterGroup,
    RunMode,
    RunStatus,
)
from flywheel.llm import LLMClient, LLMConfig, LLMError

logger = logging.getLogger(__name__)

FLUSH_S = 0.25  # how often recorded calls are written and cancellation is checked
HEARTBEAT_S = 10.0  # the longest a running run goes without a heartbeat (slow judge calls)
CACHE_CHUNK = 500
PLAN_CHUNK = 256  # calls planned, looked up in the cache and sent at a time

ERROR_FAILED_CALLS = (
    "{n} judge call(s) failed after retries; the last error: {error}. Resume the run to "
    "retry only those."
)
ERROR_CRASHED = "The run stopped on an unexpected error: {error}. Resume it to continue."


@dataclass
class Call:
    item_id: int
    order: str
    trial: int
    template: JudgeTemplate
    messages: list[dict[str, str]]
    cache_key: str
    model_first: str  # the model whose answer was shown as A
    model_second: str


@dataclass
class Outcome:
    call: Call
    status: str
    raw_output: str = ""
    verdict: str = ""
    winner: str = ""
    score: float | None = None
    dimension_scores: dict = field(default_factory=dict)
    error: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost: float = 0.0
    cached: bool = False


def run_templates(run: EvalRun) -> dict[str, JudgeTemplate | None]:
    """The run's judge templates as its config snapshot names them (templates are immutable,
    so these are the very texts it was started with)."""
    snap = run.config_snapshot
    ids = {
        k: (snap.get(k) or {}).get("id")
        for k in (
            "template",
            "reference_template",
            "multi_turn_template",
            "multi_turn_reference_template",
        )
    }
    by_id = JudgeTemplate.objects.in_bulk([i for i in ids.values() if i])
    return {k: by_id.get(i) if i else None for k, i in ids.items()}


def template_for(templates: dict[str, JudgeTemplate | None], *, turn: int, has_ref: bool):
    """The template that judges a turn: the multi-turn variants after turn 1, the reference
    ones when the question has a gold answer."""
    plain, ref = templates["template"], templates["reference_template"]
    mt, mt_ref = templates["multi_turn_template"], templates["multi_turn_reference_template"]
    if turn > 1:
        if has_ref and mt_ref is not None:
            return mt_ref
        if mt is not None:
            return mt
    if has_ref and ref is not None:
        return ref
    return plain


def _values(item: EvalItem, question, first: list[str], second: list[str] | None) -> dict:
    turn = item.turn
    user_turns = question.turns[:turn]
    reference = question.reference[:turn] if question.reference else []
    values = {
        "question": question.turns[turn - 1],
        "reference": question.reference_for(turn),
        "reference_conversation": conversation(user_turns, reference, label="Reference answer"),
        "category": question.category or "general",
        "dimensions": "",
        "rubric": "",
    }
    if second is None:
        values["answer"] = first[turn - 1]
        values["conversation"] = conversation(user_turns, first[:turn], label="Assistant")
    else:
        values["answer_a"] = first[turn - 1]
        values["answer_b"] = second[turn - 1]
        values["conversation_a"] = conversation(user_turns, first[:turn], label="Assistant A")
        values["conversation_b"] = conversation(user_turns, second[:turn], label="Assistant B")
    return values


def cache_key(*, template_version: str, model: str, temperature: float, messages, trial) -> str:
    """(template version, judge model, question and answers as shown, order, trial): the
    rendered messages carry the question, the answers and their order."""
    blob = json.dumps([template_version, model, temperature, messages, trial], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def iter_calls(run: EvalRun) -> Iterator[Call]:
    """Every call the run needs, in a stable order, one at a time: the first ones are sent
    while the rest are still being rendered."""
    snap = run.config_snapshot
    templates = run_templates(run)
    models = [*run.candidate_models, *([run.baseline] if run.baseline else [])]
    answers = {
        (a.question_id, a.model): a.turns
        for a in CandidateAnswer.objects.filter(
            question__eval_set=run.eval_set_id, model__in=models
        )
    }
    pairwise = run.mode != RunMode.SINGLE
    orders = (
        [Order.AB, Order.BA]
        if pairwise and snap["both_orders"]
        else ([Order.AB] if pairwise else [Order.NONE])
    )
    for item in run.items.select_related("question").order_by("id"):
        question = item.question
        has_ref = bool(question.reference_for(item.turn))
        template = template_for(templates, turn=item.turn, has_ref=has_ref)
        dims = (
            template.dimensions.get(question.category) or template.dimensions.get("default") or []
        )
        for order in orders:
            if order == Order.BA:
                first, second = item.model_b, item.model_a
            else:
                first, second = item.model_a, item.model_b
            values = _values(
                item,
                question,
                answers[(question.pk, first)],
                answers[(question.pk, second)] if second else None,
            )
            values["dimensions"] = "\n".join(f"- {d}" for d in dims)
            if not pairwise:
                values["rubric"] = rubric_text(
                    template_rubric(template, category=question.category)
                )
            messages = []
            if template.system_prompt:
                messages.append(
                    {"role": "system", "content": render(template.system_prompt, values)}
                )
            messages.append({"role": "user", "content": render(template.prompt, values)})
            for trial in range(snap["trials"]):
                yield Call(
                    item_id=item.pk,
                    order=order,
                    trial=trial,
                    template=template,
                    messages=messages,
                    cache_key=cache_key(
                        template_version=template.version,
                        model=snap["model"],
                        temperature=snap["temperature"],
                        messages=messages,
                        trial=trial,
                    ),
                    model_first=first,
                    model_second=second,
                )


def _winner(call: Call, verdict: str) -> str:
    return {"A": call.model_first, "B": call.model_second, "C": "tie"}.get(verdict, "")


def _judge(client: LLMClient, call: Call, snap: dict) -> Outcome:
    try:
        result = client.chat(
            call.messages, temperature=snap["temperature"], max_tokens=snap["max_tokens"]
        )
    except LLMError as exc:
        return Outcome(call=call, status=JudgmentStatus.CALL_ERROR, error=str(exc))
    template = call.template
    parsed = parse(template.parser, result.text, low=template.score_min, high=template.score_max)
    cost = (
        result.prompt_tokens * snap["price_prompt_per_mtok"]
        + result.completion_tokens * snap["price_completion_per_mtok"]
    ) / 1e6
    return Outcome(
        call=call,
        status=JudgmentStatus.OK if parsed.ok else JudgmentStatus.PARSE_ERROR,
        raw_output=result.text,
        verdict=parsed.verdict,
        winner=_winner(call, parsed.verdict),
        score=parsed.score,
        dimension_scores=parsed.dimension_scores,
        error=parsed.error,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        latency_s=result.latency_s,
        cost=cost,
    )


def _cached_outcomes(run: EvalRun, calls: list[Call]) -> list[Outcome]:
    """Judgments with the same cache key anywhere in the project (never another project's)."""
    found: dict[str, Judgment] = {}
    keys = list({c.cache_key for c in calls})
    for start in range(0, len(keys), CACHE_CHUNK):
        rows = Judgment.objects.filter(
            run__project_id=run.project_id,
            cache_key__in=keys[start : start + CACHE_CHUNK],
            status__in=[JudgmentStatus.OK, JudgmentStatus.PARSE_ERROR],
            cached=False,
        ).only("cache_key", "status", "raw_output", "verdict", "score", "dimension_scores", "error")
        for row in rows:
            found.setdefault(row.cache_key, row)
    outcomes = []
    for call in calls:
        row = found.get(call.cache_key)
        if row is not None:
            outcomes.append(
                Outcome(
                    call=call,
                    status=row.status,
                    raw_output=row.raw_output,
                    verdict=row.verdict,
                    winner=_winner(call, row.verdict),
                    score=row.score,
                    dimension_scores=row.dimension_scores,
                    error=row.error,
                    cached=True,
                )
            )
    return outcomes


def _record(run: EvalRun, outcomes: list[Outcome]) -> None:
    if not outcomes:
        return
    rater = run.config_snapshot["model"]
    rows = [
        Judgment(
            item_id=o.call.item_id,
            run_id=run.pk,
            rater=rater,
            rater_group=RaterGroup.JUDGE,
            order=o.call.order,
            trial=o.call.trial,
            template_version=o.call.template.version,
            cache_key=o.call.cache_key,
            status=o.status,
            raw_output=o.raw_output,
            verdict=o.verdict,
            winner=o.winner,
            score=o.score,
            dimension_scores=o.dimension_scores,
            error=o.error,
            prompt_tokens=o.prompt_tokens,
            completion_tokens=o.completion_tokens,
            latency_s=o.latency_s,
            cost=o.cost,
            cached=o.cached,
        )
        for o in outcomes
    ]
    with transaction.atomic():
        Judgment.objects.bulk_create(rows, batch_size=500)
        EvalRun.objects.filter(pk=run.pk).update(
            calls_done=F("calls_done") + len(rows),
            calls_made=F("calls_made") + sum(not o.cached for o in outcomes),
            cached_count=F("cached_count") + sum(o.cached for o in outcomes),
            parse_failures=F("parse_failures")
            + sum(o.status == JudgmentStatus.PARSE_ERROR for o in outcomes),
            call_errors=F("call_errors")
            + sum(o.status == JudgmentStatus.CALL_ERROR for o in outcomes),
            prompt_tokens=F("prompt_tokens") + sum(o.prompt_tokens for o in outcomes),
            completion_tokens=F("completion_tokens") + sum(o.completion_tokens for o in outcomes),
            cost=F("cost") + sum(o.cost for o in outcomes),
            heartbeat_at=timezone.now(),
        )


def _start(run_id: int) -> EvalRun | None:
    with transaction.atomic():
        run = EvalRun.objects.select_for_update().get(pk=run_id)
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return None
        # Failed calls are retried; everything else recorded stays and is not called again.
        Judgment.objects.filter(run=run, status=JudgmentStatus.CALL_ERROR).delete()
        recorded = Judgment.objects.filter(run=run)
        run.calls_done = recorded.count()
        run.call_errors = 0
        run.parse_failures = recorded.filter(status=JudgmentStatus.PARSE_ERROR).count()
        run.calls_done_at_start = run.calls_done
        run.status = RunStatus.RUNNING
        run.started_at = run.heartbeat_at = timezone.now()
        run.error = ""
        run.save()
        return run


def _beat(run_id: int) -> None:
    EvalRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())


def _status(run_id: int) -> str:
    return EvalRun.objects.filter(pk=run_id).values_list("status", flat=True).get()


def eval_run_execute(*, run_id: int, client: LLMClient | None = None) -> EvalRun:
    """Run (or resume) an eval run to the end, or until it is cancelled."""
    run = _start(run_id)
    if run is None:
        return EvalRun.objects.get(pk=run_id)
    try:
        _execute(run, client)
    except Exception as exc:
        logger.exception("eval run %s crashed", run_id)
        EvalRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED,
            error=ERROR_CRASHED.format(error=exc),
            finished_at=timezone.now(),
        )
        raise
    return _finish(run_id)


class _Inbox:
    """Outcomes handed back by the call threads to the thread that records them.

    The recording thread wakes on a timer (or when the last outcome arrives), not once per
    outcome: each wake-up takes the interpreter lock from a call thread that has a reply to
    read, and at 32 calls in flight that lengthened every call (bench/judge.py).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: list[Outcome] = []
        self._outstanding = 0
        self._idle = threading.Event()
        self._idle.set()

    def expect(self, n: int) -> None:
        with self._lock:
            self._outstanding += n
            if self._outstanding:
                self._idle.clear()

    def put(self, outcome: Outcome | None) -> None:
        """One expected call is over; None when it was skipped (the run was cancelled)."""
        with self._lock:
            if outcome is not None:
                self._outcomes.append(outcome)
            self._outstanding -= 1
            if not self._outstanding:
                self._idle.set()

    def wait_idle(self, timeout: float) -> bool:
        return self._idle.wait(timeout)

    def take(self) -> list[Outcome]:
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        return outcomes


def _execute(run: EvalRun, client: LLMClient | None) -> None:
    snap = run.config_snapshot
    rater = snap["model"]
    done = set(
        Judgment.objects.filter(run=run, rater=rater).values_list("item_id", "order", "trial")
    )
    inbox = _Inbox()
    stop = threading.Event()
    pool: ThreadPoolExecutor | None = None

    def work(call: Call) -> None:
        if stop.is_set():
            inbox.put(None)  # cancelled before it was sent
            return
        try:
            outcome = _judge(client, call, snap)
        except Exception as exc:  # a bug, not an LLM failure: record it, keep the run going
            outcome = Outcome(call=call, status=JudgmentStatus.CALL_ERROR, error=repr(exc))
        inbox.put(outcome)

    last_flush = last_beat = time.monotonic()

    def flush() -> None:
        nonlocal last_flush, last_beat
        outcomes = inbox.take()
        _record(run, outcomes)  # a record is a heartbeat
        last_flush = time.monotonic()
        if outcomes:
            last_beat = last_flush
        elif last_flush - last_beat >= HEARTBEAT_S:
            _beat(run.pk)  # every call still in flight (slow judge, retries): alive
            last_beat = last_flush
        if not stop.is_set() and _status(run.pk) == RunStatus.CANCELLED:
            stop.set()  # calls already sent finish and are kept; the rest are skipped

    try:
        # Planning, the cache lookup and the calls overlap: each chunk is sent as soon as it
        # is planned, so the judge is busy while the rest of the plan is rendered.
        calls = iter_calls(run)
        while not stop.is_set() and (chunk := list(itertools.islice(calls, PLAN_CHUNK))):
            pending = [c for c in chunk if (c.item_id, c.order, c.trial) not in done]
            cached = _cached_outcomes(run, pending)
            _record(run, cached)
            hits = {(o.call.item_id, o.call.order, o.call.trial) for o in cached}
            remaining = [c for c in pending if (c.item_id, c.order, c.trial) not in hits]
            if remaining and pool is None:
                client = client or LLMClient(
                    LLMConfig(
                        base_url=snap["base_url"],
                        model=snap["model"],
                        api_key_env=snap["api_key_env"],
                        timeout=snap["timeout_s"],
                        max_retries=snap["max_retries"],
                        max_concurrency=snap["max_concurrency"],
                    )
                )
                pool = ThreadPoolExecutor(max_workers=client.config.max_concurrency)
            inbox.expect(len(remaining))
            for call in remaining:
                pool.submit(work, call)
            if time.monotonic() - last_flush >= FLUSH_S:
                flush()
        while True:
            idle = inbox.wait_idle(FLUSH_S)
            flush()
            if idle:
                break
    finally:
        if pool is not None:
            stop.set()  # only matters when we got here on an error: send nothing more
            pool.shutdown(wait=True)
            # Calls still in flight when an error got us here were paid for: keep them, so a
            # resume does not send them again.
            try:
                _record(run, inbox.take())
            except Exception:
                logger.exception("run %s: could not record the last judgments", run.pk)


def _finish(run_id: int) -> EvalRun:
    from evaluation.services.results import eval_run_results_compute

    run = EvalRun.objects.get(pk=run_id)
    eval_run_results_compute(run=run)
    with transaction.atomic():
        run = EvalRun.objects.select_for_update().get(pk=run_id)
        if run.status == RunStatus.RUNNING:
            if run.call_errors:
                last = (
                    Judgment.objects.filter(run=run, status=JudgmentStatus.CALL_ERROR)
                    .values_list("error", flat=True)
                    .last()
                )
                run.status = RunStatus.FAILED
                run.error = ERROR_FAILED_CALLS.format(n=run.call_errors, error=last)
            else:
                run.status = RunStatus.SUCCEEDED
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "error", "finished_at"])
    return run
