"""The TrainerCallback that ties a run to its job: metrics into `MetricPoint` rows, progress,
ETA and heartbeat into the job, and the cancel flag read back (cooperative cancel).

Worker-side code only: transformers is imported inside the function.
"""

from __future__ import annotations

import os
import time

from .services import job_progress, job_record, metric_points_record_steps

# How often the run writes progress and reads the cancel flag (one UPDATE and one SELECT):
# often enough that cancel feels immediate, rare enough to cost nothing per step.
PROGRESS_SECONDS = float(os.environ.get("FLYWHEEL_PROGRESS_SECONDS", "1"))


def build_callback_class():
    from transformers import TrainerCallback

    class JobCallback(TrainerCallback):
        """Streams metrics, progress and heartbeat into the job's rows; reads the cancel flag."""

        def __init__(self, *, job_id: int, trainer):
            self.job_id = job_id
            self.trainer = trainer
            self.cancelled = False
            self._last_progress = 0.0
            self._tokens = None
            self._started = None
            self._pending: list[tuple[int, dict]] = []
            self._last_flush = 0.0

        def _flush(self, *, force: bool = False):
            """Metrics go to the database at most every PROGRESS_SECONDS, in one statement:
            the page polls every 2 s, and a write per step would cost step time."""
            now = time.monotonic()
            if not self._pending or (not force and now - self._last_flush < PROGRESS_SECONDS):
                return
            self._last_flush = now
            pending, self._pending = self._pending, []
            metric_points_record_steps(job_id=self.job_id, steps=pending)

        def _write_progress(self, state, control, *, force: bool = False):
            now = time.monotonic()
            if not force and now - self._last_progress < PROGRESS_SECONDS:
                return
            self._last_progress = now
            done = state.global_step - (self._start_step or 0)
            per_step = (now - self._started) / done if done > 0 and self._started else None
            if (
                job_progress(
                    job_id=self.job_id,
                    step=state.global_step,
                    total_steps=state.max_steps,
                    seconds_per_step=per_step,
                )
                and not self.cancelled
            ):
                self.cancelled = True
                control.should_training_stop = True
                control.should_save = True

        def on_train_begin(self, args, state, control, **kwargs):
            self._started = time.monotonic()
            self._start_step = state.global_step
            if state.is_world_process_zero:
                # The trainer's own step after loading a checkpoint: proof that a resumed
                # run continues the count instead of starting over.
                job_record(
                    job_id=self.job_id,
                    total_steps=state.max_steps,
                    resumed_from_step=state.global_step or None,
                )

        def on_step_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self._write_progress(state, control, force=state.global_step >= state.max_steps)
            return control

        def on_save(self, args, state, control, **kwargs):
            # Metrics up to a checkpoint are stored with it: a resumed run does not log
            # those steps again.
            if state.is_world_process_zero:
                self._flush(force=True)
                # The page's step then never trails the newest checkpoint by a throttle window.
                self._write_progress(state, control, force=True)

        def on_train_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self._flush(force=True)
                self._write_progress(state, control, force=True)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" in logs:
                values = {
                    "loss": logs["loss"],
                    "lr": logs.get("learning_rate"),
                    "grad_norm": logs.get("grad_norm"),
                    "mean_token_accuracy": logs.get("mean_token_accuracy"),
                    **self.trainer.channel_losses("train"),
                }
                now = time.monotonic()
                tokens = logs.get("num_tokens")
                if tokens is not None and self._tokens is not None and now > self._tokens[1]:
                    values["tokens_per_second"] = (tokens - self._tokens[0]) / (
                        now - self._tokens[1]
                    )
                if tokens is not None:
                    self._tokens = (tokens, now)
            elif "eval_loss" in logs:
                values = {"eval/loss": logs["eval_loss"]}
                values.update(
                    {f"eval/{k}": v for k, v in self.trainer.channel_losses("eval").items()}
                )
            else:
                return
            if state.is_world_process_zero:
                self._pending.append((state.global_step, values))
                self._flush()

    return JobCallback
