"""The labeler's own agreement with other labelers on the queue page: the same measure as
the quality reports (preference pairs shared with each other annotator; a tie matches only
a tie), over a bounded window of their latest answers, shown only where the project shows
quality to labelers, in a constant number of queries."""

import pytest
from django.test import Client
from django.urls import reverse

from labeling.models import Role
from labeling.selectors import queue as queue_selectors
from labeling.selectors.quality import annotator_quality
from labeling.services import (
    annotation_skip,
    annotation_submit,
    assignment_claim,
    membership_set,
    project_create,
    review_create,
)
from tests.labeling.factories import answer_ids, make_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def others(make_user, project):
    users = []
    for name in ("bob", "cat"):
        user = make_user(name)
        membership_set(project=project, user=user, role=Role.LABELER)
        users.append(user)
    return users


def answer(project, user, task, data):
    lease = assignment_claim(project=project, user=user)
    assert lease.task_id == task.pk
    if data.get("choice") in ("a", "b"):
        # Tests name pairwise winners in the task's order; the labeler presses the letter of
        # that answer as it was shown to them.
        wanted = answer_ids(task)["ab".index(data["choice"])]
        data = {**data, "choice": "ab"[lease.display_order.index(wanted)]}
    return annotation_submit(task=task, user=user, data=data)


def queue_row(user, project_id):
    response = Client()
    response.force_login(user)
    response = response.get(reverse("labeling:queue"))
    assert response.status_code == 200
    (row,) = [r for r in response.context["rows"] if r["project"].pk == project_id]
    return row, response.content.decode()


def test_ranking_agreement_counts_each_other_labeler_and_ties_match_only_ties(
    project, labeler, others, reviewer
):
    bob, cat = others
    t1, t2, t3, t4 = make_tasks(project, n=4, required=3)
    # Answers a < b < c give the pairs (a,b), (a,c), (b,c).
    a, b, c = answer_ids(t1)
    answer(project, labeler, t1, {"ranking": [a, b, c]})
    answer(project, bob, t1, {"ranking": [a, b, c]})  # 3 of 3
    answer(project, cat, t1, {"ranking": [a, b, c]})  # 3 of 3
    a, b, c = answer_ids(t2)
    answer(project, labeler, t2, {"ranking": [a, b, c]})
    answer(project, bob, t2, {"ranking": [c, b, a]})  # 0 of 3
    answer(project, cat, t2, {"ranking": [[a, b], [c]]})  # a tie against a > b: 2 of 3
    a, b, c = answer_ids(t3)
    answer(project, labeler, t3, {"ranking": [[a, b], [c]]})
    answer(project, bob, t3, {"ranking": [[a, b], [c]]})  # a tie against a tie: 3 of 3
    answer(project, cat, t3, {"ranking": [a, b, c]})  # 2 of 3
    a, b, c = answer_ids(t4)
    answer(project, labeler, t4, {"ranking": [a, b, c]})
    rejected = answer(project, bob, t4, {"ranking": [c, b, a]})
    review_create(annotation=rejected, reviewer=reviewer, decision="reject", comment="redo")
    assert assignment_claim(project=project, user=cat).task_id == t4.pk
    annotation_skip(task=t4, user=cat, reason="unsure")
    # On t4 a rejected and a skipped answer are not compared (as in the quality reports).

    row, html = queue_row(labeler, project.pk)
    assert (row["agreement_pct"], row["agreement_n"], row["agreement_tasks"]) == (72, 18, 3)
    assert row["agreement_level"] == "ok"  # 13 / 18
    assert "72%" in html and "of 18 comparisons" in html
    # The same measure as the researcher's per-annotator report.
    by_name = {a["username"]: a for a in annotator_quality(project=project)}
    assert by_name["labeler"]["agreement_with_others"] == {"value": round(13 / 18, 4), "n": 18}
    # Each labeler sees their own: bob agrees on t1 6 of 6, t2 0 of 6 (a tie is not c > b),
    # t3 5 of 6; his rejected t4 is not counted.
    bob_row, _ = queue_row(bob, project.pk)
    assert (bob_row["agreement_pct"], bob_row["agreement_n"]) == (61, 18)
    assert bob_row["agreement_level"] == "warn"
    assert by_name["bob"]["agreement_with_others"] == {"value": round(11 / 18, 4), "n": 18}


def test_pairwise_agreement_with_ties_and_both_bad(project, labeler, others):
    bob, _ = others
    tasks = make_tasks(project, kind="pairwise", n=5, answers=2, required=2)
    cases = [
        ("a", "a"),  # agree
        ("a", "b"),  # disagree
        ("tie", "tie"),  # agree
        ("tie", "a"),  # disagree
        ("both_bad", "a"),  # states no preference: not compared
    ]
    for task, (mine, theirs) in zip(tasks, cases, strict=True):
        answer(project, labeler, task, {"choice": mine})
        answer(project, bob, task, {"choice": theirs})
    row, _ = queue_row(labeler, project.pk)
    assert (row["agreement_pct"], row["agreement_n"], row["agreement_tasks"]) == (50, 4, 4)
    assert row["agreement_level"] == "bad"


