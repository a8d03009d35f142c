"""flywheel.llm against a real local OpenAI-compatible server."""

import socket
import threading
import time

import pytest

from flywheel.llm import LLMClient, LLMConfig, LLMError, LLMResponseError, LLMUnreachableError
from flywheel.testing.openai_server import Reply, last_user_text


def make_client(server, *, sleeps=None, **overrides) -> LLMClient:
    values = {"base_url": server.base_url, "model": "judge-1", "max_retries": 3, "timeout": 5.0}
    values.update(overrides)
    sleeps = [] if sleeps is None else sleeps
    return LLMClient(LLMConfig(**values), sleep=sleeps.append)


def test_chat_returns_text_tokens_and_latency(llm_server):
    llm_server.respond_with(lambda req: f"echo: {last_user_text(req)}")
    client = make_client(llm_server)
    result = client.chat([{"role": "user", "content": "two words"}], temperature=0.2, max_tokens=9)
    assert result.text == "echo: two words"
    assert result.prompt_tokens == 2 and result.completion_tokens == 3
    assert result.latency_s > 0 and result.attempts == 1
    sent = llm_server.requests[0]
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("judge-1", 0.2, 9)
    assert client.usage.calls == 1 and client.usage.completion_tokens == 3


def test_retries_a_429_then_succeeds_honouring_retry_after(llm_server):
    llm_server.script(Reply(status=429, headers={"retry-after": "2"}), "fine")
    sleeps = []
    client = make_client(llm_server, sleeps=sleeps)
    result = client.chat([{"role": "user", "content": "hi"}])
    assert result.text == "fine" and result.attempts == 2
    assert len(llm_server.requests) == 2
    assert sleeps == [pytest.approx(2.0, abs=0.01)] or sleeps[0] >= 2.0


def test_backoff_grows_exponentially_with_jitter(llm_server):
    llm_server.script(*[Reply(status=503)] * 3, "ok")
    sleeps = []
    client = make_client(llm_server, sleeps=sleeps, backoff_base=1.0)
    assert client.chat([{"role": "user", "content": "x"}]).attempts == 4
    caps = [1.0, 2.0, 4.0]
    assert len(sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))


def test_gives_up_after_max_retries_with_the_last_error(llm_server):
    llm_server.script(*[Reply(status=500, error_message=f"boom {i}") for i in range(3)])
    client = make_client(llm_server, max_retries=2)
    with pytest.raises(LLMError, match=r"failed 3 times; last error: boom 2"):
        client.chat([{"role": "user", "content": "x"}])
    assert len(llm_server.requests) == 3
    assert client.usage.failures == 1


def test_client_errors_are_not_retried(llm_server):
    llm_server.script(Reply(status=400, error_message="max_tokens is too large"))
    client = make_client(llm_server)
    with pytest.raises(LLMError, match=r"refused the request \(400\): max_tokens is too large"):
        client.chat([{"role": "user", "content": "x"}])
    assert len(llm_server.requests) == 1


def test_timeout_is_per_call_and_retried(llm_server):
    llm_server.respond_with(lambda req: Reply(text="late", delay=1.5))
    client = make_client(llm_server, timeout=0.3, max_retries=1)
    started = time.monotonic()
    with pytest.raises(LLMError, match=r"timed out after 0\.3 s"):
        client.chat([{"role": "user", "content": "x"}])
    assert time.monotonic() - started < 1.5
    assert len(llm_server.requests) == 2


def test_slow_reply_within_timeout_succeeds(llm_server):
    llm_server.script(Reply(text="slow but fine", delay=0.3))
    assert make_client(llm_server, timeout=3).chat([{"role": "user", "content": "x"}]).text == (
        "slow but fine"
    )


def test_malformed_body_is_retried_then_reported(llm_server):
    llm_server.script(Reply(raw_body="this is not json"), "recovered")
    assert make_client(llm_server).chat([{"role": "user", "content": "x"}]).text == "recovered"

    llm_server.respond_with(lambda req: Reply(raw_body='{"choices": []}'))
    with pytest.raises(LLMError, match="no choices in the reply"):
        make_client(llm_server, max_retries=1).chat([{"role": "user", "content": "x"}])


