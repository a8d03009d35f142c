"""Real SFT runs of a few steps on a tiny random-weight Llama built in the session (no hub).

Runs happen in the test process through the same entry point the child process uses
(`run_job`), so they are fast; tests/training/test_worker.py covers the child process."""

import json
from pathlib import Path

import pytest

from training.models import Adapter, JobStatus, MetricPoint, TrainingJob
from training.selectors import metric_series
from training.services import job_launch
from training.testing import sample_conversations, snapshot_write

pytestmark = [pytest.mark.training, pytest.mark.django_db(transaction=True)]


def make_watcher():
    import torch
    from transformers import TrainerCallback

    class ParamWatcher(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            params = dict(model.named_parameters())
            self.before = {n: p.detach().clone() for n, p in params.items()}
            self.trainable = {n for n, p in params.items() if p.requires_grad}

        def on_train_end(self, args, state, control, model=None, **kwargs):
            self.changed = {
                n
                for n, p in model.named_parameters()
                if not torch.equal(p.detach().to(self.before[n].dtype), self.before[n])
            }

    return ParamWatcher()


def run(job, callbacks=None):
    from training.sft import run_job

    job_launch(job=job)
    assert run_job(job_id=job.pk, callbacks=callbacks) == 0
    job.refresh_from_db()
    return job


@pytest.mark.parametrize(
    ("method", "trainable_marker"),
    [
        ("lora", "lora_"),
        ("qlora", "lora_"),
        ("dora", "lora_"),
        ("prompt_tuning", "prompt_encoder"),
        ("full", ""),
    ],
)
def test_each_peft_method_trains_and_changes_only_its_trainable_parameters(
    make_job, tiny_model, method, trainable_marker
):
    watcher = make_watcher()
    job = run(make_job(base_model=tiny_model, peft_method=method, learning_rate=5e-3), [watcher])
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert watcher.trainable and all(trainable_marker in n for n in watcher.trainable)
    assert watcher.changed == watcher.trainable  # every trainable parameter moved, nothing else
    assert job.trainable_params == sum(watcher.before[n].numel() for n in watcher.trainable) or (
        method == "qlora"  # PEFT counts 4-bit packed weights by their unpacked size
    )
    adapter = Adapter.objects.get(job=job)
    assert adapter.owner_user == job.created_by and adapter.method == method
    assert Path(adapter.path, "flywheel.json").is_file()
    assert adapter.size_bytes == job.adapter_size_bytes > 0
    if method != "full":
        assert job.adapter_size_bytes < job.full_model_size_bytes / 2
    assert job.peak_memory_bytes > 0
    # The same test passes on a CUDA host (bench/gpu_check.py runs the GPU side on purpose).
    cuda = job.config["hardware"]["cuda"]
    assert job.config["trl"]["use_cpu"] is not cuda
    if method == "qlora":
        assert job.config["quantization"] == "nf4 4-bit"
        paged = "paged_adamw_8bit" if cuda else "adamw_torch_fused"  # paging needs CUDA
        assert job.config["trl"]["optim"] == paged
        assert job.config["peft"]["optim"] == "paged_adamw_8bit"
    if method == "dora":
        assert any("lora_magnitude_vector" in n for n in watcher.changed)


def test_loss_and_every_channel_are_logged_for_every_step(make_job, tiny_model):
    job = run(make_job(base_model=tiny_model, max_steps=4, eval_steps=2))
    assert job.status == JobStatus.SUCCEEDED, job.error
    series = metric_series(job=job)
    steps = [s for s, _ in series["loss"]]
    assert steps == [1, 2, 3, 4]
    for name in (
        "loss/qa",
        "loss/math",
        "loss/creative",
        "loss/special_tokens",
        "loss/content_tokens",
        "lr",
        "grad_norm",
    ):
        assert [s for s, _ in series[name]] == steps, name
    assert [s for s, _ in series["tokens_per_second"]] == [2, 3, 4]
    for name in (
        "eval/loss",
        "eval/loss/qa",
        "eval/loss/math",
        "eval/loss/creative",
        "eval/loss/special_tokens",
    ):
        assert [s for s, _ in series[name]] == [2, 4], name
    # The overall loss is the token-weighted mean of the channels, so it lies between them.
    for step, loss in series["loss"]:
        channel = [dict(series[f"loss/{t}"])[step] for t in ("qa", "math", "creative")]
        assert min(channel) - 1e-4 <= loss <= max(channel) + 1e-4
    assert job.step == job.total_steps == 4
    assert job.data_report["after"]["train"] == {"qa": 6, "math": 6, "creative": 6}


def test_prompt_tuning_channels_skip_the_virtual_tokens(make_job, tiny_model):
    job = run(
        make_job(base_model=tiny_model, peft_method="prompt_tuning", max_steps=2, eval_steps=0)
    )
    series = metric_series(job=job)
    for step, loss in series["loss"]:
        channel = [dict(series[f"loss/{t}"])[step] for t in ("qa", "math", "creative")]
        assert min(channel) - 1e-4 <= loss <= max(channel) + 1e-4


def test_truncated_and_dropped_rows_are_counted_per_task_type(project, make_job, tiny_model):
    rows = sample_conversations()
    long_answer = {
        "task_type": "creative",
        "messages": [
            {"role": "user", "content": "Write."},
            {"role": "assistant", "content": "the sea is wide " * 30},
        ],
    }
    long_prompt = {
        "task_type": "qa",
        "messages": [
            {"role": "user", "content": "the quick brown fox " * 40},
            {"role": "assistant", "content": "Yes."},
        ],
    }
    snapshot = snapshot_write(
        project=project, train=[*rows, long_answer, long_prompt], name="long rows"
    )
    job = run(make_job(base_model=tiny_model, snapshot=snapshot, max_length=96, max_steps=2))
    assert job.status == JobStatus.SUCCEEDED, job.error
    before = job.data_report["before"]["train"]
    assert before["creative"] == {"rows": 4, "truncated": 1, "dropped": 0}
    assert before["qa"] == {"rows": 4, "truncated": 0, "dropped": 1}
    assert before["math"] == {"rows": 3, "truncated": 0, "dropped": 0}
    assert job.data_report["after"]["train"] == {"creative": 4, "qa": 3, "math": 3}


@pytest.mark.slow
def test_a_run_that_memorizes_triggers_the_overfitting_warnings(project, make_job, tiny_model):
    from training.diagnostics import job_diagnostics

    rows = sample_conversations()
    snapshot = snapshot_write(
        project=project, train=rows[:3], validation=rows[3:], name="three rows"
    )
    job = run(
        make_job(
            base_model=tiny_model,
            snapshot=snapshot,
            peft_method="full",
            learning_rate=1e-2,
            max_steps=30,
            logging_steps=2,
            per_device_train_batch_size=3,
        )
    )
    found = {d.title: d for d in job_diagnostics(job=job, series=metric_series(job=job))}
    assert found["Memorizing"].level == "warn"
    assert found["Overfitting"].level == "warn"
    assert found["Special tokens"].level == "ok"


def test_adapter_loads_with_peft_generates_and_merges(make_job, tiny_model):
    import torch

    from training.generation import adapter_generate, adapter_load
    from training.services import adapter_merge

    job = run(make_job(base_model=tiny_model, learning_rate=1e-2))
    adapter = Adapter.objects.get(job=job)
    text = adapter_generate(
        path=adapter.path,
        base_model=adapter.base_model,
        method="lora",
        messages=[{"role": "user", "content": "What is two plus two?"}],
        max_new_tokens=5,
    )
    assert isinstance(text, str)
    peft_model, tokenizer = adapter_load(
        path=adapter.path, base_model=adapter.base_model, method="lora"
    )
    assert type(peft_model).__name__ == "PeftModelForCausalLM"
    ids = tokenizer("the sea is blue", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = peft_model(ids).logits
    adapter = adapter_merge(adapter=adapter)
    merged, _ = adapter_load(path=adapter.merged_path, base_model="", method="full")
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, expected, atol=1e-4)
    meta = json.loads(Path(adapter.path, "flywheel.json").read_text())
    assert meta["job"] == job.pk
    assert TrainingJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED
    assert MetricPoint.objects.filter(job=job, name="loss").exists()


def test_merging_prompt_tuning_is_refused(make_job, tiny_model):
    from training.services import adapter_merge
    from training.services.adapters import AdapterError

    job = TrainingJob(pk=0)
    adapter = Adapter(job=job, method="prompt_tuning", path="/x", base_model=tiny_model)
    with pytest.raises(AdapterError, match="Only LoRA and DoRA adapters can be merged"):
        adapter_merge(adapter=adapter)
