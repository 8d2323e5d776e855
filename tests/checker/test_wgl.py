"""The linearizability checker: hand-written histories with known verdicts, generated ones
that are linearizable by construction (and break when one read is corrupted), agreement with
a brute-force enumeration on small histories, the search budget, and recording with
`History` from concurrent threads."""

from __future__ import annotations

import dataclasses
import itertools
import random
import threading
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from concord_resp.checker import (
    CheckResult,
    History,
    Operation,
    RedisStringModel,
    Value,
    check,
    redis_integer,
)
from concord_resp.checker.history import Status

MODEL = RedisStringModel()


def op(
    process: int,
    kind: str,
    value: Value,
    invoke: int,
    complete: int | None,
    output: Value = None,
    *,
    status: Status = "ok",
    key: bytes = b"k",
) -> Operation:
    return Operation(process, kind, key, value, invoke, complete, status, output)


def get(
    process: int, invoke: int, complete: int, output: bytes | None, *, key: bytes = b"k"
) -> Operation:
    return op(process, "get", None, invoke, complete, output, key=key)


def put(process: int, value: bytes, invoke: int, complete: int, *, key: bytes = b"k") -> Operation:
    return op(process, "set", value, invoke, complete, "OK", key=key)


def verdict(*ops: Operation) -> str:
    return check(ops, MODEL).verdict


# --- sequential histories, one per kind ---------------------------------------------------


def test_an_empty_history_is_linearizable() -> None:
    result = check([], MODEL)
    assert result.verdict == "ok"
    assert result.keys == ()
    assert result.failure is None


def test_sequential_histories_of_every_kind_are_linearizable() -> None:
    assert (
        verdict(
            get(0, 0, 1, None),
            put(0, b"a", 2, 3),
            get(1, 4, 5, b"a"),
            op(0, "append", b"bc", 6, 7, 3),
            get(1, 8, 9, b"abc"),
            put(1, b"9", 10, 11),
            op(0, "incr", None, 12, 13, 10),
            op(1, "incr", 5, 14, 15, 15),
            get(0, 16, 17, b"15"),
        )
        == "ok"
    )


def test_a_sequential_history_with_one_wrong_reply_of_each_kind_is_illegal() -> None:
    assert verdict(put(0, b"a", 0, 1), get(0, 2, 3, b"b")) == "illegal"
    assert verdict(put(0, b"a", 0, 1), op(0, "append", b"b", 2, 3, 1)) == "illegal"
    assert verdict(put(0, b"1", 0, 1), op(0, "incr", None, 2, 3, 3)) == "illegal"
    assert verdict(put(0, b"x", 0, 1), op(0, "incr", None, 2, 3, 1)) == "illegal"
    assert verdict(op(0, "set", b"a", 0, 1, None)) == "illegal"


# --- concurrency ---------------------------------------------------------------------------


def test_a_read_concurrent_with_two_writes_may_see_either_or_neither() -> None:
    for seen in (None, b"a", b"b"):
        assert verdict(put(0, b"a", 0, 10), put(1, b"b", 2, 12), get(2, 1, 11, seen)) == "ok"


def test_after_overlapping_writes_complete_a_read_may_see_either_but_then_stays() -> None:
    writes = (put(0, b"a", 0, 10), put(1, b"b", 5, 15))
    assert verdict(*writes, get(2, 20, 21, b"a")) == "ok"
    assert verdict(*writes, get(2, 20, 21, b"b")) == "ok"
    assert verdict(*writes, get(2, 20, 21, b"a"), get(2, 22, 23, b"b")) == "illegal"


def test_a_stale_read_after_a_completed_write_is_illegal() -> None:
    result = check([put(0, b"old", 0, 1), put(0, b"new", 2, 3), get(1, 4, 5, b"old")], MODEL)
    assert result.verdict == "illegal"
    assert result.key == b"k"
    assert [o.value for o in result.prefix] == [b"old", b"new"]
    assert result.unplaced == (get(1, 4, 5, b"old"),)
    assert result.failure is not None
    assert result.failure.state == b"new"


