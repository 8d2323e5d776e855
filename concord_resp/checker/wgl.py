"""Linearizability checking: the Wing & Gong search with Lowe's memoization, per key.

A history is linearizable if every ok operation can be given a point inside its real-time
interval so that, in that order, the model produces exactly the outputs the clients saw.
Keys are independent objects, so the history is split by key and each part is checked alone
(linearizability is compositional: Porcupine's P-compositionality).

Per key (Lowe, "Testing for linearizability", 2017): call and return events sorted by time in
a doubly linked list. The search walks the calls that precede the first return (the ops that
may come next), applies one to the model, lifts its two events out of the list and starts
again; reaching a return means that op had to be placed already, so it backtracks. A cache
of (linearized ops as an int bitset, model state) prunes configurations already explored.

Failed ops are dropped. Indeterminate ("info") ops return at +infinity and are optional: the
search succeeds once every ok op is placed, whatever info ops remain (an effect placed after
every ok op is the same as none). They are what makes the search expensive, so: ok ops are
tried first at each point; info ops with the same kind and value are used in invocation
order; a configuration is pruned if one with the same ok ops and state but a subset of its
info ops already failed; and cheap passes that allow only short runs of consecutive info ops
go first (their "ok" is final, their "illegal" is not). Events at equal times count as
concurrent (calls sort before returns), so no verdict depends on clock resolution.

Each key gets `budget` search steps; running out answers "unknown" instead of hanging.
Nothing here does I/O or depends on hash or set iteration order: verdicts are reproducible.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from .history import Operation, Value
from .models import Model, State

Verdict: TypeAlias = Literal["ok", "illegal", "unknown"]


@dataclass(frozen=True, slots=True)
class KeyResult:
    """The verdict for one key.

    For an illegal key, `prefix` is the longest linearization of its ops the search found,
    `state` the model state after it, and `unplaced` the ops that could have come next (each
    invoked before the earliest completion still pending) and of which none fits.
    """

    key: bytes
    verdict: Verdict
    operations: int  # ops searched: failed ops and indeterminate reads are dropped first
    steps: int
    prefix: tuple[Operation, ...] = ()
    state: Hashable = None
    unplaced: tuple[Operation, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict for a whole history: illegal if any key is, else unknown if any key is."""

    verdict: Verdict
    keys: tuple[KeyResult, ...]  # sorted by key

    @property
    def failure(self) -> KeyResult | None:
        """The first illegal key's result, or None."""
        return next((result for result in self.keys if result.verdict == "illegal"), None)

    @property
    def key(self) -> bytes | None:
        """The first illegal key."""
        failure = self.failure
        return None if failure is None else failure.key

    @property
    def prefix(self) -> tuple[Operation, ...]:
        """The longest linearizable prefix found for the first illegal key."""
        failure = self.failure
        return () if failure is None else failure.prefix

    @property
    def unplaced(self) -> tuple[Operation, ...]:
        """The ops of the first illegal key that could not be placed after `prefix`."""
        failure = self.failure
        return () if failure is None else failure.unplaced

    def explain(self, *, max_prefix: int = 20) -> str:
        """A readable account of the verdict; shows the last `max_prefix` ops of a prefix."""
        operations = sum(result.operations for result in self.keys)
        lines = [f"{self.verdict}: {len(self.keys)} keys, {operations} operations checked"]
        for result in self.keys:
            if result.verdict == "unknown":
                lines.append(
                    f"key {result.key!r}: unknown, search budget exhausted after "
                    f"{result.steps} steps ({result.operations} operations)"
                )
            elif result.verdict == "illegal":
                lines.extend(_explain_illegal(result, max_prefix))
        return "\n".join(lines)


def check(
    operations: Iterable[Operation], model: Model[State], *, budget: int = 1_000_000
) -> CheckResult:
    """Check a history against `model`, each key separately, with `budget` steps per key."""
    by_key: dict[bytes, list[Operation]] = {}
    for op in operations:
        if op.status == "fail" or (op.status == "info" and model.read_only(op)):
            continue
        by_key.setdefault(op.key, []).append(op)
    results = tuple(_check_key(key, by_key[key], model, budget) for key in sorted(by_key))
    verdicts = {result.verdict for result in results}
    verdict: Verdict = (
        "illegal" if "illegal" in verdicts else "unknown" if "unknown" in verdicts else "ok"
    )
    return CheckResult(verdict, results)


