"""MONITOR on this node: the commands this node serves, to the clients that asked.

Per node, as Redis is per server: a monitor sees the commands of this node's own clients, in
the order this node dispatches them (a write is shown when it is sent to the log, not when
some node applies it). The line is Redis's replicationFeedMonitors format, `+<unix time with
microseconds> [<db> <client address>] "arg" ...` with arguments escaped as sdscatrepr does.
As in Redis 7.0: admin commands are not shown (MONITOR, CONFIG, DEBUG, CLIENT KILL, ...);
scripts and functions are shown when called; a transaction's commands are shown at EXEC,
before EXEC itself (an aborted one shows only EXEC); passwords of AUTH and HELLO AUTH are
shown as "(redacted)". A rejected command is not shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .client import ClientState

_ESCAPES: Final = {
    ord("\\"): b"\\\\",
    ord('"'): b'\\"',
    ord("\n"): b"\\n",
    ord("\r"): b"\\r",
    ord("\t"): b"\\t",
    7: b"\\a",
    8: b"\\b",
}
# Each byte as sdscatrepr writes it.
_REPR: Final = [
    _ESCAPES.get(byte, bytes([byte]) if 32 <= byte < 127 else b"\\x%02x" % byte)
    for byte in range(256)
]
REDACTED: Final = b"(redacted)"


def quote(arg: bytes) -> bytes:
    """sdscatrepr: a double-quoted, escaped argument."""
    if arg.isascii() and arg.isalnum():
        return b'"' + arg + b'"'
    return b'"' + b"".join(_REPR[byte] for byte in arg) + b'"'


def redacted(argv: list[bytes]) -> list[bytes]:
    """What Redis 7.0 shows of a command that carries a password."""
    name = argv[0].lower()
    if name == b"auth" and len(argv) <= 3:
        return [argv[0]] + [REDACTED] * (len(argv) - 1)
    if name == b"hello":
        shown = list(argv)
        j = 2
        while j < len(argv):
            option = argv[j].lower()
            if option == b"auth" and len(argv) - 1 - j >= 2:
                shown[j + 1] = shown[j + 2] = REDACTED
                j += 3
            elif option == b"setname" and len(argv) - 1 - j >= 1:
                j += 2
            else:
                break
        return shown
    return argv


class Monitors:
    """This node's monitor clients, in the order they started."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.clients: dict[int, ClientState] = {}
        # Told True when the first monitor starts, False when none is left: the server then
        # has scripts' commands noted (or not), at no cost while no one monitors.
        self.activate: Callable[[bool], None] | None = None

    def add(self, client: ClientState) -> None:
        self.clients[client.id] = client
        client.monitor = True
        client.note_modes()
        if len(self.clients) == 1 and self.activate is not None:
            self.activate(True)

    def remove(self, client: ClientState) -> None:
        if self.clients.pop(client.id, None) is not None:
            client.monitor = False
            client.note_modes()
            if not self.clients and self.activate is not None:
                self.activate(False)

    def line(self, db: int, addr: str, argv: list[bytes]) -> bytes:
        now = self.clock()
        seconds = int(now)
        micros = int((now - seconds) * 1_000_000)
        args = b" ".join(quote(arg) for arg in redacted(argv))
        return b"+%d.%06d [%d %s] %s\r\n" % (seconds, micros, db, addr.encode(), args)

    def feed(self, client: ClientState, argv: list[bytes], db: int | None = None) -> None:
        """One command `client` runs, to every monitor."""
        self._send(self.line(client.db if db is None else db, client.addr, argv))

    def feed_script(self, calls: list[tuple[int, list[bytes]]]) -> None:
        """The commands a script of this node's clients ran (`[db lua]` lines)."""
        for db, argv in calls:
            self._send(self.line(db, "lua", argv))

    def _send(self, data: bytes) -> None:
        for monitor in list(self.clients.values()):
            if monitor.send_push is not None:
                monitor.send_push(data)
