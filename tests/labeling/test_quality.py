"""Quality statistics checked against hand-computed cases and scipy."""

import random

import pytest
from scipy import stats as scipy_stats

from labeling.models import Role, Task
from labeling.selectors.quality import annotator_quality, project_quality, task_quality
from labeling.services import (
    annotation_skip,
    annotation_submit,
    assignment_claim,
    membership_set,
)
from tests.labeling.factories import answer_ids, make_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def coders(make_user, project):
    users = []
    for name in ("ann", "bob", "cat"):
        user = make_user(name)
        membership_set(project=project, user=user, role=Role.LABELER)
        users.append(user)
    return users


def answer(project, user, task, data, rng=None):
    lease = assignment_claim(project=project, user=user, rng=rng)
    assert lease.task_id == task.pk
    if data.get("choice") in ("a", "b"):
        # Tests state pairwise choices in the task's order; the labeler presses the letter of
        # the answer as it was shown to them.
        wanted = answer_ids(task)["ab".index(data["choice"])]
        data = {**data, "choice": "ab"[lease.display_order.index(wanted)]}
    return annotation_submit(task=task, user=user, data=data)


def test_ranking_agreement_tau_and_ordinal_alpha_by_hand(project, coders):
    (task,) = make_tasks(project, required=2)
    one, two, three = answer_ids(task)
    ann, bob, _ = coders
    answer(project, ann, task, {"ranking": [one, two, three]})
    answer(project, bob, task, {"ranking": [one, three, two]})
    quality = project_quality(project=project)
    # Pairs (1,2) and (1,3) agree, (2,3) does not.
    assert quality["pairwise_agreement"] == {"value": round(2 / 3, 4), "n": 3}
    expected_tau = scipy_stats.kendalltau([0, 1, 2], [0, 2, 1], variant="b").statistic
    assert quality["kendall_tau_b"] == {"value": round(expected_tau, 4), "n": 1}
    assert expected_tau == pytest.approx(1 / 3)
    # Units per answer: [0, 0], [1, 2], [2, 1]. Coincidences o_00 = 2, o_12 = o_21 = 2;
    # n_c = 2 each; ordinal deltas d01 = d12 = 4, d02 = 16.
    # alpha = 1 - (n - 1) * sum(o * d) / sum(n_c * n_k * d) = 1 - 5 * 16 / 192.
    assert quality["alpha_ranking_ordinal"] == {"value": round(1 - 5 * 16 / 192, 4), "n": 3}
    assert quality["tasks_with_overlap"] == 1


def test_pairwise_nominal_alpha_by_hand(project, coders):
    tasks = make_tasks(project, kind="pairwise", n=3, answers=2, required=2)
    ann, bob, _ = coders
    choices = {0: ("a", "a"), 1: ("a", "b"), 2: ("b", "b")}
    for index, task in enumerate(tasks):
        answer(project, ann, task, {"choice": choices[index][0]})
        answer(project, bob, task, {"choice": choices[index][1]})
    quality = project_quality(project=project)
    # Coincidences: o_aa = 2, o_ab = o_ba = 1, o_bb = 2; n_a = n_b = 3, n = 6.
    # alpha = 1 - (n - 1) * (o_ab + o_ba) / (n_a * n_b * 2) = 1 - 5 * 2 / 18.
    assert quality["alpha_pairwise_nominal"] == {"value": round(1 - 10 / 18, 4), "n": 3}
    assert quality["pairwise_agreement"] == {"value": round(2 / 3, 4), "n": 3}


