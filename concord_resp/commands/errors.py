"""Command errors: Redis's exact error texts, raised by handlers and turned into replies.

Clients dispatch on the first word of an error (`ERR`, `WRONGTYPE`, `EXECABORT`, ...), so texts
are copied from Redis 7 verbatim. A handler raises `CommandError`; the dispatcher or the state
machine renders it as an error reply, and the server keeps running.
"""

from __future__ import annotations

from typing import Final


class CommandError(Exception):
    """An expected refusal of a command, carrying the full Redis error text."""

    def __init__(self, message: str | bytes) -> None:
        if isinstance(message, str):
            message = message.encode()
        super().__init__(message)
        self.message: bytes = message


SYNTAX: Final = "ERR syntax error"
WRONGTYPE: Final = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER: Final = "ERR value is not an integer or out of range"
NOT_FLOAT: Final = "ERR value is not a valid float"
OVERFLOW: Final = "ERR increment or decrement would overflow"
NO_SUCH_KEY: Final = "ERR no such key"
DB_OUT_OF_RANGE: Final = "ERR DB index is out of range"
OFFSET_OUT_OF_RANGE: Final = "ERR offset is out of range"


def wrong_arity(name: str) -> CommandError:
    return CommandError(f"ERR wrong number of arguments for '{name}' command")


def invalid_expire(name: str) -> CommandError:
    return CommandError(f"ERR invalid expire time in '{name}' command")


def unknown_subcommand(sub: bytes, container: str) -> CommandError:
    shown = _c_string(sub)[:128]
    return CommandError(
        b"ERR unknown subcommand '%s'. Try %s HELP." % (shown, container.upper().encode())
    )


def subcommand_syntax(sub: bytes, container: str) -> CommandError:
    """Redis's `addReplySubcommandSyntaxError`."""
    return CommandError(
        b"ERR unknown subcommand or wrong number of arguments for '%s'. Try %s HELP."
        % (_c_string(sub)[:128], container.upper().encode())
    )


def unknown_command(argv: list[bytes]) -> CommandError:
    """Redis's `unknown command` text, with the first arguments quoted (at most ~128 bytes)."""
    args = b""
    for arg in argv[1:]:
        if len(args) >= 128:
            break
        args += b"'%s' " % _c_string(arg)[: 128 - len(args)]
    name = _c_string(argv[0])[:128]
    return CommandError(b"ERR unknown command '%s', with args beginning with: %s" % (name, args))


def _c_string(data: bytes) -> bytes:
    # Redis formats these with %s: the text stops at the first NUL byte.
    nul = data.find(b"\0")
    return data if nul < 0 else data[:nul]
