"""What a value type is (`ValueType`) and the registry that finds the type of a stored value.

A type module (strings today; hashes, lists, sets, ... later) declares everything the keyspace
and the generic commands need about its values in one `ValueType` and registers it: TYPE,
OBJECT ENCODING/REFCOUNT, the DEBUG DIGEST term, the snapshot payload, COPY, a size estimate,
emptiness. The registry maps the exact Python class of a stored value, and a snapshot tag, to
its type; every stored value is of a registered class (a value of any other class is a bug).
Pure: no clock, no randomness, no I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class ValueType(ABC, Generic[V]):
    """One Redis value type. Subclasses set the four attributes and implement the methods;
    `V` is the Python type of a stored value (`bytes | bytearray` for strings)."""

    name: bytes
    """TYPE's answer (`b"string"`), also what SCAN ... TYPE matches."""
    redis_type: int
    """Redis's object type number (`OBJ_STRING` is 0), mixed into DEBUG DIGEST."""
    tag: str
    """Names the type in snapshot key rows; never reused for another type."""
    classes: tuple[type, ...]
    """The exact Python classes a stored value of this type may have."""

    @abstractmethod
    def encoding(self, value: V) -> tuple[bytes, int]:
        """(OBJECT ENCODING, OBJECT REFCOUNT) that the value itself implies. The database's
        per-key encoding override, where there is one, wins over this."""

    @abstractmethod
    def mix_digest(self, digest: bytes, value: V) -> bytes:
        """The digest with the value mixed in as Redis's `xorObjectDigest` does after the
        type number (`store.fingerprint` has the primitives)."""

    @abstractmethod
    def to_snapshot(self, value: V) -> Any:
        """A CBOR-encodable payload from which `from_snapshot` rebuilds an equal value of the
        same Python class (a snapshot must not change OBJECT ENCODING)."""

    @abstractmethod
    def from_snapshot(self, payload: Any) -> V:
        """The value `to_snapshot` described; raises ValueError or TypeError if malformed."""

    @abstractmethod
    def duplicate(self, value: V) -> V:
        """An independent copy (COPY): changing one in place never changes the other."""

    @abstractmethod
    def estimated_size(self, value: V) -> int:
        """An estimate, in bytes, of the memory Redis would use for the value (object header
        and payload, without allocator rounding or the key). For MEMORY USAGE; not exact."""

    @abstractmethod
    def is_empty(self, value: V) -> bool:
        """True for a collection with no elements, which Redis never keeps: the database
        deletes it when an in-place change leaves it empty. Strings are never empty."""


_BY_CLASS: dict[type, ValueType[Any]] = {}
_BY_TAG: dict[str, ValueType[Any]] = {}
_BY_NAME: dict[bytes, ValueType[Any]] = {}


def register(value_type: ValueType[V]) -> ValueType[V]:
    """Make a type known; its classes, tag and name must all be new. Returns it."""
    taken = [cls for cls in value_type.classes if cls in _BY_CLASS]
    if taken or value_type.tag in _BY_TAG or value_type.name in _BY_NAME:
        raise ValueError(f"value type {value_type.name!r} overlaps a registered one")
    for cls in value_type.classes:
        _BY_CLASS[cls] = value_type
    _BY_TAG[value_type.tag] = value_type
    _BY_NAME[value_type.name] = value_type
    return value_type


def unregister(value_type: ValueType[Any]) -> None:
    """Forget a type (tests that register a type of their own)."""
    for cls in value_type.classes:
        del _BY_CLASS[cls]
    del _BY_TAG[value_type.tag]
    del _BY_NAME[value_type.name]


def value_type(value: object) -> ValueType[Any]:
    """The type of a stored value, by its exact class."""
    found = _BY_CLASS.get(type(value))
    if found is None:
        raise TypeError(f"no value type is registered for {type(value).__name__}")
    return found


def type_for_tag(tag: object) -> ValueType[Any]:
    """The type a snapshot tag names; ValueError for a tag no registered type has."""
    found = _BY_TAG.get(tag) if isinstance(tag, str) else None
    if found is None:
        raise ValueError(f"unknown value type tag {tag!r}")
    return found


def type_name(value: object | None) -> bytes:
    """Redis's `getObjectTypeName`: `none` for a missing key (None)."""
    return b"none" if value is None else value_type(value).name


def registered_types() -> tuple[ValueType[Any], ...]:
    """Every registered type, in registration order."""
    return tuple(_BY_TAG.values())
