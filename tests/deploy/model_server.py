"""A real HTTP file server on 127.0.0.1 for the model fetcher's tests.

Knobs: ``ignore_range`` (answer every request with the whole file, like a
server without Range support) and ``break_after`` (the next responses promise
the whole body but drop the connection after that many bytes).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ServedRequest:
    path: str
    range: str | None
    status: int


@dataclass
class ModelServer:
    base_url: str
    files: dict[str, bytes] = field(default_factory=dict)
    ignore_range: bool = False
    break_after: int | None = None
    breaks_left: int = 0
    requests: list[ServedRequest] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def break_next(self, count: int, after_bytes: int) -> None:
        self.breaks_left, self.break_after = count, after_bytes


class _Handler(BaseHTTPRequestHandler):
    server_state: ModelServer

    def do_GET(self) -> None:
        state = self.server_state
        body = state.files.get(self.path)
        requested = self.headers.get("Range")
        if body is None:
            self._answer(404, {}, b"not found")
            return
        match = re.fullmatch(r"bytes=(\d+)-", requested or "")
        if match and not state.ignore_range:
            start = int(match[1])
            if start >= len(body):
                self._answer(416, {"Content-Range": f"bytes */{len(body)}"}, b"")
                return
            headers = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
            self._answer(206, headers, body[start:])
        else:
            self._answer(200, {}, body)

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        state = self.server_state
        state.requests.append(ServedRequest(self.path, self.headers.get("Range"), status))
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        if state.breaks_left and status in (200, 206):
            state.breaks_left -= 1
            self.wfile.write(body[: state.break_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def running_model_server() -> Iterator[ModelServer]:
    handler = type("Handler", (_Handler,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state = ModelServer(f"http://127.0.0.1:{httpd.server_address[1]}")
    handler.server_state = state
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
