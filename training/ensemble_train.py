"""The run of a prompt-ensemble job: a prompt-tuning SFT job with `ensemble_size` > 1.

The base is loaded once and stays frozen; the members are trained one after another, each its
own prompt-tuning adapter wrapped around that same base by TRL's SFTTrainer (prompt tuning adds
virtual-token embeddings in front of the input and injects nothing into the base, so the base
weights stay bit-identical: tests/training/test_ensemble.py checks them after every member).

- Seeds and inits: member i uses seed + i, and its own init text when the job lists one
  (training/ensemble.py `member_plan`).
- Metrics: each member's values are stored as `member/<i>/<name>` at the member's own step
  (`member/0/loss`, `member/0/eval/loss`, `member/0/loss/qa`...), so the members' curves
  overlay on one axis; the plain names (`loss`, `eval/loss`, `loss/<task_type>`...) hold the
  mean over the members trained so far at that step, so the job's charts and diagnostics read
  the ensemble as they read any SFT run.
- Progress: the job's step and total count every member's steps (total = members x steps).
- Cancel: the running member saves a checkpoint and the job ends cancelled.
- Resume (retry after a cancel or a lost worker): members whose folder holds `member.json` are
  done and skipped; the member that was running resumes from its newest complete checkpoint
  in `checkpoints/member-<i>/` (the trainer also saves one at a member's last step, so a
  member killed before `member.json` was written is saved again without training); the means
  are rebuilt from the stored member metrics.
- Result: one Adapter (method prompt_tuning) whose folder holds `member-<i>/` (each a PEFT
  adapter), the tokenizer and `ensemble.json`; the ensemble's validation loss is measured at
  the end with all members on the one base and stored in the manifest and the data report.

Worker-side code only: torch, transformers, peft and trl are imported inside the functions.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .ensemble import MANIFEST, MEMBER_DONE, member_metric, member_plan, member_summary
from .models import JobStatus, TrainingJob


class MemberMeans:
    """Turns one member's logged values into `member/<i>/<name>` plus `<name>` = the mean over
    the members that logged `<name>` at that step so far."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, int], dict[int, float]] = defaultdict(dict)

    def load(self, series: dict[str, list[tuple[int, float]]]) -> None:
        """Values stored by an earlier run of the job (a resume)."""
        for key, points in series.items():
            parts = key.split("/", 2)
            if len(parts) == 3 and parts[0] == "member" and parts[1].isdigit():
                for step, value in points:
                    self._values[(parts[2], step)][int(parts[1])] = value

    def expand(self, member: int, step: int, values: dict[str, float | None]) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, value in values.items():
            if value is None or not math.isfinite(float(value)):
                continue
            slot = self._values[(name, step)]
            slot[member] = float(value)
            out[member_metric(member, name)] = float(value)
            out[name] = sum(slot.values()) / len(slot)
        return out


def build_ensemble_callback_class():
    """The SFT JobCallback with the member's steps placed on the job's step count and its
    metrics stored per member (and as the running mean)."""
    from .job_callback import PROGRESS_SECONDS, build_callback_class
    from .services import job_record, metric_points_record_steps

    class EnsembleJobCallback(build_callback_class()):
        def __init__(
            self,
            *,
            job_id: int,
            trainer,
            member: int,
            size: int,
            means: MemberMeans,
            first: bool,
        ):
            super().__init__(job_id=job_id, trainer=trainer)
            self.member = member
            self.size = size
            self.means = means
            self.first = first

        def _job_state(self, state):
            """The member's step as a step of the whole job."""
            return SimpleNamespace(
                global_step=self.member * state.max_steps + state.global_step,
                max_steps=self.size * state.max_steps,
            )

        def _write_progress(self, state, control, *, force: bool = False):
            super()._write_progress(self._job_state(state), control, force=force)

        def on_train_begin(self, args, state, control, **kwargs):
            job = self._job_state(state)
            self._started = time.monotonic()
            self._start_step = job.global_step
            if state.is_world_process_zero:
                fields: dict[str, Any] = {"total_steps": job.max_steps}
                if self.first:  # where this process took over: after a resume, not 0
                    fields["resumed_from_step"] = job.global_step or None
                job_record(job_id=self.job_id, **fields)

        def _flush(self, *, force: bool = False):
            now = time.monotonic()
            if not self._pending or (not force and now - self._last_flush < PROGRESS_SECONDS):
                return
            self._last_flush = now
            pending, self._pending = self._pending, []
            steps = [
                (step, self.means.expand(self.member, step, values)) for step, values in pending
            ]
            metric_points_record_steps(job_id=self.job_id, steps=steps)

    return EnsembleJobCallback


def member_peft(peft: dict[str, Any], member: dict[str, Any]) -> dict[str, Any]:
    """The job's prompt-tuning settings with this member's init."""
    return {**peft, "init": member["init"], "init_text": member["init_text"] or ""}


def _unpatch_forward(model) -> None:
    """SFTTrainer patches the base's forward with its fused LM head (an instance attribute);
    drop it so the next member patches a clean model and inference gets logits."""
    model.__dict__.pop("forward", None)


