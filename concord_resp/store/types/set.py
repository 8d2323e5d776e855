"""The set type: a stored set is a `SetValue`, an intset or a hashtable of members (bytes).

Redis 7.0 stores a set of integers (texts `string2ll` accepts) as an intset, a sorted array,
so it replies in ascending numeric order, and converts it for good to a hashtable when a
member that is not an integer arrives or it grows past `set-max-intset-entries` (capped at
2**30) (`setTypeAdd`); 7.0 has no set listpack. Here an intset is an `array('q')` kept sorted
(binary search; an insertion moves the tail, as Redis's memmove does; 8 bytes a member) and a
hashtable a dict of member -> None: insertion order, the same on every replica (never a Python
`set`, whose order depends on the hash seed). Random picks and SCAN over a hashtable go
through a `MemberIndex`, built on first use and then kept up to date. Invariant: a stored set
changes only through its own methods, inside `Database.changing`; no stored set is empty.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from itertools import islice, pairwise
from typing import Any, Final

from ...limits import LLONG_MAX, LLONG_MIN
from ...resp import string2ll
from ..encoding import EncodingConfig
from ..fingerprint import xor_digest
from .base import ValueType, register
from .hash import DICT_ENTRY, DICT_HEADER, DICT_SLOT, SIZE_SAMPLES, dict_slots, sds_size
from .member_index import MemberIndex
from .string import OBJECT_HEADER

INTSET_MAX_ENTRIES: Final = 1 << 30  # setTypeAdd's cap on set-max-intset-entries
INTSET_HEADER: Final = 8  # encoding and length, 4 bytes each


def _intset(numbers: Iterable[int] = ()) -> array[int]:
    return array("q", numbers)


class SetValue:
    """A set's members: `members` is an intset (a sorted `array('q')`) or a hashtable (a
    dict of member -> None)."""

    __slots__ = ("index", "members")

    def __init__(self, members: array[int] | dict[bytes, None] | None = None) -> None:
        self.members: array[int] | dict[bytes, None] = _intset() if members is None else members
        self.index: MemberIndex | None = None  # a hashtable's members by crc32, once needed

    @classmethod
    def hashtable(cls, members: Iterable[bytes] = ()) -> SetValue:
        return cls(dict.fromkeys(members))

    @classmethod
    def for_member(cls, member: bytes) -> SetValue:
        """Redis's `setTypeCreate`: an empty set of the encoding `member` can join (an
        intset for an integer, else a hashtable)."""
        return cls() if string2ll(member) is not None else cls.hashtable()

    @property
    def is_intset(self) -> bool:
        return not isinstance(self.members, dict)

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[bytes]:
        """The members in Redis's order for an intset (ascending), the dict's otherwise."""
        members = self.members
        if isinstance(members, dict):
            return iter(members)
        return (b"%d" % number for number in members)

    def __contains__(self, member: object) -> bool:
        members = self.members
        if isinstance(members, dict):
            return member in members
        number = string2ll(member) if isinstance(member, bytes) else None
        if number is None:
            return False
        position = bisect_left(members, number)
        return position < len(members) and members[position] == number

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SetValue)
            and self.is_intset == other.is_intset
            and list(self) == list(other)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        kind = "intset" if self.is_intset else "hashtable"
        return f"SetValue({kind}, {list(islice(self, 10))!r}{'...' if len(self) > 10 else ''})"

    # -- changes (inside Database.changing only) ------------------------------------------

    def add(self, member: bytes, config: EncodingConfig) -> bool:
        """Redis's `setTypeAdd`: True if `member` is new. An intset becomes a hashtable for
        a member that is not an integer, or when it outgrows `set-max-intset-entries`."""
        members = self.members
        if not isinstance(members, dict):
            number = string2ll(member)
            if number is not None:
                position = bisect_left(members, number)
                if position < len(members) and members[position] == number:
                    return False
                members.insert(position, number)
                if len(members) > min(config.set_max_intset_entries, INTSET_MAX_ENTRIES):
                    self.convert()
                return True
            members = self.convert()
        size = len(members)
        members[member] = None
        if len(members) == size:
            return False
        if self.index is not None:
            self.index.add(member)
        return True

    def remove(self, member: bytes) -> bool:
        """Redis's `setTypeRemove`: True if `member` was there."""
        members = self.members
        if isinstance(members, dict):
            if member not in members:
                return False
            del members[member]
            if self.index is not None:
                self.index.discard(member)
            return True
        number = string2ll(member)
        if number is None:
            return False
        position = bisect_left(members, number)
        if position == len(members) or members[position] != number:
            return False
        del members[position]
        return True

    def convert(self) -> dict[bytes, None]:
        """An intset becomes a hashtable, in ascending order (one-way); returns the dict."""
        members = self.members
        if isinstance(members, dict):
            return members
        table = dict.fromkeys(b"%d" % number for number in members)
        self.members = table
        return table

    def take(self, other: SetValue) -> None:
        """Hold `other`'s members from now on (SPOP's 'create a new set' strategy)."""
        self.members = other.members
        self.index = other.index

    # -- reads ----------------------------------------------------------------------------

    def member_index(self) -> MemberIndex:
        """A hashtable's members ordered by crc32 (built now if this is the first need)."""
        members = self.members
        if not isinstance(members, dict):
            raise TypeError("an intset has no member index")
        if self.index is None:
            self.index = MemberIndex(members)
        return self.index

    def picker(self) -> Callable[[int], bytes]:
        """A function from a position (0 <= position < len) to a member, for random picks:
        an intset's ascending order (O(1) a pick), a hashtable's index order (O(log n)). The
        choice depends only on the replicated encoding, so SPOP picks alike everywhere; it
        reads the live set, so it stays valid while members are removed."""
        members = self.members
        if isinstance(members, dict):
            return self.member_index().member_at
        return lambda position: b"%d" % members[position]

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """(next cursor, members) of one SSCAN step: an intset answers whole at once with
        cursor 0, as Redis does; a hashtable walks its index from `cursor`."""
        if self.is_intset:
            return 0, list(self)
        return self.member_index().scan(cursor, count)


