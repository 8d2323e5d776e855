"""The list type: a stored list is a `ListValue`, a deque of bytes (O(1) at both ends).

Redis 7.0 encodes every list as a quicklist (listpack-encoded lists came with 7.2), so OBJECT
ENCODING is always `quicklist`. Elements are immutable `bytes`; the deque itself changes in
place, only inside `Database.changing`, which deletes a list left empty (Redis never keeps an
empty list). Invariant: no stored list is empty.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

from ..fingerprint import mix_digest
from .base import ValueType, register
from .string import OBJECT_HEADER

QUICKLIST_HEADER: Final = 40  # sizeof(quicklist) on 64 bits
QUICKLIST_NODE: Final = 32  # sizeof(quicklistNode)
LISTPACK_NODE_BYTES: Final = 8192  # list-max-listpack-size -2: 8 kB listpacks


class ListValue(deque[bytes]):
    """A list's elements, head first."""

    __slots__ = ()


class ListType(ValueType[ListValue]):
    name = b"list"
    redis_type = 1  # OBJ_LIST
    tag = "list"
    classes = (ListValue,)

    def encoding(self, value: ListValue) -> tuple[bytes, int]:
        return b"quicklist", 1

    def mix_digest(self, digest: bytes, value: ListValue) -> bytes:
        # debug.c: every element mixed in, head to tail (the order matters).
        for element in value:
            digest = mix_digest(digest, element)
        return digest

    def to_snapshot(self, value: ListValue) -> Any:
        return list(value)

    def from_snapshot(self, payload: Any) -> ListValue:
        if type(payload) is not list or not payload:
            raise TypeError(f"list payload {payload!r:.60}")
        for element in payload:
            if type(element) is not bytes:
                raise TypeError(f"list element {element!r:.60}")
        return ListValue(payload)

    def duplicate(self, value: ListValue) -> ListValue:
        return ListValue(value)  # elements are immutable bytes: shared

    def estimated_size(self, value: ListValue) -> int:
        # Listpack entries carry about 2 bytes of header and back-length each.
        payload = sum(len(element) + 2 for element in value)
        nodes = payload // LISTPACK_NODE_BYTES + 1
        return OBJECT_HEADER + QUICKLIST_HEADER + nodes * (QUICKLIST_NODE + 7) + payload

    def is_empty(self, value: ListValue) -> bool:
        return not value


LIST: Final = register(ListType())
