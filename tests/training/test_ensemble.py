"""Prompt ensembles: config validation, the vote, scoring and generation checked against each
member loaded on its own with PEFT, and real ensemble runs on the tiny model (members trained
one after another on one frozen base, cancel and resume)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.config import (
    ERROR_ENSEMBLE_INIT_TEXTS,
    ERROR_ENSEMBLE_KIND,
    ERROR_ENSEMBLE_METHOD,
    ERROR_ENSEMBLE_SIZE,
    ConfigError,
    config_resolve,
)
from training.ensemble import MANIFEST, EnsembleError, majority_vote, member_plan
from training.models import Adapter, JobStatus, TrainingJob
from training.selectors import metric_series
from training.services import job_launch
from training.testing import snapshot_write

MESSAGES = [{"role": "user", "content": "What is two plus two?"}]
SIZE = ERROR_ENSEMBLE_SIZE.format(maximum=8)


def resolve(snapshot, *, kind="sft", method="prompt_tuning", peft=None):
    return config_resolve(
        kind=kind,
        base_model="/models/x",
        snapshot=snapshot,
        peft_method=method,
        peft_values=peft or {},
        hyperparameters={},
    )


# --------------------------------------------------------------------------- config


@pytest.mark.django_db
def test_ensemble_settings_resolve_and_size_one_is_todays_config(sft_snapshot):
    single = resolve(sft_snapshot, peft={"ensemble_size": 1})
    assert single["peft"] == resolve(sft_snapshot)["peft"]
    assert "ensemble_size" not in single["peft"]
    config = resolve(
        sft_snapshot,
        peft={"ensemble_size": "3", "ensemble_init_texts": "Answer well.\n\nBe brief.\n\n"},
    )
    assert config["peft"]["ensemble_size"] == 3
    assert config["peft"]["ensemble_init_texts"] == ["Answer well.", "", "Be brief."]
    plan = member_plan(config["peft"], seed=7)
    assert [(m["seed"], m["init"], m["init_text"]) for m in plan] == [
        (7, "text", "Answer well."),
        (8, "random", None),
        (9, "text", "Be brief."),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "method", "peft", "field", "message"),
    [
        ("sft", "prompt_tuning", {"ensemble_size": 9}, "ensemble_size", SIZE),
        ("sft", "prompt_tuning", {"ensemble_size": 0}, "ensemble_size", SIZE),
        ("sft", "prompt_tuning", {"ensemble_size": "two"}, "ensemble_size", SIZE),
        ("sft", "prompt_tuning", {"ensemble_size": 2.5}, "ensemble_size", SIZE),
        (
            "sft",
            "lora",
            {"ensemble_size": 2},
            "ensemble_size",
            ERROR_ENSEMBLE_METHOD.format(method="LoRA"),
        ),
        (
            "sft",
            "full",
            {"ensemble_init_texts": "Hi"},
            "ensemble_size",
            ERROR_ENSEMBLE_METHOD.format(method="Full fine-tuning"),
        ),
        (
            "sft",
            "prompt_tuning",
            {"ensemble_size": 2, "ensemble_init_texts": ["a", "b", "c"]},
            "ensemble_init_texts",
            ERROR_ENSEMBLE_INIT_TEXTS.format(count=3, size=2),
        ),
        (
            "sft",
            "prompt_tuning",
            {"ensemble_init_texts": ["a"]},
            "ensemble_init_texts",
            ERROR_ENSEMBLE_INIT_TEXTS.format(count=1, size=1),
        ),
        (
            "reward",
            "prompt_tuning",
            {"ensemble_size": 2},
            "ensemble_size",
            ERROR_ENSEMBLE_KIND.format(kind="Reward model"),
        ),
    ],
)
def test_bad_ensemble_settings_are_refused_on_their_field(
    project, sft_snapshot, kind, method, peft, field, message
):
    snapshot = sft_snapshot
    if kind == "reward":
        snapshot = snapshot_write(project=project, train=[{"task_type": "qa"}], kind="preference")
    with pytest.raises(ConfigError) as exc:
        resolve(snapshot, kind=kind, method=method, peft=peft)
    assert (exc.value.field, str(exc.value)) == (field, message)


@pytest.mark.django_db
def test_admin_form_puts_ensemble_errors_on_their_field(owner, project, sft_snapshot):
    from training.forms import TrainingJobForm

    data = {
        "project": project.pk,
        "kind": "sft",
        "base_model": "/models/x",
        "snapshot": sft_snapshot.pk,
        "peft_method": "lora",
        "learning_rate": 2e-4,
        "num_train_epochs": 1,
        "max_steps": -1,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_length": 512,
        "warmup_ratio": 0,
        "weight_decay": 0,
        "lr_scheduler_type": "linear",
        "logging_steps": 1,
        "eval_steps": 0,
        "save_steps": 50,
        "seed": 1,
        "ensemble_size": 3,
    }
    form = TrainingJobForm(data=data)
    assert not form.is_valid()
    assert form.errors["ensemble_size"] == [ERROR_ENSEMBLE_METHOD.format(method="LoRA")]
    form = TrainingJobForm(
        data={**data, "peft_method": "prompt_tuning", "ensemble_init_texts": "A\nB"}
    )
    assert form.is_valid(), form.errors
    assert form.resolved["peft"]["ensemble_init_texts"] == ["A", "B"]


# --------------------------------------------------------------------------- the vote


def test_majority_wins_over_the_averaged_score_when_members_disagree():
    # Members 0 and 1 narrowly prefer option 0; member 2 strongly prefers option 1, so the
    # averaged score favours option 1 while the vote is 2 to 1 for option 0.
    scores = [[-1.0, -1.1], [-1.0, -1.2], [-3.0, -0.5]]
    vote = majority_vote(scores)
    assert vote.picks == [0, 0, 1]
    assert vote.votes == [2, 1]
    assert vote.averaged[1] > vote.averaged[0]
    assert vote.answer == 0


def test_a_tie_in_votes_goes_to_the_higher_averaged_score():
    vote = majority_vote([[-1.0, -2.0, -9.0], [-3.0, -0.5, -9.0]])
    assert vote.votes == [1, 1, 0]
    assert vote.averaged == [-2.0, -1.25, -9.0]
    assert vote.answer == 1


def test_a_vote_needs_two_options():
    with pytest.raises(EnsembleError, match="at least two options"):
        majority_vote([[-1.0]])


# --------------------------------------------------------------------------- inference


@pytest.fixture(scope="module")
def random_ensemble(tiny_model, tmp_path_factory):
    """Three prompt-tuning members with different random soft prompts (no training: scoring
    and decoding are checked against PEFT whatever the prompts are)."""
    import torch
    from peft import PromptTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("ensemble")
    members = []
    for i in range(3):
        torch.manual_seed(100 + i)
        base = AutoModelForCausalLM.from_pretrained(tiny_model)
        model = get_peft_model(
            base, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4)
        )
        with torch.no_grad():  # the tiny model's embeddings are small: make members differ
            model.prompt_encoder["default"].embedding.weight.mul_(0.5)
        model.save_pretrained(root / f"member-{i}")
        members.append({"name": f"member-{i}", "path": f"member-{i}"})
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(root)
    (root / MANIFEST).write_text(json.dumps({"base_model": tiny_model, "members": members}))
    return root


@pytest.fixture(scope="module")
def peft_members(random_ensemble, tiny_model):
    """Each member loaded on its own fresh base with PEFT: the independent reference."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    models = []
    for i in range(3):
        base = AutoModelForCausalLM.from_pretrained(tiny_model)
        models.append(PeftModel.from_pretrained(base, random_ensemble / f"member-{i}").eval())
    return models


