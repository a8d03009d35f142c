"""Small named filters and the funnel that runs them.

Each filter reads a prompt's text and returns a `Reason` (a stable code and a sentence) or
None to keep it. Duplicate filters remember what they kept. `Funnel` redacts PII first, runs the
filters in order (a prompt stops at the first one that removes it) and keeps a report: how many
each filter removed, by reason, with a few samples. Nothing is deleted: the caller stores each
`Verdict` (kept or not, and why) on the prompt, so a filtered prompt can be restored.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from . import pii
from .dedup import NearDuplicateIndex
from .language import UNDETERMINED, detect_language
from .records import ParsedPrompt, normalize_text

REASON_TOO_SHORT = "{count} {unit} is shorter than the minimum of {limit}"
REASON_TOO_LONG = "{count} {unit} is longer than the maximum of {limit}"
REASON_REPEATED_NGRAM = "the most repeated {n}-word phrase covers {share:.0%} of the words"
REASON_REPEATED_LINES = "{share:.0%} of the lines are repeats"
REASON_CHAR_RUN = "one character repeated {run} times in a row"
REASON_REPLACEMENT_CHARS = "{count} undecodable characters (U+FFFD)"
REASON_CONTROL_CHARS = "{count} control characters"
REASON_MOJIBAKE = "looks like mis-decoded text (mojibake such as {sample!r})"
REASON_FEW_LETTERS = "only {share:.0%} of the characters are letters"
REASON_BLOCKED = "contains the blocked term {term!r}"
REASON_LANGUAGE = "written in {found!r}, the project asks for {wanted}"
REASON_EXACT_DUP = "exact duplicate of an earlier prompt"
# An import's rows that repeat a stored conversation (same content hash), by where it is.
REASON_REPEATED_IN_FILE = "repeats line {line} of this file"
REASON_ALREADY_IN_PROJECT = "already in the project as prompt #{id}"
REASON_NEAR_DUP = "near duplicate of {key} (Jaccard ≈ {similarity:.2f})"

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
# Unicode category Cc less tab, newline and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NOT_LETTER = re.compile(r"[\W\d_]+")
_MOJIBAKE = re.compile(r"Ã[\u0080-\u00BF]|â€[\u0080-\u00BF\u2018-\u201D\u2122]|Â[\u00A0-\u00BF]")


def count_tokens(text: str) -> int:
    """A tokenizer-free estimate: words and punctuation marks (`\\w+|[^\\w\\s]`).

    It is within about 25% of BPE token counts on English prose and undercounts code and
    non-Latin scripts; bounds are set with that in mind.
    """
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class Reason:
    code: str  # stable, for counting: "too_short", "near_duplicate"...
    detail: str  # a sentence for the person restoring the prompt

    def __str__(self) -> str:
        return self.detail


class Filter:
    name = "filter"

    def __call__(self, text: str) -> Reason | None:
        raise NotImplementedError


class LengthFilter(Filter):
    """Bounds on characters and on tokens (see `count_tokens`)."""

    name = "length"

    def __init__(
        self,
        *,
        min_chars: int = 1,
        max_chars: int | None = None,
        min_tokens: int = 0,
        max_tokens: int | None = None,
    ) -> None:
        self.min_chars, self.max_chars = min_chars, max_chars
        self.min_tokens, self.max_tokens = min_tokens, max_tokens

    def __call__(self, text: str) -> Reason | None:
        chars = len(text.strip())
        if chars < self.min_chars:
            return _short(chars, "characters", self.min_chars)
        if self.max_chars is not None and chars > self.max_chars:
            return _long(chars, "characters", self.max_chars)
        if self.min_tokens or self.max_tokens is not None:
            tokens = count_tokens(text)
            if tokens < self.min_tokens:
                return _short(tokens, "tokens", self.min_tokens)
            if self.max_tokens is not None and tokens > self.max_tokens:
                return _long(tokens, "tokens", self.max_tokens)
        return None


class RepetitionFilter(Filter):
    """Degenerate repetition: a phrase looping, lines pasted again and again, a key held down."""

    name = "repetition"

    def __init__(
        self,
        *,
        ngram: int = 3,
        max_ngram_share: float = 0.5,
        min_ngram_repeats: int = 4,
        max_repeated_line_share: float = 0.5,
        max_char_run: int = 40,
        min_words: int = 8,
    ) -> None:
        self.ngram = ngram
        self.max_ngram_share = max_ngram_share
        self.min_ngram_repeats = min_ngram_repeats
        self.max_repeated_line_share = max_repeated_line_share
        self.max_char_run = max_char_run
        self.min_words = min_words
        self._run = re.compile(r"(.)\1{" + str(max_char_run - 1) + ",}", re.DOTALL)

    def __call__(self, text: str) -> Reason | None:
        run = self._run.search(text)
        if run and not run.group(1).isspace():
            return Reason("char_run", REASON_CHAR_RUN.format(run=len(run.group())))
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) >= 4:
            repeats = len(lines) - len(set(lines))
            if repeats / len(lines) > self.max_repeated_line_share:
                share = repeats / len(lines)
                return Reason("repeated_lines", REASON_REPEATED_LINES.format(share=share))
        words = normalize_text(text).split()
        if len(words) >= self.min_words:
            n = self.ngram
            grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
            _, top = grams.most_common(1)[0]
            # Words covered by the most common n-gram's occurrences (as in Gopher's rules).
            share = min(1.0, top * n / len(words))
            # Short prompts repeat a phrase or two naturally ("why would you..."); a loop
            # repeats it many times and dominates the text.
            if top >= self.min_ngram_repeats and share > self.max_ngram_share:
                return Reason("repeated_ngram", REASON_REPEATED_NGRAM.format(n=n, share=share))
        return None


class GarbageFilter(Filter):
    """Non-text and encoding damage: U+FFFD, control characters, mojibake, few letters."""

    name = "garbage"

    def __init__(self, *, min_letter_share: float = 0.3, min_chars_for_share: int = 20) -> None:
        self.min_letter_share = min_letter_share
        self.min_chars_for_share = min_chars_for_share

    def __call__(self, text: str) -> Reason | None:
        if (bad := text.count("\ufffd")) > 0:
            return Reason("undecodable", REASON_REPLACEMENT_CHARS.format(count=bad))
        if controls := len(_CONTROL.findall(text)):
            return Reason("control_chars", REASON_CONTROL_CHARS.format(count=controls))
        if match := _MOJIBAKE.search(text):
            return Reason("mojibake", REASON_MOJIBAKE.format(sample=match.group()))
        visible = len("".join(text.split()))
        letters = len(_NOT_LETTER.sub("", text))
        if visible >= self.min_chars_for_share:
            share = letters / visible
            if share < self.min_letter_share:
                return Reason("few_letters", REASON_FEW_LETTERS.format(share=share))
        elif visible and not letters:
            return Reason("few_letters", REASON_FEW_LETTERS.format(share=0))
        return None


class BlocklistFilter(Filter):
    """Whole-word, case-insensitive match of any listed term (phrases allowed)."""

    name = "blocklist"

    def __init__(self, terms: Iterable[str]) -> None:
        cleaned = sorted({t.strip().casefold() for t in terms if t.strip()}, key=len, reverse=True)
        self.terms = cleaned
        body = "|".join(re.escape(t) for t in cleaned)
        self._pattern = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE) if cleaned else None

    def __call__(self, text: str) -> Reason | None:
        if self._pattern and (match := self._pattern.search(text)):
            return Reason("blocked_term", REASON_BLOCKED.format(term=match.group().casefold()))
        return None


class LanguageFilter(Filter):
    """Keeps prompts in the wanted languages; undetermined ones (short, code) are kept."""

    name = "language"

    def __init__(self, languages: Iterable[str]) -> None:
        self.languages = frozenset(languages)

    def __call__(self, text: str) -> Reason | None:
        guess = detect_language(text)
        if guess.language == UNDETERMINED or guess.language in self.languages:
            return None
        wanted = ", ".join(sorted(self.languages))
        return Reason("language", REASON_LANGUAGE.format(found=guess.language, wanted=wanted))


class ExactDuplicateFilter(Filter):
    """Same normalized text as a kept prompt (or one already in the project: `known`)."""

    name = "exact_duplicate"

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._seen = {self._digest(t) for t in known}

    @staticmethod
    def _digest(text: str) -> bytes:
        # 16 bytes per prompt instead of its whole normalized text.
        return hashlib.blake2b(normalize_text(text).encode(), digest_size=16).digest()

    def __call__(self, text: str) -> Reason | None:
        key = self._digest(text)
        if key in self._seen:
            return Reason("exact_duplicate", REASON_EXACT_DUP)
        self._seen.add(key)
        return None


class NearDuplicateFilter(Filter):
    """MinHash LSH over word 3-grams; `threshold` is the Jaccard similarity that counts."""

    name = "near_duplicate"

    def __init__(
        self,
        *,
        threshold: float = 0.8,
        num_perm: int = 128,
        known: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.index = NearDuplicateIndex(threshold=threshold, num_perm=num_perm)
        for key, text in known:
            self.index.add(key, text)
        self._counter = 0

    def __call__(self, text: str, *, key: str | None = None) -> Reason | None:
        self._counter += 1
        key = key or f"prompt #{self._counter}"
        if key in self.index:  # keys name the kept prompt in reasons, so keep them unique
            key = f"{key} (#{self._counter})"
        found = self.index.add(key, text)
        if found is None:
            return None
        detail = REASON_NEAR_DUP.format(key=found.key, similarity=found.similarity)
        return Reason("near_duplicate", detail)


# -- the funnel --------------------------------------------------------------------------------


@dataclass
class Verdict:
    prompt: ParsedPrompt  # redacted when the funnel redacts
    kept: bool
    filter: str = ""  # the filter that removed it
    reason: Reason | None = None
    pii: dict[str, int] = field(default_factory=dict)  # kinds redacted -> count


@dataclass
class StageReport:
    name: str
    seen: int = 0
    removed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # reason code -> count
    samples: list[tuple[str, str]] = field(default_factory=list)  # (text excerpt, reason)


@dataclass
class FunnelReport:
    total: int = 0
    kept: int = 0
    pii: Counter[str] = field(default_factory=Counter)  # kind -> items redacted
    prompts_with_pii: int = 0
    stages: list[StageReport] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready, for storing on a pipeline run row."""
        return {
            "total": self.total,
            "kept": self.kept,
            "pii": dict(self.pii),
            "prompts_with_pii": self.prompts_with_pii,
            "stages": [
                {
                    "name": s.name,
                    "seen": s.seen,
                    "removed": s.removed,
                    "reasons": dict(s.reasons),
                    "samples": [{"text": t, "reason": r} for t, r in s.samples],
                }
                for s in self.stages
            ],
        }