def test_a_read_of_a_value_never_written_is_illegal() -> None:
    assert verdict(put(0, b"a", 0, 5), get(1, 1, 4, b"z")) == "illegal"
    assert verdict(get(1, 1, 4, b"")) == "illegal"


def test_events_at_equal_times_count_as_concurrent() -> None:
    # The write completes at 5 and the read is invoked at 5: either order is possible.
    assert verdict(put(0, b"a", 0, 5), get(1, 5, 6, None)) == "ok"
    assert verdict(put(0, b"a", 0, 5), get(1, 6, 7, None)) == "illegal"


# --- APPEND and INCR -----------------------------------------------------------------------


def test_concurrent_appends_may_apply_in_either_order() -> None:
    appends = (op(0, "append", b"x", 0, 10, 1), op(1, "append", b"y", 0, 10, 2))
    assert verdict(*appends, get(2, 11, 12, b"xy")) == "ok"
    swapped = (op(0, "append", b"x", 0, 10, 2), op(1, "append", b"y", 0, 10, 1))
    assert verdict(*swapped, get(2, 11, 12, b"yx")) == "ok"
    # the lengths say x went first, the read says y did
    assert verdict(*appends, get(2, 11, 12, b"yx")) == "illegal"


def test_a_lost_append_is_illegal() -> None:
    assert (
        verdict(
            op(0, "append", b"a;", 0, 1, 2),
            op(1, "append", b"b;", 2, 3, 4),
            get(2, 4, 5, b"a;"),
        )
        == "illegal"
    )


def test_an_append_applied_twice_is_illegal() -> None:
    assert (
        verdict(
            op(0, "append", b"a;", 0, 3, 2),
            op(1, "append", b"b;", 1, 2, 4),
            get(2, 4, 5, b"a;b;a;"),
        )
        == "illegal"
    )


def test_incr_returning_the_same_value_to_two_clients_is_illegal() -> None:
    assert verdict(op(0, "incr", None, 0, 10, 1), op(1, "incr", None, 0, 10, 1)) == "illegal"
    assert verdict(op(0, "incr", None, 0, 10, 1), op(1, "incr", None, 0, 10, 2)) == "ok"


# --- indeterminate and failed calls --------------------------------------------------------


def test_an_indeterminate_write_may_or_may_not_show_up() -> None:
    lost = op(0, "set", b"b", 2, None, status="info")
    base = (put(0, b"a", 0, 1), lost)
    assert verdict(*base, get(1, 3, 4, b"a"), get(1, 100, 101, b"a")) == "ok"
    assert verdict(*base, get(1, 3, 4, b"b"), get(1, 100, 101, b"b")) == "ok"
    assert verdict(*base, get(1, 3, 4, b"a"), get(1, 100, 101, b"b")) == "ok"


def test_an_indeterminate_write_seen_and_then_unseen_is_illegal() -> None:
    lost = op(0, "append", b"b", 2, None, status="info")
    reads = (get(1, 3, 4, b"ab"), get(1, 5, 6, b"a"))
    assert verdict(op(0, "append", b"a", 0, 1, 1), lost, *reads) == "illegal"


def test_an_indeterminate_write_cannot_take_effect_before_it_is_invoked() -> None:
    lost = op(0, "set", b"b", 10, None, status="info")
    assert verdict(put(0, b"a", 0, 1), lost, get(1, 2, 3, b"b")) == "illegal"


def test_an_indeterminate_incr_on_a_non_integer_is_harmless() -> None:
    lost = op(1, "incr", None, 2, None, status="info")
    assert verdict(put(0, b"x", 0, 1), lost, get(0, 3, 4, b"x")) == "ok"