def test_ensemble_score_is_the_mean_of_member_scores_computed_by_peft(
    random_ensemble, peft_members
):
    import torch
    from transformers import AutoTokenizer

    from training.ensemble import PromptEnsemble

    ensemble = PromptEnsemble.load(random_ensemble)
    completion = "Two plus two is four."
    result = ensemble.score(MESSAGES, completion)

    tok = AutoTokenizer.from_pretrained(random_ensemble)
    prompt = tok.apply_chat_template(MESSAGES, add_generation_prompt=True, return_dict=True)
    full = tok.apply_chat_template(
        [*MESSAGES, {"role": "assistant", "content": completion}], return_dict=True
    )["input_ids"]
    prompt = prompt["input_ids"]
    # The completion is every token after the prompt: the answer and the closing <|end|>.
    assert full[: len(prompt)] == prompt and full[-1] == tok.eos_token_id
    targets = list(range(len(prompt), len(full)))
    expected = []
    with torch.no_grad():
        for model in peft_members:
            logits = model(input_ids=torch.tensor([full])).logits[0, -len(full) :]
            logp = torch.log_softmax(logits.float(), dim=-1)
            expected.append(float(torch.stack([logp[t - 1, full[t]] for t in targets]).mean()))
    assert result.tokens == len(targets)
    assert result.member_scores == pytest.approx(expected, abs=1e-5)
    assert result.score == pytest.approx(sum(expected) / 3, abs=1e-5)
    assert len(set(round(s, 4) for s in expected)) == 3  # the members really differ

    choice = ensemble.choose(MESSAGES, ["Four.", "Paris.", "Two plus two is four."])
    assert choice.member_scores[1][2] == pytest.approx(expected[1], abs=1e-5)
    vote = majority_vote(choice.member_scores)
    assert (choice.answer, choice.votes, choice.picks) == (vote.answer, vote.votes, vote.picks)
    assert sum(choice.votes) == 3


