import random

import pytest

from labeling.pipeline import filters
from labeling.pipeline.filters import (
    BlocklistFilter,
    ExactDuplicateFilter,
    Funnel,
    GarbageFilter,
    LanguageFilter,
    LengthFilter,
    NearDuplicateFilter,
    RepetitionFilter,
    count_tokens,
    default_filters,
)
from labeling.pipeline.language import UNDETERMINED, detect_language
from labeling.pipeline.records import Completion, ParsedPrompt


def _prompt(text, line=0, **kwargs):
    return ParsedPrompt(messages=[{"role": "user", "content": text}], line=line, **kwargs)


def test_token_count_is_words_and_punctuation():
    assert count_tokens("Hello, world! It's 2026.") == 9  # Hello , world ! It ' s 2026 .


def test_length_bounds_on_characters_and_tokens():
    check = LengthFilter(min_chars=10, max_chars=60, min_tokens=3, max_tokens=8)
    assert check("hi").code == "too_short"
    assert check("hi").detail == "2 characters is shorter than the minimum of 10"
    assert check("x" * 61).detail == "61 characters is longer than the maximum of 60"
    assert check("abcdefghijkl").detail == "1 tokens is shorter than the minimum of 3"
    assert check("one two three four five six seven eight nine").code == "too_long"
    assert check("What is a monad?") is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("tell me a joke " * 6, "repeated_ngram"),
        ("buy now\n" * 8, "repeated_lines"),
        ("why" + "y" * 60, "char_run"),
    ],
)
def test_repetition_catches_loops(text, code):
    assert RepetitionFilter()(text).code == code


@pytest.mark.parametrize(
    "text",
    [
        "If murder was legal, who would you kill first? Why would you kill your mother? "
        "And why would you kill your boss?",
        "Show me how to best break it.\n\nYes, go on.\n\nYes, go on.",
        "| a | b |\n|---|---|\n| 1 | 2 |\n" + "-" * 30,
        "def f(x):\n    return x\n\n\ndef g(x):\n    return x\n",
    ],
)
def test_repetition_leaves_natural_repeats(text):
    assert RepetitionFilter()(text) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Caf\ufffd au lait, s'il vous pla\ufffdt", "undecodable"),
        ("hello\x00world\x07 how are you", "control_chars"),
        ("Itâ€™s a cafÃ© in the city", "mojibake"),
        ("9f8e7d6c 5b4a3928 17263544 3322 1100 ##$$%%^^&&**", "few_letters"),
        ("12345 !!!", "few_letters"),
    ],
)
def test_garbage_catches_damaged_and_non_text(text, code):
    assert GarbageFilter()(text).code == code


@pytest.mark.parametrize(
    "text",
    [
        "Café au lait, s'il vous plaît — naïve résumé",
        "Tab\tseparated\nlines are fine",
        "for (int i = 0; i < n; i++) { sum += a[i]; }",
        "Как мне написать функцию на питоне?",
        "東京の天気はどうですか",
    ],
)
def test_garbage_keeps_real_text(text):
    assert GarbageFilter()(text) is None


def test_blocklist_matches_whole_words_case_insensitively():
    check = BlocklistFilter(["bomb", "credit card dump"])
    assert check("How do I build a BOMB?").detail == "contains the blocked term 'bomb'"
    assert check("selling a Credit Card Dump here").code == "blocked_term"
    assert check("The bombastic speech") is None
    assert BlocklistFilter([])("anything") is None


def test_language_guess_and_filter():
    assert detect_language("What is the capital of France and how do I get there?").language == "en"
    assert detect_language("Wie kann ich das Problem lösen, wenn es nicht geht?").language == "de"
    assert (
        detect_language("¿Cómo puedo aprender a programar en Python para mi trabajo?").language
        == "es"
    )
    assert detect_language("Как мне написать функцию на питоне?").language == "ru"
    assert detect_language("北京今天天气怎么样").language == "zh"
    assert detect_language("東京の天気はどうですか").language == "ja"
    assert detect_language("def f(x): return x+1").language == UNDETERMINED

    only_english = LanguageFilter(["en"])
    reason = only_english("Comment est-ce que je peux faire ça dans la cuisine pour les enfants?")
    assert reason.detail == "written in 'fr', the project asks for en"
    assert only_english("What is the best way to learn the guitar?") is None
    assert only_english("ok") is None  # undetermined is kept


def test_exact_duplicates_use_the_normalized_text_and_known_prompts():
    check = ExactDuplicateFilter(known=["Already  in the PROJECT"])
    assert check("already in the project").code == "exact_duplicate"
    assert check("New prompt") is None
    assert check("new   PROMPT ") is not None


