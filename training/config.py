"""Validate and resolve a job's config per kind and PEFT method, before anything is queued.

Pure Python (no torch): the admin form, the API and the services all call `config_resolve`,
and the worker builds its TRL config from the result stored on the job.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from flywheel.errors import DomainError

from .models import JobKind, PeftMethod


class ConfigError(DomainError):
    """A config value is wrong; `field` names the form field it belongs to."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


ERROR_LEARNING_RATE = "Learning rate must be a number between 0 and 0.1 (e.g. 2e-4 for LoRA)."
ERROR_POSITIVE_INT = "{name} must be a whole number of at least {minimum}."
ERROR_MAX_STEPS = "Max steps must be -1 (use epochs) or a positive whole number."
ERROR_FRACTION = "{name} must be a number from 0 up to (not including) 1."
ERROR_RANK = "LoRA rank r must be a whole number from 1 to 1024."
ERROR_ALPHA = "LoRA alpha must be a positive number."
ERROR_TARGET_MODULES = (
    "Target modules must be 'all-linear' or a comma-separated list of module names "
    "(e.g. q_proj, v_proj)."
)
ERROR_TARGET_MODULES_UNKNOWN = "{model} has no module named {names}; it has {known}."
ERROR_VIRTUAL_TOKENS = "Prompt tuning needs 1 to 512 virtual tokens."
ERROR_INIT_TEXT = "Text initialization needs the text to initialize the virtual tokens from."
ERROR_INIT = "Prompt tuning initialization must be 'random' or 'text'."
ERROR_ENSEMBLE_SIZE = "Ensemble size must be a whole number from 1 to {maximum}."
ERROR_ENSEMBLE_METHOD = (
    "An ensemble of soft prompts needs prompt tuning; {method} trains one adapter per job."
)
ERROR_ENSEMBLE_KIND = "Prompt ensembles are trained by SFT jobs; this is a {kind} job."
ERROR_ENSEMBLE_INIT_TEXTS = (
    "There are {count} member init texts for an ensemble of {size}: give at most one per member."
)
ERROR_SNAPSHOT_KIND = "A {kind} job needs a {needed} snapshot; this one is {actual}."
ERROR_SNAPSHOT_NOT_READY = "The snapshot is {status}; only a ready snapshot can be trained on."
ERROR_KIND_NOT_YET = "{kind} training is not available yet on this version."
ERROR_SCHEDULER = "Scheduler must be one of: {choices}."

SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
# Soft prompts trained one after another on one frozen base (training/ensemble_train.py).
MAX_ENSEMBLE_SIZE = 8

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "learning_rate": 2e-4,
    "num_train_epochs": 1,
    "max_steps": -1,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 1,
    "max_length": 1024,
    "warmup_ratio": 0.0,
    "weight_decay": 0.0,
    "lr_scheduler_type": "linear",
    "logging_steps": 1,
    "eval_steps": 0,  # 0: evaluate at every logging step when a validation split exists
    "save_steps": 50,
    "seed": 42,
}

DEFAULT_PEFT: dict[str, dict[str, Any]] = {
    PeftMethod.LORA: {
        "r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "target_modules": "all-linear",
    },
    PeftMethod.DORA: {
        "r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "target_modules": "all-linear",
    },
    PeftMethod.QLORA: {
        "r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "target_modules": "all-linear",
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_use_double_quant": True,
        "bnb_4bit_compute_dtype": "bfloat16",
        "optim": "paged_adamw_8bit",
    },
    PeftMethod.PROMPT_TUNING: {"num_virtual_tokens": 8, "init": "random", "init_text": ""},
    PeftMethod.FULL: {},
}