def test_rubric_interval_alpha_and_rating_units(project, coders):
    project.rubric = [{"name": "correct"}]
    project.save()
    (task,) = make_tasks(project, kind="rubric", answers=2, required=2)
    first, second = answer_ids(task)
    ann, bob, _ = coders
    answer(
        project, ann, task, {"scores": {str(first): {"correct": 5}, str(second): {"correct": 1}}}
    )
    answer(
        project, bob, task, {"scores": {str(first): {"correct": 4}, str(second): {"correct": 2}}}
    )
    quality = project_quality(project=project)
    # Units [5, 4] and [1, 2]; interval: n = 4, values 1,2,4,5 once each.
    # D_o: (1 + 1) * 2 pairs = 4 (o_45 = o_54 = o_12 = o_21 = 1, d = 1).
    # D_e: sum over ordered pairs of distinct values of (v - w)^2 = 2 * (1+9+16+4+9+1) = 80.
    # alpha = 1 - (n - 1) * 4 / 80.
    assert quality["alpha_rubric_interval"] == {"value": round(1 - 3 * 4 / 80, 4), "n": 2}


def test_consensus_ranking_with_margin(project, coders):
    (task,) = make_tasks(project, kind="pairwise", answers=2, required=3)
    a, b = answer_ids(task)
    ann, bob, cat = coders
    answer(project, ann, task, {"choice": "a"})
    answer(project, bob, task, {"choice": "a", "strength": 2})
    answer(project, cat, task, {"choice": "b"})
    figures = task_quality(task=Task.objects.get(pk=task.pk))
    consensus = figures["consensus"]
    assert consensus["ranking"] == [a, b]
    assert consensus["n"] == 3
    assert consensus["margin"] > 0
    assert 0.5 < consensus["p_first_beats_second"] < 1
    assert figures["pairwise_agreement"] == {"value": round(1 / 3, 4), "n": 3}


def test_per_annotator_gold_skip_time_and_position_bias(project, coders):
    project.gold_rate = 1.0
    project.save()
    gold = make_tasks(
        project,
        kind="pairwise",
        n=6,
        answers=2,
        required=2,
        is_gold=True,
        gold_answer={"choice": "a"},
    )
    ann, bob, cat = coders
    ann_rng, bob_rng = random.Random(1), random.Random(2)
    first_shown_a = 0
    for task in gold:
        # ann always picks whichever answer she was shown first: a position-biased labeler.
        lease = assignment_claim(project=project, user=ann, rng=ann_rng)
        first = lease.display_order[0]
        first_shown_a += first == answer_ids(task)[0]
        # Letters are as shown: pressing "a" picks the answer shown first.
        annotation_submit(task=task, user=ann, data={"choice": "a", "time_spent_ms": 1000})
        # bob knows the right answer (the gold's, the task's first answer), wherever it shows.
        bob_lease = assignment_claim(project=project, user=bob, rng=bob_rng)
        bob_letter = "ab"[bob_lease.display_order.index(answer_ids(task)[0])]
        annotation_submit(task=task, user=bob, data={"choice": bob_letter, "time_spent_ms": 3000})
    (plain,) = make_tasks(project, kind="pairwise", answers=2, tag="plain ")
    assignment_claim(project=project, user=cat)
    annotation_skip(task=plain, user=cat, reason="off topic")
    figures = {row["username"]: row for row in annotator_quality(project=project)}
    assert 0 < first_shown_a < 6  # the seeds show both orders
    ann_figures, bob_figures = figures["ann"], figures["bob"]
    assert ann_figures["gold_accuracy"] == {"value": round(first_shown_a / 6, 4), "n": 6}
    assert bob_figures["gold_accuracy"] == {"value": 1.0, "n": 6}
    assert ann_figures["median_time_ms"] == {"value": 1000, "n": 6}
    bias = ann_figures["position_bias"]
    assert bias["first_shown_wins"] == {"value": 1.0, "n": 6}
    # The gold (and bob, who follows it) picked ann's first-shown answer only when it was a.
    assert bias["expected_from_gold"] == {"value": round(first_shown_a / 6, 4), "n": 6}
    assert bias["expected_from_others"] == {"value": round(first_shown_a / 6, 4), "n": 6}
    assert figures["cat"]["skip_rate"] == {"value": 1.0, "n": 1}
    assert figures["cat"]["annotations"] == 0
    assert ann_figures["agreement_with_others"] == {"value": round(first_shown_a / 6, 4), "n": 6}


