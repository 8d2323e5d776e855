"""Run the same code in child processes with different PYTHONHASHSEED values.

Replicas are separate processes, each with its own seed for str and bytes hashes: a test
that prints replies and state from code run under two seeds, and finds them equal, shows
that no hash-seed order reached them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ("0", "4242")


def outputs_under_seeds(code: str, seeds: tuple[str, ...] = SEEDS) -> list[str]:
    """What `python -c code` prints, once per seed (run from the repository's root)."""
    outputs = []
    for seed in seeds:
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    return outputs
