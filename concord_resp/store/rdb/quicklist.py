"""How Redis 7.0 would cut a list into quicklist nodes, and which nodes it would compress.

Concord keeps a list as one deque, Redis as a chain of listpack nodes, and a DUMP writes the
nodes as they are. The layout here is the one RPUSH builds, element after element: a node
takes the next element while `_quicklistNodeAllowInsert` allows it (list-max-listpack-size: a
negative fill caps the node's bytes at 4/8/16/32/64 kB, counting each new element as its
length plus 8; a positive fill caps its count, within 8 kB), else a new node starts. With
list-compress-depth d > 0, every node but the d at each end is LZF-compressed, as
__quicklistCompressNode does it (nodes of 48 bytes or more, kept only if 8 bytes shorter).
A list Redis built otherwise (LPUSH, LINSERT, LREM, a different fill at creation) may be cut
elsewhere: its DUMP differs from Redis's in the node boundaries, never in the elements.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from . import listpack, lzf

OPTIMIZATION_LEVELS: Final = (4096, 8192, 16384, 32768, 65536)
SIZE_SAFETY_LIMIT: Final = 8192
SIZE_ESTIMATE_OVERHEAD: Final = 8
FILL_MAX: Final = 1 << 15
COMPRESS_MAX: Final = 1 << 16
MIN_COMPRESS_BYTES: Final = 48
MIN_COMPRESS_IMPROVE: Final = 8


@dataclass(frozen=True, slots=True)
class Node:
    """One quicklist node: its listpack, and the listpack LZF-compressed if Redis would
    keep it compressed."""

    listpack: bytes
    compressed: bytes | None


def clamp_fill(fill: int) -> int:
    """quicklistSetFill."""
    return min(max(fill, -5), FILL_MAX)


def allows_insert(node_bytes: int, node_count: int, fill: int, size: int) -> bool:
    """_quicklistNodeAllowInsert for a packed node of `node_bytes` and an element of
    `size` bytes."""
    new_size = node_bytes + size + SIZE_ESTIMATE_OVERHEAD
    if fill < 0 and new_size <= OPTIMIZATION_LEVELS[-fill - 1]:
        return True
    if new_size > SIZE_SAFETY_LIMIT:
        return False
    return node_count < fill


def split(elements: Iterable[bytes], fill: int) -> list[list[bytes]]:
    """The listpack entries of each node RPUSHing `elements` in order would make."""
    fill = clamp_fill(fill)
    nodes: list[list[bytes]] = []
    entries: list[bytes] = []
    node_bytes = 0
    for element in elements:
        encoded = listpack.entry(element)
        if entries and allows_insert(node_bytes, len(entries), fill, len(element)):
            entries.append(encoded)
            node_bytes += len(encoded)
        else:
            entries = [encoded]
            nodes.append(entries)
            node_bytes = listpack.EMPTY_SIZE + len(encoded)
    return nodes


def build(elements: Iterable[bytes], fill: int, depth: int) -> list[Node]:
    """The nodes of a list, each listpack assembled and compressed where Redis would."""
    listpacks = [listpack.assemble(entries) for entries in split(elements, fill)]
    depth = min(max(depth, 0), COMPRESS_MAX)
    nodes = []
    for position, packed in enumerate(listpacks):
        compressed = None
        if depth and depth <= position < len(listpacks) - depth:
            compressed = compress_node(packed)
        nodes.append(Node(packed, compressed))
    return nodes


def compress_node(packed: bytes) -> bytes | None:
    """__quicklistCompressNode: the compressed listpack, or None if Redis leaves it raw."""
    size = len(packed)
    if size < MIN_COMPRESS_BYTES:
        return None
    compressed = lzf.compress(packed, size)
    if compressed is None or len(compressed) + MIN_COMPRESS_IMPROVE >= size:
        return None
    return compressed