def train_ensemble(job: TrainingJob, *, callbacks: list | None = None) -> str:
    """Train every member of the job's ensemble; returns the status it ended in."""
    from transformers import set_seed

    from .ensemble import PromptEnsemble
    from .selectors import metric_series
    from .services import adapter_create, job_finish, job_record
    from .services.adapters import folder_size
    from .sft import (
        base_model_size_bytes,
        build_peft_config,
        build_sft_config,
        build_trainer_class,
        load_model,
        peak_memory_bytes,
        sft_prepare,
        special_token_ids,
    )
    from .trl_args import last_complete_checkpoint

    peft, tr = job.config["peft"], job.config["training"]
    plan = member_plan(peft, seed=tr["seed"])
    prep = sft_prepare(
        job,
        extra_config={
            "ensemble": {
                "members": plan,
                "training": "one after another on one frozen base, loaded once",
            }
        },
    )
    main, hardware, tokenizer, resolved = prep.main, prep.hardware, prep.tokenizer, prep.resolved
    encoded, report, has_eval, channels = prep.encoded, prep.report, prep.has_eval, prep.channels
    model = load_model(job.base_model, peft, hardware)
    out = Path(job.output_dir)
    root = out / "adapter"
    means = MemberMeans()
    means.load(metric_series(job=job))
    trainer_class, collator_class = build_trainer_class()
    callback_class = build_ensemble_callback_class()
    first = True
    trainer = None
    for member in plan:
        member_dir = root / member["name"]
        if (member_dir / MEMBER_DONE).is_file():
            continue  # trained by an earlier run of this job
        set_seed(member["seed"])  # the random soft prompt is drawn when the trainer wraps
        args = build_sft_config(job, hardware=hardware, has_eval=has_eval)
        args.output_dir = str(out / "checkpoints" / member["name"])
        args.seed = member["seed"]
        trainer = trainer_class(
            model=model,
            args=args,
            train_dataset=encoded["train"],
            eval_dataset=encoded["validation"] if has_eval else None,
            processing_class=tokenizer,
            peft_config=build_peft_config(member_peft(peft, member), base_model=job.base_model),
            data_collator=collator_class(pad_token_id=tokenizer.pad_token_id),
            channels=channels,
            special_ids=special_token_ids(tokenizer),
        )
        callback = callback_class(
            job_id=job.pk,
            trainer=trainer,
            member=member["index"],
            size=len(plan),
            means=means,
            first=first,
        )
        trainer.add_callback(callback)
        for extra in callbacks or []:
            trainer.add_callback(extra)
        if first and main:
            trainable, total = trainer.model.get_nb_trainable_parameters()
            job_record(
                job_id=job.pk,
                config=resolved,
                trainable_params=trainable * len(plan),
                total_params=total + trainable * (len(plan) - 1),
                full_model_size_bytes=base_model_size_bytes(job.base_model, total - trainable),
            )
        first = False
        trainer.train(resume_from_checkpoint=last_complete_checkpoint(args.output_dir))
        _unpatch_forward(model)
        if callback.cancelled:
            if main:
                job_record(job_id=job.pk, peak_memory_bytes=peak_memory_bytes(hardware))
                job_finish(job_id=job.pk, status=JobStatus.CANCELLED)
            return JobStatus.CANCELLED
        if main:
            trainer.model.save_pretrained(str(member_dir))
            (member_dir / MEMBER_DONE).write_text(json.dumps(member, indent=2))

    if not main:
        return JobStatus.SUCCEEDED
    trained_rows = {}
    if trainer is not None:
        for name, dataset in (
            ("train", trainer.train_dataset),
            ("validation", trainer.eval_dataset),
        ):
            if dataset is not None:
                counts: dict[str, int] = defaultdict(int)
                for i in dataset["task_type_id"]:
                    counts[channels[i]] += 1
                trained_rows[name] = dict(counts)

    tokenizer.save_pretrained(str(root))
    model.eval()
    ensemble = PromptEnsemble(
        base=model,
        tokenizer=tokenizer,
        members={m["name"]: root / m["name"] for m in plan},
        chat_template=prep.chat_template,
    )
    evaluation = (
        ensemble.eval_loss(encoded["validation"], max_length=tr["max_length"]) if has_eval else None
    )
    series = metric_series(job=job)
    members = [{**m, "path": m["name"], **member_summary(series, m["index"])} for m in plan]
    manifest = {
        "kind": "prompt_tuning_ensemble",
        "job": job.pk,
        "base_model": job.base_model,
        "num_virtual_tokens": peft["num_virtual_tokens"],
        "members": members,
        "eval": evaluation,
        "scoring": "mean over members of each member's mean token log-likelihood",
        "generation": "decoding from the mean of the members' next-token log-probabilities",
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2))
    (root / "flywheel.json").write_text(json.dumps({"job": job.pk, "config": resolved}, indent=2))
    job_record(
        job_id=job.pk,
        data_report={
            "before": report,
            "after": trained_rows,
            "ensemble": {"members": members, "eval": evaluation},
        },
        peak_memory_bytes=peak_memory_bytes(hardware),
    )
    job.refresh_from_db()
    adapter_create(
        job=job,
        path=root,
        name=f"Prompt tuning ensemble of {len(plan)} · job {job.pk}",
    )
    job_record(job_id=job.pk, adapter_size_bytes=folder_size(root))
    job_finish(job_id=job.pk, status=JobStatus.SUCCEEDED)
    return JobStatus.SUCCEEDED
