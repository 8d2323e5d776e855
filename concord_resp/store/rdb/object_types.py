"""The RDB object type bytes (rdb.h, RDB version 10) and the quicklist node containers.

A DUMP payload starts with one of these; they are fixed on disk, unlike Redis's in-memory
OBJ_* numbers. Constants only.
"""

from __future__ import annotations

from typing import Final

RDB_VERSION: Final = 10  # Redis 7.0

STRING: Final = 0
LIST: Final = 1
SET: Final = 2
ZSET: Final = 3
HASH: Final = 4
ZSET_2: Final = 5
MODULE: Final = 6
MODULE_2: Final = 7
HASH_ZIPMAP: Final = 9
LIST_ZIPLIST: Final = 10
SET_INTSET: Final = 11
ZSET_ZIPLIST: Final = 12
HASH_ZIPLIST: Final = 13
LIST_QUICKLIST: Final = 14
STREAM_LISTPACKS: Final = 15
HASH_LISTPACK: Final = 16
ZSET_LISTPACK: Final = 17
LIST_QUICKLIST_2: Final = 18
STREAM_LISTPACKS_2: Final = 19

NODE_PLAIN: Final = 1  # QUICKLIST_NODE_CONTAINER_PLAIN: one element, stored as is
NODE_PACKED: Final = 2  # QUICKLIST_NODE_CONTAINER_PACKED: a listpack of elements
