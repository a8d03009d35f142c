"""What a single-grading judge template grades by, as one rubric: the criteria, the scale and
the written anchor of its points. The judge reads it in its prompt (`{rubric}`) and human
raters of the same run score by it on their rubric page, so both grade alike."""

from __future__ import annotations

from labeling.services.rubric import Criterion, Rubric

OVERALL = "overall"
OVERALL_DESCRIPTION = "The answer as a whole."
RATING_DESCRIPTION = (
    "The answer as a whole: helpfulness, correctness, depth and detail (correctness first "
    "when a reference answer is shown)."
)
WEIGH_DESCRIPTION = "The answer as a whole, weighing {names}."


def template_rubric(template, *, category: str) -> Rubric:
    """The rubric of a single-grading template for a question of `category`.

    A JSON judge scores each criterion (its rubric's, or its dimensions for the category) and
    an overall score, which is the judgment's score; a rating judge gives one overall score.
    """
    spec = template.rubric or {}
    criteria = [
        Criterion(
            name=c["name"],
            description=c.get("description", ""),
            anchors={int(p): t for p, t in (c.get("anchors") or {}).items()},
        )
        for c in spec.get("criteria") or []
    ]
    if not criteria and template.dimensions:
        dims = template.dimensions.get(category) or template.dimensions.get("default") or []
        criteria = [Criterion(name=d) for d in dims]
    if template.parser == "rating":
        names = ", ".join(c.name for c in criteria)
        description = WEIGH_DESCRIPTION.format(names=names) if names else RATING_DESCRIPTION
        criteria = [Criterion(name=OVERALL, description=description)]
    elif OVERALL not in (c.name for c in criteria):
        criteria.append(Criterion(name=OVERALL, description=OVERALL_DESCRIPTION))
    return Rubric(
        criteria=tuple(criteria),
        scale_min=int(template.score_min),
        scale_max=int(template.score_max),
        anchors={int(p): t for p, t in (spec.get("anchors") or {}).items()},
    )


def rubric_text(rubric: Rubric) -> str:
    """The rubric as the judge reads it: the scale, then each criterion with its description
    and the anchor of every point that has one (a criterion's own, else the shared one)."""
    lines = [f"Instructions: {rubric.instructions}"] if rubric.instructions else []
    lines.append(f"Scale: whole numbers from {rubric.scale_min} to {rubric.scale_max}.")
    for criterion in rubric.criteria:
        head = f"- {criterion.name}"
        if criterion.description:
            head += f": {criterion.description}"
        lines.append(head)
        for point in rubric.points:
            anchor = rubric.anchor(criterion, point)
            if anchor:
                lines.append(f"    {point} = {anchor}")
    return "\n".join(lines)
