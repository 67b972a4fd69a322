"""A real TCP proxy between the code under test and PostgreSQL, to cut the database away and bring it back.

`cut()` resets every open connection and closes the listening socket, so new connections are refused
(what a crashed database host or a pulled cable looks like to libpq after a timeout, minus the wait);
`restore()` listens on the same port again. `lose_next_reply(port)` lets what the client on `port` sends
next reach the server, then resets every connection as the server answers it: the server did the work (a
COMMIT), and the client never hears so. `hold_new_connections()` and `swallow(text)` make a database that
accepts TCP and never answers: a hung server, a half-open path, a black-holed route.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from tests.conftest import POSTGRES_URL

ACCEPT_POLL_S = 0.05
CHUNK_BYTES = 65536


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port`, one pair of pump threads a connection."""

    def __init__(self, target_host: str, target_port: int, *, unix_socket: str | None = None) -> None:
        """`unix_socket`: the server's socket file to forward to instead (from another network namespace)."""
        self._target = (target_host, target_port)
        self._unix_socket = unix_socket
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._is_listening = threading.Event()
        self._reply_lost_to: int | None = None  # the client port whose next answer is lost
        self._is_holding = False
        self._swallowed_text: bytes | None = None
        self._replies_kept: int | None = None  # per connection, the server's first answers passed on
        self.accepted = 0
        self.held = 0
        self.swallowed = 0
        self.port = self._listen(0)

    def _listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        listener.settimeout(ACCEPT_POLL_S)
        self._listener = listener
        self._is_listening.set()
        self._accepting = self._spawn(self._accept_loop, listener)
        return int(listener.getsockname()[1])

    def _spawn(self, target, *args) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()
        return thread

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._is_listening.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._is_holding:
                with self._lock:
                    self._sockets.add(client)
                    self.held += 1
                continue
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
                self.accepted += 1
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client, int(client.getpeername()[1]))
        listener.close()

    def _connect_upstream(self) -> socket.socket:
        if self._unix_socket is None:
            return socket.create_connection(self._target, timeout=5.0)
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.settimeout(5.0)
        upstream.connect(self._unix_socket)
        return upstream

    def _pump(self, source: socket.socket, sink: socket.socket, reply_to: int | None = None) -> None:
        """Forward `source` to `sink`; `reply_to`: the client port, when these are the server's answers."""
        replies_passed = 0
        try:
            while data := source.recv(CHUNK_BYTES):
                if reply_to is None and self._swallowed_text is not None and self._swallowed_text in data:
                    self.swallowed += 1
                    continue
                if reply_to is not None and self._replies_kept is not None:
                    if replies_passed >= self._replies_kept:
                        self.swallowed += 1
                        continue
                    replies_passed += 1
                if reply_to is not None and reply_to == self._reply_lost_to:
                    self._reply_lost_to = None
                    self.cut()
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Refuse new connections and reset every open one (RST, not a polite FIN)."""
        self._is_listening.clear()
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._accepting is not None:
            # Until its accept() returns, the kernel keeps the port bound: restore() right away would fail.
            self._accepting.join(timeout=5.0)
            assert not self._accepting.is_alive(), "the proxy's accept loop did not stop"
        self._reset_open()

    def hold_new_connections(self) -> None:
        """Reset every open connection; accept new ones and never answer them (libpq waits for its
        connect timeout, or psycopg's own 130 s)."""
        self._is_holding = True
        self._reset_open()

    def reset_open(self) -> None:
        """Reset every open connection (RST) and go on accepting new ones: a restarted server's dropped
        clients, a NAT that forgot them."""
        self._reset_open()

    def swallow(self, text: bytes) -> None:
        """Never pass on what a client sends that holds `text`: the client waits for an answer to a
        statement the server never got."""
        self._swallowed_text = text

    def keep_only_first_replies(self, count: int) -> None:
        """On each connection made from now on, pass on the server's first `count` answers (recv chunks)
        and drop the rest, the connection kept open: an MQTT broker's CONNACK reaches the client, its
        PUBACK is lost."""
        self._replies_kept = count

    def _reset_open(self) -> None:
        with self._lock:
            open_sockets, self._sockets = self._sockets, set()
        for sock in open_sockets:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def lose_next_reply(self, client_port: int) -> None:
        """Cut every connection when the server next answers the client connected from `client_port`."""
        self._reply_lost_to = client_port

    def restore(self) -> None:
        """Listen on the same port again."""
        self._listen(self.port)

    def close(self) -> None:
        self.cut()
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=5.0)
            assert not thread.is_alive(), "a proxy thread did not stop"

    def url_for(self, database_url: str, *, connect_timeout_s: int | None = 2) -> str:
        """The database URL with host and port replaced by the proxy's (and libpq's connect timeout set,
        unless `connect_timeout_s` is None)."""
        parts = urlsplit(database_url)
        user = f"{parts.username}@" if parts.username else ""
        timeout = [] if connect_timeout_s is None else [f"connect_timeout={connect_timeout_s}"]
        query = "&".join([parts.query, *timeout] if parts.query else timeout)
        return urlunsplit((parts.scheme, f"{user}127.0.0.1:{self.port}", parts.path, query, ""))


def proxy_to_test_postgres() -> Iterator[TcpProxy]:
    """Body of a `proxy` fixture: a proxy in front of the test PostgreSQL, closed afterwards."""
    target = urlsplit(POSTGRES_URL or "postgresql://127.0.0.1:5432")
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    yield proxy
    proxy.close()
