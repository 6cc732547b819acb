"""A real HTTP file server on 127.0.0.1 for the model fetcher's tests.

Knobs: ``ignore_range`` (answer every request with the whole file, like a
server without Range support), ``break_after`` (the next responses promise
the whole body but drop the connection after that many bytes), ``chunk_delay``
(seconds between 64 KiB chunks, to watch a download go) and ``announced``
(the size a HEAD request is told, per path, instead of the file's).
"""

from __future__ import annotations

import re
import threading
import time
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
    chunk_delay: float = 0.0
    announced: dict[str, int] = field(default_factory=dict)
    requests: list[ServedRequest] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def break_next(self, count: int, after_bytes: int) -> None:
        self.breaks_left, self.break_after = count, after_bytes


class _Handler(BaseHTTPRequestHandler):
    server_state: ModelServer

    def do_HEAD(self) -> None:
        state = self.server_state
        body = state.files.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(state.announced.get(self.path, len(body))))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

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
        if not state.chunk_delay:
            self.wfile.write(body)
            return
        for start in range(0, len(body), 64 * 1024):
            self.wfile.write(body[start : start + 64 * 1024])
            self.wfile.flush()
            time.sleep(state.chunk_delay)

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
