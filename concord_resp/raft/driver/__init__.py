"""The I/O that the Raft core asks for: the write-ahead log, snapshot files, peer transport."""

from .wal import WalCorruptError, WriteAheadLog, encode_entry, encode_hard_state

__all__ = ["WalCorruptError", "WriteAheadLog", "encode_entry", "encode_hard_state"]
