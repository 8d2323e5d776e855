"""Scripted scenarios of the pure Raft core: one test per file in `testdata/` (golden output).

Rewrite the golden output after a deliberate change with `CONCORD_REWRITE_GOLDEN=1` and review
the diff line by line: see `interaction.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .interaction import REWRITE_ENV, ScriptError, run_script

TESTDATA = Path(__file__).parent / "testdata"
SCRIPTS = sorted(TESTDATA.glob("*.txt"))


def test_there_are_scenarios() -> None:
    assert len(SCRIPTS) >= 20


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_scenario(path: Path) -> None:
    failures = run_script(path)
    assert not failures, "\n\n".join(failures)


# -- the runner itself -----------------------------------------------------------------------

SCRIPT = """# a comment

add-nodes 1
----
ok

campaign 1
----
{campaign}
"""


def test_a_wrong_golden_output_fails_and_names_the_step(tmp_path: Path) -> None:
    path = tmp_path / "wrong.txt"
    path.write_text(SCRIPT.format(campaign="INFO 1 is LEADER at term 9"))
    failures = run_script(path)
    assert len(failures) == 1
    assert "wrong.txt:7: campaign 1" in failures[0]
    assert "INFO 1 is PRE_CANDIDATE at term 0" in failures[0]


def test_rewrite_mode_replaces_the_golden_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "stale.txt"
    path.write_text(SCRIPT.format(campaign="stale"))
    monkeypatch.setenv(REWRITE_ENV, "1")
    assert run_script(path) == []
    assert path.read_text() == SCRIPT.format(campaign="INFO 1 is PRE_CANDIDATE at term 0")
    monkeypatch.delenv(REWRITE_ENV)
    assert run_script(path) == []


def test_a_command_without_separator_is_a_script_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.txt"
    path.write_text("add-nodes 1\nok\n")
    with pytest.raises(ScriptError):
        run_script(path)
