"""Eval sets from a prompts snapshot and answers from an OpenAI-compatible model, reachable from
the command line and the API (the same services): every split read, bad rows named, nothing
half made; answers turn by turn from the local server, progress printed, failures kept apart
and answered on the next run."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from evaluation.models import CandidateAnswer, EvalSet
from evaluation.services.sets import (
    ERROR_MODEL_NAME,
    ERROR_SNAPSHOT_EMPTY,
    ERROR_SNAPSHOT_KIND,
    ERROR_SNAPSHOT_SPLIT,
)
from evaluation.tasks import candidates_generate_llm_task
from flywheel.testing.openai_server import Reply
from labeling.models import DatasetSnapshot
from labeling.models.snapshots import SnapshotKind, SnapshotStatus

pytestmark = pytest.mark.django_db

TRAIN = [
    {"id": "11", "prompt": [{"role": "user", "content": "Hi"}], "task_type": "qa"},
    {
        "id": "12",
        "prompt": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Sort [3, 1]"},
            {"role": "assistant", "content": "[1, 3]"},
            {"role": "user", "content": "Descending?"},
        ],
        "task_type": "code",
    },
]
VALIDATION = [{"id": "13", "prompt": [{"role": "user", "content": "2+2?"}], "task_type": "math"}]


def _snapshot(project, tmp_path, *, train=TRAIN, validation=VALIDATION, kind=SnapshotKind.PROMPTS):
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in train) + "\n")
    counts = {"train": len(train)}
    if validation:
        (tmp_path / "validation.jsonl").write_text("\n".join(json.dumps(r) for r in validation))
        counts["validation"] = len(validation)
    return DatasetSnapshot.objects.create(
        project=project,
        name="prompts",
        kind=kind,
        status=SnapshotStatus.READY,
        path=str(tmp_path),
        content_hash="abc123def456",
        row_counts=counts,
    )


def _command(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_eval_set_from_snapshot_command_reads_every_split(project, tmp_path):
    snapshot = _snapshot(project, tmp_path)
    out = _command("eval_set_from_snapshot", str(snapshot.pk), "--name", "held out")
    eval_set = EvalSet.objects.get(name="held out")
    assert f"eval set {eval_set.pk} 'held out'" in out and "3 questions" in out
    assert eval_set.project == project and eval_set.question_count == 3
    assert eval_set.source == f"snapshot {snapshot.pk} (abc123def456)"
    questions = {q.question_id: q for q in eval_set.questions.all()}
    assert questions["12"].turns == ["Sort [3, 1]", "Descending?"]
    assert (questions["12"].category, questions["13"].category) == ("code", "math")

    _command("eval_set_from_snapshot", str(snapshot.pk), "--name", "val", "--split", "validation")
    assert list(
        EvalSet.objects.get(name="val").questions.values_list("question_id", flat=True)
    ) == ["13"]


def test_eval_set_from_snapshot_command_refuses_clearly_and_makes_nothing(project, tmp_path):
    with pytest.raises(CommandError, match="No dataset snapshot 999"):
        _command("eval_set_from_snapshot", "999", "--name", "x")

    (tmp_path / "sft").mkdir()
    sft = _snapshot(project, tmp_path / "sft", kind=SnapshotKind.SFT)
    with pytest.raises(CommandError, match=re.escape(ERROR_SNAPSHOT_KIND)):
        _command("eval_set_from_snapshot", str(sft.pk), "--name", "x")

    (tmp_path / "one").mkdir()
    only_train = _snapshot(project, tmp_path / "one", validation=[])
    with pytest.raises(CommandError) as caught:
        _command(
            "eval_set_from_snapshot", str(only_train.pk), "--name", "x", "--split", "validation"
        )
    assert str(caught.value) == ERROR_SNAPSHOT_SPLIT.format(split="validation", splits="train")

    (tmp_path / "bad").mkdir()
    bad = _snapshot(project, tmp_path / "bad", train=[*TRAIN, {"id": "14", "text": "no prompt"}])
    with pytest.raises(CommandError, match=r"train.jsonl line 3: not a prompts row"):
        _command("eval_set_from_snapshot", str(bad.pk), "--name", "x")

    (tmp_path / "empty").mkdir()
    system_only = [{"id": "1", "prompt": [{"role": "system", "content": "x"}]}]
    empty = _snapshot(project, tmp_path / "empty", train=system_only, validation=[])
    with pytest.raises(CommandError, match=re.escape(ERROR_SNAPSHOT_EMPTY)):
        _command("eval_set_from_snapshot", str(empty.pk), "--name", "x")
    assert not EvalSet.objects.exists()


def test_generate_answers_command_answers_turn_by_turn_prints_progress_and_resumes(
    eval_set, llm_server
):
    llm_server.respond_with(lambda r: f"reply to {len(r['messages'])} messages")
    args = ["generate_answers", str(eval_set.pk), "--model-name", "gen", "--model", "m"]
    out = _command(*args, "--base-url", llm_server.base_url, "--concurrency", "2")
    assert "6/6 questions" in out
    assert f"6 answers from m written as 'gen' to eval set {eval_set.pk}" in out
    answer = CandidateAnswer.objects.get(question__question_id="1", model="gen")
    # Turn 2 saw turn 1's question and the model's own reply: 3 messages.
    assert answer.turns == ["reply to 1 messages", "reply to 3 messages"]
    assert answer.source == "generated:m"
    assert len(llm_server.requests) == 12
    assert llm_server.max_in_flight <= 2

    again = _command(*args, "--base-url", llm_server.base_url)
    assert "0 answers" in again and "already" in again
    assert len(llm_server.requests) == 12


def test_generate_answers_keeps_what_it_got_when_some_questions_fail(eval_set, llm_server):
    def flaky(request):
        if "Describe rain." in request["messages"][0]["content"]:
            return Reply(status=400, error_message="this one is refused")
        return "fine"

    llm_server.respond_with(flaky)
    args = ["generate_answers", str(eval_set.pk), "--model-name", "gen", "--model", "m"]
    with pytest.raises(CommandError) as caught:
        _command(*args, "--base-url", llm_server.base_url)
    message = str(caught.value)
    assert message.startswith("1 question(s) got no answer from m (5 answered and kept)")
    assert "Run it again" in message
    assert CandidateAnswer.objects.filter(model="gen").count() == 5

    llm_server.respond_with(lambda r: "fine now")
    _command(*args, "--base-url", llm_server.base_url)
    rain = CandidateAnswer.objects.get(model="gen", question__question_id="2")
    assert rain.turns == ["fine now", "fine now"]

    with pytest.raises(CommandError, match=re.escape(ERROR_MODEL_NAME)):
        _command(
            "generate_answers",
            str(eval_set.pk),
            "--model-name",
            " ",
            "--model",
            "m",
            "--base-url",
            llm_server.base_url,
        )
    with pytest.raises(CommandError, match="No eval set 999"):
        _command(
            "generate_answers",
            "999",
            "--model-name",
            "g",
            "--model",
            "m",
            "--base-url",
            llm_server.base_url,
        )


@pytest.fixture
def client(owner):
    client = APIClient()
    client.force_authenticate(owner)
    return client


def test_eval_set_from_snapshot_through_the_api(client, project, tmp_path, labeler, stranger):
    snapshot = _snapshot(project, tmp_path)
    url = "/api/evaluation/eval-sets/from-snapshot/"
    body = {"snapshot": snapshot.pk, "name": "held out", "splits": ["train"]}
    assert APIClient().post(url, body, format="json").status_code == 401
    outsider = APIClient()
    outsider.force_authenticate(stranger)
    assert outsider.post(url, body, format="json").status_code == 404
    member = APIClient()
    member.force_authenticate(labeler)
    assert member.post(url, body, format="json").status_code == 403
    response = client.post(url, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["question_count"] == 2
    assert EvalSet.objects.get(pk=response.json()["id"]).project == project
    wrong = client.post(url, {**body, "splits": ["test"]}, format="json")
    assert wrong.status_code == 400
    assert EvalSet.objects.count() == 1


def test_answers_from_a_server_are_queued_through_the_api_and_the_task_writes_them(
    client, eval_set, llm_server, stranger, django_capture_on_commit_callbacks
):
    url = f"/api/evaluation/eval-sets/{eval_set.pk}/generate/"
    body = {"base_url": llm_server.base_url, "model": "m", "model_name": "gen"}
    outsider = APIClient()
    outsider.force_authenticate(stranger)
    assert outsider.post(url, body, format="json").status_code == 404
    neither = client.post(url, {"model_name": "gen"}, format="json")
    assert neither.status_code == 400 and "either `adapter` or `base_url`" in str(neither.json())
    unnamed = client.post(url, {**body, "model_name": ""}, format="json")
    assert unnamed.status_code == 400
    assert not DBTaskResult.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {**body, "max_concurrency": 2}, format="json")
    assert response.status_code == 202
    task = DBTaskResult.objects.get()
    assert task.queue_name == "default"
    kwargs = task.args_kwargs["kwargs"]
    assert (kwargs["model"], kwargs["model_name"], kwargs["max_concurrency"]) == ("m", "gen", 2)

    llm_server.respond_with(lambda r: "generated")
    result = candidates_generate_llm_task.call(**kwargs)
    assert result["answers"] == 6
    assert CandidateAnswer.objects.filter(question__eval_set=eval_set, model="gen").count() == 6