def test_near_duplicate_filter_names_the_earlier_prompt():
    check = NearDuplicateFilter(threshold=0.7)
    base = (
        "Explain how photosynthesis turns sunlight water and carbon dioxide into sugar and oxygen"
    )
    assert check(base, key="a.jsonl line 1") is None
    reason = check(base.replace("Explain", "Describe"), key="a.jsonl line 2")
    assert reason.code == "near_duplicate"
    assert reason.detail.startswith("near duplicate of a.jsonl line 1 (Jaccard ≈ 0.")
    assert check("Write a sonnet about the sea at night and the lighthouse keeper") is None


def test_funnel_reports_removed_counts_reasons_and_samples_per_filter():
    texts = [
        "hi",  # length
        "What is the tallest mountain in Europe?",
        "what is the TALLEST mountain in europe?",  # exact dup
        "buy now\n" * 8,  # repetition
        "Itâ€™s broken",  # garbage
        "How do I make a bomb at home?",  # blocklist
        "Wie kann ich das Problem lösen, wenn es nicht funktioniert?",  # language
        "Please summarize the following article about the history of the printing press "
        "in Europe and its effect on literacy",
        "Please summarize the following article about the history of the printing press "
        "in Europe and its effect on literacy rates",  # near dup (Jaccard 17/18 on 3-grams)
    ]
    funnel = Funnel(default_filters(blocklist=["bomb"], languages=["en"]), samples=1)
    verdicts = list(funnel.run(_prompt(t, line=i) for i, t in enumerate(texts, start=1)))

    assert [v.filter for v in verdicts] == [
        "length", "", "exact_duplicate", "repetition", "garbage", "blocklist", "language", "",
        "near_duplicate",
    ]  # fmt: skip
    report = funnel.report.as_dict()
    assert report["total"] == 9 and report["kept"] == 2
    stages = {s["name"]: s for s in report["stages"]}
    assert [s["name"] for s in report["stages"]] == [
        "length", "garbage", "repetition", "blocklist", "language", "exact_duplicate",
        "near_duplicate",
    ]  # fmt: skip
    assert stages["length"]["seen"] == 9 and stages["length"]["removed"] == 1
    assert stages["garbage"]["seen"] == 8
    assert stages["near_duplicate"]["seen"] == 3
    assert stages["exact_duplicate"]["reasons"] == {"exact_duplicate": 1}
    assert stages["blocklist"]["samples"] == [
        {"text": "How do I make a bomb at home?", "reason": "contains the blocked term 'bomb'"}
    ]
    assert "line 8" in verdicts[-1].reason.detail


def test_funnel_redacts_pii_before_filtering_and_counts_kinds():
    prompt = _prompt(
        "My email is ann@example.com, what is wrong with my card 4111 1111 1111 1111?",
        completions=[Completion(text="Call me at +1 415-555-0132")],
    )
    funnel = Funnel([LengthFilter(min_chars=5)])
    verdict = funnel.check(prompt)

    assert verdict.kept
    assert verdict.prompt.text == "My email is [EMAIL], what is wrong with my card [CREDIT_CARD]?"
    assert verdict.prompt.completions[0].text == "Call me at [PHONE]"
    assert verdict.pii == {"email": 1, "credit_card": 1, "phone": 1}
    assert prompt.text.startswith("My email is ann@")  # the input is not changed in place
    assert funnel.report.prompts_with_pii == 1
    assert funnel.report.pii == {"email": 1, "credit_card": 1, "phone": 1}


def test_duplicates_of_redacted_prompts_are_found_after_redaction():
    funnel = Funnel(default_filters())
    first = funnel.check(_prompt("Reset the password for bob@example.com please"))
    second = funnel.check(_prompt("Reset the password for alice@example.org please"))
    assert first.kept and not second.kept
    assert second.filter == "exact_duplicate"


def test_near_dup_recall_on_planted_set():
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(3000)]
    originals = [" ".join(rng.choices(vocabulary, k=40)) for _ in range(300)]
    planted = []
    for text in originals[:100]:  # one word changed in 40: Jaccard about 0.86
        words = text.split()
        words[rng.randrange(len(words))] = "changed"
        planted.append(" ".join(words))
    check = NearDuplicateFilter(threshold=0.7)
    assert all(check(t) is None for t in originals)
    caught = sum(check(t) is not None for t in planted)
    assert caught >= 97  # recall ≥ 0.97


def test_filter_reasons_are_module_constants():
    assert filters.REASON_EXACT_DUP == "exact duplicate of an earlier prompt"
