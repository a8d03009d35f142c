"""Validate the settings of reward, DPO and PPO jobs (pure Python, no torch).

They travel in the job's hyperparameters and are resolved into `config["rl"]`."""

from __future__ import annotations

from typing import Any

from .config import ConfigError
from .models import JobKind, PeftMethod

ERROR_ADAPTER_MISSING = "A {kind} job needs the id of {what} adapter in '{field}'."
ERROR_ADAPTER_NOT_FOUND = "Adapter {pk} does not exist in this project."
ERROR_ADAPTER_KIND = "Adapter {pk} comes from a {actual} job; '{field}' needs a {needed} adapter."
ERROR_ADAPTER_ENSEMBLE = (
    "Adapter {pk} is a prompt-tuning ensemble; '{field}' needs a single adapter to train on."
)
ERROR_NUMBER = "{name} must be a number greater than {minimum}."
ERROR_LOSS_TYPE = "DPO loss type must be one of: {choices}."
ERROR_LONG_PAIRS = "Long pairs must be 'drop' (TRL's behaviour) or 'truncate'."
ERROR_METHOD_KIND = (
    "{kind} jobs train a LoRA, DoRA or QLoRA adapter, not {method}: choose one of those."
)
ERROR_POLICY_METHOD = (
    "Adapter {pk} is a {actual} adapter; a {kind} job continues training its policy adapter, "
    "so pick an SFT adapter trained with LoRA, DoRA or QLoRA."
)
ERROR_METHOD_POLICY = (
    "The policy adapter {pk} is {actual} and a {kind} job keeps training it as it is: "
    "choose {allowed} (QLoRA loads the base in 4-bit on a GPU), not {method}."
)
ERROR_BASE_POLICY = (
    "The policy adapter {pk} was trained on {adapter_base}; a {kind} job trains it on that "
    "base, so set the base model to {adapter_base}."
)
ERROR_REWARD_BASE = (
    "Reward adapter {pk} was trained on {reward_base} but the policy on {policy_base}: PPO "
    "scores the policy's tokens with the reward model and its value model, so both need the "
    "policy's base (and tokenizer). Train a reward model on {policy_base}, or use GRPO/RLOO, "
    "which re-tokenize the text for the reward model."
)

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


def _adapter(values: dict, key: str, *, kind: str, what: str, needed: str, project):
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
    return adapter


ONLINE_KINDS = (JobKind.GRPO, JobKind.RLOO)


def _adapters(values: dict, *, kind: str, project) -> dict:
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
        adapters = _adapters(values, kind=JobKind(kind).label, project=project)
        values.update({k: a.pk for k, a in adapters.items()})
        values["kl_coef"] = _number(values, "kl_coef", name="KL coefficient", minimum=-1e-12)
        values["temperature"] = _number(values, "temperature", name="Temperature", minimum=0)
        for key, name in (
            ("response_length", "Response length"),
            ("num_generations", "Generations per prompt"),
        ):
            values[key] = _number(values, key, name=name, minimum=0, cast=int)
    elif kind == JobKind.PPO:
        adapters = _adapters(values, kind="PPO", project=project)
        values.update({k: a.pk for k, a in adapters.items()})
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


LORA_METHODS = (PeftMethod.LORA, PeftMethod.DORA, PeftMethod.QLORA)
POLICY_KINDS = (JobKind.PPO, *ONLINE_KINDS)


def _family(method: str) -> tuple[str, ...]:
    """The job methods that keep training an adapter of `method` as it is: DoRA stays DoRA;
    a LoRA adapter is the same adapter on a full-precision (LoRA) or 4-bit (QLoRA) base."""
    return (PeftMethod.DORA,) if method == PeftMethod.DORA else (PeftMethod.LORA, PeftMethod.QLORA)


def rl_method_check(*, kind: str, method: str, base_model: str, rl: dict[str, Any]) -> None:
    """Relate the job's PEFT method and base model to its kind, before anything is queued.

    Reward and DPO jobs train a LoRA-family adapter. PPO, GRPO and RLOO keep training the
    policy adapter on its own base: the job's base must be that base, its method one the
    adapter can be trained as, and for PPO the reward adapter shares the base (its tokens)."""
    from .models import Adapter

    label = JobKind(kind).label
    if kind in (JobKind.REWARD, JobKind.DPO) and method not in LORA_METHODS:
        raise ConfigError(
            ERROR_METHOD_KIND.format(kind=label, method=PeftMethod(method).label),
            field="peft_method",
        )
    if kind not in POLICY_KINDS:
        return
    policy = Adapter.objects.get(pk=rl["policy_adapter"])
    if policy.method not in LORA_METHODS:
        raise ConfigError(
            ERROR_POLICY_METHOD.format(
                pk=policy.pk, actual=policy.get_method_display(), kind=label
            ),
            field="policy_adapter",
        )
    allowed = _family(policy.method)
    if method not in allowed:
        raise ConfigError(
            ERROR_METHOD_POLICY.format(
                pk=policy.pk,
                actual=policy.get_method_display(),
                kind=label,
                allowed=" or ".join(PeftMethod(m).label for m in allowed),
                method=PeftMethod(method).label,
            ),
            field="peft_method",
        )
    if base_model != policy.base_model:
        raise ConfigError(
            ERROR_BASE_POLICY.format(pk=policy.pk, adapter_base=policy.base_model, kind=label),
            field="base_model",
        )
    if kind == JobKind.PPO:
        reward = Adapter.objects.get(pk=rl["reward_adapter"])
        if reward.base_model != policy.base_model:
            raise ConfigError(
                ERROR_REWARD_BASE.format(
                    pk=reward.pk, reward_base=reward.base_model, policy_base=policy.base_model
                ),
                field="reward_adapter",
            )


LORA_SHAPE = ("r", "lora_alpha", "lora_dropout", "target_modules")


def policy_lora_shape(peft: dict[str, Any], *, policy_adapter_id: int) -> dict[str, Any]:
    """PPO, GRPO and RLOO keep training the policy adapter, so its rank, alpha, dropout and
    target modules are the adapter's, whatever the job's form said: the job's config records
    those (read from the adapter's PEFT `adapter_config.json`), and where they came from."""
    import json
    from pathlib import Path

    from .models import Adapter

    adapter = Adapter.objects.get(pk=policy_adapter_id)
    try:
        saved = json.loads((Path(adapter.path) / "adapter_config.json").read_text())
    except (OSError, ValueError):
        return peft  # the worker loads the adapter and fails there with its own message
    shape = {key: saved[key] for key in LORA_SHAPE if key in saved}
    if isinstance(shape.get("target_modules"), list):
        shape["target_modules"] = sorted(shape["target_modules"])
    return {**peft, **shape, "lora_from": f"policy adapter {adapter.pk}"}
