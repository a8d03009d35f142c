"""Judge templates (versioned by a hash of their text) and judge configurations."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from evaluation.errors import EvaluationError
from evaluation.judging.builtin import BUILTIN_TEMPLATES, FAMILIES, RUBRIC_TEMPLATES
from evaluation.judging.prompts import template_version, unknown_variables
from evaluation.models import JudgeConfig, JudgeTemplate, TemplateKind, TemplateParser
from labeling.models import Project
from labeling.services.rubric import RubricError, rubric_clean

ERROR_UNKNOWN_VARIABLE = "Unknown template variable(s): {names}. Known: {known}."
ERROR_PARSER = "Unknown parser {parser!r}; use verdict, rating or json."
ERROR_KIND_PARSER = (
    "A pairwise template needs the verdict parser; single grading needs rating or json."
)
ERROR_NO_BUILTIN = "No built-in template named {name!r}."
ERROR_FAMILY = (
    "Unknown template family {family!r}; use pairwise, single, multidimensional or rubric."
)
ERROR_SCORE_RANGE = "The score range must run from a lower to a higher number; got {lo} to {hi}."
ERROR_RUBRIC = "The judge's rubric: {message}"
ERROR_RUBRIC_KIND = "Only a single-grading template can have a rubric."
ERROR_NO_RUBRIC = (
    "The project has no rubric criteria yet: write them (with an anchor for the scale's "
    "points) in the project's rubric before making a rubric judge."
)
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
    rubric: dict | None = None,
    score_min: float = 1,
    score_max: float = 10,
    builtin: bool = False,
) -> JudgeTemplate:
    """A template row; the same text again returns the existing row (same version).

    `rubric` ({"criteria": [...], "anchors": {...}}, see labeling.services.rubric) is checked
    on the template's scale and filled into `{rubric}`; raters of the run see it too."""
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
    if not score_min < score_max:
        raise EvaluationError(ERROR_SCORE_RANGE.format(lo=score_min, hi=score_max))
    dimensions = dict(dimensions or {})
    if rubric:
        if kind != TemplateKind.SINGLE:
            raise EvaluationError(ERROR_RUBRIC_KIND)
        try:
            checked = rubric_clean(
                criteria=rubric.get("criteria"),
                anchors=rubric.get("anchors"),
                scale_min=score_min,
                scale_max=score_max,
            ).as_json()
        except RubricError as error:
            raise EvaluationError(ERROR_RUBRIC.format(message=error)) from None
        rubric = {"criteria": checked["criteria"], "anchors": checked["anchors"]}
    rubric = rubric or {}
    version = template_version(
        system_prompt=system_prompt,
        prompt=prompt,
        parser=parser,
        dimensions=dimensions,
        rubric=rubric,
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
                rubric=rubric,
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
                rubric=spec.rubric,
                builtin=True,
            )
    raise EvaluationError(ERROR_NO_BUILTIN.format(name=name))


def judge_templates_from_rubric(*, project: Project) -> tuple[JudgeTemplate, JudgeTemplate]:
    """The rubric judge of the project as its rubric stands now: a plain and a
    with-reference template that grade each criterion on the project's scale with its
    written anchors. A later change of the rubric makes new versions; runs keep theirs."""
    if not project.rubric:
        raise EvaluationError(ERROR_NO_RUBRIC)
    rubric = {"criteria": project.rubric, "anchors": project.rubric_anchors}
    made = []
    for name, (system_prompt, prompt, uses_reference) in RUBRIC_TEMPLATES.items():
        made.append(
            judge_template_create(
                project=project,
                name=name,
                kind=TemplateKind.SINGLE,
                parser=TemplateParser.JSON,
                prompt=prompt,
                system_prompt=system_prompt,
                uses_reference=uses_reference,
                rubric=rubric,
                score_min=project.rubric_scale_min,
                score_max=project.rubric_scale_max,
            )
        )
    return made[0], made[1]


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
    multidimensional) whose plain / reference / multi-turn variants are filled in, or
    `rubric`: the project's own rubric with its anchors."""
    if not 1 <= trials <= 20:
        raise EvaluationError(ERROR_TRIALS)
    if not 1 <= max_concurrency <= 256:
        raise EvaluationError(ERROR_CONCURRENCY)
    if template is None and family == "rubric":
        template, reference_template = judge_templates_from_rubric(project=project)
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
