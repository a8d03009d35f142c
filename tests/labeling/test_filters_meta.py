"""PII in a prompt's meta (a log's extra columns, MT-Bench's later turns) is redacted like the
rest of the prompt and counted in the funnel."""

from labeling.pipeline.filters import Funnel, default_filters, redact_prompt
from labeling.pipeline.records import ParsedPrompt


def test_redact_prompt_cleans_texts_nested_in_meta_and_leaves_other_values():
    prompt = ParsedPrompt(
        messages=[{"role": "user", "content": "Where is my parcel?"}],
        meta={
            "user_email": "kim@example.com",
            "extra": {"ips": ["198.51.100.7", "n/a"], "attempts": 3, "vip": True},
            "line": 4,
        },
    )
    redacted, found = redact_prompt(prompt)
    assert found == {"email": 1, "ip_address": 1}
    assert redacted.meta == {
        "user_email": "[EMAIL]",
        "extra": {"ips": ["[IP_ADDRESS]", "n/a"], "attempts": 3, "vip": True},
        "line": 4,
    }
    assert prompt.meta["user_email"] == "kim@example.com"  # the input is not changed
    assert redacted.content_hash == prompt.content_hash


def test_funnel_counts_pii_found_only_in_meta():
    funnel = Funnel(default_filters())
    verdict = funnel.check(
        ParsedPrompt(
            messages=[{"role": "user", "content": "How long does a refund take?"}],
            meta={"followup_turns": ["Send it to lee@example.org instead."]},
        )
    )
    assert verdict.kept
    assert verdict.pii == {"email": 1}
    assert verdict.prompt.meta["followup_turns"] == ["Send it to [EMAIL] instead."]
    report = funnel.report.as_dict()
    assert report["pii"] == {"email": 1}
    assert report["prompts_with_pii"] == 1
