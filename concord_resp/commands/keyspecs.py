"""Key specs: where a command's keys are in its arguments, as Redis's `key_specs` declare it.

Each command's COMMAND INFO entry carries its key specs (Redis 7's `begin_search` +
`find_keys`: an index or a keyword to start from, then a range or a `keynum` count such as
EVAL's numkeys). They are parsed once, when the table is built (`parse_key_specs`), and
evaluated here, in the pure layer, by `key_positions` and `key_references` (Redis's
`getKeysUsingKeySpecs`), which COMMAND GETKEYS, ACL key checks and scripting use. No I/O,
no state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..resp import string2ll


@dataclass(frozen=True, slots=True)
class KeySpec:
    flags: frozenset[bytes]
    begin: bytes  # b"index", b"keyword", or anything else (unknown: invalid)
    index: int = 0
    keyword: bytes = b""
    startfrom: int = 0
    find: bytes = b"range"  # b"range", b"keynum", or unknown
    lastkey: int = 0
    keystep: int = 1
    limit: int = 0
    keynumidx: int = 0
    firstkey: int = 0

    @property
    def is_key(self) -> bool:
        """False for a spec that marks arguments which are not keys (`not_key`)."""
        return b"not_key" not in self.flags


def parse_key_specs(entries: object) -> tuple[KeySpec, ...]:
    """The key specs of a COMMAND INFO entry (element 8), as reply values."""
    if not isinstance(entries, list):
        raise ValueError("key specs must be a list")
    return tuple(_key_spec(entry) for entry in entries)


def _key_spec(entry: object) -> KeySpec:
    if not isinstance(entry, dict):
        raise ValueError("a key spec must be a map")
    begin, find = entry[b"begin_search"], entry[b"find_keys"]
    bs, fk = begin.get(b"spec", {}), find.get(b"spec", {})
    return KeySpec(
        flags=frozenset(bytes(flag) for flag in entry[b"flags"]),
        begin=bytes(begin[b"type"]),
        index=bs.get(b"index", 0),
        keyword=bs.get(b"keyword", b""),
        startfrom=bs.get(b"startfrom", 0),
        find=bytes(find[b"type"]),
        lastkey=fk.get(b"lastkey", 0),
        keystep=fk.get(b"keystep", 1),
        limit=fk.get(b"limit", 0),
        keynumidx=fk.get(b"keynumidx", 0),
        firstkey=fk.get(b"firstkey", 0),
    )


def _first_key(ks: KeySpec, argv: list[bytes]) -> int | None:
    """Where a spec's keys start; None if its keyword is absent; -1 if the spec is invalid."""
    argc = len(argv)
    if ks.begin == b"index":
        return ks.index
    if ks.begin != b"keyword":
        return -1
    start = ks.startfrom if ks.startfrom > 0 else argc + ks.startfrom
    end = argc - 1 if ks.startfrom > 0 else 1
    step = 1 if start <= end else -1
    i = start
    while i != end:
        if i >= argc or i < 1:
            break
        if argv[i].lower() == ks.keyword.lower():
            return i + 1
        i += step
    return None


def _spec_keys(ks: KeySpec, argv: list[bytes]) -> list[int] | None:
    """The key positions one spec yields, or None if it is invalid for this argv."""
    argc = len(argv)
    first = _first_key(ks, argv)
    if first is None:
        return []
    if first < 0:
        return None
    if ks.find == b"range":
        step = ks.keystep
        if ks.lastkey >= 0:
            last = first + ks.lastkey
        elif not ks.limit:
            last = argc + ks.lastkey
        else:
            last = first + ((argc - first) // ks.limit + ks.lastkey)
    elif ks.find == b"keynum":
        step = ks.keystep
        if ks.keynumidx >= argc or first + ks.keynumidx >= argc:
            return None
        count = string2ll(argv[first + ks.keynumidx])
        if count is None or count < 0:
            return None
        first += ks.firstkey
        last = first + count - 1
    else:
        return None
    if last >= argc or last < first or first >= argc:
        return None
    return list(range(first, last + 1, max(step, 1)))


KeyFinder = Callable[[list[bytes]], list[int]]
"""A command's own key-finding function (Redis's `getkeys_proc`): argv -> key positions."""

_KEY_FINDERS: dict[bytes, KeyFinder] = {}


def register_key_finder(name: str, finder: KeyFinder) -> None:
    """Give a command whose key specs are incomplete or of an unknown kind (SORT's STORE
    key, which may be anywhere) the function Redis falls back to for it."""
    _KEY_FINDERS[name.encode()] = finder


_READ_WRITE: Final = frozenset({b"RW", b"access", b"update"})


def _set_key_flags(argv: list[bytes]) -> frozenset[bytes]:
    """SET's key: read too only with GET (Redis's setGetKeys)."""
    if any(arg.lower() == b"get" for arg in argv[3:]):
        return _READ_WRITE
    return frozenset({b"OW", b"update"})


def _bitfield_key_flags(argv: list[bytes]) -> frozenset[bytes]:
    """BITFIELD's key: written only if a SET or INCRBY (or a syntax error) comes before
    the first operation that is neither (Redis's bitfieldGetKeys)."""
    i = 2
    while i < len(argv):
        remaining = len(argv) - i - 1
        op = argv[i].lower()
        if op == b"get" and remaining >= 2:
            i += 3
        elif op == b"overflow" and remaining >= 1:
            i += 2
        else:
            return _READ_WRITE  # SET, INCRBY, or a syntax error: assumed to write
    return frozenset({b"RO", b"access"})


# Commands whose key flags depend on their arguments (a spec flagged `variable_flags`).
_VARIABLE_FLAGS: Final = {b"set": _set_key_flags, b"bitfield": _bitfield_key_flags}


def key_positions(specs: tuple[KeySpec, ...], argv: list[bytes]) -> list[int] | None:
    """Key positions in `argv` per the key specs; None if a spec does not fit (see
    `key_references`)."""
    references = key_references(specs, argv)
    return None if references is None else [position for position, _ in references]


def key_references(
    specs: tuple[KeySpec, ...], argv: list[bytes]
) -> list[tuple[int, frozenset[bytes]]] | None:
    """Each key's position in `argv` with the flags of the spec that found it (`RW`,
    `access`, `update`, ...: what ACL key permissions check); None if a spec does not fit.

    As Redis does, an incomplete spec, or one that does not fit (of an unknown kind), hands
    the search to the command's own key-finding function (`register_key_finder`); a command
    that has none gets the keys its incomplete specs do find. A finder's first key takes the
    first spec's flags and the others the last spec's (SORT: the sorted key, then STORE's).
    """
    variable = _VARIABLE_FLAGS.get(argv[0].lower()) if argv else None
    if variable is not None and any(b"variable_flags" in ks.flags for ks in specs):
        return [(1, variable(argv))]
    references: list[tuple[int, frozenset[bytes]]] = []
    for ks in specs:
        if not ks.is_key:
            continue
        found = _spec_keys(ks, argv)
        incomplete = b"incomplete" in ks.flags
        if found is None or incomplete:
            finder = _KEY_FINDERS.get(argv[0].lower()) if argv else None
            if finder is not None:
                first, last = specs[0].flags, specs[-1].flags
                return [(p, first if i == 0 else last) for i, p in enumerate(finder(argv))]
            if found is None:
                if incomplete:
                    continue
                return None
        flags = ks.flags
        references.extend((position, flags) for position in found)
    return references
