"""The configuration table and what is made from it: flags, the config file, the environment,
the `Config` defaults, CONFIG GET's list, CONFIG REWRITE's text and the README's table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from concord_resp import config_file
from concord_resp.config import (
    CONFIG_FIELDS,
    PARAMETERS,
    START_UP,
    TABLE,
    Config,
    ConfigError,
    build_parser,
    config_from_args,
    env_name,
)
from concord_resp.server.settings import BY_NAME, HIDDEN

ROOT = Path(__file__).resolve().parents[1]


def test_every_parameter_is_declared_once() -> None:
    names = [name for param in TABLE for name in (param.name, param.alias) if name]
    assert len(names) == len(set(names))


def test_the_defaults_are_the_tables() -> None:
    config = Config()
    for param in START_UP:
        if (
            param.honoured
            and param.attribute in CONFIG_FIELDS
            and param.name not in ("dir", "cluster-secret")
        ):
            assert param.kind.format(getattr(config, param.attribute)) == param.kind.format(
                param.value
            ), param.name
    assert config_from_args([]) == Config()


def test_every_parameter_has_a_flag_a_file_line_an_env_variable_and_config_get() -> None:
    flags = {option for action in build_parser()._actions for option in action.option_strings}
    for param in START_UP:
        assert f"--{param.name}" in flags
    # The flags' older names still work.
    assert config_from_args(["--fsync", "never", "--segment-size", "128kb"]).fsync == "no"
    assert config_from_args(["--segment-size", "128kb"]).segment_bytes == 128 * 1024
    for param in TABLE:
        if param.name not in HIDDEN:
            assert BY_NAME[param.name].param is param
    assert env_name(PARAMETERS.by_name["heartbeat-ms"]) == "CONCORD_HEARTBEAT_MS"


def test_every_redis_parameter_is_known() -> None:
    """Every name Redis 7.0's CONFIG GET * lists (captured with the table's data)."""
    captured = json.loads((ROOT / "concord_resp" / "redis_parameters.json").read_text())
    for entry in captured:
        for name in (entry["name"], entry["alias"]):
            if name:
                assert name in BY_NAME, name


def test_precedence_default_file_environment_flags(tmp_path: Path) -> None:
    path = tmp_path / "concord.conf"
    path.write_text(
        "# a comment\n"
        "heartbeat-ms 50\n"
        "election-ms 600\n"
        "maxclients 100\n"
        'requirepass "pass word"\n'
        "client-output-buffer-limit normal 1mb 2mb 3\n"
        "client-output-buffer-limit pubsub 4 5 6\n"
        "activedefrag yes\n"
        "  LOGLEVEL warning  \n"
    )
    environ = {"CONCORD_MAXCLIENTS": "200", "CONCORD_ELECTION_MS": "700", "OTHER": "x"}
    config = config_from_args(["--config", str(path), "--election-ms", "800"], environ)
    assert config.heartbeat_ms == 50  # file
    assert config.maxclients == 200  # environment over file
    assert config.election_ms == 800  # flag over environment and file
    assert config.snapshot_entries == 100_000  # default
    assert config.requirepass == "pass word"
    assert config.loglevel == "warning"
    assert config.client_output_buffer_limit[0].hard == 1024 * 1024
    assert config.client_output_buffer_limit[2].soft_seconds == 6
    assert config.others == (("activedefrag", "yes"),)
    assert config.config_file == str(path.resolve())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nosuch 1\n", "line 1: unknown parameter 'nosuch'"),
        ("# c\n\nmaxclients 0\n", "line 3: maxclients '0': argument must be between 1 and"),
        ("hz abc\n", "line 1: hz 'abc': argument couldn't be parsed into an integer"),
        ('bind "127.0.0.1\n', "line 1: unbalanced quotes"),
        ("maxclients 1 2\n", "line 1: 'maxclients' takes one argument"),
        ("hash-max-listpack-entries 4\n", "replicated cluster state"),
        ("activedefrag perhaps\n", "activedefrag 'perhaps': argument must be 'yes' or 'no'"),
        ("appendonly no\n", "Concord supports only yes"),
    ],
)
def test_file_errors_name_the_file_line_and_parameter(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.conf"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as raised:
        config_from_args(["--config", str(path)])
    assert f"config file {path}" in str(raised.value)


def test_concord_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "env.conf"
    path.write_text("maxclients 42\n")
    assert config_from_args([], {"CONCORD_CONFIG": str(path)}).maxclients == 42
    other = tmp_path / "flag.conf"
    other.write_text("maxclients 43\n")
    flagged = config_from_args(["--config", str(other)], {"CONCORD_CONFIG": str(path)})
    assert flagged.maxclients == 43


def test_environment_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="CONCORD_HEARTBEAT_MS: heartbeat-ms 'fast'"):
        config_from_args([], {"CONCORD_HEARTBEAT_MS": "fast"})
    with pytest.raises(ConfigError, match="cannot read the config file"):
        config_from_args(["--config", "/nonexistent/concord.conf"])


def test_a_missing_file_or_a_bad_line_stops_the_server(tmp_path: Path) -> None:
    path = tmp_path / "bad.conf"
    path.write_text("maxclients 10\nnosuch yes\n")
    result = subprocess.run(
        [sys.executable, "-m", "concord_resp", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"config file {path}, line 2: unknown parameter 'nosuch'" in result.stderr


def test_rewrite_keeps_comments_and_order() -> None:
    text = "# top\nmaxclients 10\n\n# hz here\nhz 20\nhz 30\nunknown-thing 1\n"

    def canonical(name: str) -> str | None:
        param = PARAMETERS.get(name)
        return param.name if param is not None else None

    options = [
        ("maxclients", "maxclients 500", False),
        ("hz", "hz 10", True),  # at its default, but in the file: written there
        ("loglevel", "loglevel notice", True),  # default, not in the file: left out
        ("timeout", "timeout 5", False),  # new: appended
    ]
    assert config_file.rewrite(text, options, canonical) == (
        "# top\nmaxclients 500\n\n# hz here\nhz 10\nunknown-thing 1\n"
        f"{config_file.REWRITE_MARK}\ntimeout 5\n"
    )


def test_quoting_round_trips() -> None:
    for word in ["", "plain", "two words", 'q"uote', "back\\slash", "new\nline", "\x01", "it's"]:
        line = config_file.format_line("requirepass", [word])
        assert config_file.split_args(line) == ["requirepass", word]


def test_the_readme_table_is_the_generated_one() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dev" / "gen_config_table.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
