"""Concord: a Redis-compatible server whose writes go through Raft consensus."""

__version__ = "0.1.0"
