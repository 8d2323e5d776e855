"""`concord import-rdb FILE`: a Redis RDB file into a Concord cluster.

The file is memory-mapped (its size does not count against the tool's memory) and read
twice: first its CRC-64 trailer is checked (a damaged file loads nothing), then each key
becomes a RESTORE of the DUMP payload the file holds for it (`store.rdb.file`), streamed
through the log in batches (`bulk_load`), with its expiry (absolute, ABSTTL) and database.
Function libraries are loaded first with FUNCTION RESTORE REPLACE. A key whose value Concord
cannot restore (a module type) stops the import before anything is sent for it.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import cast

from ..server.resp_client import Connection, ToolError
from ..store.encoding import EncodingConfig
from ..store.rdb.file import RdbFileError, RdbKey, file_checksum, read_rdb
from .bulk_load import BulkLoader
from .progress import Progress


def import_rdb(path: Path, connection: Connection, *, show_progress: bool | None = None) -> int:
    """Load the file; returns how many keys were loaded. ToolError on any failure."""
    try:
        with open(path, "rb") as file:
            size = path.stat().st_size
            if size == 0:
                raise ToolError(f"{path}: empty file")
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                # mmap slices to bytes and indexes to ints, as the pure reader expects.
                return _load(cast(bytes, mapped), size, path, connection, show_progress)
    except OSError as error:
        raise ToolError(f"cannot read {path}: {error.strerror}") from None
    except RdbFileError as error:
        raise ToolError(f"{path}: {error}") from None


def _load(
    data: bytes, size: int, path: Path, connection: Connection, show_progress: bool | None
) -> int:
    config = EncodingConfig()
    eof = _find_eof(data, config, Progress(f"checking {path.name}", size, show=show_progress))
    checksum = file_checksum(data, eof)
    if checksum is not None and checksum[0] != checksum[1]:
        raise ToolError(
            f"{path}: checksum mismatch (the file says {checksum[0]:#x}, its bytes give"
            f" {checksum[1]:#x}): the file is damaged; nothing was imported"
        )
    loader = BulkLoader(connection)
    progress = Progress(f"importing {path.name}", size, show=show_progress)
    for item in read_rdb(data, config):
        if isinstance(item, RdbKey):
            loader.restore(item.db, item.key, item.expires_ms, item.payload)
        else:
            loader.command(
                "FUNCTION", "RESTORE", item.payload, "REPLACE", label="the function libraries"
            )
        progress.update(item.end, loader.keys)
    loader.finish()
    progress.update(size, loader.keys)
    progress.finish()
    return loader.keys


def _find_eof(data: bytes, config: EncodingConfig, progress: Progress) -> int:
    """Read the file through once (no value is kept), so that a file damaged anywhere is
    refused before anything is sent; returns where its EOF record is."""
    records = read_rdb(data, config, payloads=False)
    count = 0
    while True:
        try:
            item = next(records)
        except StopIteration as end:
            progress.finish()
            eof: int = end.value
            return eof
        count += 1
        progress.update(item.end, count)