def _intset_width(members: array[int]) -> int:
    """Bytes per member of the narrowest intset encoding holding the extremes."""
    low, high = members[0], members[-1]
    if low >= -(1 << 15) and high < 1 << 15:
        return 2
    if low >= -(1 << 31) and high < 1 << 31:
        return 4
    return 8


class SetType(ValueType[SetValue]):
    name = b"set"
    redis_type = 2  # OBJ_SET
    tag = "set"
    classes = (SetValue,)

    def encoding(self, value: SetValue) -> tuple[bytes, int]:
        return (b"intset" if value.is_intset else b"hashtable"), 1

    def mix_digest(self, digest: bytes, value: SetValue) -> bytes:
        # debug.c: every member XORed in, so the order does not matter.
        for member in value:
            digest = xor_digest(digest, member)
        return digest

    def to_snapshot(self, value: SetValue) -> Any:
        members = value.members
        if isinstance(members, dict):
            return [False, list(members)]
        return [True, members.tolist()]

    def from_snapshot(self, payload: Any) -> SetValue:
        if type(payload) is not list or len(payload) != 2:
            raise TypeError(f"set payload {payload!r:.60}")
        intset, items = payload
        if type(intset) is not bool or type(items) is not list or not items:
            raise TypeError(f"set payload {payload!r:.60}")
        if intset:
            for number in items:
                if type(number) is not int or not LLONG_MIN <= number <= LLONG_MAX:
                    raise TypeError(f"intset member {number!r:.60}")
            if any(a >= b for a, b in pairwise(items)):
                raise ValueError("intset payload is not strictly ascending")
            return SetValue(_intset(items))
        for member in items:
            if type(member) is not bytes:
                raise TypeError(f"set member {member!r:.60}")
        value = SetValue.hashtable(items)
        if len(value) != len(items):
            raise ValueError("set payload repeats a member")
        return value

    def duplicate(self, value: SetValue) -> SetValue:
        members = value.members
        if isinstance(members, dict):
            return SetValue(dict(members))
        return SetValue(_intset(members))

    def estimated_size(self, value: SetValue) -> int:
        members = value.members
        if not members:
            return OBJECT_HEADER
        if not isinstance(members, dict):
            return OBJECT_HEADER + INTSET_HEADER + len(members) * _intset_width(members)
        # Redis's objectComputeSize: the table, then entries averaged over a few samples.
        sampled = [DICT_ENTRY + sds_size(len(member)) for member in islice(members, SIZE_SAMPLES)]
        per_entry = sum(sampled) / len(sampled)
        table = DICT_HEADER + DICT_SLOT * dict_slots(len(members))
        return OBJECT_HEADER + table + int(per_entry * len(members))

    def is_empty(self, value: SetValue) -> bool:
        return not value.members


SET: Final = register(SetType())
