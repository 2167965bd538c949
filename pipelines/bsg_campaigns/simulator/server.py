"""HTTP transport on the stdlib: ThreadingHTTPServer, HTTP/1.1 keep-alive, daemon threads.

Each response leaves in ONE write with TCP_NODELAY set: http.server's default (headers and body
in separate small writes) meets Nagle + delayed ACK and stalls ~40 ms per keep-alive request.
Open connections are tracked so stop() really ends keep-alive clients too."""

from __future__ import annotations

import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Dict, Optional, Set, Tuple, TypeVar, Union, overload

from .responses import Response

if TYPE_CHECKING:  # pragma: no cover
    from .core import Simulator

_T = TypeVar("_T")
_MAX_BODY = 1 << 20
_MAX_HEADERS = 100
_MAX_LINE = 65536


class _Headers(Dict[str, str]):
    """Case-insensitive request headers (lower-case keys). http.server's email-parser based
    headers cost ~4x the rest of a detail request; this is all the API needs."""

    @overload
    def get(self, name: str, default: None = None) -> Optional[str]: ...
    @overload
    def get(self, name: str, default: _T) -> Union[str, _T]: ...
    def get(self, name: str, default: Any = None) -> Any:
        return dict.get(self, name.lower(), default)


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], sim: "Simulator") -> None:
        self.sim = sim
        self._conns: Set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, resets, stop()) are normal here: no tracebacks."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_all(self) -> None:
        """End every open keep-alive connection (their handler threads then exit)."""
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    server: SimulatorServer
    raw_requestline: bytes  # set by handle_one_request (typeshed leaves it out)

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def parse_request(self) -> bool:
        """Fast path for well-formed HTTP/1.x requests; anything odd goes to the stdlib."""
        words = self.raw_requestline.split()
        if len(words) != 3 or words[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            return super().parse_request()
        self.command, self.path, self.request_version = (w.decode("latin-1") for w in words)
        self.requestline = self.raw_requestline.decode("latin-1").rstrip("\r\n")
        self.close_connection = words[2] == b"HTTP/1.0"
        headers = _Headers()
        readline = self.rfile.readline
        for _ in range(_MAX_HEADERS):
            line = readline(_MAX_LINE + 1)
            if line in (b"\r\n", b"\n", b""):
                break
            if len(line) > _MAX_LINE:
                self.send_error(431, "Line too long")
                return False
            name, sep, value = line.partition(b":")
            if sep:
                headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]  # read with .get only, like a Message
        connection = headers.get("connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        if headers.get("expect", "").lower() == "100-continue" and not self.close_connection:
            return self.handle_expect_100()
        return True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silenced: per-request stderr lines would swamp benchmarks."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        body = b""
        length = self.headers.get("Content-Length")
        if length:
            try:
                n = int(length)
            except ValueError:
                n = -1
            if not 0 <= n <= _MAX_BODY:
                self.close_connection = True
                self._write(Response(400, b'{"message":"Bad Request"}'))
                return
            body = self.rfile.read(n)
        resp = self.server.sim.api.handle(method, self.path, self.headers, body)
        if resp.reset:
            # linger 0: closing sends RST, the client sees a connection reset, no response
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self._write(resp)

    def _write(self, resp: Response) -> None:
        status = resp.status
        reason = self.responses.get(status, ("",))[0]
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Date: {self.server.sim.date_header()}",
            "Server: nginx",
            f"Content-Type: {resp.content_type}",
            f"Content-Length: {len(resp.body)}",
        ]
        lines.extend(f"{k}: {v}" for k, v in resp.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + resp.body)  # one write: see module docstring


def make_server(sim: "Simulator", host: str, port: int) -> SimulatorServer:
    return SimulatorServer((host, port), sim)
