"""A real local HTTP server that speaks the OpenAI chat-completions protocol.

Tests and benchmarks script it per case: fixed replies, a function of the request, 429s and
500s, slow replies and malformed bodies. It records every request and the most calls it had in
flight at once, so a test can check what the client really did on the wire.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    text: str | None = "ok"
    status: int = 200
    delay: float = 0.0
    raw_body: str | None = None  # sent as is (a malformed body, say)
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "scripted error"


Responder = Callable[[dict[str, Any]], "Reply | str"]


def last_user_text(request: dict[str, Any]) -> str:
    for message in reversed(request.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


class OpenAICompatServer:
    def __init__(self, responder: Responder | None = None) -> None:
        self.responder: Responder = responder or (lambda request: Reply(text="ok"))
        self.queue: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ---------------------------------------------------------------------------
    def script(self, *replies: Reply | str) -> None:
        """Queue replies answered in order before the responder is asked."""
        for reply in replies:
            self.queue.append(Reply(text=reply) if isinstance(reply, str) else reply)

    def respond_with(self, responder: Responder) -> None:
        self.responder = responder

    def reset(self) -> None:
        with self._lock:
            self.queue.clear()
            self.requests.clear()
            self.max_in_flight = 0

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> OpenAICompatServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the body waits ~40 ms for an
            # ACK, which would add that to every call a test or benchmark makes.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(
                        200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]}
                    )
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                with server._lock:
                    server.requests.append(request)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    reply = server.queue.popleft() if server.queue else None
                try:
                    if reply is None:
                        got = server.responder(request)
                        reply = Reply(text=got) if isinstance(got, str) else got
                    if reply.delay:
                        time.sleep(reply.delay)
                    if reply.raw_body is not None:
                        self._send_raw(reply.status, reply.raw_body.encode(), reply.headers)
                    elif reply.status != 200:
                        body = {"error": {"message": reply.error_message, "code": reply.status}}
                        self._send(reply.status, body, reply.headers)
                    else:
                        self._send(200, _completion(request, reply.text or ""), reply.headers)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
                self._send_raw(status, json.dumps(body).encode(), headers or {})

            def _send_raw(self, status: int, data: bytes, headers: dict) -> None:
                try:
                    self.send_response(status)
                    # A scripted header replaces the default of that name (a proxy that labels
                    # JSON as text/plain, say).
                    sent = {"content-type": "application/json"}
                    sent.update({key.lower(): value for key, value in headers.items()})
                    sent["content-length"] = str(len(data))
                    for key, value in sent.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to tell it

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> OpenAICompatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _completion(request: dict[str, Any], text: str) -> dict[str, Any]:
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "scripted"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(text.split()),
            "total_tokens": prompt_tokens + len(text.split()),
        },
    }