def test_many_indeterminate_writes_that_never_happened_are_accepted_quickly() -> None:
    ops = [op(100 + n, "append", b"lost%d;" % n, n, None, status="info") for n in range(40)]
    tokens = [b"t%02d;" % n for n in range(40)]
    ops += [op(0, "append", t, 50 + 2 * n, 51 + 2 * n, 4 * (n + 1)) for n, t in enumerate(tokens)]
    ops.append(get(0, 200, 201, b"".join(tokens)))
    result = check(ops, MODEL)
    assert result.verdict == "ok"
    assert result.keys[0].steps < 5_000  # no subsets of the 40 optional writes were tried


def test_a_read_may_observe_several_indeterminate_writes_at_once() -> None:
    lost = [op(n, "append", b"%d;" % n, n, None, status="info") for n in range(5)]
    assert verdict(*lost, get(9, 10, 11, b"3;0;4;1;")) == "ok"
    assert verdict(*lost, get(9, 10, 11, b"3;0;3;")) == "illegal"


def test_identical_indeterminate_writes_are_interchangeable() -> None:
    lost = [op(n, "incr", None, n, None, status="info") for n in range(30)]
    assert verdict(*lost, get(99, 40, 41, b"17"), get(99, 42, 43, b"29")) == "ok"
    result = check([*lost, get(99, 40, 41, b"17"), get(99, 42, 43, b"31")], MODEL)
    assert result.verdict == "illegal"
    assert result.keys[0].steps < 100_000
    twice = [op(n, "append", b"x", n, None, status="info") for n in range(2)]
    assert verdict(*twice, get(9, 10, 11, b"xx")) == "ok"
    assert verdict(*twice, get(9, 10, 11, b"xxx")) == "illegal"


def test_indeterminate_reads_are_dropped() -> None:
    result = check([put(0, b"a", 0, 1), op(1, "get", None, 0, None, status="info")], MODEL)
    assert result.verdict == "ok"
    assert result.keys[0].operations == 1


def test_failed_calls_are_ignored() -> None:
    failed = op(0, "set", b"never", 2, 3, status="fail")
    assert verdict(put(0, b"a", 0, 1), failed, get(1, 4, 5, b"a")) == "ok"
    assert verdict(put(0, b"a", 0, 1), failed, get(1, 4, 5, b"never")) == "illegal"
    only_failures = check([failed], MODEL)
    assert only_failures.verdict == "ok"
    assert only_failures.keys == ()


# --- keys, explanations, budget ------------------------------------------------------------


def test_keys_are_checked_independently_and_the_bad_one_is_named() -> None:
    good = [put(0, b"1", 0, 1, key=b"a"), get(1, 2, 3, b"1", key=b"a")]
    bad = [put(0, b"x", 4, 5, key=b"b"), get(1, 6, 7, b"y", key=b"b")]
    also_good = [put(2, b"z", 0, 9, key=b"c")]
    result = check(bad + good + also_good, MODEL)
    assert result.verdict == "illegal"
    assert [(r.key, r.verdict) for r in result.keys] == [
        (b"a", "ok"),
        (b"b", "illegal"),
        (b"c", "ok"),
    ]
    assert result.key == b"b"


def test_explain_names_the_key_the_prefix_and_what_could_not_be_placed() -> None:
    ops = [put(0, b"v%d" % n, 2 * n, 2 * n + 1) for n in range(30)]
    ops.append(get(1, 100, 101, b"v3"))
    text = check(ops, MODEL).explain(max_prefix=5)
    assert text.startswith("illegal: 1 keys, 31 operations checked")
    assert "key b'k': not linearizable" in text
    assert "longest linearizable prefix found: 30 operations" in text
    assert "... 25 earlier operations" in text
    assert "30. p0 set(b'k', b'v29') -> 'OK'  [58..59]" in text
    assert "state after the prefix: b'v29'" in text
    assert "none of these can come next:\n    p1 get(b'k') -> b'v3'  [100..101]" in text


def test_explain_for_a_linearizable_history_is_one_line() -> None:
    assert check([put(0, b"a", 0, 1)], MODEL).explain() == "ok: 1 keys, 1 operations checked"