def test_greedy_generation_decodes_the_averaged_log_probs_and_sampling_is_seeded(
    random_ensemble, peft_members
):
    import torch
    from transformers import AutoTokenizer

    from training.ensemble import PromptEnsemble

    ensemble = PromptEnsemble.load(random_ensemble)
    greedy = ensemble.generate_ids(MESSAGES, max_new_tokens=6)
    assert 0 < len(greedy) <= 6

    # Independently: no KV cache, each member a separate PEFT model, argmax of the mean.
    tok = AutoTokenizer.from_pretrained(random_ensemble)
    ids = tok.apply_chat_template(MESSAGES, add_generation_prompt=True, return_dict=True)
    ids = list(ids["input_ids"])
    expected = []
    with torch.no_grad():
        for _ in range(6):
            logp = torch.stack(
                [
                    torch.log_softmax(m(input_ids=torch.tensor([ids])).logits[0, -1].float(), -1)
                    for m in peft_members
                ]
            ).mean(0)
            token = int(logp.argmax())
            if token == tok.eos_token_id:
                break
            expected.append(token)
            ids.append(token)
    assert greedy == expected

    first = ensemble.generate(MESSAGES, max_new_tokens=12, temperature=1.0, seed=3)
    again = ensemble.generate(MESSAGES, max_new_tokens=12, temperature=1.0, seed=3)
    other = ensemble.generate(MESSAGES, max_new_tokens=12, temperature=1.0, seed=4)
    assert first == again
    assert first != other
    forced = ensemble.generate_ids(MESSAGES, max_new_tokens=5, min_new_tokens=5, temperature=1.0)
    assert len(forced) == 5


def test_an_ensemble_is_one_generate_source_beside_a_lora_adapter(
    random_ensemble, tiny_model, tmp_path
):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from training.ensemble import PromptEnsemble
    from training.generate_job import AdapterSwitcher, Sampling

    torch.manual_seed(0)
    lora = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model),
        LoraConfig(task_type="CAUSAL_LM", target_modules="all-linear", init_lora_weights=False),
    )
    with torch.no_grad():  # a LoRA strong enough to change every greedy token
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                param.mul_(50)
    lora.save_pretrained(tmp_path / "lora")
    switcher = AdapterSwitcher(
        tiny_model, {"lora": str(tmp_path / "lora"), "ensemble": str(random_ensemble)}
    )
    sampling = Sampling(max_new_tokens=5, temperature=0.0)
    texts = switcher.generate("ensemble", MESSAGES, k=2, sampling=sampling)
    # The LoRA layers injected into the shared base are off while the ensemble decodes.
    alone = PromptEnsemble.load(random_ensemble).generate(MESSAGES, max_new_tokens=5)
    assert texts == [alone, alone]
    assert switcher.generate("lora", MESSAGES, k=1, sampling=sampling) != [alone]


# --------------------------------------------------------------------------- training


def base_watcher():
    """Checks, at the end of every member, that the base model is the one object loaded at
    the start and that its weights are bit-identical to what they were then."""
    import torch
    from transformers import TrainerCallback

    class BaseWatcher(TrainerCallback):
        def __init__(self):
            self.bases, self.before, self.untouched, self.trainable = [], None, [], []

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            base = model.get_base_model()
            self.bases.append(id(base))
            if self.before is None:
                self.before = {n: p.detach().clone() for n, p in base.named_parameters()}
            self.trainable.append({n for n, p in model.named_parameters() if p.requires_grad})

        def on_train_end(self, args, state, control, model=None, **kwargs):
            params = dict(model.get_base_model().named_parameters())
            self.untouched.append(
                params.keys() == self.before.keys()
                and all(torch.equal(params[n], self.before[n]) for n in params)
            )

    return BaseWatcher()


