import io

from labeling.models import PipelineRun, Prompt, PromptStatus
from labeling.pipeline.demo import load_demo


def test_demo_goes_through_the_services_and_keeps_filtered_prompts_once(project, owner):
    out = io.StringIO()
    load_demo(project=project, users={"researcher": owner}, stdout=out)
    prompts = list(Prompt.objects.filter(project=project))
    active = [p for p in prompts if p.status == PromptStatus.ACTIVE]
    filtered = [p for p in prompts if p.status == PromptStatus.FILTERED]
    texts = [p.messages[-1]["content"] for p in active]

    # 20 good log rows: the import collapses 1 exact duplicate, the funnel removes 5 (a near
    # duplicate, too short, a repetition loop, mojibake, German), 14 kept, + 3 x 2 rewrites.
    # The 5 removed stay, filtered, with their reasons (nothing is deleted).
    assert len(active) == 14 + 6
    assert len(filtered) == 5
    assert {r["filter"] for p in filtered for r in p.filter_reasons} == {
        "near_duplicate",
        "length",
        "repetition",
        "garbage",
        "language",
    }
    assert "hi" not in texts
    assert not any("â€" in t for t in texts)
    assert not any("Steuererklärung" in t for t in texts)
    assert sum("first snow" in t for t in texts) == 1
    card = next(t for t in texts if "charged twice" in t)
    assert "[CREDIT_CARD]" in card and "[EMAIL]" in card and "4111" not in card
    assert {p.task_type for p in prompts} <= {"qa", "code"}
    from_log = next(p for p in prompts if p.meta.get("user_id") == "u-104")
    assert from_log.collected_at is not None
    assert from_log.completions.get().model_name == "prod-v3"
    rewrites = [p for p in prompts if p.source == "synthesis:rewrite"]
    assert {p.meta["origin"] for p in rewrites} and len(rewrites) == 6
    report = out.getvalue()
    assert "line 21 rejected" in report
    assert "19 filtered, 14 kept, 6 rewrites; 25 new prompts" in report
    assert "near_duplicate removed 1" in report
    assert PipelineRun.objects.filter(project=project, created_by=owner).count() == 2

    load_demo(project=project, users={"researcher": owner}, stdout=out)
    assert Prompt.objects.filter(project=project).count() == 25
    assert PipelineRun.objects.filter(project=project).count() == 2
    assert "0 new prompts" in out.getvalue()
