"""The one client for OpenAI-compatible chat servers (OpenAI, vLLM, TGI, Ollama, LiteLLM).

Every LLM call in Flywheel goes through `LLMClient.chat`: it bounds how many calls run at once
against one server, retries 429 / 5xx / timeouts / dropped connections with exponential backoff
and full jitter (honouring Retry-After), applies a per-call timeout, accounts tokens and latency,
and turns "nothing listens there" into an error that names the URL.

API keys come from an environment variable named by the caller; they are never stored.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai
from django.conf import settings

ERROR_UNREACHABLE = "Cannot reach the LLM server at {url}: {reason}"
ERROR_GAVE_UP = "The LLM server at {url} failed {attempts} times; last error: {reason}"
ERROR_REFUSED = "The LLM server at {url} refused the request ({status}): {reason}"
ERROR_MALFORMED = "The LLM server at {url} sent a reply Flywheel cannot read: {reason}"
ERROR_NOT_JSON = "The model's reply is not valid JSON: {reason}"

_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
_CHAT_PATH = "/chat/completions"


class LLMError(Exception):
    """Any failure of an LLM call, with a message a person can act on."""


class LLMUnreachableError(LLMError):
    pass


class LLMResponseError(LLMError):
    pass


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    model: str
    api_key_env: str = "FLYWHEEL_LLM_API_KEY"
    timeout: float = 60.0
    max_retries: int = 5
    max_concurrency: int = 8
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    @classmethod
    def from_settings(cls, **overrides: Any) -> LLMConfig:
        values: dict[str, Any] = {
            "base_url": settings.FLYWHEEL_LLM_BASE_URL,
            "model": settings.FLYWHEEL_LLM_MODEL,
            "api_key_env": settings.FLYWHEEL_LLM_API_KEY_VAR,
            "timeout": settings.FLYWHEEL_LLM_TIMEOUT,
            "max_retries": settings.FLYWHEEL_LLM_MAX_RETRIES,
            "max_concurrency": settings.FLYWHEEL_LLM_MAX_CONCURRENCY,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class ChatResult:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    attempts: int
    finish_reason: str | None


@dataclass
class Usage:
    """Running totals for one client (thread-safe through the client's lock)."""

    calls: int = 0
    attempts: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


# One semaphore per server URL and limit, shared by every client in the process, so that two
# judge runs against one server together stay under the limit.
_semaphores: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_semaphores_lock = threading.Lock()


def _semaphore_for(url: str, limit: int) -> threading.BoundedSemaphore:
    key = (url.rstrip("/"), limit)
    with _semaphores_lock:
        if key not in _semaphores:
            _semaphores[key] = threading.BoundedSemaphore(limit)
        return _semaphores[key]


class LLMClient:
    def __init__(self, config: LLMConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.usage = Usage()
        self._lock = threading.Lock()
        self._sleep = sleep
        self._semaphore = _semaphore_for(config.base_url, config.max_concurrency)
        self._client = openai.OpenAI(
            base_url=config.base_url,
            # Servers such as vLLM or Ollama accept any key; the client insists on one.
            api_key=os.environ.get(config.api_key_env) or "not-set",
            timeout=config.timeout,
            max_retries=0,  # retries are ours: one policy, counted, with jitter
        )

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        json_mode: bool = False,
        seed: int | None = None,
        model: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ChatResult:
        """One chat completion; `extra` holds more request body fields (top_p, stop, ...)."""
        params: dict[str, Any] = {
            "model": model or self.config.model,
            "messages": messages,
            "temperature": temperature,
        }
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        if seed is not None:
            params["seed"] = seed
        if json_mode:
            params["response_format"] = {"type": "json_object"}
        if extra:
            params.update(extra)

        url = self.config.base_url
        attempts = 0
        while True:
            attempts += 1
            started = time.monotonic()
            try:
                with self._semaphore:
                    started = time.monotonic()
                    # The SDK's generic POST (its documented way to send any body) rather than
                    # chat.completions.create: the same auth, timeout and error mapping, without
                    # the typed request transform and response model, which took about a third
                    # of the CPU of a call (bench/judge.py: 1.6 -> 1.1 ms per call).
                    response = self._client.post(_CHAT_PATH, body=params, cast_to=object)
                latency = time.monotonic() - started
                result = self._read(response, latency=latency, attempts=attempts)
            except openai.APIStatusError as exc:
                reason = _status_reason(exc)
                if exc.status_code not in _RETRYABLE_STATUS:
                    self._count_failure(attempts)
                    raise LLMError(
                        ERROR_REFUSED.format(url=url, status=exc.status_code, reason=reason)
                    ) from exc
                error: Exception = exc
                retry_after = _retry_after(exc)
            except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                error, retry_after = exc, None
                reason = (
                    f"timed out after {self.config.timeout:g} s"
                    if isinstance(exc, openai.APITimeoutError)
                    else _connection_reason(exc)
                )
            except (
                openai.APIResponseValidationError,
                LLMResponseError,
                json.JSONDecodeError,
            ) as exc:
                error, retry_after = exc, None
                reason = (
                    str(exc)
                    if isinstance(exc, LLMResponseError)
                    else ERROR_MALFORMED.format(url=url, reason=exc)
                )
            else:
                self._count_success(result)
                return result

            if attempts > self.config.max_retries:
                self._count_failure(attempts)
                if isinstance(error, openai.APIConnectionError) and not isinstance(
                    error, openai.APITimeoutError
                ):
                    raise LLMUnreachableError(
                        ERROR_UNREACHABLE.format(url=url, reason=reason)
                    ) from error
                raise LLMError(
                    ERROR_GAVE_UP.format(url=url, attempts=attempts, reason=reason)
                ) from error
            self._sleep(self._backoff(attempts, retry_after))

    def chat_json(self, messages: list[dict[str, Any]], **kwargs: Any) -> tuple[Any, ChatResult]:
        result = self.chat(messages, json_mode=True, **kwargs)
        try:
            return json.loads(_strip_fences(result.text)), result
        except json.JSONDecodeError as exc:
            raise LLMResponseError(ERROR_NOT_JSON.format(reason=exc)) from exc

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        cap = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempts - 1))
        delay = random.uniform(0, cap)  # full jitter: spreads a burst of retries apart
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.config.backoff_max))
        return delay

    def _read(self, response: Any, *, latency: float, attempts: int) -> ChatResult:
        url = self.config.base_url
        if isinstance(response, str):
            # The SDK hands back the text when the reply is not labelled JSON (a proxy that
            # sends text/plain); the old typed path parsed it anyway, and so does this one.
            with contextlib.suppress(ValueError):
                response = json.loads(response)
        if not isinstance(response, dict):
            raise LLMResponseError(
                ERROR_MALFORMED.format(url=url, reason="the reply is not a JSON object")
            )
        choices = response.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise LLMResponseError(
                ERROR_MALFORMED.format(url=url, reason="no choices in the reply")
            )
        message = choices[0].get("message")
        text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(text, str):
            raise LLMResponseError(ERROR_MALFORMED.format(url=url, reason="the reply has no text"))
        usage = response.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        finish_reason = choices[0].get("finish_reason")
        return ChatResult(
            text=text,
            model=str(response.get("model") or self.config.model),
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            latency_s=latency,
            attempts=attempts,
            finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        )

    def _count_success(self, result: ChatResult) -> None:
        with self._lock:
            self.usage.calls += 1
            self.usage.attempts += result.attempts
            self.usage.prompt_tokens += result.prompt_tokens
            self.usage.completion_tokens += result.completion_tokens
            self.usage.latency_s += result.latency_s

    def _count_failure(self, attempts: int) -> None:
        with self._lock:
            self.usage.failures += 1
            self.usage.attempts += attempts


def get_client(**overrides: Any) -> LLMClient:
    """A client for the configured server; keyword arguments override LLMConfig fields."""
    return LLMClient(LLMConfig.from_settings(**overrides))


def _status_reason(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return exc.message or f"HTTP {exc.status_code}"


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _connection_reason(exc: Exception) -> str:
    cause = exc.__cause__ or exc.__context__
    return str(cause or exc) or "connection failed"


def _count(value: Any) -> int:
    """A token count from the usage block; servers that omit or garble it count as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return 0
    return int(value)


def _strip_fences(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    return stripped.strip()