def ambiguous_history(appends: int) -> list[Operation]:
    """Concurrent appends and a concurrent read that fits no order: all orders get tried."""
    ops = [op(n, "append", b"%c" % (65 + n), 0, 100, status="info") for n in range(appends)]
    return [*ops, get(appends, 0, 100, b"none of them")]


def test_the_budget_answers_unknown_instead_of_searching_on() -> None:
    result = check(ambiguous_history(12), MODEL, budget=2_000)
    assert result.verdict == "unknown"
    assert result.keys[0].steps == 2_000
    assert result.failure is None
    assert "unknown, search budget exhausted after 2000 steps" in result.explain()
    assert check(ambiguous_history(5), MODEL, budget=100_000).verdict == "illegal"
    # the same without indeterminate calls: concurrent SETs, every subset a different state
    sets = [put(n, b"%d" % n, 0, 100) for n in range(10)]
    assert verdict(*sets, get(10, 0, 100, b"nope")) == "illegal"
    assert check([*sets, get(10, 0, 100, b"nope")], MODEL, budget=2_000).verdict == "unknown"


def test_illegal_wins_over_unknown_across_keys() -> None:
    slow = ambiguous_history(12)
    bad = [put(0, b"x", 0, 1, key=b"z"), get(1, 2, 3, b"y", key=b"z")]
    result = check(slow + bad, MODEL, budget=500)
    assert [r.verdict for r in result.keys] == ["unknown", "illegal"]
    assert result.verdict == "illegal"


def test_the_verdict_is_deterministic() -> None:
    history = generate_history(random.Random(7), size=300, keys=3, clients=8, info_rate=0.05)
    corrupted = corrupt_one_read(random.Random(7), history)
    assert corrupted is not None
    first, second = check(corrupted, MODEL), check(list(corrupted), MODEL)
    assert first == second
    assert first.explain() == second.explain()


# --- generated histories -------------------------------------------------------------------


def run_sequentially(store: dict[bytes, bytes], kind: str, key: bytes, value: Value) -> Value:
    """Redis string semantics, written apart from the model; raises ValueError for an error."""
    current = store.get(key)
    if kind == "get":
        return current
    if kind == "set":
        assert isinstance(value, bytes)
        store[key] = value
        return "OK"
    if kind == "append":
        assert isinstance(value, bytes)
        store[key] = (current or b"") + value
        return len(store[key])
    number = 0 if current is None else redis_integer(current)
    if number is None:
        raise ValueError("ERR value is not an integer or out of range")
    store[key] = str(number + 1).encode()
    return number + 1


def generate_history(
    rng: random.Random,
    *,
    size: int,
    keys: int,
    clients: int,
    info_rate: float = 0.0,
    fail_rate: float = 0.0,
    spread: int = 40,
    unique: bool = False,
) -> list[Operation]:
    """A history linearizable by construction: ops run one by one against a reference store
    at points 10 apart, each inside a random interval that leaves its client sequential.
    Written values come from a tiny alphabet (many look-alike states), or are `unique`."""
    store: dict[bytes, bytes] = {}
    free_at = [0] * clients  # when each client's previous call completed
    ops: list[Operation] = []
    for n in range(size):
        point = 10 * n + 5
        free = [c for c in range(clients) if free_at[c] < point]
        if not free:
            free_at.append(0)
            free = [len(free_at) - 1]
        process = rng.choice(free)
        key = b"key%d" % rng.randrange(keys)
        kind = rng.choice(("get", "get", "set", "append", "incr"))
        value: Value = None
        if kind in ("set", "append"):
            value = b"%d;" % n if unique else rng.choice((b"a", b"b", b"1", b"7", b"xy"))
        invoke = rng.randint(max(free_at[process] + 1, point - spread), point)
        complete = rng.randint(point, point + spread)
        free_at[process] = complete
        roll = rng.random()
        if roll < info_rate:
            if rng.random() < 0.5:
                try:
                    run_sequentially(store, kind, key, value)
                except ValueError:
                    pass
            ops.append(Operation(process, kind, key, value, invoke, None, "info"))
        elif roll < info_rate + fail_rate:
            ops.append(Operation(process, kind, key, value, invoke, complete, "fail"))
        else:
            try:
                output = run_sequentially(store, kind, key, value)
            except ValueError:
                ops.append(Operation(process, kind, key, value, invoke, complete, "fail"))
            else:
                ops.append(Operation(process, kind, key, value, invoke, complete, "ok", output))
    return ops