def test_per_annotator_tau_b_and_alpha_against_the_others(project, coders):
    (task,) = make_tasks(project, required=3)
    one, two, three = answer_ids(task)
    ann, bob, cat = coders
    answer(project, ann, task, {"ranking": [one, two, three]})
    answer(project, bob, task, {"ranking": [one, three, two]})
    answer(project, cat, task, {"ranking": [one, two, three]})
    figures = {row["username"]: row["with_others"] for row in annotator_quality(project=project)}
    # ann against bob: tau-b 1/3; against cat: 1. bob against both: 1/3.
    assert figures["ann"]["kendall_tau_b"] == {"value": round(2 / 3, 4), "n": 2}
    assert figures["bob"]["kendall_tau_b"] == {"value": round(1 / 3, 4), "n": 2}
    assert figures["ann"]["pairwise_agreement"] == {"value": round(5 / 6, 4), "n": 6}
    # ann's units, one per (pair of annotators, answer): [0,0] [1,2] [2,1] with bob and
    # [0,0] [1,1] [2,2] with cat. n = 12, n_0 = n_1 = n_2 = 4; o_12 = o_21 = 2.
    # Ordinal: d_01 = d_12 = (4 + 4 - 4)^2 = 16, d_02 = (12 - 4)^2 = 64.
    # alpha = 1 - (n - 1) * (2 * 16 + 2 * 16) / (2 * (16 * 16 + 16 * 16 + 16 * 64)).
    assert figures["ann"]["alpha_ranking_ordinal"] == {
        "value": round(1 - 11 * 64 / 3072, 4),
        "n": 6,
    }
    # bob disagrees with both on the order of two and three: a lower alpha than ann's.
    assert figures["bob"]["alpha_ranking_ordinal"]["value"] < round(1 - 11 * 64 / 3072, 4)


def test_flag_nominal_and_rating_ordinal_alphas_by_hand(project, coders):
    project.answer_rating_max = 5
    project.save()
    (task,) = make_tasks(project, answers=2, required=2)
    first, second = answer_ids(task)
    ann, bob, _ = coders
    answer(
        project, ann, task,
        {"ranking": [first, second], "flags": {str(first): ["harmful"]},
         "ratings": {str(first): 5, str(second): 2}},
    )  # fmt: skip
    answer(
        project, bob, task,
        {"ranking": [first, second], "flags": {str(first): ["harmful", "refusal"]},
         "ratings": {str(first): 4, str(second): 2}},
    )  # fmt: skip
    quality = project_quality(project=project)
    # Flags: a unit per (answer, flag), 2 answers x 5 flags = 10 units, 20 values: [1, 1] for
    # (first, harmful), [0, 1] for (first, refusal), [0, 0] for the other 8. n_0 = 17, n_1 = 3,
    # o_01 = o_10 = 1. Nominal: alpha = 1 - (n - 1) * 2 / (n_0 * n_1 * 2) = 1 - 19 * 2 / 102.
    assert quality["alpha_flags_nominal"] == {"value": round(1 - 38 / 102, 4), "n": 10}
    # Ratings: units [5, 4] and [2, 2]; n_2 = 2, n_4 = n_5 = 1, o_45 = o_54 = 1.
    # Ordinal: d_45 = (1 + 1 - 1)^2 = 1, d_24 = (2 + 1 - 1.5)^2 = 2.25, d_25 = (4 - 1.5)^2.
    # alpha = 1 - (n - 1) * 2 / (2 * (2 * 2.25 + 2 * 6.25 + 1)) = 1 - 3 * 2 / 36.
    assert quality["alpha_ratings_ordinal"] == {"value": round(1 - 6 / 36, 4), "n": 2}