# Linear layers per architecture, to check target modules against a local model's config.json.
_LINEAR_MODULES = {
    name: ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    for name in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3")
}
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _int(value: Any, *, field: str, name: str, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(
            ERROR_POSITIVE_INT.format(name=name, minimum=minimum), field=field
        ) from None
    if number != float(value) or number < minimum:
        raise ConfigError(ERROR_POSITIVE_INT.format(name=name, minimum=minimum), field=field)
    return number


def _fraction(value: Any, *, field: str, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(ERROR_FRACTION.format(name=name), field=field) from None
    if not 0 <= number < 1:
        raise ConfigError(ERROR_FRACTION.format(name=name), field=field)
    return number


def hyperparameters_resolve(values: dict[str, Any]) -> dict[str, Any]:
    hp = {**DEFAULT_HYPERPARAMETERS, **{k: v for k, v in values.items() if v not in (None, "")}}
    try:
        lr = float(hp["learning_rate"])
    except (TypeError, ValueError):
        raise ConfigError(ERROR_LEARNING_RATE, field="learning_rate") from None
    if not 0 < lr <= 0.1:
        raise ConfigError(ERROR_LEARNING_RATE, field="learning_rate")
    hp["learning_rate"] = lr
    for key, name, minimum in (
        ("num_train_epochs", "Epochs", 1),
        ("per_device_train_batch_size", "Batch size", 1),
        ("gradient_accumulation_steps", "Gradient accumulation steps", 1),
        ("max_length", "Max length", 8),
        ("logging_steps", "Logging steps", 1),
        ("eval_steps", "Eval steps", 0),
        ("save_steps", "Save steps", 1),
        ("seed", "Seed", 0),
    ):
        hp[key] = _int(hp[key], field=key, name=name, minimum=minimum)
    try:
        max_steps = int(hp["max_steps"])
    except (TypeError, ValueError):
        raise ConfigError(ERROR_MAX_STEPS, field="max_steps") from None
    if max_steps == 0 or max_steps < -1:
        raise ConfigError(ERROR_MAX_STEPS, field="max_steps")
    hp["max_steps"] = max_steps
    hp["warmup_ratio"] = _fraction(hp["warmup_ratio"], field="warmup_ratio", name="Warmup ratio")
    hp["weight_decay"] = _fraction(hp["weight_decay"], field="weight_decay", name="Weight decay")
    if hp["lr_scheduler_type"] not in SCHEDULERS:
        raise ConfigError(
            ERROR_SCHEDULER.format(choices=", ".join(SCHEDULERS)), field="lr_scheduler_type"
        )
    return hp


def _local_architecture(base_model: str) -> str | None:
    config = Path(base_model) / "config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text()).get("model_type")


def _target_modules(value: Any, *, base_model: str) -> str | list[str]:
    if value in (None, "", "all-linear"):
        return "all-linear"
    names = value if isinstance(value, list) else [n.strip() for n in str(value).split(",")]
    names = [n for n in names if n]
    if not names or not all(_MODULE_NAME.match(n) for n in names):
        raise ConfigError(ERROR_TARGET_MODULES, field="target_modules")
    known = _LINEAR_MODULES.get(_local_architecture(base_model) or "")
    if known:
        unknown = [n for n in names if n.split(".")[-1] not in known]
        if unknown:
            raise ConfigError(
                ERROR_TARGET_MODULES_UNKNOWN.format(
                    model=base_model, names=", ".join(unknown), known=", ".join(known)
                ),
                field="target_modules",
            )
    return names


def _ensemble_size(value: Any) -> int:
    message = ERROR_ENSEMBLE_SIZE.format(maximum=MAX_ENSEMBLE_SIZE)
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise ConfigError(message, field="ensemble_size") from None
    if size != float(value) or not 1 <= size <= MAX_ENSEMBLE_SIZE:
        raise ConfigError(message, field="ensemble_size")
    return size


def _init_texts(value: Any) -> list[str]:
    """One init text per member, from a list or from text with one per line; an empty entry
    means that member starts from the job's own init. Trailing empty entries are dropped."""
    if value in (None, ""):
        return []
    lines = value if isinstance(value, list | tuple) else str(value).splitlines()
    texts = [str(line).strip() for line in lines]
    while texts and not texts[-1]:
        texts.pop()
    return texts


def _ensemble_resolve(peft: dict[str, Any]) -> dict[str, Any]:
    """`ensemble_size` and `ensemble_init_texts` of a prompt-tuning job. Size 1 (the default)
    leaves them out of the config, so a single soft prompt resolves exactly as before."""
    size = _ensemble_size(peft.pop("ensemble_size", 1))
    texts = _init_texts(peft.pop("ensemble_init_texts", None))
    if len(texts) > size or (texts and size == 1):
        raise ConfigError(
            ERROR_ENSEMBLE_INIT_TEXTS.format(count=len(texts), size=size),
            field="ensemble_init_texts",
        )
    if size == 1:
        return {}
    return {"ensemble_size": size, "ensemble_init_texts": texts}


def peft_resolve(method: str, values: dict[str, Any], *, base_model: str) -> dict[str, Any]:
    method = PeftMethod(method)
    peft = {**DEFAULT_PEFT[method], **{k: v for k, v in values.items() if v not in (None, "")}}
    if method in (PeftMethod.LORA, PeftMethod.DORA, PeftMethod.QLORA):
        try:
            r = int(peft["r"])
        except (TypeError, ValueError):
            raise ConfigError(ERROR_RANK, field="r") from None
        if r != float(peft["r"]) or not 1 <= r <= 1024:
            raise ConfigError(ERROR_RANK, field="r")
        try:
            alpha = float(peft["lora_alpha"])
        except (TypeError, ValueError):
            raise ConfigError(ERROR_ALPHA, field="lora_alpha") from None
        if alpha <= 0:
            raise ConfigError(ERROR_ALPHA, field="lora_alpha")
        peft.update(
            r=r,
            lora_alpha=alpha,
            lora_dropout=_fraction(peft["lora_dropout"], field="lora_dropout", name="LoRA dropout"),
            target_modules=_target_modules(peft["target_modules"], base_model=base_model),
            use_dora=method == PeftMethod.DORA,
        )
        for key in ("num_virtual_tokens", "init", "init_text"):
            peft.pop(key, None)
    if method != PeftMethod.PROMPT_TUNING:
        size = _ensemble_size(peft.pop("ensemble_size", 1))
        if size > 1 or _init_texts(peft.pop("ensemble_init_texts", None)):
            raise ConfigError(
                ERROR_ENSEMBLE_METHOD.format(method=method.label), field="ensemble_size"
            )
    if method == PeftMethod.PROMPT_TUNING:
        peft["num_virtual_tokens"] = _int(
            peft["num_virtual_tokens"], field="num_virtual_tokens", name="Virtual tokens", minimum=1
        )
        if peft["num_virtual_tokens"] > 512:
            raise ConfigError(ERROR_VIRTUAL_TOKENS, field="num_virtual_tokens")
        if peft["init"] not in ("random", "text"):
            raise ConfigError(ERROR_INIT, field="init")
        if peft["init"] == "text" and not str(peft.get("init_text", "")).strip():
            raise ConfigError(ERROR_INIT_TEXT, field="init_text")
        for key in ("r", "lora_alpha", "lora_dropout", "target_modules"):
            peft.pop(key, None)
        peft.update(_ensemble_resolve(peft))
    peft["method"] = method.value
    return peft


def config_resolve(
    *,
    kind: str,
    base_model: str,
    snapshot: Any,
    peft_method: str,
    peft_values: dict[str, Any],
    hyperparameters: dict[str, Any],
) -> dict[str, Any]:
    """The full config a job will run with, or a ConfigError naming the field that is wrong."""
    from .rl_config import (
        POLICY_KINDS,
        SNAPSHOT_KIND,
        policy_lora_shape,
        rl_method_check,
        rl_resolve,
    )

    if kind not in SNAPSHOT_KIND:
        raise ConfigError(ERROR_KIND_NOT_YET.format(kind=JobKind(kind).label), field="kind")
    needed = SNAPSHOT_KIND[kind]
    if snapshot.kind != needed:
        raise ConfigError(
            ERROR_SNAPSHOT_KIND.format(
                kind=JobKind(kind).label, needed=needed, actual=snapshot.kind
            ),
            field="snapshot",
        )
    if snapshot.status != "ready":
        raise ConfigError(ERROR_SNAPSHOT_NOT_READY.format(status=snapshot.status), field="snapshot")
    hyperparameters = dict(hyperparameters)
    if kind == JobKind.GENERATE:
        return _generate_config_resolve(
            base_model=base_model,
            snapshot=snapshot,
            peft_method=peft_method,
            hyperparameters=hyperparameters,
        )
    peft = peft_resolve(peft_method, peft_values, base_model=base_model)
    if peft.get("ensemble_size", 1) > 1 and kind != JobKind.SFT:
        raise ConfigError(
            ERROR_ENSEMBLE_KIND.format(kind=JobKind(kind).label), field="ensemble_size"
        )
    rl = rl_resolve(kind=kind, hyperparameters=hyperparameters, project=snapshot.project)
    rl_method_check(kind=kind, method=peft["method"], base_model=base_model, rl=rl)
    if kind in POLICY_KINDS:
        peft = policy_lora_shape(peft, policy_adapter_id=rl["policy_adapter"])
    return {
        "kind": kind,
        "base_model": base_model,
        "snapshot": {"id": snapshot.pk, "path": snapshot.path, "hash": snapshot.content_hash},
        "peft": peft,
        "training": hyperparameters_resolve(hyperparameters),
        **({"rl": rl} if kind != JobKind.SFT else {}),
    }


def _generate_config_resolve(
    *, base_model: str, snapshot: Any, peft_method: str, hyperparameters: dict[str, Any]
) -> dict[str, Any]:
    """A generate job trains nothing: its settings are the sampling and the sources
    (training/generate_config.py); the adapters bring their own PEFT configs."""
    from .generate_config import generate_resolve

    return {
        "kind": JobKind.GENERATE.value,
        "base_model": base_model,
        "snapshot": {"id": snapshot.pk, "path": snapshot.path, "hash": snapshot.content_hash},
        "peft": {"method": PeftMethod(peft_method).value},
        "training": {},
        "generate": generate_resolve(
            hyperparameters=hyperparameters, base_model=base_model, project=snapshot.project
        ),
    }
