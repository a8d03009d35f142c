"""The dataset card (README.md) written beside a snapshot's files."""

from __future__ import annotations

import json
from typing import Any

from labeling.exports.recipe import Recipe

FORMATS = {
    "sft": "TRL conversational language modeling: `messages` (prompt-completion on request: "
    "`prompt`, `completion`).",
    "preference": "TRL conversational preference: `prompt`, `chosen`, `rejected`, plus `margin` "
    "and `tie`.",
    "prompts": "TRL conversational prompt-only: `prompt` (for PPO, GRPO, RLOO and evaluation).",
}


def _table(counts: dict[str, int], header: str) -> str:
    lines = [f"| {header} | rows |", "| --- | ---: |"]
    lines += [f"| {key or '(none)'} | {value} |" for key, value in counts.items()]
    return "\n".join(lines)


def card_text(
    *,
    name: str,
    project: str,
    recipe: Recipe,
    content_hash: str,
    row_counts: dict[str, int],
    task_type_counts: dict[str, int],
    stats: dict[str, Any],
) -> str:
    policy = ""
    if recipe.kind == "preference":
        policy = (
            f"\n## Pairs\n\n- sources: {', '.join(recipe.preference_sources)}\n"
            f"- aggregation across annotators: {recipe.aggregation}\n"
            f"- tie policy: {recipe.tie_policy} (kept ties have `tie` true and margin 0)\n"
            f'- pairwise "both bad": {recipe.both_bad_policy}\n'
            "- margin: rank distance, or rating difference when the annotator rated both "
            "answers; pairwise strength; 1 for an edit over its draft; Bradley-Terry "
            "log-strength gap under that aggregation\n"
        )
    funnel = "\n".join(f"- {step['filter']}: {step['count']}" for step in stats.get("funnel", []))
    rules = "\n".join(f"- {key}: {value}" for key, value in stats.get("rules", {}).items())
    return f"""# {name}

Dataset snapshot of the Flywheel project "{project}" ({recipe.kind}).

- content hash: `{content_hash}`
- format: {FORMATS[recipe.kind]}
- every row has `task_type`; provenance columns: `source`, `task_id`, `prompt_id`,
  `annotator_ids`, `display_orders` (answer ids as each annotator saw them), `submitted_at`
- split: seeded ({recipe.seed}) by prompt, stratified by task type, validation fraction
  {recipe.validation_fraction}

## Rows per split

{_table(row_counts, "split")}

## Rows per task type

{_table(task_type_counts, "task type")}
{policy}
## Selection

Counts before and after each filter:

{funnel}

Removed or routed out by the recipe's rules:

{rules or "- nothing"}

## Recipe

```json
{json.dumps(recipe.as_dict(), indent=2, sort_keys=True)}
```
"""
