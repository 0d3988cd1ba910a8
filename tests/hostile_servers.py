"""Servers and middlemen that make connecting hard (no tests here), for tests/test_connection_urls.py.

- ``tls_only_server``: Debian's PostgreSQL 15 (the embedded wheels are built without TLS) listening on 127.0.0.1
  with a self-signed certificate, whose pg_hba.conf accepts TCP connections over TLS only (``hostssl``) and with a
  password (scram-sha-256); the unix socket in its data directory stays ``trust`` for the test's own administration.
- ``TransactionPooler``: a proxy on 127.0.0.1 that behaves as PgBouncer in ``pool_mode = transaction`` does for one
  client: it drops the ``options`` start-up parameter (what PgBouncer's ``ignore_startup_parameters = options``
  does) — or refuses it, as PgBouncer does by default — and hands each transaction to the next of two server
  sessions, so a session setting made in one transaction is gone in the next.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.logical_servers import ConfiguredCluster
from tests.pg_proxy import _close_both, _read_exact, _read_startup, _without_options
from tests.servers import DEBIAN_PG15_BIN, TestServer, _root, stop

TLS_USER = "tls_user"
TLS_PASSWORD = "Tls-Pw-Never-Shown-5521"
HBA = """
local all all trust
hostssl all all 127.0.0.1/32 scram-sha-256
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TlsCluster(ConfiguredCluster):
    def create(self) -> None:
        super().create()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-keyout", str(self.pgdata / "server.key"),
                        "-out", str(self.pgdata / "server.crt")],
                       check=True, capture_output=True)
        (self.pgdata / "pg_hba.conf").write_text(HBA)
        for name in ("server.key", "server.crt", "pg_hba.conf"):
            if self.os_user:
                shutil.chown(self.pgdata / name, self.os_user, self.os_user)
        (self.pgdata / "server.key").chmod(0o600)


@contextmanager
def tls_only_server() -> Iterator[tuple[TestServer, str]]:
    """The server, and a URL (TLS user and password, over TCP) to a database of it that holds one table."""
    port = free_port()
    cluster = TlsCluster(DEBIAN_PG15_BIN, _root() / "tls", {
        "listen_addresses": "127.0.0.1", "port": str(port), "ssl": "on", "password_encryption": "scram-sha-256"})
    try:
        cluster.start()
        admin = make_conninfo(host=str(cluster.pgdata), port=str(port), user="postgres", dbname="postgres")
        server = TestServer("PostgreSQL 15 (TLS only)", admin, cluster.bin_dir, cluster)
        yield server, make_conninfo(host="127.0.0.1", port=str(port), user=TLS_USER, password=TLS_PASSWORD)
    finally:
        if cluster.pgdata.exists():
            stop(TestServer("tls", "", cluster.bin_dir, cluster))


def _message(sock: socket.socket) -> bytes:
    head = _read_exact(sock, 5)
    return head + _read_exact(sock, struct.unpack("!i", head[1:])[0] - 4)


def _until_ready(server: socket.socket, client: socket.socket | None) -> bytes:
    """Relay the server's messages (to ``client``, or nowhere) up to its ReadyForQuery; returns that message."""
    while True:
        message = _message(server)
        if client is not None:
            client.sendall(message)
        if message[:1] == b"Z":
            return message
        if message[:1] == b"G" and client is not None:  # COPY FROM STDIN: the client's data, then its end
            while True:
                data = _message(client)
                server.sendall(data)
                if data[:1] in (b"c", b"f"):
                    break


UNSUPPORTED_OPTIONS = "unsupported startup parameter: options"


class TransactionPooler:
    """Listens on 127.0.0.1; each client gets two sessions on ``upstream_url``'s server and a new one of them
    whenever a transaction ends (a ReadyForQuery saying idle)."""

    def __init__(self, upstream_url: str, refuse_options: bool = False) -> None:
        params = conninfo_to_dict(upstream_url)
        host, port = params.get("host") or "localhost", int(params.get("port") or 5432)
        self._upstream = f"{host}/.s.PGSQL.{port}"
        self._refuse = refuse_options
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="tx-pooler").start()

    def url(self, url: str, **extra: str) -> str:
        return make_conninfo(url, host="127.0.0.1", port=str(self.port), sslmode="disable", gssencmode="disable",
                             **extra)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _refuse_start(self, client: socket.socket) -> None:
        fields = b"SFATAL\0C08P01\0M" + UNSUPPORTED_OPTIONS.encode() + b"\0\0"
        client.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
        client.close()

    def _serve(self, client: socket.socket) -> None:
        self._sockets.append(client)
        try:
            startup = _read_startup(client)
            if self._refuse and b"\0options\0" in startup:
                self._refuse_start(client)
                return
            servers = []
            for _ in range(2):
                server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sockets.append(server)
                server.connect(self._upstream)
                server.sendall(_without_options(startup))
                servers.append(server)
            _until_ready(servers[0], client)
            _until_ready(servers[1], None)
            self._relay(client, servers)
        except (OSError, ConnectionError):
            pass
        finally:
            _close_both(client, *self._sockets)

    @staticmethod
    def _relay(client: socket.socket, servers: list[socket.socket]) -> None:
        current = 0
        while True:
            message = _message(client)
            if message[:1] == b"X":
                return
            servers[current].sendall(message)
            if message[:1] in (b"Q", b"S"):  # a simple query, or the end of an extended one: a reply comes
                ready = _until_ready(servers[current], client)
                if ready[5:6] == b"I":  # the transaction is over: the next one may get the other session
                    current = 1 - current

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass


@contextmanager
def transaction_pooler(upstream_url: str, *, refuse_options: bool = False) -> Iterator[TransactionPooler]:
    pooler = TransactionPooler(upstream_url, refuse_options)
    try:
        yield pooler
    finally:
        pooler.close()