class Funnel:
    def __init__(
        self,
        filters: list[Filter],
        *,
        redact_pii: bool = True,
        samples: int = 3,
        sample_chars: int = 160,
    ) -> None:
        self.filters = filters
        self.redact_pii = redact_pii
        self.samples = samples
        self.sample_chars = sample_chars
        self.report = FunnelReport(stages=[StageReport(name=f.name) for f in filters])

    def redact(self, prompt: ParsedPrompt) -> tuple[ParsedPrompt, Counter[str]]:
        """The prompt with its PII redacted (when this funnel redacts), counted in the report."""
        if not self.redact_pii:
            return prompt, Counter()
        prompt, found = redact_prompt(prompt)
        if found:
            self.report.prompts_with_pii += 1
            self.report.pii.update(found)
        return prompt, found

    def check(self, prompt: ParsedPrompt, *, pii: Counter[str] | None = None) -> Verdict:
        """Run the filters; `pii` is what the caller's own `redact` found (then the prompt is
        not redacted again)."""
        self.report.total += 1
        if pii is None:
            prompt, pii = self.redact(prompt)
        text = prompt.text
        for stage, check in zip(self.report.stages, self.filters, strict=True):
            stage.seen += 1
            if isinstance(check, NearDuplicateFilter):
                reason = check(text, key=_describe(prompt))
            else:
                reason = check(text)
            if reason is not None:
                self._removed(stage, text, reason)
                return Verdict(prompt, False, check.name, reason, dict(pii))
        self.report.kept += 1
        return Verdict(prompt, True, pii=dict(pii))

    def duplicate(
        self, prompt: ParsedPrompt, reason: Reason, *, pii: Counter[str] | None = None
    ) -> Verdict:
        """Count a prompt the caller found stored already (same content hash) on the exact
        duplicate line, without the filters before it: its first copy went through them."""
        self.report.total += 1
        stage = next((s for s in self.report.stages if s.name == ExactDuplicateFilter.name), None)
        if stage is None:
            stage = StageReport(name=ExactDuplicateFilter.name)
            self.report.stages.append(stage)
        stage.seen += 1
        self._removed(stage, prompt.text, reason)
        return Verdict(prompt, False, stage.name, reason, dict(pii or {}))

    def _removed(self, stage: StageReport, text: str, reason: Reason) -> None:
        stage.removed += 1
        stage.reasons[reason.code] += 1
        if len(stage.samples) < self.samples:
            stage.samples.append((text[: self.sample_chars], reason.detail))

    def run(self, prompts: Iterable[ParsedPrompt]) -> Iterator[Verdict]:
        for prompt in prompts:
            yield self.check(prompt)


