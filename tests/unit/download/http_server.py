"""A local HTTP server on 127.0.0.1 for the download tests: files with Range support, and made-to-fail routes."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What one path answers. `cut_first` requests stop after half the body; `stall_first` ones sleep mid-body."""

    body: bytes = b""
    status: int = 200
    ranges: bool = True  # False: ignore Range and always send the whole body (200)
    cut_first: int = 0
    stall_first: int = 0
    stall_s: float = 3.0
    redirect: str | None = None
    requests: list[str | None] = field(default_factory=list)  # the Range header of each request
    authorization: list[str | None] = field(default_factory=list)  # the Authorization header of each request


class Server:
    """ThreadingHTTPServer with a route table; `url(path)` gives the address of a route."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                route = routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                    return
                route.requests.append(self.headers.get("Range"))
                route.authorization.append(self.headers.get("Authorization"))
                if route.redirect:
                    self.send_response(302)
                    self.send_header("Location", route.redirect)
                    self.end_headers()
                    return
                if route.status != 200:
                    self.send_error(route.status)
                    return
                body, start = route.body, 0
                wanted = self.headers.get("Range")
                if wanted and route.ranges:
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                rest = body[start:]
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                attempt = len(route.requests)
                if attempt <= route.cut_first:
                    self.wfile.write(rest[: len(rest) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if attempt <= route.cut_first + route.stall_first:
                    self.wfile.write(rest[: len(rest) // 2])
                    self.wfile.flush()
                    time.sleep(route.stall_s)
                    self.close_connection = True
                    return
                self.wfile.write(rest)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
