"""Forms of the pipeline pages: they parse; the services decide."""

from __future__ import annotations

from django import forms

from labeling.models import TaskKind
from labeling.pipeline.filters import (
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MIN_CHARS,
    DEFAULT_MIN_TOKENS,
)
from labeling.pipeline.formats import FORMATS
from labeling.pipeline.records import PipelineError
from labeling.pipeline.structured import FUNCTION_CALLING, LONG_CONTEXT, RAG
from labeling.pipeline.structured_inputs import input_read
from labeling.pipeline.synthesis import HEURISTIC_REWRITES


class FilterOptionsForm(forms.Form):
    """The filter chain's options, shared by the import and the filter stage."""

    min_chars = forms.IntegerField(
        required=False,
        min_value=0,
        initial=DEFAULT_MIN_CHARS,
        label="Minimum characters",
        help_text="Shorter prompts are filtered out.",
    )
    max_chars = forms.IntegerField(
        required=False,
        min_value=1,
        initial=DEFAULT_MAX_CHARS,
        label="Maximum characters",
        help_text="Longer prompts are filtered out; raise it for long-context data.",
    )
    min_tokens = forms.IntegerField(
        required=False,
        min_value=0,
        initial=DEFAULT_MIN_TOKENS,
        label="Minimum tokens",
        help_text="Words and punctuation marks, an estimate of tokens.",
    )
    max_tokens = forms.IntegerField(
        required=False,
        min_value=1,
        initial=DEFAULT_MAX_TOKENS,
        label="Maximum tokens",
        help_text="Longer prompts are filtered out; raise it for long-context data.",
    )
    blocklist = forms.CharField(
        required=False, help_text="Comma-separated terms; prompts with them are filtered out."
    )
    languages = forms.CharField(
        required=False, help_text="Comma-separated codes (en, de…) to keep; empty keeps all."
    )
    near_dup_threshold = forms.FloatField(
        required=False,
        min_value=0.1,
        max_value=1.0,
        initial=0.8,
        label="Near-duplicate threshold",
        help_text="Jaccard similarity (MinHash) above which a prompt counts as a near duplicate.",
    )

    def filter_options(self) -> dict:
        """The cleaned options, as the services' `filters` argument takes them."""
        return {name: self.cleaned_data.get(name) for name in FILTER_OPTIONS}


FILTER_OPTIONS = (
    "min_chars",
    "max_chars",
    "min_tokens",
    "max_tokens",
    "blocklist",
    "languages",
    "near_dup_threshold",
)


class ImportForm(FilterOptionsForm):
    field_order = ["file", "format", "since", "skip_invalid", *FILTER_OPTIONS]

    file = forms.FileField(
        help_text="JSONL, CSV, Parquet or a text file (one prompt per line); .gz works too."
    )
    format = forms.ChoiceField(
        choices=[("", "Detect from the rows")] + [(f, f) for f in FORMATS],
        required=False,
        help_text="OpenAI messages, ShareGPT, Alpaca, HH-RLHF, MT-Bench, prompt lists or logs.",
    )
    since = forms.DateTimeField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Logs: keep only rows collected since this day.",
    )
    skip_invalid = forms.BooleanField(
        required=False,
        label="Skip bad rows",
        help_text="Import the good rows and report the bad ones; otherwise all or nothing.",
    )


class FilterForm(FilterOptionsForm):
    pass


class PricesForm(forms.Form):
    """What the run's LLM costs; the run page shows tokens and cost from it."""

    price_prompt_per_mtok = forms.FloatField(
        required=False,
        min_value=0,
        label="Input price (USD per million tokens)",
        help_text="With the output price, makes the run's cost; empty counts 0.",
    )
    price_completion_per_mtok = forms.FloatField(
        required=False, min_value=0, label="Output price (USD per million tokens)"
    )

    def prices(self) -> dict:
        return {
            name: self.cleaned_data.get(name) or 0.0
            for name in ("price_prompt_per_mtok", "price_completion_per_mtok")
        }


class TagForm(PricesForm):
    field_order = ["llm_model", "price_prompt_per_mtok", "price_completion_per_mtok", "retag"]

    llm_model = forms.CharField(
        required=False,
        label="LLM model",
        help_text=(
            "Also tag with this model, held to the project's labels; it re-tags the prompts "
            "the rules tagged. Empty: the project's LLM if it has one, else rules only."
        ),
    )
    retag = forms.BooleanField(
        required=False,
        help_text="Tag every prompt again, types from the file or a person included.",
    )


