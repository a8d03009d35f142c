import io

from labeling.models import Prompt
from labeling.pipeline.demo import load_demo


def test_demo_stores_what_the_funnel_keeps_once(project, owner):
    out = io.StringIO()
    load_demo(project=project, users={"researcher": owner}, stdout=out)
    prompts = list(Prompt.objects.filter(project=project))
    texts = [p.messages[-1]["content"] for p in prompts]

    # 20 good log rows: the import drops 1 exact duplicate, the funnel removes 5 (a near
    # duplicate, too short, a repetition loop, mojibake, German), 14 kept, + 3 x 2 rewrites.
    assert len(prompts) == 14 + 6
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
    assert "19 filtered, 14 kept, 6 rewrites; 20 new prompts" in report
    assert "near_duplicate removed 1" in report

    load_demo(project=project, users={"researcher": owner}, stdout=out)
    assert Prompt.objects.filter(project=project).count() == 20
    assert "0 new prompts" in out.getvalue()