class _Entry:
    """A call or return event in the search's doubly linked list."""

    __slots__ = ("bit", "certain", "match", "next", "op", "prev", "twin")

    def __init__(self, op: int, match: _Entry | None, certain: bool) -> None:
        self.op = op  # index into the key's operation list; -1 for the sentinels
        self.bit = 0 if op < 0 else 1 << op
        self.match = match  # a call's return event; None for returns and sentinels
        self.certain = certain  # an ok op (must be placed), not an info op (may be)
        self.twin = 0  # bit of the previous info op with the same kind and value, if any
        self.prev: _Entry = self
        self.next: _Entry = self


def _events(ops: list[Operation]) -> list[tuple[int, int, int]]:
    """(time, 0 for a call / 1 for a return, op index), sorted; info ops return last."""
    horizon = 1 + max(op.invoke if op.complete is None else op.complete for op in ops)
    events: list[tuple[int, int, int]] = []
    for index, op in enumerate(ops):
        events.append((op.invoke, 0, index))
        done = op.complete if op.status == "ok" and op.complete is not None else horizon
        events.append((done, 1, index))
    events.sort()
    return events


def _check_key(key: bytes, ops: list[Operation], model: Model[State], budget: int) -> KeyResult:
    events = _events(ops)
    # Runs of consecutive info ops are where the search explodes (every order of every
    # pending write, at every dead end), and a legal history rarely needs a long one. So
    # passes allowing runs of 1, 2, 3 go first: a linearization they find is final, and
    # only the last, unrestricted pass can prove a history illegal. They share the budget.
    has_info = any(op.status == "info" for op in ops)
    limits = (1, 2, 3, len(ops)) if has_info else (len(ops),)
    steps = 0
    for limit in limits:
        verdict, spent, best, best_state = _search(
            _linked_events(events, ops), ops, model, budget - steps, limit
        )
        steps += spent
        if verdict != "illegal":
            break
    prefix = _pick(ops, best)
    if verdict != "illegal":
        return KeyResult(key, verdict, len(ops), steps, prefix if verdict == "unknown" else ())
    unplaced = _pick(ops, _next_candidates(events, ops, set(best)))
    return KeyResult(key, verdict, len(ops), steps, prefix, best_state, unplaced)


def _linked_events(events: list[tuple[int, int, int]], ops: list[Operation]) -> _Entry:
    """The events as a doubly linked list between two sentinels; returns the head."""
    head = _Entry(-1, None, False)
    tail = _Entry(-1, None, False)  # never reached: an ok op's return always comes first
    returns = {index: _Entry(index, None, op.status == "ok") for index, op in enumerate(ops)}
    last_twin: dict[tuple[str, Value], int] = {}
    previous = head
    for _, is_return, index in events:
        op = ops[index]
        if is_return:
            entry = returns[index]
        else:
            entry = _Entry(index, returns[index], op.status == "ok")
            if op.status == "info":
                entry.twin = last_twin.get((op.kind, op.value), 0)
                last_twin[op.kind, op.value] = entry.bit
        previous.next = entry
        entry.prev = previous
        previous = entry
    previous.next = tail
    tail.prev = previous
    return head


