"""Validate the settings of a `generate` job (pure Python, no torch).

They travel in the job's hyperparameters, like the RL settings, and are resolved into
`config["generate"]`; the same checks guard `completions_generate` when it is called directly.
"""

from __future__ import annotations

from typing import Any

from .config import ConfigError

ERROR_NO_SOURCES = "Choose at least one adapter or the base model to generate with."
ERROR_MIXED_BASES = "All adapters must share one base model; got {bases}."
ERROR_BASE_MISMATCH = "The adapters were trained on {adapters_base}; set the base model to that."
ERROR_SNAPSHOT_KIND = "Generation reads a prompts snapshot; this one is {kind}."
ERROR_K = "Completions per prompt must be between 1 and 16."
ERROR_ADAPTER_IDS = "Adapters must be adapter ids separated by commas (e.g. 4, 7)."
ERROR_ADAPTER_NOT_FOUND = "Adapter {pk} does not exist in this project."
ERROR_ADAPTER_FULL = (
    "Adapter {pk} is a full fine-tune (a whole model), not a PEFT adapter; "
    "generate with its folder as the base model instead."
)
ERROR_MIXED_METHODS = (
    "Prompt-tuning adapters cannot be switched on one base with LoRA-style adapters; "
    "generate with each kind in its own job."
)
ERROR_RANKING_SIZE = (
    "A ranking task holds 2 to 20 answers; {k} per prompt from {sources} source(s) "
    "gives {n}. Change K or the sources, or turn ranking tasks off."
)
ERROR_MAX_NEW_TOKENS = "Max new tokens must be a whole number from 1 to 4096."
ERROR_TEMPERATURE = "Temperature must be a number from 0 (greedy) to 5."
ERROR_TOP_P = "Top-p must be a number above 0 and at most 1."
ERROR_SEED = "Seed must be a whole number of at least 0."
ERROR_LIMIT = "Limit must be empty (every prompt) or a whole number of at least 1."

MAX_K = 16
MAX_NEW_TOKENS = 4096
RANKING_ANSWERS = (2, 20)  # labeling.services.tasks.ANSWERS[ranking]

DEFAULTS: dict[str, Any] = {
    "adapters": [],
    "include_base": False,
    "k": 2,
    "max_new_tokens": 64,
    "temperature": 0.7,
    "top_p": 1.0,
    "seed": 0,
    "create_ranking_tasks": False,
    "limit": None,
}
KEYS = tuple(DEFAULTS)


class GenerateError(ConfigError):
    """A generate setting is wrong; `field` names the form field it belongs to."""

    def __init__(self, message: str, *, field: str = "adapters") -> None:
        super().__init__(message, field=field)


def _whole(value: Any, *, error: str, field: str, minimum: int, maximum: int | None = None) -> int:
    try:
        number = int(value)
        exact = number == float(value)
    except (TypeError, ValueError):
        raise GenerateError(error, field=field) from None
    if not exact or number < minimum or (maximum is not None and number > maximum):
        raise GenerateError(error, field=field)
    return number


def _real(value: Any, *, error: str, field: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise GenerateError(error, field=field) from None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def adapter_ids_parse(value: Any) -> list[int]:
    """Ids from a list or a comma-separated string, in the order given, without repeats."""
    if value in (None, ""):
        return []
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    ids: list[int] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        pk = _whole(item, error=ERROR_ADAPTER_IDS, field="adapters", minimum=1)
        if pk not in ids:
            ids.append(pk)
    return ids


def sources_check(*, adapters: list, include_base: bool, base_model: str) -> str:
    """The one base model the sources share; raises when there is none or several."""
    if not adapters and not include_base:
        raise GenerateError(ERROR_NO_SOURCES)
    for adapter in adapters:
        if adapter.method == "full":
            raise GenerateError(ERROR_ADAPTER_FULL.format(pk=adapter.pk))
    methods = {a.method == "prompt_tuning" for a in adapters}
    if len(methods) > 1:
        raise GenerateError(ERROR_MIXED_METHODS)
    bases = {a.base_model for a in adapters}
    if len(bases) > 1:
        raise GenerateError(ERROR_MIXED_BASES.format(bases=", ".join(sorted(bases))))
    if bases and base_model and base_model not in bases:
        raise GenerateError(
            ERROR_BASE_MISMATCH.format(adapters_base=next(iter(bases))), field="base_model"
        )
    return next(iter(bases)) if bases else base_model


def ranking_size_check(*, k: int, sources: int) -> None:
    least, most = RANKING_ANSWERS
    if not least <= k * sources <= most:
        raise GenerateError(
            ERROR_RANKING_SIZE.format(k=k, sources=sources, n=k * sources), field="k"
        )


def generate_resolve(
    *, hyperparameters: dict[str, Any], base_model: str, project
) -> dict[str, Any]:
    """Pop the generate settings out of `hyperparameters` and return them resolved."""
    from .models import Adapter

    given = {k: hyperparameters.pop(k) for k in list(hyperparameters) if k in KEYS}
    values = {**DEFAULTS, **{k: v for k, v in given.items() if v not in (None, "")}}
    ids = adapter_ids_parse(values["adapters"])
    found = {a.pk: a for a in Adapter.objects.filter(pk__in=ids, job__project=project)}
    missing = [pk for pk in ids if pk not in found]
    if missing:
        raise GenerateError(ERROR_ADAPTER_NOT_FOUND.format(pk=missing[0]))
    include_base = _bool(values["include_base"])
    sources_check(
        adapters=[found[pk] for pk in ids], include_base=include_base, base_model=base_model
    )
    k = _whole(values["k"], error=ERROR_K, field="k", minimum=1, maximum=MAX_K)
    create_tasks = _bool(values["create_ranking_tasks"])
    if create_tasks:
        ranking_size_check(k=k, sources=len(ids) + include_base)
    temperature = _real(values["temperature"], error=ERROR_TEMPERATURE, field="temperature")
    if not 0 <= temperature <= 5:
        raise GenerateError(ERROR_TEMPERATURE, field="temperature")
    top_p = _real(values["top_p"], error=ERROR_TOP_P, field="top_p")
    if not 0 < top_p <= 1:
        raise GenerateError(ERROR_TOP_P, field="top_p")
    limit = values["limit"]
    return {
        "adapters": ids,
        "include_base": include_base,
        "k": k,
        "max_new_tokens": _whole(
            values["max_new_tokens"],
            error=ERROR_MAX_NEW_TOKENS,
            field="max_new_tokens",
            minimum=1,
            maximum=MAX_NEW_TOKENS,
        ),
        "temperature": temperature,
        "top_p": top_p,
        "seed": _whole(values["seed"], error=ERROR_SEED, field="seed", minimum=0),
        "create_ranking_tasks": create_tasks,
        "limit": None
        if limit is None
        else _whole(limit, error=ERROR_LIMIT, field="limit", minimum=1),
    }
