"""Loss diagnostics computed from a job's stored metrics (pure Python, web-side).

The rules of thumb come from fine-tuning practice: a pretrained 7B-13B model starts SFT near
2.0 and a ~70B one between 1.0 and 2.0; a run that has converged sits near 0.5; below 0.2-0.3
the model is memorizing; a loss that rises consistently means a bug or a bad hyperparameter,
not hard data; special and template tokens are learned first, so their loss should drop fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median

from .models import JobKind, TrainingJob

MIN_POINTS = 5
TOKEN_CHANNELS = ("loss/special_tokens", "loss/content_tokens")
RL_KINDS = {JobKind.REWARD, JobKind.DPO, JobKind.PPO, JobKind.GRPO, JobKind.RLOO}
# Losses that fall as the model learns, like SFT's. GRPO/RLOO log a policy-gradient surrogate
# that sits near zero and may be negative: its direction says nothing about the run.
PAIRWISE_LOSS_KINDS = {JobKind.REWARD, JobKind.DPO}
RISE_FRACTION = 0.05
RISE_Z = 2.33  # one-sided 1% level of the Mann-Kendall trend test
TREND_BINS = 100
MEMORIZING_BELOW = 0.3
# A task type is "not learning" when its loss fell by less than this share of the median fall
# of the other task types, and those fell by at least STUCK_OTHERS_MIN.
STUCK_RATIO = 0.25
STUCK_OTHERS_MIN = 0.10
SPECIAL_SLOW_RATIO = 0.8

# Task types whose answers are open-ended, against those with one right answer.
CREATIVE = {
    "creative",
    "writing",
    "story",
    "poetry",
    "brainstorm",
    "brainstorming",
    "chat",
    "open_qa",
}
FIXED = {"qa", "math", "code", "classification", "extraction", "closed_qa", "summarization"}

TEXT_RISING = (
    "Training loss is rising consistently ({first:.3f} → {last:.3f}). Look for a bug or a bad "
    "hyperparameter (labels, masking, learning rate), not hard data."
)
TEXT_MEMORIZING = (
    "Training loss fell to {last:.3f}, below 0.3: the model is likely memorizing the data. "
    "Use fewer epochs, a lower learning rate or more data."
)
TEXT_OVERFITTING = (
    "Validation loss rises ({best:.3f} → {last:.3f}) while training loss falls "
    "({train_first:.3f} → {train_last:.3f}): the model is overfitting. Stop earlier."
)
TEXT_SPECIAL_SLOW = (
    "Special-token loss (the end-of-turn / eos tokens the model must write) is still "
    "{ratio:.0%} of where it started ({first:.3f} → {last:.3f}). They are usually learned "
    "first; check the chat template's generation markers and the eos token."
)
TEXT_SPECIAL_OK = "Special-token loss dropped from {first:.3f} to {last:.3f}."
TEXT_CONVERGED = "Training loss {last:.3f} is near 0.5, where a converged SFT run usually sits."
TEXT_STUCK = (
    "{names} {verb} not learning ({detail}) while the other task types fell by {others:.0%}. "
    "Broken labels show up this way: answers that nothing in the prompt predicts (a wrong "
    "tokenizer or template at export, shuffled answers) stay at the noise floor, while the rest "
    "of the data trains. Look at a few rows of that task type."
)
TEXT_CHANNELS = (
    "Open-ended channels ({creative}) end at {creative_loss:.3f}; fixed-answer channels "
    "({fixed}) at {fixed_loss:.3f}. Open-ended text has no single right answer, so its loss "
    "stays higher; compare each channel with itself over time."
)


@dataclass(frozen=True)
class Diagnostic:
    level: str  # "ok" | "note" | "warn"
    title: str
    text: str


def expected_initial_loss(total_params: int | None) -> tuple[float, float, str]:
    """(low, high, label) for a pretrained model of this size at the start of SFT."""
    if not total_params:
        return 1.0, 3.0, "a pretrained model"
    if total_params >= 40e9:
        return 1.0, 2.0, "a ~70B model"
    if total_params >= 5e9:
        return 1.6, 2.4, "a 7B-13B model"
    if total_params >= 1e9:
        return 1.8, 3.0, "a 1B-5B model"
    return 2.0, 4.0, "a model under 1B parameters"


def task_type_series(series: dict[str, list[tuple[int, float]]]) -> dict[str, list]:
    """The training loss of each task type, by task type (`loss/<task_type>`)."""
    return {
        name.removeprefix("loss/"): values
        for name, values in series.items()
        if name.startswith("loss/") and name not in TOKEN_CHANNELS
    }


def last_value(series: list[tuple[int, float]]) -> float:
    return series[-1][1]


def quarter_means(series: list[tuple[int, float]]) -> tuple[float, float]:
    k = max(1, len(series) // 4)
    first = sum(v for _, v in series[:k]) / k
    last = sum(v for _, v in series[-k:]) / k
    return first, last


def _binned(values: list[float], bins: int) -> list[float]:
    """Means of at most `bins` consecutive chunks: keeps the trend test cheap on long runs."""
    if len(values) <= bins:
        return values
    size = len(values) / bins
    chunks = [values[round(i * size) : round((i + 1) * size)] for i in range(bins)]
    return [sum(c) / len(c) for c in chunks if c]


def trend_z(series: list[tuple[int, float]]) -> float:
    """Mann-Kendall trend statistic, standardised: over all pairs of points, how much more
    often the later value is higher than lower. Counting consecutive steps that go up is
    dominated by batch-to-batch noise (a real loss that climbs by 10% over a run still goes
    down on about half its steps); pairs over the whole run measure the drift."""
    values = _binned([v for _, v in series], TREND_BINS)
    n = len(values)
    if n < 3:
        return 0.0
    s = sum((b > a) - (b < a) for i, a in enumerate(values) for b in values[i + 1 :])
    variance = n * (n - 1) * (2 * n + 5) / 18
    return (s - (s > 0) + (s < 0)) / math.sqrt(variance)  # with continuity correction


def _rises_consistently(series: list[tuple[int, float]]) -> bool:
    """Last quarter above the first by RISE_FRACTION, and a rising trend over the whole run
    that noise alone would give less than 1% of the time (Mann-Kendall, one-sided)."""
    if len(series) < MIN_POINTS:
        return False
    first, last = quarter_means(series)
    if first <= 0:  # a relative rise means nothing for a loss that is not positive
        return False
    return last > first * (1 + RISE_FRACTION) and trend_z(series) >= RISE_Z


def _rising(loss: list[tuple[int, float]]) -> list[Diagnostic]:
    if not _rises_consistently(loss):
        return []
    first, last = quarter_means(loss)
    return [Diagnostic("warn", "Loss is rising", TEXT_RISING.format(first=first, last=last))]


def _overfitting(
    loss: list[tuple[int, float]], eval_loss: list[tuple[int, float]]
) -> list[Diagnostic]:
    """Validation loss above its best while training loss still falls."""
    if len(eval_loss) < 3 or len(loss) < 3:
        return []
    first, _ = quarter_means(loss)
    last = last_value(loss)
    best = min(v for _, v in eval_loss)
    eval_last = last_value(eval_loss)
    if eval_last > best * (1 + RISE_FRACTION) and last < first:
        text = TEXT_OVERFITTING.format(
            best=best, last=eval_last, train_first=first, train_last=last
        )
        return [Diagnostic("warn", "Overfitting", text)]
    return []


def job_diagnostics(
    *, job: TrainingJob, series: dict[str, list[tuple[int, float]]]
) -> list[Diagnostic]:
    """What the stored metrics say about the run; `series` maps metric name → [(step, value)].

    The SFT rules of thumb (initial loss for the model size, memorizing below 0.3, converged
    near 0.5, special tokens, task-type channels) only hold for next-token loss; reward, DPO
    and online RL jobs get the rules that hold for any loss and their own (rl_diagnostics)."""
    if job.kind in RL_KINDS:
        # rl_diagnostics builds on this module's helpers, so it is imported here.
        from .rl_diagnostics import rl_diagnostics

        out = []
        if job.kind in PAIRWISE_LOSS_KINDS:
            loss = series.get("loss", [])
            out = _rising(loss) + _overfitting(loss, series.get("eval/loss", []))
        return out + rl_diagnostics(kind=job.kind, series=series)
    return sft_diagnostics(job=job, series=series)


def sft_diagnostics(
    *, job: TrainingJob, series: dict[str, list[tuple[int, float]]]
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    loss = series.get("loss", [])
    if not loss:
        return out
    low, high, label = expected_initial_loss(job.total_params)
    initial = loss[0][1]
    vocab = (job.config or {}).get("vocab_size")
    if low <= initial <= high:
        out.append(
            Diagnostic(
                "ok",
                "Initial loss",
                f"Initial loss {initial:.3f} is in the expected {low:.1f}-{high:.1f} for {label}.",
            )
        )
    else:
        hint = (
            " A loss near ln(vocabulary) means random weights, not a pretrained model."
            if initial > high
            else ""
        )
        out.append(
            Diagnostic(
                "note",
                "Initial loss",
                f"Initial loss {initial:.3f} is outside the {low:.1f}-{high:.1f} expected "
                f"for {label}.{hint}" + (f" (vocabulary {vocab})" if vocab else ""),
            )
        )
    out += _rising(loss)
    last = last_value(loss)
    if last < MEMORIZING_BELOW:
        out.append(Diagnostic("warn", "Memorizing", TEXT_MEMORIZING.format(last=last)))
    elif 0.3 <= last <= 0.7:
        out.append(Diagnostic("ok", "Converged", TEXT_CONVERGED.format(last=last)))
    out += _overfitting(loss, series.get("eval/loss", []))
    special = series.get("loss/special_tokens", [])
    if len(special) >= MIN_POINTS:
        s_first, s_last = special[0][1], last_value(special)
        ratio = s_last / s_first if s_first else 1.0
        if ratio > SPECIAL_SLOW_RATIO:
            out.append(
                Diagnostic(
                    "note",
                    "Special tokens",
                    TEXT_SPECIAL_SLOW.format(ratio=ratio, first=s_first, last=s_last),
                )
            )
        else:
            out.append(
                Diagnostic(
                    "ok", "Special tokens", TEXT_SPECIAL_OK.format(first=s_first, last=s_last)
                )
            )
    channels = {name: last_value(v) for name, v in task_type_series(series).items() if v}
    out += _stuck_channels(series)
    creative = {k: v for k, v in channels.items() if k in CREATIVE}
    fixed = {k: v for k, v in channels.items() if k in FIXED}
    if creative and fixed:
        out.append(
            Diagnostic(
                "note",
                "Creative vs fixed-answer",
                TEXT_CHANNELS.format(
                    creative=", ".join(sorted(creative)),
                    creative_loss=sum(creative.values()) / len(creative),
                    fixed=", ".join(sorted(fixed)),
                    fixed_loss=sum(fixed.values()) / len(fixed),
                ),
            )
        )
    return out


def _stuck_channels(series: dict[str, list[tuple[int, float]]]) -> list[Diagnostic]:
    """Task types whose training loss does not move while the others learn.

    Broken labels do not make the overall loss rise (measured: a run whose answers are random
    tokens settles at the noise floor, ln of the label vocabulary), but mixed with good data
    they leave their own channel flat: this is what loss per task type is for."""
    quarters = {
        name: quarter_means(values)
        for name, values in task_type_series(series).items()
        if len(values) >= MIN_POINTS
    }
    falls = {name: 1 - last / first for name, (first, last) in quarters.items() if first > 0}
    if len(falls) < 2:
        return []
    stuck = [
        name
        for name, fall in falls.items()
        if (others := median(v for k, v in falls.items() if k != name)) >= STUCK_OTHERS_MIN
        and fall < STUCK_RATIO * others
    ]
    if not stuck or len(stuck) == len(falls):
        return []
    learning = [v for k, v in falls.items() if k not in stuck]
    names = ", ".join(f"'{n}'" for n in sorted(stuck))
    text = TEXT_STUCK.format(
        names=f"Task type {names}" if len(stuck) == 1 else f"Task types {names}",
        verb="is" if len(stuck) == 1 else "are",
        detail="; ".join(f"{n} {quarters[n][0]:.3f} → {quarters[n][1]:.3f}" for n in sorted(stuck)),
        others=sum(learning) / len(learning),
    )
    return [Diagnostic("warn", "Task type not learning", text)]
