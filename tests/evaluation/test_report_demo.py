"""The agreement demo loader: the shipped MT-Bench files import once and give the paper's
figures; loading again adds nothing."""

import io

from evaluation.demo_agreement import SET_NAME, load_demo
from evaluation.models import AgreementReport, ImportedJudgment, JudgmentSet


def test_load_demo_imports_the_real_judgments_once_with_the_published_figures(project, owner):
    out = io.StringIO()
    load_demo(project=project, users={"researcher": owner}, stdout=out)
    load_demo(project=project, users={"researcher": owner}, stdout=out)
    judgment_set = JudgmentSet.objects.get(name=SET_NAME)
    assert judgment_set.project == project and judgment_set.vote_count == 5755
    assert ImportedJudgment.objects.count() == 5755
    assert AgreementReport.objects.count() == 3
    text = out.getvalue()
    assert (
        "gpt4_pair vs expert, turn 1: 66.0% with ties (886/1343), 84.6% without (727/859)" in text
    )
    assert "expert vs expert, turn 1: 63.0% with ties (454/721), 81.0% without (388/479)" in text
    assert text.count("with 5755 votes") == 1
