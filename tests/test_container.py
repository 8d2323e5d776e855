"""concord-container's flags for the environment each pod of the StatefulSet has
(deploy/kubernetes/statefulset.yaml), and its refusals of an environment that says nothing clear.
tests/e2e/test_deployment.py starts real pods from it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cbor2
import pytest

from concord_resp.config import Config, config_from_args
from concord_resp.container import ACL_FILE, PodError, read_pod, server_flags, write_acl_file
from concord_resp.server.resp_client import ToolError

POD_ENV = {
    "CONCORD_PEER_SERVICE": "concord-peers",
    "CONCORD_NAMESPACE": "prod",
    "CONCORD_INITIAL_MEMBERS": "3",
    "CONCORD_JOIN": "concord.prod.svc.cluster.local:6379",
    "CONCORD_CLUSTER_SECRET_FILE": "/etc/concord/secret/cluster-secret",
}
FOUNDERS = ",".join(
    f"concord-{n}=concord-{n}.concord-peers.prod.svc.cluster.local:6379@16379" for n in range(3)
)


def flags_of(hostname: str, **env: str) -> list[str]:
    return server_flags(read_pod({**POD_ENV, **env}, hostname))


def accepted(flags: list[str], secret: Path) -> Config:
    """The Config concord-server makes of `flags` (with a secret file that exists here)."""
    secret.write_text("x" * 40)
    at = flags.index("--cluster-secret-file") + 1
    return config_from_args([*flags[:at], str(secret), *flags[at + 1 :]])


def test_founding_pods_get_the_same_initial_cluster_of_stable_names(tmp_path: Path) -> None:
    for ordinal in range(3):
        flags = flags_of(f"concord-{ordinal}")
        assert flags == [
            *("--name", f"concord-{ordinal}", "--dir", "/data", "--bind", "0.0.0.0"),
            *("--port", "6379", "--cluster-port", "16379"),
            *("--cluster-secret-file", "/etc/concord/secret/cluster-secret"),
            *("--initial-cluster", FOUNDERS),
        ]
        config = accepted(flags, tmp_path / "secret")
        assert (config.name, config.initial_cluster) == (f"concord-{ordinal}", FOUNDERS)


def test_pods_beyond_the_founders_join_and_advertise_their_stable_name(tmp_path: Path) -> None:
    flags = flags_of("concord-4")
    assert flags[-4:] == [
        *("--join", "concord.prod.svc.cluster.local:6379"),
        *("--advertise", "concord-4.concord-peers.prod.svc.cluster.local:6379@16379"),
    ]
    assert "--initial-cluster" not in flags
    assert accepted(flags, tmp_path / "secret").join == "concord.prod.svc.cluster.local:6379"
    # Without CONCORD_JOIN: through the first founding member.
    pod = read_pod({**POD_ENV, "CONCORD_JOIN": ""}, "concord-3")
    assert "concord-0.concord-peers.prod.svc.cluster.local:6379" in server_flags(pod)


def test_hostname_comes_from_the_environment_first_and_the_template_shapes_hosts() -> None:
    env = {
        **POD_ENV,
        "HOSTNAME": "db-store-1",
        "CONCORD_PEER_HOST": "{pod}.{service}",
        "CONCORD_PORT": "7000",
        "CONCORD_CLUSTER_PORT": "17000",
        "CONCORD_INITIAL_MEMBERS": "5",
    }
    pod = read_pod(env, "ignored-0")
    assert (pod.set_name, pod.ordinal, pod.name) == ("db-store", 1, "db-store-1")
    assert pod.address(4) == "db-store-4.concord-peers:7000@17000"


def test_a_password_file_makes_the_acl_file_once_and_joining_pods_authenticate(
    tmp_path: Path,
) -> None:
    password = tmp_path / "password"
    password.write_text("s3cret-pass\n")
    env = {"CONCORD_PASSWORD_FILE": str(password), "CONCORD_DIR": str(tmp_path / "data")}
    founder = read_pod({**POD_ENV, **env}, "concord-0")
    flags = server_flags(founder)
    assert "--masterauth" not in flags
    assert flags[flags.index("--aclfile") + 1] == str(tmp_path / "data" / ACL_FILE)
    joiner = read_pod({**POD_ENV, **env}, "concord-3")
    flags = server_flags(joiner)
    assert flags[flags.index("--masterauth") + 1] == "s3cret-pass"
    write_acl_file(founder)
    acl = (tmp_path / "data" / ACL_FILE).read_text()
    assert acl.startswith("user default on #")
    assert "s3cret-pass" not in acl
    password.write_text("another\n")
    write_acl_file(founder)  # the users are replicated state after the first start
    assert (tmp_path / "data" / ACL_FILE).read_text() == acl


@pytest.mark.parametrize(
    ("hostname", "env", "message"),
    [
        ("concord", {}, "'concord' is not <statefulset>-<ordinal>"),
        ("Concord_0", {}, "is not <statefulset>-<ordinal>"),
        ("concord-0", {"CONCORD_PEER_SERVICE": ""}, "CONCORD_PEER_SERVICE"),
        ("concord-0", {"CONCORD_INITIAL_MEMBERS": "0"}, "CONCORD_INITIAL_MEMBERS must be"),
        ("concord-0", {"CONCORD_PORT": "http"}, "CONCORD_PORT must be a number"),
        ("concord-0", {"CONCORD_PEER_HOST": "{pod}.{zone}"}, "'zone'"),
        ("concord-0", {"CONCORD_PEER_HOST": "{pod} x"}, "not a host name"),
        ("concord-3", {"CONCORD_JOIN": "concord"}, "CONCORD_JOIN 'concord' is not host:port"),
    ],
)
def test_an_unclear_environment_is_refused(
    hostname: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(PodError, match=message):
        server_flags(read_pod({**POD_ENV, **env}, hostname))


def test_the_command_prints_its_flags_and_hides_the_password(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("s3cret-pass\n")
    env = {**POD_ENV, "HOSTNAME": "concord-3", "CONCORD_PASSWORD_FILE": str(password)}
    command = [sys.executable, "-m", "concord_resp.container", "start", "--dry-run"]
    done = subprocess.run(
        [*command, "--", "--fsync", "always"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == ["--name", "concord-3"]
    assert done.stdout.splitlines()[-2:] == ["--fsync", "always"]
    assert "concord-3 (joins the cluster if new): concord-server --name concord-3" in done.stderr
    assert "--masterauth ***" in done.stderr
    assert "s3cret-pass" not in done.stderr
    bad = subprocess.run(
        command, env={**env, "HOSTNAME": "web"}, capture_output=True, text=True, timeout=30
    )
    assert bad.returncode == 2
    assert "concord-container: host name 'web'" in bad.stderr


def test_a_joining_pod_keeps_its_volumes_name_and_a_new_one_takes_the_template(
    tmp_path: Path,
) -> None:
    volume = {"CONCORD_DIR": str(tmp_path), "CONCORD_NODE_NAME": "{pod}-2"}
    assert flags_of("concord-4", **volume)[:2] == ["--name", "concord-4-2"]
    assert flags_of("concord-1", **volume)[:2] == ["--name", "concord-1"]  # a founder
    meta = {"version": 1, "name": "concord-4"}
    (tmp_path / "meta").write_bytes(cbor2.dumps(meta))  # (a join that never finished)
    assert flags_of("concord-4", **volume)[:2] == ["--name", "concord-4-2"]
    (tmp_path / "meta").write_bytes(cbor2.dumps({**meta, "initial_cluster": "concord-0=..."}))
    assert flags_of("concord-4", **volume)[:2] == ["--name", "concord-4"]
    assert flags_of("concord-4")[:2] == ["--name", "concord-4"]
    with pytest.raises(
        PodError, match=re.escape("CONCORD_NODE_NAME '{pod}/x' makes 'concord-3/x'")
    ):
        flags_of("concord-3", CONCORD_NODE_NAME="{pod}/x")
    with pytest.raises(PodError, match=re.escape("CONCORD_NODE_NAME '{id}': KeyError('id')")):
        flags_of("concord-3", CONCORD_NODE_NAME="{id}")


class Cluster:
    """What CONCORD_JOIN answers a founding pod with a new volume: RAFT.NODES, or nothing."""

    def __init__(self, rows: list[dict[str, object]] | None) -> None:
        self.rows = rows
        self.asked: list[tuple[str, int, tuple[str, ...]]] = []

    def ask(self, host: str, port: int, *args: str, **options: object) -> object:
        self.asked.append((host, port, args))
        if self.rows is None:
            raise ToolError(f"cannot reach {host}:{port}: [Errno 111] Connection refused")
        return [[part for item in row.items() for part in item] for row in self.rows]


def member(name: str, match: int) -> dict[str, object]:
    return {"name": name, "address": "...", "role": "follower", "voter": 1, "match": match}


def test_a_new_founding_volume_founds_only_if_the_cluster_has_no_data_of_it(
    tmp_path: Path,
) -> None:
    env = {**POD_ENV, "CONCORD_DIR": str(tmp_path / "volume"), "CONCORD_NODE_NAME": "{pod}-2"}
    # Nothing answers: no cluster runs yet (the first start of every founder).
    nobody = Cluster(None)
    pod = read_pod(env, "concord-1", nobody.ask)
    assert (pod.founding, pod.node) == (True, "concord-1")
    assert nobody.asked == [("concord.prod.svc.cluster.local", 6379, ("RAFT.NODES",))]
    # The cluster runs and never heard from this member: a founder scheduled late.
    late = Cluster([member("concord-0", 12), member("concord-1", 0), member("concord-2", 12)])
    assert read_pod(env, "concord-1", late.ask).founding
    # The member acknowledged entries: its volume was lost; it must not vote with nothing.
    lost = Cluster([member("concord-0", 12), member("concord-1", 9), member("concord-2", 12)])
    with pytest.raises(PodError, match="acknowledged entries up to 9: its data is lost"):
        read_pod(env, "concord-1", lost.ask)
    # Once removed, the pod joins as a new member under CONCORD_NODE_NAME.
    removed = Cluster([member("concord-0", 12), member("concord-2", 12)])
    pod = read_pod(env, "concord-1", removed.ask)
    assert (pod.founding, pod.node) == (False, "concord-1-2")
    assert server_flags(pod)[-4:-2] == ["--join", "concord.prod.svc.cluster.local:6379"]
    # A volume with data, or a pod beyond the founders, is not asked about.
    (tmp_path / "volume").mkdir()
    (tmp_path / "volume" / "meta").write_bytes(cbor2.dumps({"version": 1, "name": "concord-1"}))
    assert read_pod(env, "concord-1", lost.ask).founding
    assert not read_pod(env, "concord-4", lost.ask).founding
    assert len(lost.asked) == 1
