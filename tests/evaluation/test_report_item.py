"""The item page a reviewer opens from a disagreement: a second-turn item shows the earlier
exchange (the first question and each model's own first reply) as context, apart from the
judged turn."""

from __future__ import annotations

from django.urls import reverse

from evaluation.services import eval_run_execute
from tests.conftest import PASSWORD
from tests.evaluation.conftest import LONG, SHORT
from tests.evaluation.test_runner import first_judge, make_run


def _item(client, owner, run, **params):
    assert client.login(username=owner.username, password=PASSWORD)
    return client.get(reverse("evaluation:run_item", args=[run.pk]), params)


def _run(project, eval_set, make_config, llm_server):
    llm_server.respond_with(first_judge)
    return eval_run_execute(run_id=make_run(project, eval_set, make_config(), turns=[1, 2]).pk)


def test_second_turn_item_shows_the_first_exchange_as_earlier_context(
    client, owner, project, eval_set, make_config, llm_server
):
    run = _run(project, eval_set, make_config, llm_server)
    response = _item(client, owner, run, q="1", a="alpha", b="beta", turn="2")
    assert response.status_code == 200
    earlier = response.context["earlier"]
    # q1: "Write a haiku." then "Now a limerick."; alpha answers long, beta short.
    assert [t["number"] for t in earlier] == [1]
    assert earlier[0]["user"] == "Write a haiku."
    assert [(a["model"], a["text"]) for a in earlier[0]["answers"]] == [
        ("alpha", LONG),
        ("beta", SHORT),
    ]
    assert response.context["user_turn"] == "Now a limerick."
    assert [a["text"] for a in response.context["answers"]] == [LONG + " (2)", SHORT + " (2)"]
    html = response.content.decode()
    # The earlier exchange comes first and is marked as context; the judged turn follows.
    context_at = html.index("Earlier in the conversation")
    assert "context only, not judged" in html
    assert context_at < html.index("Write a haiku.") < html.index("the turn judged")
    assert html.index("the turn judged") < html.index("Now a limerick.")
    assert html.count("its turn 1 reply") == 2
    # The judge's two orders of the one trial are the votes.
    assert len(response.context["votes"]) == 2


def test_first_turn_item_has_no_earlier_section(
    client, owner, project, eval_set, make_config, llm_server
):
    run = _run(project, eval_set, make_config, llm_server)
    response = _item(client, owner, run, q="1", a="alpha", b="beta", turn="1")
    assert response.context["earlier"] == []
    assert response.context["user_turn"] == "Write a haiku."
    assert "Earlier in the conversation" not in response.content.decode()


def test_a_turn_the_question_does_not_have_says_so(
    client, owner, project, eval_set, make_config, llm_server
):
    run = _run(project, eval_set, make_config, llm_server)
    response = _item(client, owner, run, q="1", a="alpha", b="beta", turn="3")
    assert response.status_code == 200
    assert response.context["earlier"] == [] and response.context["answers"] == []
    assert "Question 1 has no turn 3 in the eval set" in response.content.decode()


def test_a_scored_second_turn_shows_the_one_models_earlier_reply(
    client, owner, project, eval_set, make_config, llm_server
):
    llm_server.respond_with(lambda request: "[[7]]")
    config = make_config(family="single")
    run = eval_run_execute(
        run_id=make_run(
            project, eval_set, config, mode="single", models=["beta"], baseline="", turns=[2]
        ).pk
    )
    response = _item(client, owner, run, q="5", a="beta", turn="2")
    earlier = response.context["earlier"]
    # q5: beta has the long answer.
    assert [(a["label"], a["model"], a["text"]) for a in earlier[0]["answers"]] == [
        ("answer", "beta", LONG)
    ]
    assert response.context["reference"] == "8"
    assert "Gold reference for turn 2" in response.content.decode()


def test_strangers_cannot_read_an_item(
    client, stranger, project, eval_set, make_config, llm_server
):
    run = _run(project, eval_set, make_config, llm_server)
    response = _item(client, stranger, run, q="1", a="alpha", b="beta", turn="2")
    assert response.status_code == 404
