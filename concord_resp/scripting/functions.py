"""Function libraries as replicated state (a `Section`), and how a library's code becomes one.

A library is its name, its code (the whole payload, `#!lua name=...` line included, as FUNCTION
LIST WITHCODE and FUNCTION DUMP give it back) and the functions its code registered when it
was loaded: name, description, flags. Libraries are kept in name order: Redis lists them in
its hash tables' order, so any order is Redis's, and this one is the same on every replica,
in FUNCTION LIST, FUNCTION DUMP and snapshots alike. Function names are unique across all
libraries without regard to case (FCALL finds `F` as `f`), as in Redis.

`create_library` follows functions.c's functionsCreateWithLibraryCtx, errors in its order; it
runs the library's code in the node's Lua engine under the instruction budget, which every
replica spends alike. Snapshots carry the functions found at load, so restoring one runs no Lua.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from ..commands import CommandError
from ..commands.parse import option_name
from ..resp import split_args
from .engine import LibraryError, LuaEngine

ENGINE: Final = b"LUA"  # the one engine (FUNCTION LIST's `engine`, FUNCTION STATS)
BAD_NAME: Final = (
    "ERR Library names can only contain letters, numbers, or underscores(_) and must be at"
    " least one character long"
)
_VALID_NAME: Final = re.compile(rb"[A-Za-z0-9_]+")


@dataclass(frozen=True, slots=True)
class Function:
    name: bytes
    description: bytes | None
    flags: int  # scripts.NO_WRITES | ALLOW_OOM | ...


@dataclass(frozen=True, slots=True)
class Library:
    name: bytes
    code: bytes
    functions: tuple[Function, ...]
    body: bytes = field(init=False, compare=False, repr=False)
    """What the engine runs: the code from the end of its first line (so line numbers in
    errors count the `#!lua` line, as Redis's do)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", library_body(self.code))


class Functions:
    """The libraries by name (in name order), and their functions by lowercased name."""

    kinds: tuple[str, ...] = ("functions",)

    def __init__(self) -> None:
        self.libraries: dict[bytes, Library] = {}
        self._functions: dict[bytes, tuple[Library, Function]] = {}

    def find(self, name: bytes) -> tuple[Library, Function] | None:
        """The function FCALL names (any case), with its library."""
        return self._functions.get(name.lower())

    @property
    def function_count(self) -> int:
        return len(self._functions)

    def clash(self, library: Library, replaced: Iterable[bytes] = ()) -> bytes | None:
        """The first function of `library` another library has (those in `replaced` are
        about to go), else None."""
        going = set(replaced)
        for function in library.functions:
            found = self._functions.get(function.name.lower())
            if found is not None and found[0].name not in going:
                return function.name
        return None

    def add(self, library: Library) -> None:
        """Add a library, in place of the one of its name if there is one."""
        self.remove(library.name)
        libraries = self.libraries
        in_order = not libraries or next(reversed(libraries)) < library.name
        libraries[library.name] = library
        if not in_order:  # (a snapshot's libraries come in order: no sort)
            self.libraries = dict(sorted(libraries.items()))
        for function in library.functions:
            self._functions[function.name.lower()] = (library, function)

    def remove(self, name: bytes) -> Library | None:
        library = self.libraries.pop(name, None)
        if library is not None:
            for function in library.functions:
                del self._functions[function.name.lower()]
        return library

    def join(self, other: Functions, replace: bool) -> None:
        """FUNCTION RESTORE's APPEND (or REPLACE): add `other`'s libraries, all or none
        (functions.c's libraryJoin, its errors)."""
        if not replace:
            for name in other.libraries:
                if name in self.libraries:
                    raise CommandError(b"ERR Library %s already exists" % name)
        replaced = [name for name in other.libraries if name in self.libraries]
        for library in other.libraries.values():
            clash = self.clash(library, replaced)
            if clash is not None:
                raise CommandError(b"ERR Function %s already exists" % clash)
        for library in other.libraries.values():
            self.add(library)

    def flush(self) -> None:
        self.libraries = {}
        self._functions = {}

    # -- the Section interface ------------------------------------------------------------

    def reset(self) -> None:
        self.flush()

    def adopt(self, other: Functions) -> None:
        self.libraries, self._functions = other.libraries, other._functions

    def snapshot_records(self) -> Iterator[list[Any]]:
        """["functions", [[name, code, [[function, description|None, flags], ...]], ...]],
        up to 256 libraries a record, in name order."""
        rows = [
            [
                library.name,
                library.code,
                [[f.name, f.description, f.flags] for f in library.functions],
            ]
            for library in self.libraries.values()
        ]
        for start in range(0, len(rows), 256):
            yield ["functions", rows[start : start + 256]]

    def restore(self, record: list[Any]) -> None:
        for name, code, functions in record[1]:
            if type(name) is not bytes or type(code) is not bytes or b"\n" not in code:
                raise ValueError("library")
            rows = []
            for function_name, description, flags in functions:
                if type(function_name) is not bytes or type(flags) is not int:
                    raise ValueError("function")
                if description is not None and type(description) is not bytes:
                    raise ValueError("function description")
                rows.append(Function(function_name, description, flags))
            self.add(Library(name, code, tuple(rows)))


def library_metadata(code: bytes) -> tuple[bytes, bytes]:
    """The library name and the engine name of a payload's `#!<engine> name=<name>` line
    (functionExtractLibMetaData); CommandError with Redis's text."""
    if not code.startswith(b"#!"):
        raise CommandError("ERR Missing library metadata")
    end = code.find(b"\n")
    nul = code.find(b"\0")
    if end < 0 or 0 <= nul < end:  # (Redis looks for the newline in a C string)
        raise CommandError("ERR Invalid library metadata")
    parts = split_args(code[:end])
    if not parts:
        raise CommandError("ERR Invalid library metadata")
    name: bytes | None = None
    for part in parts[1:]:
        if part[:5].lower() == b"name=":
            if name is not None:
                raise CommandError(
                    "ERR Invalid metadata value, name argument was given multiple times"
                )
            name = part[5:]
            continue
        raise CommandError(b"ERR Invalid metadata value given: %s" % c_string(part))
    if name is None:
        raise CommandError("ERR Library name was not given")
    return name, parts[0][2:]


def create_library(
    libraries: Functions, code: bytes, replace: bool, engine: LuaEngine, budget: int
) -> Library:
    """Load a library's code into `libraries` (replacing the one of its name if `replace`),
    running it in `engine` under `budget`: FUNCTION LOAD, and each library FUNCTION RESTORE
    reads. Raises CommandError with Redis's text, leaving `libraries` as it was."""
    name, engine_name = library_metadata(code)
    if not _VALID_NAME.fullmatch(name):
        raise CommandError(BAD_NAME)
    if option_name(engine_name) != b"lua":
        raise CommandError(b"ERR Engine '%s' not found" % engine_name)
    old = libraries.libraries.get(name)
    if old is not None and not replace:
        raise CommandError(b"ERR Library '%s' already exists" % name)
    body = library_body(code)
    try:
        registered = engine.load_library(body, budget)
    except LibraryError as error:
        engine.forget_library(body)
        raise CommandError(error.message) from None
    if not registered:
        raise CommandError("ERR No functions registered")
    library = Library(name, code, tuple(Function(*entry) for entry in registered))
    clash = libraries.clash(library, [name])
    if clash is not None:
        engine.forget_library(body)
        raise CommandError(b"ERR Function %s already exists" % clash)
    if old is not None and old.body != body:
        engine.forget_library(old.body)
    libraries.add(library)
    return library


def library_body(code: bytes) -> bytes:
    return code[code.index(b"\n") :]


def c_string(data: bytes) -> bytes:
    """An argument as Redis formats it with %s: up to its first NUL."""
    nul = data.find(b"\0")
    return data if nul < 0 else data[:nul]
