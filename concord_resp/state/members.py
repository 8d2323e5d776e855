"""Membership changes made through the log, as replicated state (a `Section`).

The founding members come from the command line, the same on every node; this holds the
changes since: name -> "host:port@cluster-port" of members added, and the names removed (a
removed node learns it from here), in the order removed: a dict used as an ordered set, so no
hash-seed order can reach a snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class Members:
    kinds: tuple[str, ...] = ("members",)

    def __init__(self) -> None:
        self.added: dict[str, str] = {}
        self.removed: dict[str, None] = {}

    def change(self, name: str, address: str | None) -> None:
        """`name` joins (or moves) at `address`, or leaves (`address` None)."""
        if address is None:
            self.added.pop(name, None)
            self.removed[name] = None
        else:
            self.added[name] = address
            self.removed.pop(name, None)

    def reset(self) -> None:
        self.added = {}
        self.removed = {}

    def adopt(self, other: Members) -> None:
        self.added, self.removed = other.added, other.removed

    def snapshot_records(self) -> Iterator[list[Any]]:
        if self.added or self.removed:
            yield ["members", dict(self.added), list(self.removed)]

    def restore(self, record: list[Any]) -> None:
        added, removed = record[1], record[2]
        if not (isinstance(added, dict) and isinstance(removed, list)):
            raise ValueError("members")
        self.added = {str(name): str(address) for name, address in added.items()}
        self.removed = dict.fromkeys(str(name) for name in removed)