# The length bounds of the usual chain; an import or a filter run can set its own.
DEFAULT_MIN_CHARS = 8
DEFAULT_MAX_CHARS = 20_000
DEFAULT_MIN_TOKENS = 0
DEFAULT_MAX_TOKENS = 8_000


def default_filters(
    *,
    min_chars: int = DEFAULT_MIN_CHARS,
    max_chars: int = DEFAULT_MAX_CHARS,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    blocklist: Iterable[str] = (),
    languages: Iterable[str] = (),
    near_dup_threshold: float = 0.8,
    known_texts: Iterable[str] = (),
) -> list[Filter]:
    """The usual chain, cheapest first and dedup last (so rejects never enter the index)."""
    known = list(known_texts)
    chain: list[Filter] = [
        LengthFilter(
            min_chars=min_chars, max_chars=max_chars, min_tokens=min_tokens, max_tokens=max_tokens
        ),
        GarbageFilter(),
        RepetitionFilter(),
    ]
    terms = list(blocklist)
    if terms:
        chain.append(BlocklistFilter(terms))
    langs = list(languages)
    if langs:
        chain.append(LanguageFilter(langs))
    chain.append(ExactDuplicateFilter(known))
    chain.append(
        NearDuplicateFilter(
            threshold=near_dup_threshold,
            known=((f"existing prompt #{i}", t) for i, t in enumerate(known, start=1)),
        )
    )
    return chain


