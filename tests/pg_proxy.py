"""A TCP proxy in front of a test server (no tests here): another address for the same database, and optionally a
pooler that drops the ``options`` start-up parameter the way some connection poolers do, or one that also swallows
the session's own attempt to become read-only (the way a transaction-mode pooler loses session settings).

It speaks just enough of the protocol to do that: it answers SSL and GSS encryption requests with "no" (so the
client sends its start-up message in clear), rewrites the start-up message without ``options`` when asked, and
then copies bytes both ways; when swallowing, it reads the client's messages one by one and turns a statement
that would make the session read-only into a harmless ``SET`` (same reply, no effect).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg.conninfo import conninfo_to_dict, make_conninfo

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_CANCEL_REQUEST = 80877102


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("peer closed during start-up")
        data += chunk
    return data


def _read_startup(client: socket.socket) -> bytes:
    """The client's start-up (or cancel) message, after declining any encryption request."""
    while True:
        length = struct.unpack("!i", _read_exact(client, 4))[0]
        body = _read_exact(client, length - 4)
        code = struct.unpack("!i", body[:4])[0]
        if code in (_SSL_REQUEST, _GSSENC_REQUEST):
            client.sendall(b"N")
            continue
        return struct.pack("!i", length) + body


def _without_options(message: bytes) -> bytes:
    code = struct.unpack("!i", message[4:8])[0]
    if code == _CANCEL_REQUEST:
        return message
    fields = message[8:].split(b"\0")
    pairs = [(fields[i], fields[i + 1]) for i in range(0, len(fields) - 2, 2) if fields[i]]
    kept = b"".join(k + b"\0" + v + b"\0" for k, v in pairs if k != b"options") + b"\0"
    body = message[4:8] + kept
    return struct.pack("!i", len(body) + 4) + body


# What a session sends to make itself read-only; each is replaced by a SET that changes nothing that matters.
READ_ONLY_STATEMENTS = (b"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                        b"SET default_transaction_read_only")
_HARMLESS = b"SET application_name = 'swallowed'"


def _swallowed(message: bytes) -> bytes:
    """A simple-query ('Q') or Parse ('P') message with a read-only statement turned harmless."""
    kind, body = message[:1], message[5:]
    if kind == b"Q":
        query = body.rstrip(b"\0")
        if query.upper().startswith(tuple(s.upper() for s in READ_ONLY_STATEMENTS)):
            body = _HARMLESS + b"\0"
    elif kind == b"P":
        name, query, rest = body.split(b"\0", 2)
        if query.upper().startswith(tuple(s.upper() for s in READ_ONLY_STATEMENTS)):
            body = name + b"\0" + _HARMLESS + b"\0" + rest
    return kind + struct.pack("!i", len(body) + 4) + body


def _pump_messages(source: socket.socket, sink: socket.socket) -> None:
    try:
        while True:
            head = _read_exact(source, 5)
            body = _read_exact(source, struct.unpack("!i", head[1:])[0] - 4)
            sink.sendall(_swallowed(head + body))
    except (OSError, ConnectionError):
        pass
    finally:
        _close_both(source, sink)


def _close_both(*sockets: socket.socket) -> None:
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        _close_both(source, sink)


class StartupProxy:
    """Listens on 127.0.0.1 and forwards every connection to ``upstream_url``'s server."""

    def __init__(self, upstream_url: str, drop_options: bool, swallow_read_only: bool = False) -> None:
        params = conninfo_to_dict(upstream_url)
        host, port = params.get("host") or "localhost", int(params.get("port") or 5432)
        self._upstream = (
            (socket.AF_UNIX, f"{host}/.s.PGSQL.{port}") if host.startswith("/") else (socket.AF_INET, (host, port))
        )
        self._drop = drop_options
        self._swallow = swallow_read_only
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="pg-proxy").start()

    def url(self, url: str) -> str:
        """``url`` rewritten to reach its database through this proxy."""
        return make_conninfo(url, host="127.0.0.1", port=str(self.port), sslmode="disable", gssencmode="disable")

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        family, address = self._upstream
        server = socket.socket(family, socket.SOCK_STREAM)
        self._sockets += [client, server]
        try:
            startup = _read_startup(client)
            server.connect(address)
            server.sendall(_without_options(startup) if self._drop else startup)
        except (OSError, ConnectionError):
            client.close()
            server.close()
            return
        threading.Thread(target=_pump, args=(server, client), daemon=True).start()
        (_pump_messages if self._swallow else _pump)(client, server)

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass


@contextmanager
def startup_proxy(
    upstream_url: str, *, drop_options: bool = False, swallow_read_only: bool = False
) -> Iterator[StartupProxy]:
    proxy = StartupProxy(upstream_url, drop_options, swallow_read_only)
    try:
        yield proxy
    finally:
        proxy.close()
