"""A linearizability checker for client histories of a key-value store.

Pure and deterministic: record a history (`History`, or build `Operation`s directly), then
`check(operations, RedisStringModel())` answers "ok", "illegal" (with `explain()`) or
"unknown" (search budget exhausted). Used by the cluster simulator and the fault tests.
"""

from .history import History, Operation, Status, Value
from .models import (
    ListState,
    Model,
    RedisListModel,
    RedisStreamModel,
    RedisStringModel,
    StringState,
    encode_elements,
    redis_integer,
)
from .wgl import CheckResult, KeyResult, Verdict, check

__all__ = [
    "CheckResult",
    "History",
    "KeyResult",
    "ListState",
    "Model",
    "Operation",
    "RedisListModel",
    "RedisStreamModel",
    "RedisStringModel",
    "Status",
    "StringState",
    "Value",
    "Verdict",
    "check",
    "encode_elements",
    "redis_integer",
]
