"""A linearizability checker for client histories of a key-value store.

Pure and deterministic: record a history (`History`, or build `Operation`s directly), then
`check(operations, RedisStringModel())` answers "ok", "illegal" (with `explain()`) or
"unknown" (search budget exhausted). Used by the cluster simulator and the fault tests.
"""

from .history import History, Operation, Status, Value
from .models import Model, RedisStringModel, StringState, redis_integer
from .wgl import CheckResult, KeyResult, Verdict, check

__all__ = [
    "CheckResult",
    "History",
    "KeyResult",
    "Model",
    "Operation",
    "RedisStringModel",
    "Status",
    "StringState",
    "Value",
    "Verdict",
    "check",
    "redis_integer",
]