def redact_prompt(prompt: ParsedPrompt) -> tuple[ParsedPrompt, Counter[str]]:
    """The prompt with PII redacted in its system text, messages, completions, reference and
    every text inside `meta` (a log's extra columns, MT-Bench's later turns and references)."""
    found: Counter[str] = Counter()

    def clean(text: str) -> str:
        result = pii.redact(text)
        found.update(result.found)
        return result.text

    def clean_value(value: Any) -> Any:
        if isinstance(value, str):
            return clean(value)
        if isinstance(value, dict):
            return {key: clean_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [clean_value(item) for item in value]
        return value

    messages = [{**m, "content": clean(m["content"])} for m in prompt.messages]
    completions = [replace(c, text=clean(c.text)) for c in prompt.completions]
    redacted = replace(
        prompt,
        messages=messages,
        system=clean(prompt.system),
        completions=completions,
        reference=clean(prompt.reference),
        meta=clean_value(prompt.meta),
    )
    return (redacted if found else prompt), found


def _describe(prompt: ParsedPrompt) -> str:
    return f"{prompt.source} line {prompt.line}" if prompt.source else f"line {prompt.line}"


def _short(count: int, unit: str, limit: int) -> Reason:
    return Reason("too_short", REASON_TOO_SHORT.format(count=count, unit=unit, limit=limit))


def _long(count: int, unit: str, limit: int) -> Reason:
    return Reason("too_long", REASON_TOO_LONG.format(count=count, unit=unit, limit=limit))