def _search(
    head: _Entry, ops: list[Operation], model: Model[State], budget: int, max_chain: int
) -> tuple[Verdict, int, list[int], State]:
    """Lowe's search: (verdict, steps taken, longest linearization found, state after it).

    At most `max_chain` info ops are placed in a row (an "illegal" is only a proof when that
    limit is no limit). A configuration is (ok ops placed, state, info ops placed); `failed`
    maps (ok ops placed, state) to the info sets of configurations whose every continuation
    failed. Having placed an extra info op only removes options (it could have been left
    out), so a configuration is pruned when a failed one had the same ok ops and state and a
    subset of its info ops. Without info ops this is Lowe's cache exactly.
    """
    step = model.step
    state = model.init()
    placed = 0  # bitset of placed ok ops
    optional = 0  # bitset of placed info ops
    calls: list[tuple[_Entry, State]] = []  # lifted calls, with the state before each
    failed: dict[tuple[int, State], list[int]] = {}
    pending_certain = sum(op.status == "ok" for op in ops)
    pending_optional = len(ops) - pending_certain
    best: list[int] = []
    best_state = state
    certain_phase = True  # walking for ok calls first, then again for info calls
    chain = 0  # info ops placed since the last ok op
    entry = head.next
    steps = 0
    while pending_certain:
        if steps >= budget:
            return "unknown", steps, best, best_state
        steps += 1
        match = entry.match
        if match is None:
            # A return: its op had to be placed by now. Try info ops before it first.
            if certain_phase and pending_optional and chain < max_chain:
                certain_phase = False
                entry = head.next
                continue
            if not calls:
                return "illegal", steps, best, best_state
            # Every continuation from here failed: remember, then backtrack.
            failed.setdefault((placed, state), []).append(optional)
            entry, state = calls.pop()
            match = entry.match
            assert match is not None
            if entry.certain:
                placed ^= entry.bit
                pending_certain += 1
            else:
                optional ^= entry.bit
                pending_optional += 1
            # unlift, the reverse of lift: the return goes back, then the call
            match.prev.next = match
            match.next.prev = match
            entry.prev.next = entry
            entry.next.prev = entry
            certain_phase = entry.certain
            chain = 0
            while chain < len(calls) and not calls[-1 - chain][0].certain:
                chain += 1
            entry = entry.next
            continue
        if entry.certain is not certain_phase or (entry.twin and not optional & entry.twin):
            # Info ops with the same kind and value are interchangeable once invoked: use
            # them in invocation order, so no two orders of identical ops are both explored.
            entry = entry.next
            continue
        legal, new_state = step(state, ops[entry.op])
        if legal:
            if certain_phase:
                new_placed, new_optional = placed | entry.bit, optional
            else:
                new_placed, new_optional = placed, optional | entry.bit
            dead = failed.get((new_placed, new_state))
            if dead is None or all(info & ~new_optional for info in dead):
                calls.append((entry, state))
                state = new_state
                placed, optional = new_placed, new_optional
                if certain_phase:
                    pending_certain -= 1
                    chain = 0
                else:
                    pending_optional -= 1
                    chain += 1
                # lift: take the call and its return out of the list
                entry.prev.next = entry.next
                entry.next.prev = entry.prev
                match.prev.next = match.next
                match.next.prev = match.prev
                if len(calls) > len(best):
                    best = [lifted.op for lifted, _ in calls]
                    best_state = state
                certain_phase = True
                entry = head.next
                continue
        entry = entry.next
    return "ok", steps, best, best_state


def _next_candidates(
    events: list[tuple[int, int, int]], ops: list[Operation], placed: set[int]
) -> list[int]:
    """The unplaced ops invoked before the earliest completion of an unplaced ok op."""
    candidates: list[int] = []
    for _, is_return, index in events:
        if index in placed:
            continue
        if is_return:
            if ops[index].status == "ok":
                break
        else:
            candidates.append(index)
    return candidates


def _pick(ops: list[Operation], indexes: list[int]) -> tuple[Operation, ...]:
    return tuple(ops[index] for index in indexes)


def _explain_illegal(result: KeyResult, max_prefix: int) -> list[str]:
    lines = [
        f"key {result.key!r}: not linearizable ({result.operations} operations, "
        f"{result.steps} search steps)",
        f"  longest linearizable prefix found: {len(result.prefix)} operations",
    ]
    shown = result.prefix[-max_prefix:] if max_prefix > 0 else ()
    if len(shown) < len(result.prefix):
        lines.append(f"    ... {len(result.prefix) - len(shown)} earlier operations")
    first = len(result.prefix) - len(shown) + 1
    lines.extend(f"    {first + n}. {op.describe()}" for n, op in enumerate(shown))
    lines.append(f"  state after the prefix: {result.state!r}")
    lines.append("  none of these can come next:")
    lines.extend(f"    {op.describe()}" for op in result.unplaced)
    return lines
