"""Servers on 127.0.0.1 for the object-store tests and benchmarks.

- ``RangeServer``: a static file server with HTTP ``Range`` support (``http://`` URLs).
- ``Proxy``: an HTTP proxy in front of another loopback server (the moto S3 server) that counts
  the requests it forwards, can add a delay to each (the benchmarks' 100 ms) and can misbehave
  on chosen paths: answer 403, stall, reset the connection, or fail with 503 a few times.

Both count requests by method, serve each connection on its own thread, and are stopped by
``close()`` (the fixtures call it). A stalled request waits on an event that ``close()`` sets,
so nothing outlives the test.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOST = "127.0.0.1"


class _Log:
    """Request counts and fault injection shared by both servers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Range header)
        self.faults: dict[str, tuple[str, int]] = {}  # path prefix -> (kind, times left)
        self.delay = 0.0
        self.stop = threading.Event()

    def record(self, method: str, path: str, rng: str) -> None:
        with self.lock:
            self.requests.append((method, path, rng))

    def counts(self) -> Counter:
        with self.lock:
            return Counter(m for m, _, _ in self.requests)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()

    def fault(self, path: str) -> str | None:
        with self.lock:
            for prefix, (kind, left) in self.faults.items():
                if path.startswith(prefix) and left != 0:
                    self.faults[prefix] = (kind, left - 1)
                    return kind
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log: _Log

    def log_message(self, *args) -> None:  # quiet
        pass

    def _misbehave(self) -> bool:
        """Apply a fault configured for this path; True when the request was answered."""
        log = self.log
        if log.delay:
            log.stop.wait(log.delay)
        kind = log.fault(self.path)
        if kind is None:
            return False
        if kind == "stall":
            log.stop.wait(60)  # longer than any client timeout; close() ends it
            self.close_connection = True
            return True
        if kind == "reset":
            # RST instead of FIN: the client sees "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return True
        if kind in ("403", "503"):
            body = (
                b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>'
                + (b"AccessDenied" if kind == "403" else b"SlowDown")
                + b"</Code><Message>injected by the test proxy</Message></Error>"
            )
            self.send_response(int(kind))
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return True
        raise AssertionError(kind)


class _RangeHandler(_Handler):
    root: Path

    def _file(self) -> Path | None:
        rel = self.path.split("?", 1)[0].lstrip("/")
        p = (self.root / rel).resolve()
        if self.root.resolve() not in p.parents or not p.is_file():
            return None
        return p

    def _answer(self, body: bool) -> None:
        self.log.record(self.command, self.path, self.headers.get("Range", ""))
        if self._misbehave():
            return
        p = self._file()
        if p is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = p.stat().st_size
        rng = self.headers.get("Range")
        start, end = 0, size
        status = 200
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)) + 1, size) if m.group(2) else size
            else:
                start = max(size - int(m.group(2)), 0)
            if start >= size or start >= end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if body:
            with open(p, "rb") as fh:
                fh.seek(start)
                self.wfile.write(fh.read(end - start))

    def do_GET(self) -> None:
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)


class _Server:
    def __init__(self, handler: type[_Handler]) -> None:
        self.log = _Log()
        handler.log = self.log
        self.httpd = ThreadingHTTPServer((HOST, 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def requests(self) -> list[tuple[str, str, str]]:
        with self.log.lock:
            return list(self.log.requests)

    def counts(self) -> Counter:
        return self.log.counts()

    def reset(self) -> None:
        self.log.reset()

    def fault(self, path_prefix: str, kind: str, times: int = -1) -> None:
        """Misbehave on paths starting with `path_prefix`: kind is '403', '503', 'stall' or
        'reset'; `times` answers (-1: always)."""
        with self.log.lock:
            self.log.faults[path_prefix] = (kind, times)

    def clear_faults(self) -> None:
        with self.log.lock:
            self.log.faults.clear()

    def close(self) -> None:
        self.log.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class RangeServer(_Server):
    """Serves the files under `root` at ``http://127.0.0.1:PORT/<relative path>``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        handler = type("RangeHandler", (_RangeHandler,), {"root": Path(root)})
        super().__init__(handler)


_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class _ProxyHandler(_Handler):
    upstream: tuple[str, int]
    local: threading.local

    def _control(self) -> None:
        """``/__loopback__/requests`` (JSON) and ``/__loopback__/reset``: for a proxy running in
        another process (``ProxyProcess``). Not counted."""
        if self.path.endswith("/reset"):
            self.log.reset()
            body = b"[]"
        else:
            with self.log.lock:
                body = json.dumps(self.log.requests).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self) -> None:
        if self.path.startswith("/__loopback__/"):
            return self._control()
        self.log.record(self.command, self.path, self.headers.get("Range", ""))
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if self._misbehave():
            return
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self.local.conn = None
            raise
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP and k.lower() != "content-length":
                self.send_header(k, v)
        # A HEAD answer carries the object's length, not its (empty) body's.
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


class Proxy(_Server):
    """Forwards every request to ``http://127.0.0.1:upstream_port``; `delay` seconds per request."""

    def __init__(self, upstream_port: int, delay: float = 0.0) -> None:
        handler = type(
            "ProxyHandler",
            (_ProxyHandler,),
            {"upstream": (HOST, upstream_port), "local": threading.local()},
        )
        super().__init__(handler)
        self.log.delay = delay


def moto_server():
    """A moto S3 server on a free loopback port: (server, port). Call ``server.stop()``."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    return server, server.get_host_and_port()[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"nothing listens on port {port} after {seconds} s")


class ServersProcess:
    """moto and a delaying ``Proxy`` in two other processes (the benchmarks: the servers' work
    then does not compete with the client's for the GIL). ``close()`` stops both."""

    def __init__(self, delay: float) -> None:
        self.moto_port = _free_port()
        self.moto = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.moto_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_port(self.moto_port, self.moto)
        self.port = _free_port()
        self.proxy = subprocess.Popen(
            [sys.executable, __file__, str(self.moto_port), str(delay), str(self.port)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, self.proxy)
        self.url = f"http://{HOST}:{self.port}"

    @property
    def requests(self) -> list[tuple[str, str, str]]:
        with urllib.request.urlopen(self.url + "/__loopback__/requests", timeout=10) as r:
            return [tuple(x) for x in json.loads(r.read())]

    def counts(self) -> Counter:
        return Counter(m for m, _, _ in self.requests)

    def reset(self) -> None:
        urllib.request.urlopen(self.url + "/__loopback__/reset", timeout=10).read()

    def close(self) -> None:
        for p in (self.proxy, self.moto):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


if __name__ == "__main__":  # a delaying proxy: loopback.py UPSTREAM_PORT DELAY PORT
    up, delay, port = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    handler = type("ProxyHandler", (_ProxyHandler,), {"upstream": (HOST, up), "local": threading.local()})
    log = _Log()
    log.delay = delay
    handler.log = log
    httpd = ThreadingHTTPServer((HOST, port), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    sys.stdin.read()  # runs until the parent closes the pipe (or terminates it)
