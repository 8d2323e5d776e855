"""Key specs evaluated in the pure layer: every form Redis 7 declares, including `keynum`
(EVAL's numkeys), as Redis's getKeysUsingKeySpecs finds them."""

from __future__ import annotations

from concord_resp.commands import KeySpec, key_positions

RW = frozenset({b"RW"})


def argv(line: str) -> list[bytes]:
    return [word.encode() for word in line.split()]


def test_an_index_and_a_range() -> None:
    # MSET key value [key value ...]: from index 1, every second argument to the end.
    mset = (KeySpec(RW, b"index", index=1, lastkey=-1, keystep=2),)
    assert key_positions(mset, argv("MSET a 1 b 2 c 3")) == [1, 3, 5]


def test_keynum_as_evals_numkeys() -> None:
    # EVAL script numkeys key [key ...] arg [arg ...]: the count is at index 2.
    eval_ = (KeySpec(RW, b"index", index=2, find=b"keynum", keynumidx=0, firstkey=1, keystep=1),)
    assert key_positions(eval_, argv("EVAL s 2 k1 k2 arg")) == [3, 4]
    # numkeys 0 leaves last < first: an invalid spec for getKeysUsingKeySpecs too (Redis
    # answers EVAL's with its own key function, which scripting will bring).
    assert key_positions(eval_, argv("EVAL s 0 arg")) is None
    assert key_positions(eval_, argv("EVAL s 3 k1 k2")) is None  # more keys than arguments
    assert key_positions(eval_, argv("EVAL s x k1")) is None  # not a number


def test_a_keyword_searched_from_the_end() -> None:
    # GEORADIUS-like STORE key: the key after the keyword, searched backwards.
    store = (KeySpec(frozenset({b"OW"}), b"keyword", keyword=b"STORE", startfrom=-2, lastkey=0),)
    assert key_positions(store, argv("CMD a b STORE dest")) == [4]
    assert key_positions(store, argv("CMD a b")) == []  # no keyword: no key


def test_not_key_and_incomplete_specs() -> None:
    not_key = KeySpec(frozenset({b"not_key"}), b"index", index=1)
    incomplete = KeySpec(frozenset({b"incomplete"}), b"unknown")
    invalid = KeySpec(RW, b"unknown")
    first = KeySpec(RW, b"index", index=1)
    assert key_positions((not_key, first), argv("CMD k")) == [1]
    assert key_positions((first, incomplete), argv("CMD k")) == [1]
    assert key_positions((first, invalid), argv("CMD k")) is None
