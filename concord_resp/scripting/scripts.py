"""The script cache as replicated state (a `Section`), and the shebang line of a script.

EVAL and SCRIPT LOAD (both log entries) add a body under its SHA1; SCRIPT FLUSH empties the
cache. Every replica applies the same entries, so every node can answer EVALSHA for a script
loaded through any other; snapshots carry the bodies, in the order they were added. The
compiled functions are the node's own (`LuaEngine.compiled`), rebuilt from the bodies on use.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from ..commands import CommandError

# Redis 7.0's script flags (the shebang's `flags=`), as bits.
NO_WRITES: Final = 1
ALLOW_OOM: Final = 2
ALLOW_STALE: Final = 4
NO_CLUSTER: Final = 8
ALLOW_CROSS_SLOT_KEYS: Final = 16
FLAG_NAMES: Final = {
    b"no-writes": NO_WRITES,
    b"allow-oom": ALLOW_OOM,
    b"allow-stale": ALLOW_STALE,
    b"no-cluster": NO_CLUSTER,
    b"allow-cross-slot-keys": ALLOW_CROSS_SLOT_KEYS,
}


@dataclass(frozen=True, slots=True)
class Shebang:
    """What a script's first line declares: whether it had one, and its flags."""

    present: bool
    flags: int

    @property
    def read_only(self) -> bool:
        return bool(self.flags & NO_WRITES)


NO_SHEBANG: Final = Shebang(False, 0)


def parse_flag_list(text: bytes, what: str) -> int:
    """`a,b,c` flag names as bits; CommandError naming an unknown one."""
    flags = 0
    for name in text.split(b","):
        if not name:
            continue
        bit = FLAG_NAMES.get(name)
        if bit is None:
            raise CommandError(f"ERR Unexpected flag in {what}: {name.decode(errors='replace')}")
        flags |= bit
    return flags


def parse_shebang(body: bytes) -> Shebang:
    """The `#!lua [flags=...]` line (Redis's evalExtractShebangFlags); CommandError with
    Redis's text if it is malformed."""
    if not body.startswith(b"#!"):
        return NO_SHEBANG
    line = body.split(b"\n", 1)[0]
    parts = line.split(b" ")
    if parts[0] != b"#!lua":
        raise CommandError(
            f"ERR Unexpected engine in script shebang: {parts[0].decode(errors='replace')}"
        )
    flags = 0
    for part in parts[1:]:
        if not part:
            continue
        if part.startswith(b"flags="):
            flags |= parse_flag_list(part[6:], "script shebang")
        else:
            raise CommandError(f"ERR Unknown lua shebang option: {part.decode(errors='replace')}")
    return Shebang(True, flags)


def lua_source(body: bytes) -> bytes:
    """The body as Lua compiles it: a shebang line becomes a comment (line numbers stay)."""
    return b"--" + body if body.startswith(b"#!") else body


class Scripts:
    """SHA1 (40 lowercase hex digits) -> body, in the order added."""

    kinds: tuple[str, ...] = ("scripts",)

    def __init__(self) -> None:
        self.bodies: dict[bytes, bytes] = {}
        self.body_bytes = 0  # INFO's used_memory_scripts_eval, an estimate

    def add(self, sha: bytes, body: bytes) -> None:
        if sha not in self.bodies:
            self.bodies[sha] = body
            self.body_bytes += len(body) + len(sha)

    def flush(self) -> None:
        self.bodies = {}
        self.body_bytes = 0

    def reset(self) -> None:
        self.flush()

    def adopt(self, other: Scripts) -> None:
        self.bodies, self.body_bytes = other.bodies, other.body_bytes

    def snapshot_records(self) -> Iterator[list[Any]]:
        items = list(self.bodies.items())
        for start in range(0, len(items), 256):
            yield ["scripts", [[sha, body] for sha, body in items[start : start + 256]]]

    def restore(self, record: list[Any]) -> None:
        for sha, body in record[1]:
            if type(sha) is not bytes or type(body) is not bytes:
                raise ValueError("script")
            self.add(sha, body)