@pytest.fixture
def make_ensemble_job(owner, project, sft_snapshot, tiny_model):
    from training.services import job_create

    def make(*, peft: dict, **hp):
        return job_create(
            project=project,
            created_by=owner,
            kind="sft",
            base_model=tiny_model,
            snapshot=sft_snapshot,
            peft_method="prompt_tuning",
            peft_config=peft,
            hyperparameters={"per_device_train_batch_size": 9, "logging_steps": 1, **hp},
            name="ensemble test",
        )

    return make


def run(job, callbacks=None):
    from training.sft import run_job

    assert run_job(job_id=job.pk, callbacks=callbacks) == 0
    job.refresh_from_db()
    return job


@pytest.mark.training
@pytest.mark.django_db(transaction=True)
def test_an_ensemble_trains_its_members_on_one_frozen_base(make_ensemble_job, tiny_model):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from training.ensemble import PromptEnsemble

    watcher = base_watcher()
    job = make_ensemble_job(
        peft={"ensemble_size": 3, "ensemble_init_texts": ["Answer the question."]},
        learning_rate=3e-2,
        max_steps=2,
        eval_steps=1,
    )
    job_launch(job=job)
    job = run(job, [watcher])
    assert job.status == JobStatus.SUCCEEDED, job.error

    # One base object for all members, its weights untouched, only soft prompts trained.
    assert len(watcher.bases) == 3 and len(set(watcher.bases)) == 1
    assert watcher.untouched == [True, True, True]
    assert all(t and all("prompt_encoder" in n for n in t) for t in watcher.trainable)
    on_disk = load_file(str(Path(tiny_model) / "model.safetensors"))
    assert all(torch.equal(watcher.before[n], on_disk[n]) for n in on_disk)

    # One adapter: member folders, each a PEFT adapter; the manifest says who is who.
    adapter = Adapter.objects.get(job=job)
    assert adapter.method == "prompt_tuning" and adapter.size_bytes == job.adapter_size_bytes
    root = Path(adapter.path)
    manifest = json.loads((root / MANIFEST).read_text())
    members = manifest["members"]
    assert [(m["name"], m["seed"], m["init"]) for m in members] == [
        ("member-0", 42, "text"),
        ("member-1", 43, "random"),
        ("member-2", 44, "random"),
    ]
    assert members[0]["init_text"] == "Answer the question."
    prompts = []
    for member in members:
        base = AutoModelForCausalLM.from_pretrained(tiny_model)
        loaded = PeftModel.from_pretrained(base, root / member["path"])
        assert loaded.peft_config["default"].num_virtual_tokens == 8
        prompts.append(loaded.prompt_encoder["default"].embedding.weight.detach())
    assert not torch.equal(prompts[0], prompts[1]) and not torch.equal(prompts[1], prompts[2])

    # Metrics: each member at its own steps; the plain names are the members' mean.
    series = metric_series(job=job)
    for i in range(3):
        assert [s for s, _ in series[f"member/{i}/loss"]] == [1, 2]
        assert [s for s, _ in series[f"member/{i}/eval/loss"]] == [1, 2]
        assert f"member/{i}/loss/qa" in series
    for step, loss in series["loss"]:
        values = [dict(series[f"member/{i}/loss"])[step] for i in range(3)]
        assert loss == pytest.approx(sum(values) / 3)
    assert (job.step, job.total_steps) == (6, 6)
    assert job.trainable_params == 3 * 8 * 64

    # The ensemble's validation loss, measured on the one base, agrees with each member's
    # last trainer evaluation; decoding from the averaged log-probs does no worse.
    evaluation = manifest["eval"]
    for i, member in enumerate(members):
        assert member["final_eval_loss"] == dict(series[f"member/{i}/eval/loss"])[2]
        assert evaluation["member_losses"][i] == pytest.approx(member["final_eval_loss"], abs=1e-3)
    assert evaluation["decoding_loss"] <= evaluation["mean_member_loss"] + 1e-6
    assert evaluation["rows"] == 9 and evaluation["scored_loss"] > 0
    assert job.data_report["ensemble"]["eval"] == evaluation
    assert job.data_report["after"]["train"] == {"qa": 6, "math": 6, "creative": 6}

    ensemble = PromptEnsemble.load(root)
    assert ensemble.names == ["member-0", "member-1", "member-2"]
    assert len(ensemble.score(MESSAGES, "Four.").member_scores) == 3


