"""Judge templates (versioned by a hash of their text) and judge configurations."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from evaluation.errors import EvaluationError
from evaluation.judging.builtin import BUILTIN_TEMPLATES, FAMILIES
from evaluation.judging.prompts import template_version, unknown_variables
from evaluation.models import JudgeConfig, JudgeTemplate, TemplateKind, TemplateParser
from labeling.models import Project

ERROR_UNKNOWN_VARIABLE = "Unknown template variable(s): {names}. Known: {known}."
ERROR_PARSER = "Unknown parser {parser!r}; use verdict, rating or json."
ERROR_KIND_PARSER = (
    "A pairwise template needs the verdict parser; single grading needs rating or json."
)
ERROR_NO_BUILTIN = "No built-in template named {name!r}."
ERROR_FAMILY = "Unknown template family {family!r}; use pairwise, single or multidimensional."
ERROR_TRIALS = "Trials must be between 1 and 20."
ERROR_CONCURRENCY = "Concurrency must be between 1 and 256."
ERROR_MIXED_KINDS = "All templates of a judge config must be of one kind (pairwise or single)."
ERROR_TEMPLATE_PROJECT = "The template belongs to another project."


@transaction.atomic
def judge_template_create(
    *,
    project: Project | None,
    name: str,
    kind: str,
    parser: str,
    prompt: str,
    system_prompt: str = "",
    uses_reference: bool = False,
    multi_turn: bool = False,
    dimensions: dict[str, list[str]] | None = None,
    score_min: float = 1,
    score_max: float = 10,
    builtin: bool = False,
) -> JudgeTemplate:
    """A template row; the same text again returns the existing row (same version)."""
    from evaluation.judging.prompts import VARIABLES

    if parser not in TemplateParser.values:
        raise EvaluationError(ERROR_PARSER.format(parser=parser))
    if (kind == TemplateKind.PAIRWISE) != (parser == TemplateParser.VERDICT):
        raise EvaluationError(ERROR_KIND_PARSER)
    unknown = unknown_variables(system_prompt + "\n" + prompt)
    if unknown:
        raise EvaluationError(
            ERROR_UNKNOWN_VARIABLE.format(names=", ".join(unknown), known=", ".join(VARIABLES))
        )
    dimensions = dict(dimensions or {})
    version = template_version(
        system_prompt=system_prompt, prompt=prompt, parser=parser, dimensions=dimensions
    )
    existing = JudgeTemplate.objects.filter(project=project, name=name, version=version).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return JudgeTemplate.objects.create(
                project=project,
                name=name,
                kind=kind,
                parser=parser,
                prompt=prompt,
                system_prompt=system_prompt,
                uses_reference=uses_reference,
                multi_turn=multi_turn,
                dimensions=dimensions,
                score_min=score_min,
                score_max=score_max,
                version=version,
                builtin=builtin,
            )
    except IntegrityError:  # created by a concurrent caller
        return JudgeTemplate.objects.get(project=project, name=name, version=version)


def judge_template_builtin(*, name: str) -> JudgeTemplate:
    """The current version of a built-in template (created on first use)."""
    for spec in BUILTIN_TEMPLATES:
        if spec.name == name:
            return judge_template_create(
                project=None,
                name=spec.name,
                kind=spec.kind,
                parser=spec.parser,
                prompt=spec.prompt,
                system_prompt=spec.system_prompt,
                uses_reference=spec.uses_reference,
                multi_turn=spec.multi_turn,
                dimensions=spec.dimensions,
                builtin=True,
            )
    raise EvaluationError(ERROR_NO_BUILTIN.format(name=name))


@transaction.atomic
def judge_config_create(
    *,
    project: Project,
    name: str,
    base_url: str,
    model: str,
    family: str | None = "pairwise",
    template: JudgeTemplate | None = None,
    reference_template: JudgeTemplate | None = None,
    multi_turn_template: JudgeTemplate | None = None,
    multi_turn_reference_template: JudgeTemplate | None = None,
    api_key_env: str = "FLYWHEEL_LLM_API_KEY",
    temperature: float = 0.0,
    max_tokens: int = 1024,
    trials: int = 1,
    both_orders: bool = True,
    max_concurrency: int = 8,
    timeout_s: float = 60.0,
    max_retries: int = 5,
    price_prompt_per_mtok: float = 0.0,
    price_completion_per_mtok: float = 0.0,
    created_by: AbstractBaseUser | None = None,
) -> JudgeConfig:
    """A judge config. Give explicit templates, or a built-in `family` (pairwise, single,
    multidimensional) whose plain / reference / multi-turn variants are filled in."""
    if not 1 <= trials <= 20:
        raise EvaluationError(ERROR_TRIALS)
    if not 1 <= max_concurrency <= 256:
        raise EvaluationError(ERROR_CONCURRENCY)
    if template is None:
        if family not in FAMILIES:
            raise EvaluationError(ERROR_FAMILY.format(family=family))
        names = FAMILIES[family]
        template = judge_template_builtin(name=names[0])
        reference_template = reference_template or judge_template_builtin(name=names[1])
        if names[2]:
            multi_turn_template = multi_turn_template or judge_template_builtin(name=names[2])
        if names[3]:
            multi_turn_reference_template = multi_turn_reference_template or (
                judge_template_builtin(name=names[3])
            )
    chosen = [
        t
        for t in (template, reference_template, multi_turn_template, multi_turn_reference_template)
        if t is not None
    ]
    if len({t.kind for t in chosen}) != 1:
        raise EvaluationError(ERROR_MIXED_KINDS)
    if any(t.project_id not in (None, project.pk) for t in chosen):
        raise EvaluationError(ERROR_TEMPLATE_PROJECT)
    return JudgeConfig.objects.create(
        project=project,
        name=name,
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        temperature=temperature,
        max_tokens=max_tokens,
        trials=trials,
        both_orders=both_orders,
        max_concurrency=max_concurrency,
        timeout_s=timeout_s,
        max_retries=max_retries,
        price_prompt_per_mtok=price_prompt_per_mtok,
        price_completion_per_mtok=price_completion_per_mtok,
        template=template,
        reference_template=reference_template,
        multi_turn_template=multi_turn_template,
        multi_turn_reference_template=multi_turn_reference_template,
        created_by=created_by,
    )
