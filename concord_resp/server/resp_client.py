"""A small blocking RESP2 client: what the `concord` tool and a node joining a cluster
(`--join`, before its event loop runs) use to talk to a server. `call` sends one command on
a new connection and reads text; a `Connection` stays open, pipelines binary commands and
reads binary replies (backup, restore, import-rdb)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence


class ToolError(Exception):
    pass


def _encode_command(*args: str | bytes) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _read_reply(file: object, *, binary: bool = False) -> object:
    readline = file.readline  # type: ignore[attr-defined]
    line: bytes = readline()
    if not line:
        raise ToolError("connection closed by server")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        error = ToolError(rest.decode("utf-8", "replace"))
        if binary:  # a Connection's replies: the error is a value, the stream stays in step
            return error
        raise error
    if kind == b":":
        return int(rest)
    if kind == b"$":
        length = int(rest)
        if length < 0:
            return None
        data: bytes = file.read(length + 2)  # type: ignore[attr-defined]
        if len(data) != length + 2:
            raise ToolError("connection closed by server")
        return data[:-2] if binary else data[:-2].decode("utf-8", "replace")
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_read_reply(file, binary=binary) for _ in range(count)]
    raise ToolError(f"unexpected reply {line!r}")


Credentials = tuple[str | None, str]
"""(user, password) for AUTH; user None: the default user (`AUTH password`)."""


def call(
    host: str,
    port: int,
    *args: str,
    timeout: float = 5.0,
    auth: Credentials | None = None,
    tls: ssl.SSLContext | None = None,
) -> object:
    """One command on a new connection (over TLS if `tls` is given, authenticated first if
    `auth` is)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            sock = raw if tls is None else tls.wrap_socket(raw, server_hostname=host)
            request = b""
            if auth is not None:
                user, password = auth
                request = _encode_command("AUTH", *([user] if user else []), password)
            sock.sendall(request + _encode_command(*args))
            with sock.makefile("rb") as file:
                if auth is not None:
                    _read_reply(file)  # (an AUTH refusal raises ToolError)
                return _read_reply(file)
    except OSError as error:
        raise ToolError(f"cannot reach {host}:{port}: {error}") from None


class Connection:
    """One connection kept open: commands pipelined, binary replies (bulk strings as bytes).
    An error reply is a ToolError value in what `pipeline` returns, so the caller knows which
    command of a batch failed; `execute` raises it."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 60.0,
        auth: Credentials | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.address = f"{host}:{port}"
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
            self._sock = raw if tls is None else tls.wrap_socket(raw, server_hostname=host)
        except OSError as error:
            raise ToolError(f"cannot reach {host}:{port}: {error}") from None
        self._file = self._sock.makefile("rb")
        if auth is not None:
            user, password = auth
            self.execute("AUTH", *([user] if user else []), password)

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def execute(self, *args: str | bytes) -> object:
        reply = self.pipeline([args])[0]
        if isinstance(reply, ToolError):
            raise reply
        return reply

    def pipeline(self, commands: Sequence[Sequence[str | bytes]]) -> list[object]:
        """Send every command, then read every reply (errors as ToolError values)."""
        self.send(commands)
        return self.read(len(commands))

    def send(self, commands: Sequence[Sequence[str | bytes]]) -> None:
        try:
            self._sock.sendall(b"".join(_encode_command(*command) for command in commands))
        except OSError as error:
            raise ToolError(f"connection to {self.address} failed: {error}") from None

    def read(self, count: int) -> list[object]:
        """The next `count` replies (errors as ToolError values)."""
        try:
            return [_read_reply(self._file, binary=True) for _ in range(count)]
        except OSError as error:
            raise ToolError(f"connection to {self.address} failed: {error}") from None


def parse_info(text: object) -> dict[str, str]:
    fields = {}
    for line in str(text).splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("#"):
            fields[key] = value
    return fields
