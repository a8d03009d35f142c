"""Building snapshots from labeling work: rows, provenance, hash, split, failures."""

import json
from pathlib import Path

import pytest
from datasets import load_from_disk

from labeling.exports import RecipeError, snapshot_build, snapshot_create
from labeling.exports.build import ERROR_NOT_BUILDING, SnapshotError
from labeling.models import SnapshotStatus
from tests.labeling.exports.conftest import answer, tasks_for
from tests.labeling.factories import answer_ids

pytestmark = pytest.mark.django_db


def build(project, recipe, name="snap"):
    return snapshot_build(snapshot=snapshot_create(project=project, name=name, recipe=recipe))


def lines(snapshot, split="train"):
    path = Path(snapshot.path) / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sft_rows_from_demonstrations_with_provenance_and_hf_copy(project, coders):
    ann = coders[0]
    tasks = tasks_for(project, kind="demonstration", task_types=["qa", "code"], answers=1)
    draft = answer_ids(tasks[1])[0]
    answer(project, ann, tasks[0], {"text": "Paris."})
    answer(project, ann, tasks[1], {"text": "def f(): pass", "draft_completion": draft})
    snap = build(project, {"kind": "sft", "validation_fraction": 0})
    assert snap.status == SnapshotStatus.READY, snap.error
    rows = lines(snap)
    assert [r["messages"][-1] for r in rows] == [
        {"role": "assistant", "content": "Paris."},
        {"role": "assistant", "content": "def f(): pass"},
    ]
    assert rows[0]["messages"][0]["role"] == "user"
    assert [r["task_type"] for r in rows] == ["qa", "code"]
    assert rows[0]["source"] == "demonstration"
    assert rows[0]["annotator_ids"] == [ann.pk] and rows[0]["task_id"] == tasks[0].pk
    assert snap.row_counts == {"train": 2}
    assert snap.task_type_counts == {"code": 1, "qa": 1}
    assert snap.rows_done == 2 and snap.prompts_done == 2 and snap.prompts_total == 2
    assert Path(snap.path).name == snap.content_hash
    hf = load_from_disk(str(Path(snap.path) / "hf"))
    assert list(hf) == ["train"] and hf["train"][1]["messages"][-1]["content"] == "def f(): pass"
    card = (Path(snap.path) / "README.md").read_text()
    assert snap.content_hash in card and "| qa | 1 |" in card


def test_same_recipe_same_data_same_hash_and_a_new_recipe_a_new_one(project, coders):
    tasks = tasks_for(project, kind="demonstration", task_types=["qa"] * 4, answers=1)
    for i, task in enumerate(tasks):
        answer(project, coders[0], task, {"text": f"answer {i}"})
    first = build(project, {"kind": "sft", "seed": 3, "validation_fraction": 0.25})
    again = build(project, {"seed": 3, "kind": "sft", "validation_fraction": 0.25}, name="again")
    assert first.content_hash == again.content_hash and first.path == again.path
    assert first.pk != again.pk
    other = build(project, {"kind": "sft", "seed": 4, "validation_fraction": 0.25})
    assert other.content_hash != first.content_hash
    fmt = build(
        project,
        {"kind": "sft", "seed": 3, "validation_fraction": 0.25, "sft_format": "prompt_completion"},
    )
    assert fmt.content_hash != first.content_hash
    assert set(lines(fmt)[0]) >= {"prompt", "completion", "task_type"}


def test_split_is_stratified_by_task_type_and_keeps_a_prompt_in_one_split(project, coders):
    tasks = tasks_for(project, kind="ranking", task_types=["qa"] * 10 + ["code"] * 5, answers=3)
    for task in tasks:
        a, b, c = answer_ids(task)
        answer(project, coders[0], task, {"ranking": [a, b, c]})
    snap = build(project, {"kind": "preference", "validation_fraction": 0.2, "seed": 7})
    assert snap.row_counts == {"train": 36, "validation": 9}  # 3 pairs per ranking
    assert snap.stats["task_types_per_split"] == {
        "train": {"code": 12, "qa": 24},
        "validation": {"code": 3, "qa": 6},
    }
    train_prompts = {r["prompt_id"] for r in lines(snap)}
    validation_prompts = {r["prompt_id"] for r in lines(snap, "validation")}
    assert not train_prompts & validation_prompts


