"""A small government website the ``gx fetch`` tests start on 127.0.0.1: a threaded
``http.server`` that serves routes from a dict and records every request it gets.

A route is a :class:`Page` (bytes with a content type; ETag / Last-Modified and
conditional answers as a real server gives them) or a function ``(request) -> Reply``
for the unusual answers (errors that recover, timeouts, challenges, redirects)."""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds before the answer (a timeout, when longer than the client's)
    length: bool = True  # send Content-Length (False: the body ends when the connection closes)


@dataclass
class Page:
    body: bytes
    content_type: str = "text/html"  # no charset: the page's <meta> says it
    etag: bool = True
    last_modified: bool = True

    def reply(self, req: "Request") -> Reply:
        tag = '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'
        modified = formatdate(1_700_000_000, usegmt=True)
        headers = {"Content-Type": self.content_type}
        if self.etag:
            headers["ETag"] = tag
        if self.last_modified:
            headers["Last-Modified"] = modified
        inm, ims = req.headers.get("If-None-Match"), req.headers.get("If-Modified-Since")
        if (self.etag and inm == tag) or (inm is None and self.last_modified and ims == modified):
            return Reply(304, b"", {k: v for k, v in headers.items() if k != "Content-Type"})
        return Reply(200, self.body, headers)


@dataclass
class Request:
    path: str
    headers: dict
    at: float  # time.monotonic() when it arrived
    status: int = 0  # what the site answered


class Site:
    """``with Site(routes) as site: site.url("/x.html")``; ``site.requests`` lists what came in."""

    def __init__(self, routes: dict[str, Page | Callable[[Request], Reply]]) -> None:
        self.routes = routes
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                req = Request(self.path, dict(self.headers.items()), time.monotonic())
                with site._lock:
                    site.requests.append(req)
                route = site.routes.get(self.path)
                if route is None:
                    reply = Reply(404, "<html><body><h1>404 页面不存在</h1></body></html>".encode(),
                                  {"Content-Type": "text/html; charset=utf-8"})
                elif isinstance(route, Page):
                    reply = route.reply(req)
                else:
                    reply = route(req)
                req.status = reply.status
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    if reply.length and reply.status != 304:
                        self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if reply.status != 304:
                        for i in range(0, len(reply.body), 16384):
                            self.wfile.write(reply.body[i:i + 16384])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout, a body over --max-bytes)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # handler threads are joined on close: no test leaves a thread behind (the `gx parse`
        # command forks only in a process without other threads, and its tests check that)
        self.server.daemon_threads = False
        self.server.block_on_close = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def __enter__(self) -> "Site":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def once_then(first: Reply, then: Page) -> Callable[[Request], Reply]:
    """``first`` on the first request, ``then`` afterwards (a server error that recovers)."""
    seen = []

    def route(req: Request) -> Reply:
        seen.append(req)
        return first if len(seen) == 1 else then.reply(req)

    return route
