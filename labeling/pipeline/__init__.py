"""The data pipeline's pure parts: import formats, filters, PII, dedup, tagging, synthesis.

Nothing here touches the database; the services in `labeling` store what these return.

- `records`: `ParsedPrompt`, `Completion`, `RowError`, `content_hash`, `prompt_payload` (the
  mapping `prompt_bulk_create` takes), `PipelineError` (a `DomainError`).
- `formats` / `readers`: `read_prompts(path, format=None, since=None)` streams a JSONL, CSV,
  Parquet or text file as `ParsedPrompt | RowError`; `PromptReader` adds counters and
  `progress()`; `collect(items, skip_invalid=, known_hashes=)` is all-or-nothing by default.
- `filters`: named filters returning a `Reason` or None, and `Funnel` (PII redaction, then the
  filters in order) with its `FunnelReport`; `pii`, `language` and `dedup` are their parts.
- `tagging`: `tag_rules`, `tag_llm` (held to a label set), `tag_disagreements`.
- `synthesis`: `self_instruct`, `rewrite_heuristic`, `rewrite_llm`, `answers_draft`,
  `answers_candidates`; `structured`: `long_context_items`, `function_calling_items`,
  `rag_items`. All LLM work goes through `flywheel.llm.LLMClient` and reports usage and
  per-item failures (`synthesis_base`).
"""