def test_preference_rankings_from_three_annotators_under_each_aggregation(project, coders):
    (task,) = tasks_for(project, kind="ranking", task_types=["qa"], answers=3, required=3)
    one, two, three = answer_ids(task)
    ann, bob, cat = coders
    answer(project, ann, task, {"ranking": [one, two, three]})
    answer(project, bob, task, {"ranking": [one, three, two]})
    answer(project, cat, task, {"ranking": [[two], [one, three]]})
    base = {"kind": "preference", "validation_fraction": 0}
    every_snapshot = build(project, {**base, "aggregation": "all"})
    every = lines(every_snapshot)
    assert len(every) == 8  # 3 + 3 + 2 (cat's tie dropped)
    assert every_snapshot.stats["rules"] == {"pairs": 8, "ties_dropped": 1}
    assert {tuple(r["annotator_ids"]) for r in every} == {(ann.pk,), (bob.pk,), (cat.pk,)}
    kept = lines(build(project, {**base, "aggregation": "all", "tie_policy": "keep"}))
    ties = [r for r in kept if r["tie"]]
    assert len(kept) == 9 and len(ties) == 1 and ties[0]["margin"] == 0.0
    majority = lines(build(project, {**base, "aggregation": "majority"}))
    assert [(r["chosen_id"], r["rejected_id"], r["margin"]) for r in majority] == [
        (one, two, 1.5),
        (one, three, 1.5),
        (two, three, 1.0),
    ]
    assert majority[0]["chosen"] == [{"role": "assistant", "content": "answer 0 to 0"}]
    assert majority[0]["annotator_ids"] == [ann.pk, bob.pk, cat.pk]
    assert majority[0]["display_orders"][0] and majority[0]["submitted_at"][0]
    consensus = lines(build(project, {**base, "aggregation": "bradley_terry"}))
    assert [(r["chosen_id"], r["rejected_id"]) for r in consensus] == [
        (one, two),
        (one, three),
        (two, three),
    ]


def test_pairwise_edits_none_acceptable_and_flags(project, coders):
    project.answer_rating_max = 5
    project.save()
    ann = coders[0]
    (pair,) = tasks_for(project, kind="pairwise", task_types=["qa"], answers=2, tag="p")
    (demo,) = tasks_for(project, kind="demonstration", task_types=["qa"], answers=1, tag="d")
    ranks = tasks_for(project, kind="ranking", task_types=["qa", "qa"], answers=3, tag="r")
    a, b = answer_ids(pair)
    answer(project, ann, pair, {"choice": "b", "strength": 3})
    answer(project, ann, demo, {"text": "better", "draft_completion": answer_ids(demo)[0]})
    x, y, z = answer_ids(ranks[0])
    answer(
        project,
        ann,
        ranks[0],
        {
            "ranking": [x, y, z],
            "flags": {str(z): ["harmful"]},
            "ratings": {str(x): 5, str(y): 2, str(z): 1},
        },
    )
    answer(project, ann, ranks[1], {"ranking": answer_ids(ranks[1]), "none_acceptable": True})
    snap = build(
        project, {"kind": "preference", "validation_fraction": 0, "exclude_flags": ["harmful"]}
    )
    rows = lines(snap)
    by_source = {}
    for row in rows:
        by_source.setdefault(row["source"], []).append(row)
    assert [(r["chosen_id"], r["rejected_id"], r["margin"]) for r in by_source["pairwise"]] == [
        (b, a, 3.0)
    ]
    (edit,) = by_source["edit"]
    assert (
        edit["chosen"][0]["content"] == "better"
        and edit["rejected"][0]["content"] == "answer 0 to 0"
    )
    # z is flagged harmful: only x over y is left, with the rating difference as margin.
    assert [(r["chosen_id"], r["rejected_id"], r["margin"]) for r in by_source["ranking"]] == [
        (x, y, 3.0)
    ]
    assert snap.stats["rules"]["annotations_none_acceptable_routed_out"] == 1
    assert snap.stats["rules"]["pairs_with_flagged_answer_dropped"] == 2
    routed = [
        json.loads(line) for line in (Path(snap.path) / "routed_out.jsonl").read_text().splitlines()
    ]
    assert routed[0]["task_id"] == ranks[1].pk and routed[0]["reason"] == "none_acceptable"


def test_gold_accuracy_threshold_drops_the_annotator(project, coders):
    ann, bob, _ = coders
    gold = tasks_for(project, kind="ranking", task_types=["qa"], answers=2, tag="g")[0]
    gold.is_gold = True
    gold.gold_answer = {"ranking": [[answer_ids(gold)[0]], [answer_ids(gold)[1]]]}
    gold.save()
    g1, g2 = answer_ids(gold)
    answer(project, ann, gold, {"ranking": [g2, g1]})  # wrong
    (task,) = tasks_for(project, kind="ranking", task_types=["qa"], answers=2, required=2)
    answer(project, ann, task, {"ranking": answer_ids(task)})
    answer(project, bob, task, {"ranking": answer_ids(task)})
    snap = build(
        project, {"kind": "preference", "validation_fraction": 0, "min_gold_accuracy": 0.5}
    )
    assert {tuple(r["annotator_ids"]) for r in lines(snap)} == {(bob.pk,)}
    assert snap.stats["rules"]["annotations_gold_accuracy_excluded"] == 2


