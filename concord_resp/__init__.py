"""Concord: a Redis-compatible server whose writes go through Raft consensus."""

__version__ = "0.1.0"
REDIS_VERSION = "7.0.15"  # the Redis version Concord answers as (HELLO, INFO)