@pytest.mark.training
@pytest.mark.django_db(transaction=True)
def test_cancel_stops_the_running_member_and_retry_resumes_it(
    make_ensemble_job, tiny_model, monkeypatch
):
    from transformers import TrainerCallback

    import training.job_callback
    from training.services import job_cancel, job_retry

    monkeypatch.setattr(training.job_callback, "PROGRESS_SECONDS", 0.0)
    job = make_ensemble_job(peft={"ensemble_size": 2}, max_steps=3, save_steps=1, eval_steps=3)

    class CancelInSecondMember(TrainerCallback):
        members = 0

        def on_train_begin(self, args, state, control, **kwargs):
            self.members += 1
            if self.members == 2:  # what a researcher pressing "cancel" does mid-run
                job_cancel(job=TrainingJob.objects.get(pk=job.pk))

    job_launch(job=job)
    job = run(job, [CancelInSecondMember()])
    assert job.status == JobStatus.CANCELLED
    # The flag is read after the first step of member 1: member 0's 3 steps and 1 more.
    assert (job.step, job.total_steps) == (4, 6)
    out = Path(job.output_dir)
    assert (out / "adapter" / "member-0" / "member.json").is_file()
    assert not (out / "adapter" / "member-1").exists()
    assert not Adapter.objects.filter(job=job).exists()
    member0 = metric_series(job=job)["member/0/loss"]

    job_retry(job=job)
    job = run(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.resumed_from_step == 4  # member 1 went on from its checkpoint at its step 1
    series = metric_series(job=job)
    assert series["member/0/loss"] == member0  # the finished member was not trained again
    assert [s for s, _ in series["member/1/loss"]] == [1, 2, 3]
    assert (job.step, job.total_steps) == (6, 6)
    manifest = json.loads((out / "adapter" / MANIFEST).read_text())
    assert [m["seed"] for m in manifest["members"]] == [42, 43]
    assert Adapter.objects.filter(job=job).count() == 1


# --------------------------------------------------------------------------- the job page


@pytest.mark.django_db
def test_member_table_fills_in_while_the_run_goes(owner, project, sft_snapshot):
    from training.selectors import ensemble_members
    from training.services import job_create, metric_points_record_steps

    job = job_create(
        project=project,
        created_by=owner,
        kind="sft",
        base_model="/models/x",
        snapshot=sft_snapshot,
        peft_method="prompt_tuning",
        peft_config={"ensemble_size": 3, "ensemble_init_texts": ["", "Be brief."]},
        hyperparameters={"seed": 5},
    )
    TrainingJob.objects.filter(pk=job.pk).update(status="running", step=4, total_steps=9)
    job.refresh_from_db()
    metric_points_record_steps(
        job_id=job.pk,
        steps=[
            (1, {"member/0/loss": 3.0, "member/1/loss": 2.9}),
            (2, {"member/0/loss": 2.5, "member/0/eval/loss": 2.7}),
            (3, {"member/0/loss": 2.2, "member/0/eval/loss": 2.8}),
        ],
    )
    table = ensemble_members(job=job, series=metric_series(job=job))
    rows = table["rows"]
    assert [(r["seed"], r["init"], r["state"]) for r in rows] == [
        (5, "random", "done"),
        (6, "text", "training"),
        (7, "random", "waiting"),
    ]
    assert (rows[0]["final_loss"], rows[0]["best_eval_loss"], rows[0]["best_eval_step"]) == (
        2.2,
        2.7,
        2,
    )
    assert rows[0]["final_eval_loss"] == 2.8 and rows[1]["final_loss"] == 2.9
    assert table["eval"] is None
    labels = [d["label"] for d in table["chart"]["datasets"]]
    assert labels == ["member-0", "member-0 (validation)", "member-1"]


@pytest.mark.training
@pytest.mark.django_db(transaction=True)
def test_job_page_compares_members_in_the_browser(page, screenshot_dir, owner, make_ensemble_job):
    from tests.conftest import login

    job = make_ensemble_job(
        peft={"ensemble_size": 2, "ensemble_init_texts": ["Answer the question briefly."]},
        learning_rate=3e-2,
        max_steps=3,
        eval_steps=1,
    )
    job_launch(job=job)
    job = run(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    login(page, owner.username)
    page.goto(f"/training/jobs/{job.pk}/")
    table = page.locator("#ensemble-members")
    table.scroll_into_view_if_needed()
    assert table.locator("tbody tr").count() == 2
    assert "text: “Answer the question briefly.”" in table.inner_text()
    assert table.locator("tfoot tr").count() == 3
    decoding = job.data_report["ensemble"]["eval"]["decoding_loss"]
    assert f"{decoding:.4f}" in table.locator("tfoot").inner_text()
    assert page.locator("#chart-members").is_visible()
    page.screenshot(path=str(screenshot_dir / "ensemble-job-1280.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "ensemble-job-1280-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 390, "height": 844})
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "ensemble-job-390.png"))
