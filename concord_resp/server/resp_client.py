"""A small blocking RESP2 client: what the `concord` tool and a node joining a cluster
(`--join`, before its event loop runs) use to talk to a server."""

from __future__ import annotations

import socket
import ssl


class ToolError(Exception):
    pass


def _encode_command(*args: str) -> bytes:
    out = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def _read_reply(file: object) -> object:
    readline = file.readline  # type: ignore[attr-defined]
    line: bytes = readline()
    if not line:
        raise ToolError("connection closed by server")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise ToolError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        length = int(rest)
        if length < 0:
            return None
        data: bytes = file.read(length + 2)  # type: ignore[attr-defined]
        return data[:-2].decode("utf-8", "replace")
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_read_reply(file) for _ in range(count)]
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


def parse_info(text: object) -> dict[str, str]:
    fields = {}
    for line in str(text).splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("#"):
            fields[key] = value
    return fields