def test_agreement_covers_only_the_latest_answers(project, labeler, others, monkeypatch):
    bob, _ = others
    tasks = make_tasks(project, n=4, answers=2, required=2)
    for task, agree in zip(tasks, [True, True, False, False], strict=True):
        first, second = answer_ids(task)
        answer(project, labeler, task, {"ranking": [first, second]})
        answer(project, bob, task, {"ranking": [first, second] if agree else [second, first]})
    row, _ = queue_row(labeler, project.pk)
    assert (row["agreement_pct"], row["agreement_n"]) == (50, 4)
    monkeypatch.setattr(queue_selectors, "AGREEMENT_WINDOW", 3)
    row, _ = queue_row(labeler, project.pk)
    assert (row["agreement_pct"], row["agreement_n"]) == (33, 3)
    monkeypatch.setattr(queue_selectors, "AGREEMENT_WINDOW", 2)
    row, _ = queue_row(labeler, project.pk)
    assert (row["agreement_pct"], row["agreement_n"]) == (0, 2)


def test_no_figure_without_other_labelers_on_the_same_tasks(project, labeler, others):
    (task,) = make_tasks(project, n=1, required=2)
    answer(project, labeler, task, {"ranking": answer_ids(task)})
    row, html = queue_row(labeler, project.pk)
    assert (row["agreement_pct"], row["agreement_n"]) == (None, 0)
    assert "Agreement" not in html


def test_projects_that_hide_quality_show_neither_agreement_nor_gold(
    project, labeler, others, django_assert_num_queries
):
    bob, _ = others
    (task,) = make_tasks(project, n=1, required=2)
    (gold,) = make_tasks(project, is_gold=True, gold_answer=lambda ids: {"ranking": [ids]})
    for user in (labeler, bob):
        answer(project, user, task, {"ranking": answer_ids(task)})
    answer(project, labeler, gold, {"ranking": answer_ids(gold)})
    row, html = queue_row(labeler, project.pk)
    assert (row["agreement_pct"], row["gold_pct"]) == (100, 100)
    assert "Agreement" in html and "Gold accuracy" in html
    project.show_quality_to_labelers = False
    project.save()
    client = Client()
    client.force_login(labeler)
    # session, user, memberships, stats, leases, the top bar's roles: no agreement queries.
    with django_assert_num_queries(6):
        response = client.get(reverse("labeling:queue"))
    (row,) = response.context["rows"]
    assert (row["agreement_pct"], row["gold_pct"], row["gold_n"]) == (None, None, 0)
    html = response.content.decode()
    assert "Agreement" not in html and "Gold accuracy" not in html
    assert row["total"] == 2  # progress is still shown


def test_the_page_shows_a_figure_never_the_other_labelers_answers(
    project, labeler, others, stranger
):
    bob, _ = others
    (task,) = make_tasks(project, n=1, required=2)
    first, second, third = answer_ids(task)
    answer(project, labeler, task, {"ranking": [first, second, third]})
    answer(
        project,
        bob,
        task,
        {"ranking": [third, second, first], "rationale": "BOBS-PRIVATE-RATIONALE"},
    )
    row, html = queue_row(labeler, project.pk)
    assert row["agreement_pct"] == 0
    assert "BOBS-PRIVATE-RATIONALE" not in html and "answer 2 to 0" not in html
    # A member of another project sees none of this project.
    stranger_client = Client()
    stranger_client.force_login(stranger)
    rows = stranger_client.get(reverse("labeling:queue")).context["rows"]
    assert project.pk not in {r["project"].pk for r in rows}
    assert Client().get(reverse("labeling:queue")).status_code == 302


def test_queue_queries_stay_constant_as_tasks_and_projects_grow(
    project, labeler, others, django_assert_num_queries
):
    bob, cat = others

    def work(target, n):
        for task in make_tasks(target, n=n, required=3, tag=f"{target.pk}-{n}-"):
            for user in (labeler, bob, cat):
                answer(target, user, task, {"ranking": answer_ids(task)})

    work(project, 2)
    client = Client()
    client.force_login(labeler)
    # session, user, memberships (with each window's start), stats, leases, the window's
    # annotations, their tasks' answers, the top bar's roles.
    with django_assert_num_queries(8):
        first = client.get(reverse("labeling:queue"))
    assert first.context["rows"][0]["agreement_n"] == 2 * 3 * 2
    work(project, 12)
    second = project_create(name="Second", created_by=None)
    for user in (labeler, bob, cat):
        membership_set(project=second, user=user, role=Role.LABELER)
    work(second, 3)
    with django_assert_num_queries(8):
        response = client.get(reverse("labeling:queue"))
    rows = {r["project"].pk: r for r in response.context["rows"]}
    assert rows[project.pk]["agreement_n"] == 14 * 3 * 2
    assert rows[second.pk]["agreement_n"] == 3 * 3 * 2
