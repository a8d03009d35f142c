import io

from evaluation.demo import PAIR_JUDGE, _scripted_judge, load_demo
from evaluation.models import EvalRun, EvalSet, JudgeConfig, RunStatus


def test_scripted_demo_judge_rule_is_what_it_says():
    prompt = (
        "[User question]\nq\n\n[The start of the reference answer]\nParis is the capital\n"
        "[The end of the reference answer]\n\n[The start of assistant A's answer]\nLyon\n"
        "[The end of assistant A's answer]\n\n[The start of assistant B's answer]\n"
        "Paris, the capital\n[The end of assistant B's answer]"
    )
    assert _scripted_judge({"messages": [{"role": "user", "content": prompt}]}).endswith("[[B]]")


def test_load_demo_builds_judged_runs_once(project, owner):
    out = io.StringIO()
    load_demo(project=project, users={"researcher": owner}, stdout=out)
    load_demo(project=project, users={"researcher": owner}, stdout=out)
    assert EvalSet.objects.get(project=project).question_count == 80
    runs = EvalRun.objects.filter(project=project)
    assert runs.count() == 2
    assert set(runs.values_list("status", flat=True)) == {RunStatus.SUCCEEDED}
    pairwise = runs.get(mode="baseline")
    assert pairwise.results["overall"]["pairs"][0]["n"] > 100
    assert "scripted demo judge" in JudgeConfig.objects.get(name=PAIR_JUDGE).name.lower()
