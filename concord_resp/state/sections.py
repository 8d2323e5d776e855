"""Replicated state beside the keyspace, as sections behind one small interface.

The session table and the membership changes today; ACL users, scripts and functions, and
blocked-client waiters next. Each is a `Section`: the state machine resets, adopts (a
snapshot restored beside it), snapshots and restores all of them alike, so adding one means
writing one module and listing it in `StateMachine.sections`. A section's snapshot records
are lists whose first element is one of its `kinds`; nothing else may use those names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, Self


class Section(Protocol):
    kinds: tuple[str, ...]
    """The snapshot record kinds it writes and reads."""

    def reset(self) -> None:
        """Back to the empty state of index 0."""

    def adopt(self, other: Self) -> None:
        """Take over the state of the same section of another machine."""

    def snapshot_records(self) -> Iterator[list[Any]]:
        """Its state as CBOR-encodable records (in a deterministic order)."""

    def restore(self, record: list[Any]) -> None:
        """Load one of its records (after `reset`); ValueError/TypeError if malformed."""