def test_sft_gold_answers_and_consensus_best_of_rankings(project, coders):
    (rank,) = tasks_for(project, kind="ranking", task_types=["qa"], answers=3, tag="r")
    one, two, three = answer_ids(rank)
    answer(project, coders[0], rank, {"ranking": [two, one, three]})
    (demo,) = tasks_for(project, kind="demonstration", task_types=["code"], answers=0, tag="g")
    demo.is_gold, demo.gold_answer = True, {"text": "the gold answer"}
    demo.save()
    snap = build(
        project, {"kind": "sft", "validation_fraction": 0, "sft_sources": ["gold", "ranking_best"]}
    )
    rows = lines(snap)
    assert [(r["source"], r["messages"][-1]["content"]) for r in rows] == [
        ("ranking_best", "answer 1 to 0"),
        ("gold", "the gold answer"),
    ]


def test_prompts_snapshot_rows(project):
    tasks_for(project, kind="ranking", task_types=["qa", "code"], answers=2)
    snap = build(project, {"kind": "prompts", "task_types": ["code"], "validation_fraction": 0})
    (row,) = lines(snap)
    assert row["prompt"][-1]["role"] == "user" and row["task_type"] == "code"
    assert row["id"] == str(row["prompt_id"])


def test_preference_recipe_on_a_project_without_rankings_says_which_filter_emptied_it(
    project, coders
):
    tasks = tasks_for(project, kind="demonstration", task_types=["qa"], answers=0)
    answer(project, coders[0], tasks[0], {"text": "hi"})
    with pytest.raises(RecipeError) as error:
        snapshot_create(
            project=project,
            name="p",
            recipe={"kind": "preference", "preference_sources": ["rankings", "pairwise"]},
        )
    assert str(error.value) == (
        "The recipe selects nothing: `annotation kind in (pairwise, ranking)` left no "
        "annotations. Counts before each filter: annotations in the projects: 1; annotation "
        "kind in (pairwise, ranking): 0; submitted or accepted (not rejected or skipped): 0; "
        "not human-evaluation tasks (include_evaluation_tasks): 0."
    )
    with pytest.raises(
        RecipeError,
        match=(
            r"`task_types \(math\)` left no annotations.*in the projects: 1; "
            r"annotation kind in \(demonstration\): 1; task_types \(math\): 0"
        ),
    ):
        snapshot_create(project=project, name="p", recipe={"kind": "sft", "task_types": ["math"]})


def test_a_rule_that_empties_the_selection_fails_the_build_with_the_counts(project, coders):
    (task,) = tasks_for(project, kind="ranking", task_types=["qa"], answers=2, required=2)
    one, two = answer_ids(task)
    answer(project, coders[0], task, {"ranking": [one, two]})
    answer(project, coders[1], task, {"ranking": [two, one]})
    snap = build(project, {"kind": "preference", "min_agreement": 0.9})
    assert snap.status == SnapshotStatus.FAILED and not snap.path
    assert "`annotations_below_min_agreement` left no rows" in snap.error
    assert "annotations_below_min_agreement: 2" in snap.error
    with pytest.raises(SnapshotError, match=ERROR_NOT_BUILDING.format(id=snap.pk, status="failed")):
        snapshot_build(snapshot=snap)


def test_bad_recipes_are_refused(project):
    with pytest.raises(RecipeError, match="`kind` must be one of"):
        snapshot_create(project=project, name="x", recipe={"kind": "rl"})
    with pytest.raises(RecipeError, match="Unknown recipe keys: colour"):
        snapshot_create(project=project, name="x", recipe={"kind": "sft", "colour": 1})
    with pytest.raises(RecipeError, match="`aggregation` must be one of"):
        snapshot_create(
            project=project, name="x", recipe={"kind": "preference", "aggregation": "vote"}
        )


def test_prompts_snapshot_becomes_an_evaluation_set(project):
    from evaluation.services import eval_set_from_snapshot

    tasks_for(project, kind="ranking", task_types=["qa", "code", "qa"], answers=2)
    snap = build(project, {"kind": "prompts", "validation_fraction": 0})
    eval_set = eval_set_from_snapshot(snapshot=snap, name="from snapshot")
    questions = list(eval_set.questions.order_by("id"))
    assert [q.category for q in questions] == ["qa", "code", "qa"]
    assert questions[0].turns == ["ranking question 0 (qa)?"]