def corrupt_one_read(rng: random.Random, ops: list[Operation]) -> list[Operation] | None:
    """The history with one ok read's output replaced by bytes that no write ever produces
    (None if it has no ok read)."""
    reads = [n for n, o in enumerate(ops) if o.kind == "get" and o.status == "ok"]
    if not reads:
        return None
    victim = rng.choice(reads)
    corrupted = list(ops)
    fresh = b"Z%d" % rng.randrange(10**6)  # no written value contains a "Z"
    corrupted[victim] = dataclasses.replace(ops[victim], output=fresh)
    return corrupted


histories = st.builds(
    dict,
    seed=st.integers(0, 2**32),
    size=st.integers(1, 60),
    keys=st.integers(1, 3),
    clients=st.integers(1, 6),
    info_rate=st.sampled_from((0.0, 0.0, 0.1)),
    fail_rate=st.sampled_from((0.0, 0.1)),
    spread=st.integers(0, 60),
)


@settings(max_examples=300, deadline=None)
@given(histories)
def test_histories_run_sequentially_are_linearizable(params: dict[str, int]) -> None:
    seed = params.pop("seed")
    ops = generate_history(random.Random(seed), **params)  # type: ignore[arg-type]
    result = check(ops, MODEL)
    assert result.verdict == "ok", result.explain()


@settings(max_examples=300, deadline=None)
@given(histories)
def test_a_read_of_a_value_that_was_never_current_is_illegal(params: dict[str, int]) -> None:
    seed = params.pop("seed")
    rng = random.Random(seed)
    ops = corrupt_one_read(rng, generate_history(rng, **params))  # type: ignore[arg-type]
    assume(ops is not None)
    assert ops is not None
    result = check(ops, MODEL)
    assert result.verdict == "illegal", result.explain()
    corrupted = next(o for o in ops if isinstance(o.output, bytes) and o.output.startswith(b"Z"))
    assert result.key == corrupted.key


def linearizable_by_brute_force(ops: list[Operation]) -> bool:
    """The definition, enumerated: some order of all ok ops and any subset of the info ops
    that respects real time (a before b if a completed before b was invoked) and in which
    the model gives every ok op its output."""
    ok_ops = [o for o in ops if o.status == "ok"]
    info_ops = [o for o in ops if o.status == "info"]
    for chosen in range(2 ** len(info_ops)):
        included = ok_ops + [o for n, o in enumerate(info_ops) if chosen >> n & 1]
        for order in itertools.permutations(included):
            if any(
                a.complete is not None and a.complete < b.invoke
                for n, b in enumerate(order)
                for a in order[n + 1 :]
            ):
                continue
            state = MODEL.init()
            for o in order:
                legal, state = MODEL.step(state, o)
                if not legal:
                    break
            else:
                return True
    return False


small_calls = st.tuples(
    st.sampled_from(("get", "set", "append", "incr")),
    st.sampled_from((b"a", b"b", b"1")),  # the argument, for set and append
    st.integers(0, 8),  # invoke
    st.integers(0, 4),  # duration
    st.sampled_from(("ok", "ok", "ok", "info")),
    st.sampled_from((None, b"a", b"b", b"ab", b"1", b"2", 1, 2, 3, "OK")),  # a wrong output
    st.booleans(),  # whether to use the wrong output (an info call: whether it happened)
)


