"""Sequential specifications the checker tests histories against, one key at a time.

A `Model` says what one key's state is before any operation (`init`) and what an operation
does to it (`step`): for an ok operation, whether the output the client saw is what the
sequential object would have answered in that state, and the next state. An indeterminate
("info") operation has no known output, so any output is accepted and only the transition
applies. Models are pure and deterministic; states are small hashable values (the checker
memoizes on them), never mutated.

`RedisStringModel` and `RedisListModel` are written from Redis's documented semantics, independently of Concord's
command code, so the checker does not inherit the bugs it is meant to find.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final, Protocol, TypeAlias, TypeVar

from .history import Operation

State = TypeVar("State", bound=Hashable)

StringState: TypeAlias = bytes | None
"""One Redis string key: its bytes, or None while the key does not exist."""

ListState: TypeAlias = tuple[bytes, ...]
"""One Redis list key: its elements, head first (a missing key is the empty list)."""

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

# SET's reply as clients report it: the status "OK" as text or bytes, or redis-py's True.
_SET_REPLIES: Final[tuple[object, ...]] = ("OK", b"OK", True)


class Model(Protocol[State]):
    """The sequential specification of one key."""

    def init(self) -> State:
        """The state before any operation."""
        ...

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        """Apply `op` in `state`: (whether its output is possible there, the next state).

        Called with ok and info operations only. For info operations the output is unknown
        and must be accepted; the returned flag may still be False for an operation that can
        never take effect. Unknown kinds raise ValueError (a malformed history).
        """
        ...

    def read_only(self, op: Operation) -> bool:
        """True if `op` never changes the state (the checker drops such calls when their
        outcome is indeterminate: with no output they constrain nothing)."""
        ...


def redis_integer(raw: bytes) -> int | None:
    """The integer a Redis string holds for INCR (`string2ll`), or None if it holds none.

    Strict like Redis: optional '-', digits with no leading zero (except "0" itself), no '+',
    no spaces, within a signed 64-bit integer.
    """
    digits = raw[1:] if raw[:1] == b"-" else raw
    if not digits or len(digits) > 19 or not digits.isdigit():
        return None
    if digits[:1] == b"0" and raw != b"0":
        return None
    number = int(raw)
    return number if INT64_MIN <= number <= INT64_MAX else None


class RedisStringModel:
    """GET, SET, APPEND and INCR on one Redis string key.

    - get: replies with the current bytes, or None for a missing key.
    - set(value): replies OK; the key holds `value`.
    - append(value): replies with the new length; a missing key counts as empty.
    - incr(amount or None for 1): replies with the new integer, stored as its decimal bytes.
      On a value that is not an integer, or on overflow, Redis replies with an error and
      changes nothing; clients record that as a failed call, so an ok INCR there is illegal.
    """

    def init(self) -> StringState:
        return None

    def read_only(self, op: Operation) -> bool:
        return op.kind == "get"

    def step(self, state: StringState, op: Operation) -> tuple[bool, StringState]:
        known = op.status == "ok"
        kind = op.kind
        if kind == "get":
            return (not known or op.output == state), state
        if kind == "set":
            value = _bytes_argument(op)
            return (not known or op.output in _SET_REPLIES), value
        if kind == "append":
            value = _bytes_argument(op)
            new_value = value if state is None else state + value
            return (not known or op.output == len(new_value)), new_value
        if kind == "incr":
            return _step_incr(state, op, known)
        raise ValueError(f"RedisStringModel has no operation {kind!r}")


def _step_incr(state: StringState, op: Operation, known: bool) -> tuple[bool, StringState]:
    amount = 1 if op.value is None else op.value
    if type(amount) is not int:
        raise ValueError(f"incr needs an int amount, not {amount!r}")
    current = 0 if state is None else redis_integer(state)
    if current is None or not INT64_MIN <= current + amount <= INT64_MAX:
        # Redis answers an error and writes nothing: only an indeterminate call fits here.
        return not known, state
    total = current + amount
    return (not known or op.output == total), b"%d" % total


class RedisListModel:
    """RPUSH and LRANGE 0 -1 on one Redis list key: a lost element, a doubled one or a
    reordered one makes some LRANGE (the final reads at least) impossible.

    - rpush(value): replies with the new length; `value` is appended at the tail.
    - lrange: replies with every element, head first, as `encode_elements` writes them.
    """

    def init(self) -> ListState:
        return ()

    def read_only(self, op: Operation) -> bool:
        return op.kind == "lrange"

    def step(self, state: ListState, op: Operation) -> tuple[bool, ListState]:
        known = op.status == "ok"
        if op.kind == "lrange":
            return (not known or op.output == encode_elements(state)), state
        if op.kind == "rpush":
            new_state = (*state, _bytes_argument(op))
            return (not known or op.output == len(new_state)), new_state
        raise ValueError(f"RedisListModel has no operation {op.kind!r}")


class RedisStreamModel:
    """XADD key * v <value> and XRANGE key - + on one stream: the values in ID order must be
    the values added, in the order they were applied (`*` IDs only grow), each once.

    - xadd(value): replies with the new entry's ID (not checked: its time is the leader's);
    - xrange: replies with every entry's value, as `encode_elements` writes them.
    """

    def init(self) -> ListState:
        return ()

    def read_only(self, op: Operation) -> bool:
        return op.kind == "xrange"

    def step(self, state: ListState, op: Operation) -> tuple[bool, ListState]:
        if op.kind == "xrange":
            return (op.status != "ok" or op.output == encode_elements(state)), state
        if op.kind == "xadd":
            return True, (*state, _bytes_argument(op))
        raise ValueError(f"RedisStreamModel has no operation {op.kind!r}")


def encode_elements(elements: tuple[bytes, ...] | list[bytes]) -> bytes:
    """A list reply as one history value: each element length-prefixed (unambiguous)."""
    return b"".join(b"%d:%s" % (len(element), element) for element in elements)


def _bytes_argument(op: Operation) -> bytes:
    if not isinstance(op.value, bytes):
        raise ValueError(f"{op.kind} needs a bytes argument, not {op.value!r}")
    return op.value
