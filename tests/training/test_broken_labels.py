"""Real SFT runs on the tiny model with deliberately broken labels, beside a healthy run of the
same size, and what the loss diagnostics make of them.

The broken labels are data, the way an export bug would ship them: every assistant turn is a
string of random tokens (as when answers are decoded with the wrong tokenizer), so nothing in
the prompt predicts the answer.

What the runs show (measured on this model, seeds 1-3, full fine-tuning, 24-80 steps, learning
rates 1e-3 to 0.1, batch sizes 1-8): the loss of a broken-label run does not rise
consistently. AdamW learns which tokens occur and settles at the noise floor, ln(number of
distinct label tokens), a little below its random-weight start of ln(vocabulary); at high
learning rates it first climbs for a few steps and then comes back. The rising-loss warning
therefore fires on no seed reliably, and it is not asserted here. These tests pin down what
does hold: the broken labels reach the loss and it stays at the noise floor, while the healthy
run of the same size learns and does not trip the warning.

What broken labels do show is in the loss per task type: when one task type's answers are
broken and the rest are sound, the sound channels fall by 40-80% while the broken one stays
within a few percent of where it started (measured: seeds 1-3, learning rates 3e-3 to 2e-2,
24 and 48 steps, full fine-tuning and LoRA). The "Task type not learning" warning names it.
"""

from __future__ import annotations

import math
import random

import pytest

from training.diagnostics import job_diagnostics, quarter_means
from training.selectors import metric_series
from training.services import job_launch
from training.testing import SAMPLE_ROWS, sample_conversations, snapshot_write

pytestmark = [pytest.mark.training, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STEPS, BATCH = 24, 8
HYPER = {
    "learning_rate": 3e-2,
    "lr_scheduler_type": "constant",
    "max_steps": STEPS,
    "per_device_train_batch_size": BATCH,
    "logging_steps": 1,
    "seed": 1,
}


def garbage_conversations(tokenizer_path: str, *, rows: int, length: int, seed: int) -> list[dict]:
    """The sample prompts, each answered by `length` random tokens: ordinary tokens that
    decode to text and encode back to themselves, so the labels are the tokens drawn."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    special = set(tokenizer.all_special_ids)
    ordinary = [
        i
        for i in range(len(tokenizer))
        if i not in special
        and "\ufffd" not in (text := tokenizer.decode([i]))
        and tokenizer.encode(text, add_special_tokens=False) == [i]
    ]
    rng = random.Random(seed)
    out = []
    for n in range(rows):
        row = SAMPLE_ROWS[n % len(SAMPLE_ROWS)]
        answer = tokenizer.decode([rng.choice(ordinary) for _ in range(length)])
        out.append(
            {
                "messages": [
                    {"role": "user", "content": row["q"]},
                    {"role": "assistant", "content": answer},
                ],
                "task_type": row["task_type"],
            }
        )
    return out


def train(make_job, project, tiny_model, rows, name, **hyper):
    from training.sft import run_job

    snapshot = snapshot_write(project=project, train=rows, name=name)
    job = job_launch(
        job=make_job(
            base_model=tiny_model, snapshot=snapshot, peft_method="full", **{**HYPER, **hyper}
        )
    )
    assert run_job(job_id=job.pk) == 0
    job.refresh_from_db()
    loss = metric_series(job=job)["loss"]
    assert len(loss) == STEPS
    return job, loss


def test_broken_labels_keep_the_loss_at_the_noise_floor(make_job, project, tiny_model):
    rows = garbage_conversations(tiny_model, rows=STEPS * BATCH, length=32, seed=1)
    job, loss = train(make_job, project, tiny_model, rows, "Answers are random tokens")
    ln_vocab = math.log(job.config["vocab_size"])
    # Random weights start at ln(vocabulary); with nothing to learn but token frequencies the
    # loss stays within 10% of it for the whole run.
    assert abs(loss[0][1] - ln_vocab) < 0.1
    assert min(v for _, v in loss) > 0.9 * ln_vocab
    titles = {d.title for d in job_diagnostics(job=job, series=metric_series(job=job))}
    assert not titles & {"Converged", "Memorizing"}


def test_a_healthy_run_of_the_same_size_learns_and_does_not_warn(make_job, project, tiny_model):
    rows = sample_conversations(repeat=STEPS * BATCH // len(SAMPLE_ROWS) + 1)[: STEPS * BATCH]
    job, loss = train(make_job, project, tiny_model, rows, "Healthy answers")
    first, last = quarter_means(loss)
    assert last < 0.7 * first
    found = {d.title: d for d in job_diagnostics(job=job, series=metric_series(job=job))}
    assert "Loss is rising" not in found
    assert "Task type not learning" not in found


def test_broken_labels_in_one_task_type_leave_its_channel_flat_and_it_is_named(
    make_job, project, tiny_model
):
    n = STEPS * BATCH
    healthy = sample_conversations(repeat=n // len(SAMPLE_ROWS) + 1)[:n]
    garbage = garbage_conversations(tiny_model, rows=n, length=24, seed=2)
    # The same prompts in the same order; only the math answers are broken.
    rows = [
        bad if good["task_type"] == "math" else good
        for good, bad in zip(healthy, garbage, strict=True)
    ]
    assert [r["messages"][0] for r in rows] == [r["messages"][0] for r in healthy]
    job, _ = train(make_job, project, tiny_model, rows, "Math answers broken", learning_rate=1e-2)
    series = metric_series(job=job)
    first, last = quarter_means(series["loss/math"])
    assert abs(last / first - 1) < 0.1
    for sound in ("qa", "creative"):
        first, last = quarter_means(series[f"loss/{sound}"])
        assert last < 0.75 * first
    found = {d.title: d for d in job_diagnostics(job=job, series=series)}
    assert found["Task type not learning"].level == "warn"
    assert found["Task type not learning"].text.startswith("Task type 'math' is not learning")
