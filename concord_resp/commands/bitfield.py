"""BITFIELD and BITFIELD_RO: signed and unsigned integers of 1 to 64 bits at any bit offset.

Redis parses every operation first (so an error anywhere runs none of them), then runs them
in order on one string. Here the operations run against the stored value through a small
overlay of the bytes written so far, so a call costs O(operations), whatever the string's
size; only if a byte really changes (or the string must be created or grown) does the key
change, inside `db.changing`, with the overlay written into it. Overflow follows Redis's
WRAP (two's complement), SAT (clamp) and FAIL (a null reply, nothing written) exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..resp import Reply, string2ll
from ..store.events import NOTIFY_STRING
from ..store.types import STRING, String
from .bitmaps import changing_bits, keep_raw, parse_bit_offset
from .context import Context
from .errors import SYNTAX, CommandError
from .lookup import get_string_for_write, lookup_read_typed
from .parse import option_name, parse_int
from .spec import command

INVALID_TYPE: Final = (
    "ERR Invalid bitfield type. Use something like i16 u8. "
    "Note that u64 is not supported but i64 is."
)
INVALID_OVERFLOW: Final = "ERR Invalid OVERFLOW type specified"
READ_ONLY_GET: Final = "ERR BITFIELD_RO only supports the GET subcommand"

GET, SET, INCRBY = 0, 1, 2
WRAP, SAT, FAIL = 0, 1, 2
_OPCODES: Final = {b"get": (GET, 2), b"set": (SET, 3), b"incrby": (INCRBY, 3)}
_OVERFLOWS: Final = {b"wrap": WRAP, b"sat": SAT, b"fail": FAIL}
_FIELD_BYTES: Final = 9  # a 64-bit field at any bit offset lies within 9 bytes


@dataclass(frozen=True, slots=True)
class _Operation:
    opcode: int
    offset: int
    bits: int
    signed: bool
    overflow: int
    argument: int  # SET's value or INCRBY's increment


def parse_type(arg: bytes) -> tuple[bool, int]:
    """Redis's `getBitfieldTypeFromArgument`: (signed, bits) of `i1`..`i64` or `u1`..`u63`."""
    signed = arg[:1] == b"i"
    if not signed and arg[:1] != b"u":
        raise CommandError(INVALID_TYPE)
    digits = arg[1:].split(b"\0", 1)[0]  # read with strlen: a C string
    bits = string2ll(digits)
    if bits is None or bits < 1 or bits > (64 if signed else 63):
        raise CommandError(INVALID_TYPE)
    return signed, bits


def _parse(argv: list[bytes]) -> list[_Operation]:
    operations: list[_Operation] = []
    overflow = WRAP
    argc = len(argv)
    j = 2
    while j < argc:
        name = option_name(argv[j])
        left = argc - j - 1
        if name == b"overflow" and left >= 1:
            kind = _OVERFLOWS.get(option_name(argv[j + 1]))
            if kind is None:
                raise CommandError(INVALID_OVERFLOW)
            overflow = kind
            j += 2
            continue
        known = _OPCODES.get(name)
        if known is None or left < known[1]:
            raise CommandError(SYNTAX)
        opcode, needs = known
        signed, bits = parse_type(argv[j + 1])
        offset = parse_bit_offset(argv[j + 2], bits)
        argument = parse_int(argv[j + 3]) if opcode != GET else 0
        operations.append(_Operation(opcode, offset, bits, signed, overflow, argument))
        j += needs + 1
    return operations


