"""C integer limits Redis's parsing and replies follow (int, long long, unsigned long)."""

from typing import Final

INT_MIN: Final = -(2**31)
INT_MAX: Final = 2**31 - 1
UINT_MAX: Final = 2**32 - 1
LLONG_MIN: Final = -(2**63)
LLONG_MAX: Final = 2**63 - 1
ULONG_MAX: Final = 2**64 - 1
