"""The data pipeline's pure parts: import formats, filters, PII, dedup, tagging, synthesis.

Nothing here touches the database. Readers turn files into `ParsedPrompt` rows (or `RowError`s),
filters and the funnel decide and explain, synthesis calls the one LLM client and returns
dataclasses with usage and per-prompt failures. The import/filter/tag/synthesis services in
`labeling` are thin layers that store these results.
"""