class _Overlay:
    """Reads and writes fields of a string through an overlay of the bytes written (the
    string itself is not touched); bytes past its end read as zeros."""

    __slots__ = ("patch", "value")

    def __init__(self, value: String | None) -> None:
        self.value = value
        self.patch: dict[int, int] = {}

    def _window(self, byte: int) -> bytearray:
        window = bytearray(_FIELD_BYTES)
        if self.value is not None:
            stored = self.value[byte : byte + _FIELD_BYTES]
            window[: len(stored)] = stored
        patch = self.patch
        if patch:
            for i in range(_FIELD_BYTES):
                written = patch.get(byte + i)
                if written is not None:
                    window[i] = written
        return window

    def get(self, offset: int, bits: int) -> int:
        """The unsigned field."""
        byte = offset >> 3
        number = int.from_bytes(self._window(byte), "big")
        return (number >> (_FIELD_BYTES * 8 - (offset & 7) - bits)) & ((1 << bits) - 1)

    def put(self, offset: int, bits: int, field: int) -> None:
        """Write the low `bits` bits of `field`."""
        byte = offset >> 3
        shift = _FIELD_BYTES * 8 - (offset & 7) - bits
        mask = ((1 << bits) - 1) << shift
        number = int.from_bytes(self._window(byte), "big")
        number = (number & ~mask) | ((field << shift) & mask)
        window = number.to_bytes(_FIELD_BYTES, "big")
        for i in range(((offset & 7) + bits + 7) >> 3):
            self.patch[byte + i] = window[i]


def _limits(signed: bool, bits: int) -> tuple[int, int]:
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _run(overlay: _Overlay, operation: _Operation) -> tuple[Reply, bool]:
    """One operation: (its reply, whether it changed the field)."""
    bits, signed = operation.bits, operation.signed
    old = overlay.get(operation.offset, bits)
    if signed and old >> (bits - 1):
        old -= 1 << bits
    if operation.opcode == GET:
        return old, False
    low, high = _limits(signed, bits)
    if operation.opcode == INCRBY:
        target = old + operation.argument
    elif signed:
        target = operation.argument
    else:
        target = operation.argument % (1 << 64)  # Redis reads the value as a uint64
    if low <= target <= high:
        new = target
    elif operation.overflow == FAIL:
        return None, False
    elif operation.overflow == SAT:
        new = high if target > high else low
    else:  # WRAP: two's complement in `bits` bits
        new = (target - low) % (1 << bits) + low
    overlay.put(operation.offset, bits, new)
    return (new if operation.opcode == INCRBY else old), new != old


def _bitfield(ctx: Context, argv: list[bytes], read_only: bool) -> Reply:
    key = argv[1]
    operations = _parse(argv)
    writes = [op for op in operations if op.opcode != GET]
    if not writes:
        # BITFIELD is a write command: its read lookup deletes an expired key (purge).
        value = lookup_read_typed(ctx, key, STRING, purge=not read_only)
        overlay = _Overlay(value)
        return [_run(overlay, operation)[0] for operation in operations]
    if read_only:
        raise CommandError(READ_ONLY_GET)
    value = get_string_for_write(ctx, key)
    size = max(op.offset + op.bits - 1 for op in writes) // 8 + 1
    overlay = _Overlay(value)
    replies: list[Reply] = []
    changed = written = False
    for operation in operations:
        reply, field_changed = _run(overlay, operation)
        replies.append(reply)
        changed = changed or field_changed
        written = written or (operation.opcode != GET and reply is not None)
    if value is not None and not changed and size <= len(value):
        keep_raw(ctx, key, value)
        return replies
    with changing_bits(ctx, key, value, size) as raw:
        for byte, patched in overlay.patch.items():
            raw[byte] = patched
    # Redis publishes `setbit` when a field changed, or when the string was created or grown
    # and a SET/INCRBY was not refused (OVERFLOW FAIL).
    if changed or written:
        ctx.notify(NOTIFY_STRING, b"setbit", key)
    return replies


@command("bitfield")
def bitfield(ctx: Context, argv: list[bytes]) -> Reply:
    return _bitfield(ctx, argv, read_only=False)


@command("bitfield_ro")
def bitfield_ro(ctx: Context, argv: list[bytes]) -> Reply:
    return _bitfield(ctx, argv, read_only=True)
