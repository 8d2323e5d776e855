"""Redis's glob matching (`stringmatchlen` in util.c), byte for byte.

Used by KEYS, SCAN MATCH, CONFIG GET and COMMAND LIST FILTERBY PATTERN. Supports `*`, `?`,
`[...]` classes with ranges and `^` negation, and `\\` escapes, with Redis's quirks (an
unterminated class, a reversed range) kept as they are.
"""

from __future__ import annotations

from functools import lru_cache


def glob_match(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    if pattern == b"*":
        return True
    if nocase:
        pattern = pattern.lower()
        string = string.lower()
    return _match(pattern, 0, string, 0, 0, [False])


def _match(pattern: bytes, p: int, string: bytes, s: int, depth: int, give_up: list[bool]) -> bool:
    plen = len(pattern)
    slen = len(string)
    # Redis bounds the recursion (nesting of '*') to avoid a stack overflow.
    if depth > 1000:
        return False
    while p < plen and s < slen:
        c = pattern[p]
        if c == 42:  # '*'
            while p + 1 < plen and pattern[p + 1] == 42:
                p += 1
            if p + 1 == plen:
                return True
            for start in range(s, slen):
                if _match(pattern, p + 1, string, start, depth + 1, give_up):
                    return True
                if give_up[0]:
                    return False
            # The rest of the pattern matches nowhere in the rest of the string, so a longer
            # match for an earlier '*' cannot help either (Redis's skipLongerMatches).
            give_up[0] = True
            return False
        if c == 63:  # '?'
            s += 1
        elif c == 91:  # '['
            p += 1
            negate = p < plen and pattern[p] == 94  # '^'
            if negate:
                p += 1
            matched = False
            while True:
                if p < plen and pattern[p] == 92 and p + 1 < plen:  # '\\'
                    p += 1
                    if pattern[p] == string[s]:
                        matched = True
                elif p < plen and pattern[p] == 93:  # ']'
                    break
                elif p >= plen:
                    p -= 1
                    break
                elif p + 2 < plen and pattern[p + 1] == 45:  # a range 'a-z'
                    start_c, end_c = pattern[p], pattern[p + 2]
                    if start_c > end_c:
                        start_c, end_c = end_c, start_c
                    p += 2
                    if start_c <= string[s] <= end_c:
                        matched = True
                elif pattern[p] == string[s]:
                    matched = True
                p += 1
            if negate:
                matched = not matched
            if not matched:
                return False
            s += 1
        elif c == 92 and p + 1 < plen:  # '\\' escapes the next byte
            p += 1
            if pattern[p] != string[s]:
                return False
            s += 1
        else:
            if c != string[s]:
                return False
            s += 1
        p += 1
        if s == slen:
            while p < plen and pattern[p] == 42:
                p += 1
            break
    return p == plen and s == slen


@lru_cache(maxsize=256)
def is_literal(pattern: bytes) -> bool:
    """True if the pattern has no special characters (matches exactly one string)."""
    return not any(ch in pattern for ch in b"*?[\\")