class SynthesizeForm(PricesForm):
    field_order = [
        "rewrites",
        "llm_model",
        "price_prompt_per_mtok",
        "price_completion_per_mtok",
        "llm_rewrite",
        "drafts",
        "candidates",
        "candidate_models",
        "candidate_temperatures",
        "self_instruct",
        "limit",
    ]

    rewrites = forms.MultipleChoiceField(
        choices=[(k, k.replace("_", " ")) for k in HEURISTIC_REWRITES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Rule-based rewrites; each is a new prompt linked to its origin.",
    )
    llm_model = forms.CharField(
        required=False,
        label="LLM model",
        help_text="The model for the LLM steps below; empty: the project's LLM, if it has one.",
    )
    llm_rewrite = forms.CharField(
        required=False,
        max_length=2000,
        label="LLM rewrite",
        help_text='An instruction ("make it harder", "ask it as a beginner would"): the '
        "LLM rewrites each prompt by it, a new prompt linked to its origin.",
    )
    drafts = forms.BooleanField(
        required=False, label="Draft answers", help_text="A demonstration draft to edit."
    )
    candidates = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=20,
        initial=0,
        label="Candidates per prompt",
        help_text="K answers for ranking tasks.",
    )
    candidate_models = forms.CharField(
        required=False,
        label="Candidate models",
        help_text="Comma-separated; they take the K slots in turn. Empty: the LLM model.",
    )
    candidate_temperatures = forms.CharField(
        required=False,
        label="Candidate temperatures",
        help_text="Comma-separated sampling temperatures (0-2); each model answers at each. "
        "Empty: 0.7.",
    )
    self_instruct = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=10_000,
        initial=0,
        label="Self-instruct prompts per task type",
        help_text="New prompts from seeds of each type; near copies of the pool are dropped.",
    )
    limit = forms.IntegerField(
        min_value=1, max_value=100_000, initial=50, help_text="Prompts to rewrite or answer."
    )


class TasksForm(forms.Form):
    kind = forms.ChoiceField(choices=TaskKind.choices)
    limit = forms.IntegerField(min_value=1, max_value=100_000, initial=100, label="How many")
    gold_share = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        help_text="Share of gold tasks; empty uses the project's gold rate.",
    )


STAGE_FORMS = {
    "filter": FilterForm,
    "tag": TagForm,
    "synthesize": SynthesizeForm,
    "tasks": TasksForm,
}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented pattern); cleans to a list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class StructuredForm(PricesForm):
    """Structured synthesis: the kind, its input (files or pasted text) and its counts. The
    input is read here into the lists the service takes; a bad one is an error on its field."""

    field_order = [
        "kind",
        "llm_model",
        "price_prompt_per_mtok",
        "price_completion_per_mtok",
        "files",
        "text",
        "title",
        "questions_per_document",
        "count",
        "passages_per_item",
    ]

    kind = forms.ChoiceField(
        choices=[
            (LONG_CONTEXT, "Long context: document + question"),
            (FUNCTION_CALLING, "Function calling: tools + expected call"),
            (RAG, "RAG: retrieved passages + question"),
        ],
        help_text="What to make; the input below is read according to it.",
    )
    llm_model = forms.CharField(
        required=False,
        label="LLM model",
        help_text="The model that writes the items; empty: the project's LLM.",
    )
    files = MultipleFileField(
        required=False,
        label="Input files",
        help_text=(
            "Long context: text or markdown files, one document each, or a JSONL of "
            '{"title", "text"}. Function calling: a JSON file of OpenAI tools. RAG: a JSONL '
            'of {"id", "text", "title"} passages.'
        ),
    )
    text = forms.CharField(
        required=False,
        label="Or paste the input",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text=(
            "Long context: one document. Function calling: the tools JSON "
            '([{"type": "function", "function": {"name", "description", "parameters"}}]). '
            "RAG: JSONL passages, or paragraphs separated by blank lines (ids p1, p2…)."
        ),
    )
    title = forms.CharField(
        required=False,
        label="Document title",
        help_text="Long context, pasted document: its title (else its first line).",
    )
    questions_per_document = forms.IntegerField(
        min_value=1,
        max_value=20,
        initial=2,
        label="Questions per document",
        help_text="Long context.",
    )
    count = forms.IntegerField(
        min_value=1,
        max_value=1000,
        initial=10,
        label="How many items",
        help_text="Function calling: requests with their call. RAG: questions.",
    )
    passages_per_item = forms.IntegerField(
        min_value=1,
        max_value=20,
        initial=3,
        label="Passages per question",
        help_text="RAG: how many retrieved passages each question comes with.",
    )

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind is None or self.errors:
            return data
        files = data.get("files") or []
        try:
            data["input"] = input_read(
                kind,
                files=[(f.name, f.read()) for f in files],
                text=data.get("text") or "",
                title=data.get("title") or "",
            )
        except PipelineError as error:
            self.add_error("files" if files else "text", str(error))
        data["input_name"] = ", ".join(f.name for f in files)
        return data
