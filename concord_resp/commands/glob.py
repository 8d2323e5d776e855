"""Redis's glob matching (`stringmatchlen` in util.c), byte for byte.

Used by KEYS, SCAN MATCH, CONFIG GET and COMMAND LIST FILTERBY PATTERN. Supports `*`, `?`,
`[...]` classes with ranges and `^` negation, and `\\` escapes, with Redis's quirks (an
unterminated class, a reversed range) kept as they are.
"""

from __future__ import annotations

from functools import lru_cache


def glob_match(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """Redis's `stringmatchlen`, iteratively.

    Redis recurses once per `*` and gives up on later matches for an earlier `*` once the rest
    of the pattern matched nowhere (`skipLongerMatches`); that is exactly the classic glob
    loop that backtracks only to the last `*`, which is what runs here, in constant stack
    space. Redis's cap of 1000 nested `*` is kept: passing a 1001st `*` group fails the match.
    """
    if pattern == b"*":
        return True
    if nocase:
        pattern = pattern.lower()
        string = string.lower()
    plen = len(pattern)
    slen = len(string)
    if slen == 0:
        return plen == 0  # Redis's loop never starts on an empty string
    p = s = 0
    star_p = -1  # pattern position just after the last '*' passed
    star_s = 0  # string position that '*' was last tried at
    stars = 0  # '*' groups passed: Redis's recursion depth
    while True:
        if p < plen and pattern[p] == 42:  # '*'
            while p + 1 < plen and pattern[p + 1] == 42:
                p += 1
            if p + 1 == plen:
                return True
            stars += 1
            if stars > 1000:
                return False
            p += 1
            star_p, star_s = p, s
            continue
        if p < plen:
            matched, next_p = _match_one(pattern, p, string[s])
        else:
            matched, next_p = False, p  # pattern used up before the string
        if matched:
            p = next_p
            s += 1
            if s == slen:
                while p < plen and pattern[p] == 42:
                    p += 1
                if p == plen:
                    return True
                matched = False
        if not matched:
            # Let the last '*' take one more byte; without one, or with no byte left, fail.
            if star_p < 0 or star_s + 1 >= slen:
                return False
            star_s += 1
            p, s = star_p, star_s


def _match_one(pattern: bytes, p: int, ch: int) -> tuple[bool, int]:
    """Match one string byte at pattern position `p` (not a '*'); (matched, next position)."""
    plen = len(pattern)
    c = pattern[p]
    if c == 63:  # '?'
        return True, p + 1
    if c == 91:  # '['
        p += 1
        negate = p < plen and pattern[p] == 94  # '^'
        if negate:
            p += 1
        matched = False
        while True:
            if p < plen and pattern[p] == 92 and p + 1 < plen:  # '\\'
                p += 1
                if pattern[p] == ch:
                    matched = True
            elif p < plen and pattern[p] == 93:  # ']'
                break
            elif p >= plen:
                p -= 1  # an unterminated class ends the pattern (Redis's quirk)
                break
            elif p + 2 < plen and pattern[p + 1] == 45:  # a range 'a-z'
                start_c, end_c = pattern[p], pattern[p + 2]
                if start_c > end_c:
                    start_c, end_c = end_c, start_c
                p += 2
                if start_c <= ch <= end_c:
                    matched = True
            elif pattern[p] == ch:
                matched = True
            p += 1
        return matched != negate, p + 1
    if c == 92 and p + 1 < plen:  # '\\' escapes the next byte
        return pattern[p + 1] == ch, p + 2
    return c == ch, p + 1


@lru_cache(maxsize=256)
def is_literal(pattern: bytes) -> bool:
    """True if the pattern has no special characters (matches exactly one string)."""
    return not any(ch in pattern for ch in b"*?[\\")