@st.composite
def small_histories(draw: st.DrawFn) -> list[Operation]:
    """Up to 6 overlapping calls on one key. Outputs come from running them in a random
    order (which may or may not respect real time), some replaced by arbitrary values."""
    calls = draw(st.lists(small_calls, min_size=1, max_size=6))
    order = draw(st.permutations(range(len(calls))))
    outputs: dict[int, Value] = {}
    store: dict[bytes, bytes] = {}
    for index in order:
        kind, value, _, _, status, wrong, flip = calls[index]
        argument = value if kind in ("set", "append") else None
        if status == "info" and not flip:
            continue
        try:
            outputs[index] = run_sequentially(store, kind, b"k", argument)
        except ValueError:
            outputs[index] = wrong
        if status == "ok" and flip and draw(st.integers(0, 3)) == 0:
            outputs[index] = wrong
    ops = []
    for index, (kind, value, invoke, duration, status, _, _) in enumerate(calls):
        argument = value if kind in ("set", "append") else None
        if status == "info":
            ops.append(Operation(0, kind, b"k", argument, invoke, None, "info"))
        else:
            complete = invoke + duration
            output = outputs[index]
            ops.append(Operation(0, kind, b"k", argument, invoke, complete, "ok", output))
    return ops


@settings(max_examples=500, deadline=None)
@given(small_histories())
def test_the_verdict_agrees_with_brute_force_on_small_histories(ops: list[Operation]) -> None:
    expected = "ok" if linearizable_by_brute_force(ops) else "illegal"
    assert check(ops, MODEL).verdict == expected


def test_a_long_history_over_a_few_keys_checks_ok() -> None:
    """The simulator's scale: ~2,000 ops, 5 keys, 10 clients. (Timing is not asserted.)"""
    history = generate_history(random.Random(2024), size=2_000, keys=5, clients=10, spread=60)
    result = check(history, MODEL)
    assert result.verdict == "ok"
    assert len(result.keys) == 5


# --- recording -----------------------------------------------------------------------------


def test_history_records_what_clients_saw_with_the_given_clock() -> None:
    ticks = iter(range(100))
    history = History(lambda: next(ticks))
    first = history.invoke(0, "set", b"k", b"a")
    second = history.invoke(1, "get", b"k")
    history.ok(first, "OK")
    history.ok(second, b"a")
    third = history.invoke(0, "append", b"k", b"b")
    fourth = history.invoke(1, "incr", b"k")
    history.info(third)
    history.fail(fourth)
    history.invoke(2, "get", b"k")  # never resolved
    assert history.operations() == [
        Operation(0, "set", b"k", b"a", 0, 2, "ok", "OK"),
        Operation(1, "get", b"k", None, 1, 3, "ok", b"a"),
        Operation(0, "append", b"k", b"b", 4, None, "info"),
        Operation(1, "incr", b"k", None, 5, 6, "fail"),
        Operation(2, "get", b"k", None, 7, None, "info"),
    ]
    assert check(history.operations(), MODEL).verdict == "ok"


def test_history_refuses_calls_that_cannot_happen() -> None:
    history = History(lambda: 0)
    call = history.invoke(0, "get", b"k")
    with pytest.raises(ValueError, match="already has a call in flight"):
        history.invoke(0, "get", b"k")
    history.ok(call, None)
    with pytest.raises(ValueError, match="already resolved"):
        history.fail(call)
    with pytest.raises(ValueError, match="no call with id 5"):
        history.info(5)


def test_history_records_concurrent_threads_against_a_linearizable_store() -> None:
    history = History(time.monotonic_ns)
    store: dict[bytes, bytes] = {}
    lock = threading.Lock()

    def client(process: int) -> None:
        rng = random.Random(process)
        for n in range(100):
            key = b"key%d" % rng.randrange(2)
            kind = rng.choice(("get", "set", "append"))
            value = None if kind == "get" else b"p%dn%d;" % (process, n)
            call = history.invoke(process, kind, key, value)
            with lock:
                output = run_sequentially(store, kind, key, value)
            history.ok(call, output)

    threads = [threading.Thread(target=client, args=(p,)) for p in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result: CheckResult = check(history.operations(), MODEL)
    assert result.verdict == "ok", result.explain()
    assert sum(r.operations for r in result.keys) == 400
