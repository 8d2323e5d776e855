"""The pure Raft core: no I/O, no clock, no randomness (time and a seeded RNG are passed in)."""

from .types import Entry, EntryKind, HardState, Index, NodeId, Term

__all__ = ["Entry", "EntryKind", "HardState", "Index", "NodeId", "Term"]
