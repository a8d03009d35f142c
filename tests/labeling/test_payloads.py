"""Answer validation: bad input is refused with a message a person can act on; the pair
helpers that snapshots and statistics read."""

import pytest

from labeling.models import Project
from labeling.services import payloads
from labeling.services.payloads import PayloadError, answer_clean, ranking_to_pairs


def _project(**rules) -> Project:
    return Project(name="p", slug="p", **rules)


def clean(kind, data, ids=(11, 12, 13), **rules):
    return answer_clean(
        project=_project(**rules),
        kind=kind,
        completion_ids=list(ids),
        completion_texts={i: f"text {i}\nline two\n" for i in ids},
        data=data,
    )


def test_ranking_accepts_ids_and_tiers_and_normalises_to_tiers():
    assert clean("ranking", {"ranking": [12, 11, 13]}).payload == {"ranking": [[12], [11], [13]]}
    assert clean("ranking", {"ranking": [[13, 11], "12"]}).payload == {"ranking": [[11, 13], [12]]}


@pytest.mark.parametrize(
    ("ranking", "message_start"),
    [
        ([11, 12], "The ranking must contain each of this task's answers exactly once"),
        ([11, 12, 12, 13], "The ranking must contain each"),
        ([11, 12, 99], "The ranking must contain each"),
        ("11,12,13", "`ranking` must list the answers"),
        ([[11], [], [12, 13]], "`ranking` must list the answers"),
    ],
)
def test_ranking_that_is_not_a_permutation_is_refused(ranking, message_start):
    with pytest.raises(PayloadError) as error:
        clean("ranking", {"ranking": ranking})
    assert str(error.value).startswith(message_start)


def test_ties_refused_when_the_project_forbids_them():
    with pytest.raises(PayloadError, match="does not allow ties"):
        clean("ranking", {"ranking": [[11, 12], 13]}, allow_ties=False)
    assert clean("ranking", {"ranking": [11, 12, 13]}, allow_ties=False).payload["ranking"] == [
        [11],
        [12],
        [13],
    ]


def test_pairwise_choice_on_a_ranking_task_is_refused():
    with pytest.raises(PayloadError) as error:
        clean("ranking", {"choice": "a"})
    assert str(error.value) == payloads.ERROR_CHOICE_WRONG_KIND.format(kind="ranking")


def test_pairwise_records_winner_loser_and_strength():
    answer = clean("pairwise", {"choice": "b", "strength": 3}, ids=(5, 7))
    assert answer.payload == {
        "choice": "b",
        "shown_choice": "b",
        "strength": 3,
        "winner": 7,
        "loser": 5,
    }
    assert payloads.pairwise_to_pair(answer.payload) == (7, 5, 3.0)
    tie = clean("pairwise", {"choice": "tie"}, ids=(5, 7)).payload
    assert payloads.pairwise_to_pair(tie) is None
    with pytest.raises(PayloadError, match="only for a or b"):
        clean("pairwise", {"choice": "tie", "strength": 2}, ids=(5, 7))
    with pytest.raises(PayloadError, match="`choice` must be one of"):
        clean("pairwise", {"choice": "A"}, ids=(5, 7))


def test_pairwise_letters_mean_the_order_the_labeler_saw():
    """A labeler shown (7, 5) who presses "a" picked 7: the winner is 7 and `choice`,
    restated in the task's order (5, 7), is "b" — so labelers who saw different orders
    agree when they pick the same answer."""
    answer = answer_clean(
        project=_project(),
        kind="pairwise",
        completion_ids=[5, 7],
        completion_texts={},
        data={"choice": "a", "strength": 2},
        display_order=[7, 5],
    )
    assert answer.payload["winner"] == 7 and answer.payload["loser"] == 5
    assert (answer.payload["choice"], answer.payload["shown_choice"]) == ("b", "a")
    tie = answer_clean(
        project=_project(),
        kind="pairwise",
        completion_ids=[5, 7],
        completion_texts={},
        data={"choice": "tie"},
        display_order=[7, 5],
    )
    assert tie.payload["choice"] == "tie" and tie.payload["winner"] is None


def test_rubric_scores_off_the_scale_or_missing_are_refused():
    rules = {"rubric": [{"name": "correct"}, {"name": "clear"}], "rubric_scale_max": 5}
    good = {"scores": {"11": {"correct": 5, "clear": 1}}}
    assert clean("rubric", good, ids=(11,), **rules).payload == good
    with pytest.raises(PayloadError) as error:
        clean("rubric", {"scores": {"11": {"correct": 6, "clear": 1}}}, ids=(11,), **rules)
    assert str(error.value) == "Score 6 for 'correct' is off the scale 1 to 5."
    with pytest.raises(PayloadError, match="missing: 11/clear"):
        clean("rubric", {"scores": {"11": {"correct": 3}}}, ids=(11,), **rules)
    with pytest.raises(PayloadError, match="Unknown criterion 'style'"):
        clean("rubric", {"scores": {"11": {"style": 3}}}, ids=(11,), **rules)


def test_flags_and_ratings_are_checked_against_the_task_and_project():
    answer = clean(
        "ranking",
        {"ranking": [11, 12, 13], "flags": {"12": ["harmful", "refusal"]}, "ratings": {"11": 7}},
        answer_rating_max=7,
    )
    assert answer.flags == {"12": ["harmful", "refusal"]}
    assert answer.ratings == {"11": 7}
    with pytest.raises(PayloadError, match="Unknown flag 'rude'"):
        clean("ranking", {"ranking": [11, 12, 13], "flags": {"12": ["rude"]}})
    with pytest.raises(PayloadError, match="names answer '99'"):
        clean("ranking", {"ranking": [11, 12, 13], "flags": {"99": ["harmful"]}})
    with pytest.raises(PayloadError, match="does not ask for per-answer ratings"):
        clean("ranking", {"ranking": [11, 12, 13], "ratings": {"11": 2}})
    with pytest.raises(PayloadError, match="off the scale 1 to 3"):
        clean("ranking", {"ranking": [11, 12, 13], "ratings": {"11": 4}}, answer_rating_max=3)


def test_demonstration_edit_keeps_original_edit_and_diff():
    answer = clean("demonstration", {"text": "text 12\nline 2, fixed\n", "draft_completion": 12})
    payload = answer.payload
    assert payload["original"] == "text 12\nline two\n"
    assert payload["text"] == "text 12\nline 2, fixed\n"
    assert "-line two\n+line 2, fixed\n" in payload["diff"]
    assert payloads.demonstration_edit_pair(payload) == (payload["text"], payload["original"])
    with pytest.raises(PayloadError, match="must not be empty"):
        clean("demonstration", {"text": "   "})


def test_ranking_gives_k_choose_2_pairs_with_tier_margins():
    tiers = [[1], [2, 3], [4]]
    kept = ranking_to_pairs(tiers, tie_policy="keep")
    assert len(kept) == 4 * 3 // 2
    assert set(kept) == {
        (1, 2, 1.0),
        (1, 3, 1.0),
        (1, 4, 2.0),
        (2, 3, 0.0),
        (2, 4, 1.0),
        (3, 4, 1.0),
    }
    assert (2, 3, 0.0) not in ranking_to_pairs(tiers)


def test_preferences_state_ties_as_half():
    prefs = payloads.preferences("ranking", {"ranking": [[3], [1, 2]]}, [1, 2, 3])
    assert prefs == {(1, 2): 0.5, (1, 3): 0.0, (2, 3): 0.0}
