"""Validate the settings of reward, DPO and PPO jobs (pure Python, no torch).

They travel in the job's hyperparameters and are resolved into `config["rl"]`."""

from __future__ import annotations

from typing import Any

from .config import ConfigError
from .models import JobKind

ERROR_ADAPTER_MISSING = "A {kind} job needs the id of {what} adapter in '{field}'."
ERROR_ADAPTER_NOT_FOUND = "Adapter {pk} does not exist in this project."
ERROR_ADAPTER_KIND = "Adapter {pk} comes from a {actual} job; '{field}' needs a {needed} adapter."
ERROR_ADAPTER_ENSEMBLE = (
    "Adapter {pk} is a prompt-tuning ensemble; '{field}' needs a single adapter to train on."
)
ERROR_NUMBER = "{name} must be a number greater than {minimum}."
ERROR_LOSS_TYPE = "DPO loss type must be one of: {choices}."
ERROR_LONG_PAIRS = "Long pairs must be 'drop' (TRL's behaviour) or 'truncate'."

# What each kind reads.
SNAPSHOT_KIND = {
    JobKind.SFT: "sft",
    JobKind.REWARD: "preference",
    JobKind.DPO: "preference",
    JobKind.PPO: "prompts",
    JobKind.GRPO: "prompts",
    JobKind.RLOO: "prompts",
    JobKind.GENERATE: "prompts",
}
DPO_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "robust")

ONLINE_DEFAULTS: dict[str, Any] = {
    "kl_coef": 0.04,
    "response_length": 32,
    "temperature": 1.0,
    "num_generations": 4,
}

DEFAULTS: dict[str, dict[str, Any]] = {
    JobKind.GRPO: ONLINE_DEFAULTS,
    JobKind.RLOO: ONLINE_DEFAULTS,
    JobKind.REWARD: {"long_pairs": "drop", "center_rewards_coefficient": 0.0},
    JobKind.DPO: {"beta": 0.1, "loss_type": "sigmoid"},
    JobKind.PPO: {
        "kl_coef": 0.05,
        "response_length": 32,
        "temperature": 0.7,
        "num_ppo_epochs": 4,
        "mini_batch_size": 4,
        "missing_eos_penalty": 1.0,
        "sample_every": 5,
    },
}


def _number(values: dict, key: str, *, name: str, minimum: float, cast=float) -> Any:
    try:
        number = cast(values[key])
    except (TypeError, ValueError):
        raise ConfigError(ERROR_NUMBER.format(name=name, minimum=minimum), field=key) from None
    if number <= minimum:
        raise ConfigError(ERROR_NUMBER.format(name=name, minimum=minimum), field=key)
    return number


def _adapter(values: dict, key: str, *, kind: str, what: str, needed: str, project) -> int:
    from .models import Adapter

    pk = values.get(key)
    if pk in (None, ""):
        raise ConfigError(ERROR_ADAPTER_MISSING.format(kind=kind, what=what, field=key), field=key)
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise ConfigError(ERROR_ADAPTER_NOT_FOUND.format(pk=pk), field=key) from None
    adapter = Adapter.objects.select_related("job").filter(pk=pk, job__project=project).first()
    if adapter is None:
        raise ConfigError(ERROR_ADAPTER_NOT_FOUND.format(pk=pk), field=key)
    if adapter.job.kind != needed:
        raise ConfigError(
            ERROR_ADAPTER_KIND.format(pk=pk, actual=adapter.job.kind, field=key, needed=needed),
            field=key,
        )
    if ((adapter.job.config or {}).get("peft") or {}).get("ensemble_size", 1) > 1:
        raise ConfigError(ERROR_ADAPTER_ENSEMBLE.format(pk=pk, field=key), field=key)
    return adapter.pk


ONLINE_KINDS = (JobKind.GRPO, JobKind.RLOO)


def _adapters(values: dict, *, kind: str, project) -> dict[str, int]:
    return {
        "policy_adapter": _adapter(
            values, "policy_adapter", kind=kind, what="the SFT policy", needed="sft",
            project=project,
        ),
        "reward_adapter": _adapter(
            values, "reward_adapter", kind=kind, what="the reward model", needed="reward",
            project=project,
        ),
    }  # fmt: skip


def rl_resolve(*, kind: str, hyperparameters: dict[str, Any], project) -> dict[str, Any]:
    """Pop the kind's own settings out of `hyperparameters` and return them resolved."""
    defaults = DEFAULTS.get(kind, {})
    keys = set(defaults) | {"policy_adapter", "reward_adapter"}
    given = {k: hyperparameters.pop(k) for k in list(hyperparameters) if k in keys}
    values = {**defaults, **{k: v for k, v in given.items() if v not in (None, "")}}
    if kind == JobKind.REWARD:
        if values["long_pairs"] not in ("drop", "truncate"):
            raise ConfigError(ERROR_LONG_PAIRS, field="long_pairs")
        values["center_rewards_coefficient"] = float(values["center_rewards_coefficient"])
    elif kind == JobKind.DPO:
        values["beta"] = _number(values, "beta", name="Beta", minimum=0)
        if values["loss_type"] not in DPO_LOSS_TYPES:
            raise ConfigError(
                ERROR_LOSS_TYPE.format(choices=", ".join(DPO_LOSS_TYPES)), field="loss_type"
            )
    elif kind in ONLINE_KINDS:
        values.update(_adapters(values, kind=JobKind(kind).label, project=project))
        values["kl_coef"] = _number(values, "kl_coef", name="KL coefficient", minimum=-1e-12)
        values["temperature"] = _number(values, "temperature", name="Temperature", minimum=0)
        for key, name in (
            ("response_length", "Response length"),
            ("num_generations", "Generations per prompt"),
        ):
            values[key] = _number(values, key, name=name, minimum=0, cast=int)
    elif kind == JobKind.PPO:
        values["policy_adapter"] = _adapter(
            values, "policy_adapter", kind="PPO", what="the SFT policy", needed="sft",
            project=project,
        )  # fmt: skip
        values["reward_adapter"] = _adapter(
            values, "reward_adapter", kind="PPO", what="the reward model", needed="reward",
            project=project,
        )  # fmt: skip
        values["kl_coef"] = _number(values, "kl_coef", name="KL coefficient", minimum=-1e-12)
        values["temperature"] = _number(values, "temperature", name="Temperature", minimum=0)
        values["missing_eos_penalty"] = _number(
            values, "missing_eos_penalty", name="Missing-EOS penalty", minimum=-1e-12
        )
        for key, name in (
            ("response_length", "Response length"),
            ("num_ppo_epochs", "PPO epochs"),
            ("mini_batch_size", "Minibatch size"),
            ("sample_every", "Sample every"),
        ):
            values[key] = _number(values, key, name=name, minimum=0, cast=int)
    return values