def test_concurrency_limit_bounds_parallel_calls(llm_server):
    llm_server.respond_with(lambda req: Reply(text="ok", delay=0.2))
    client = make_client(llm_server, max_concurrency=3)
    threads = [
        threading.Thread(target=client.chat, args=([{"role": "user", "content": str(i)}],))
        for i in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(llm_server.requests) == 12
    assert llm_server.max_in_flight == 3


def test_unreachable_server_names_the_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    client = LLMClient(LLMConfig(base_url=url, model="m", max_retries=1), sleep=lambda s: None)
    with pytest.raises(LLMUnreachableError, match=f"Cannot reach the LLM server at {url}"):
        client.chat([{"role": "user", "content": "x"}])


def test_chat_json_parses_and_reports_bad_json(llm_server):
    llm_server.script('```json\n{"verdict": "A"}\n```', "not json at all")
    client = make_client(llm_server)
    data, _ = client.chat_json([{"role": "user", "content": "x"}])
    assert data == {"verdict": "A"}
    assert llm_server.requests[0]["response_format"] == {"type": "json_object"}
    with pytest.raises(LLMResponseError, match="not valid JSON"):
        client.chat_json([{"role": "user", "content": "x"}])


def test_api_key_comes_from_the_named_environment_variable(llm_server, monkeypatch):
    seen = {}

    def capture(req):
        return "ok"

    monkeypatch.setenv("MY_JUDGE_KEY", "sk-test-123")
    llm_server.respond_with(capture)
    client = make_client(llm_server, api_key_env="MY_JUDGE_KEY")
    assert client._client.api_key == "sk-test-123"
    seen["ok"] = client.chat([{"role": "user", "content": "x"}]).text
    assert seen == {"ok": "ok"}


def test_seed_json_mode_and_extra_fields_are_sent_as_they_are(llm_server):
    client = make_client(llm_server)
    client.chat(
        [{"role": "system", "content": "s"}, {"role": "user", "content": "x"}],
        seed=7,
        json_mode=True,
        extra={"top_p": 0.5, "stop": ["\n\n"]},
    )
    sent = llm_server.requests[0]
    assert sent == {
        "model": "judge-1",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "x"}],
        "temperature": 0.0,
        "seed": 7,
        "response_format": {"type": "json_object"},
        "top_p": 0.5,
        "stop": ["\n\n"],
    }


def test_a_reply_that_is_not_a_json_object_is_retried_then_reported(llm_server):
    llm_server.script(Reply(raw_body="[1, 2]"), "recovered")
    result = make_client(llm_server).chat([{"role": "user", "content": "x"}])
    assert (result.text, result.attempts) == ("recovered", 2)

    llm_server.respond_with(lambda req: Reply(raw_body='"just a string"'))
    with pytest.raises(LLMError, match="not a JSON object"):
        make_client(llm_server, max_retries=1).chat([{"role": "user", "content": "x"}])

    llm_server.respond_with(
        lambda req: Reply(raw_body='{"choices": [{"message": {"role": "assistant"}}]}')
    )
    with pytest.raises(LLMError, match="the reply has no text"):
        make_client(llm_server, max_retries=0).chat([{"role": "user", "content": "x"}])


def test_a_json_reply_labelled_as_plain_text_is_still_read(llm_server):
    llm_server.respond_with(lambda req: Reply(text="hello", headers={"Content-Type": "text/plain"}))
    result = make_client(llm_server, max_retries=0).chat([{"role": "user", "content": "x"}])
    assert (result.text, result.attempts) == ("hello", 1)


def test_a_reply_without_usage_or_model_counts_no_tokens_and_names_the_asked_model(llm_server):
    body = '{"choices": [{"message": {"content": "fine"}, "finish_reason": "length"}]}'
    llm_server.script(Reply(raw_body=body))
    client = make_client(llm_server)
    result = client.chat([{"role": "user", "content": "x"}])
    assert (result.text, result.model, result.finish_reason) == ("fine", "judge-1", "length")
    assert result.prompt_tokens == result.completion_tokens == 0
    assert client.usage.calls == 1 and client.usage.prompt_tokens == 0
