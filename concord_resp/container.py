"""`concord-container`: the container image's entry point and health check.

`start` turns what a Kubernetes StatefulSet gives a pod (its host name `<set>-<ordinal>`,
the headless Service that gives each pod a stable DNS name) and a few CONCORD_* variables
into concord-server flags, then replaces itself with the server (which becomes the
container's main process and gets its signals). Pods with an ordinal below
CONCORD_INITIAL_MEMBERS found the cluster with the same `--initial-cluster` of stable names
(so no pod is special and all compute one cluster id); a pod beyond them joins with `--join`
as a learner and is promoted. A pod restarting with its volume runs with the same flags: its
data directory, not the flags, says it is already a member. A founding pod with a new volume
first asks the cluster whether its member had data (then it refuses to start: a member that
forgot what it acknowledged must not vote) or was removed (then it joins under a new name).
`health` is the probe: PING, then INFO raft. Reads the environment (an entry point, like
cli); writes nothing but the ACL file it may make in the data directory.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Final

import cbor2

from .config import is_host, is_host_port
from .operator import parse_nodes
from .server.resp_client import ToolError, call, parse_info

Call = Callable[..., object]

# The variables `start` reads and consumes (the server does not see them).
PEER_SERVICE: Final = "CONCORD_PEER_SERVICE"  # the headless Service's name
NAMESPACE: Final = "CONCORD_NAMESPACE"  # the pod's namespace (downward API)
CLUSTER_DOMAIN: Final = "CONCORD_CLUSTER_DOMAIN"  # the cluster's DNS domain
PEER_HOST: Final = "CONCORD_PEER_HOST"  # how a member's host is named: a template
INITIAL_MEMBERS: Final = "CONCORD_INITIAL_MEMBERS"  # the founding members: ordinals 0..N-1
JOIN: Final = "CONCORD_JOIN"  # host:port a pod beyond them joins through
BIND: Final = "CONCORD_BIND"
PORT: Final = "CONCORD_PORT"
CLUSTER_PORT: Final = "CONCORD_CLUSTER_PORT"
DIR: Final = "CONCORD_DIR"
SECRET_FILE: Final = "CONCORD_CLUSTER_SECRET_FILE"
PASSWORD_FILE: Final = "CONCORD_PASSWORD_FILE"  # the default user's password (also `health`)
NODE_NAME: Final = "CONCORD_NODE_NAME"  # the name a pod beyond the founders joins under
HOSTNAME: Final = "HOSTNAME"
CONSUMED: Final = (
    PEER_SERVICE,
    NAMESPACE,
    CLUSTER_DOMAIN,
    PEER_HOST,
    INITIAL_MEMBERS,
    JOIN,
    BIND,
    PORT,
    CLUSTER_PORT,
    DIR,
    SECRET_FILE,
    PASSWORD_FILE,
    NODE_NAME,
)
DEFAULT_PEER_HOST: Final = "{pod}.{service}.{namespace}.svc.{domain}"
FOUNDER_CHECK_TIMEOUT: Final = 3.0  # seconds for the cluster to answer a new founder
ACL_FILE: Final = "users.acl"  # in the data directory: the start-up users, made once

_NODE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_POD_NAME: Final = re.compile(r"(?P<set>[a-z0-9]([a-z0-9.-]*[a-z0-9])?)-(?P<ordinal>[0-9]+)")


class PodError(ValueError):
    """The pod's environment does not say what the node is (the message says what)."""


@dataclass(frozen=True, slots=True)
class Pod:
    """What the environment says about this pod."""

    set_name: str  # the StatefulSet: pods are <set_name>-<ordinal>
    ordinal: int
    peer_host: str  # the template of every member's host name
    service: str
    namespace: str
    domain: str
    initial_members: int
    join: str
    bind: str
    port: int
    cluster_port: int
    dir: Path
    secret_file: str
    password_file: str
    node: str  # the node's name (--name): the pod's, or the one its volume holds
    founding: bool  # starts with --initial-cluster (else --join)

    @property
    def name(self) -> str:
        return self.member_name(self.ordinal)

    def member_name(self, ordinal: int) -> str:
        return f"{self.set_name}-{ordinal}"

    def host(self, ordinal: int) -> str:
        return self.peer_host.format(
            pod=self.member_name(ordinal),
            ordinal=ordinal,
            set=self.set_name,
            service=self.service,
            namespace=self.namespace,
            domain=self.domain,
        )

    def address(self, ordinal: int) -> str:
        return f"{self.host(ordinal)}:{self.port}@{self.cluster_port}"


def read_pod(env: Mapping[str, str], hostname: str, ask: Call | None = None) -> Pod:
    """The pod from its environment; PodError names what is missing or wrong. With `ask`,
    a founding pod whose volume is new first asks the cluster whether it lost its data
    (`check_new_founder`)."""
    name = env.get(HOSTNAME) or hostname
    match = _POD_NAME.fullmatch(name)
    if match is None:
        raise PodError(
            f"host name {name!r} is not <statefulset>-<ordinal> (set {HOSTNAME} to a name"
            " such as concord-0)"
        )
    peer_host = env.get(PEER_HOST, DEFAULT_PEER_HOST)
    service = env.get(PEER_SERVICE, "")
    if "{service}" in peer_host and not service:
        raise PodError(f"{PEER_SERVICE} (the headless Service's name) is not set")
    pod = Pod(
        set_name=match["set"],
        ordinal=int(match["ordinal"]),
        peer_host=peer_host,
        service=service,
        namespace=env.get(NAMESPACE, "default"),
        domain=env.get(CLUSTER_DOMAIN, "cluster.local"),
        initial_members=_number(env, INITIAL_MEMBERS, 3, 1),
        join=env.get(JOIN, ""),
        bind=env.get(BIND, "0.0.0.0"),
        port=_number(env, PORT, 6379, 1, 65535),
        cluster_port=_number(env, CLUSTER_PORT, 16379, 1, 65535),
        dir=Path(env.get(DIR, "/data")),
        secret_file=env.get(SECRET_FILE, ""),
        password_file=env.get(PASSWORD_FILE, ""),
        node="",
        founding=False,
    )
    try:
        hosts = [pod.host(ordinal) for ordinal in range(max(pod.initial_members, pod.ordinal + 1))]
    except (KeyError, IndexError, ValueError) as error:
        raise PodError(f"{PEER_HOST} {peer_host!r}: {error!r} is not a known field") from None
    for host in hosts:
        if not is_host(host):
            raise PodError(f"{PEER_HOST} {peer_host!r} makes {host!r}, not a host name")
    if pod.join and not is_host_port(pod.join):
        raise PodError(f"{JOIN} {pod.join!r} is not host:port (the client Service's, say)")
    founding = pod.ordinal < pod.initial_members
    if founding and ask is not None and not (pod.dir / "meta").exists():
        founding = check_new_founder(pod, ask)
    pod = replace(pod, founding=founding)
    pod = replace(pod, node=_node_name(pod, env.get(NODE_NAME, "{pod}")))
    return pod


def check_new_founder(pod: Pod, ask: Call) -> bool:
    """Whether a founding pod with a new volume may found the cluster (True), or must join
    it under a new name (False; its member was removed). PodError if its member lost its
    data: a member that forgot what it acknowledged could let the cluster lose committed
    writes. Asks CONCORD_JOIN (the client Service: ready members only) once; nothing
    answering means no cluster runs yet. The leader's match index is what it knows: one
    elected since this member last answered knows nothing (0), and the pod founds again,
    as it does when it never ran (a pod scheduled late)."""
    if not pod.join:
        return True
    host, _, port = pod.join.rpartition(":")
    try:
        rows = parse_nodes(ask(host, int(port), "RAFT.NODES", timeout=FOUNDER_CHECK_TIMEOUT))
    except ToolError as error:
        _say(f"{pod.name}: a new volume, and no cluster answers at {pod.join} ({error})")
        return True
    mine = [row for row in rows if row.get("name") == pod.name]
    if not mine:
        _say(f"{pod.name}: a new volume, and the cluster at {pod.join} has no such member")
        return False
    match = int(mine[0].get("match") or 0)
    _say(f"{pod.name}: a new volume; the cluster's leader knows it up to entry {match}")
    if match > 0:
        raise PodError(
            f"{pod.name}: the volume {pod.dir} is new, but the cluster has {pod.name} as a"
            f" member that acknowledged entries up to {match}: its data is lost. Remove it"
            f" (concord -h {host} -p {port} remove {pod.name}); this pod then joins as a new"
            f" member, under {NODE_NAME} (a removed name never comes back: set it to"
            " '{pod}-2', say)"
        )
    return True


def _say(text: str) -> None:
    print(f"concord-container: {text}", file=sys.stderr)


def _node_name(pod: Pod, template: str) -> str:
    """A founding member is named after its pod (the names of --initial-cluster). A pod
    beyond them keeps the name its volume holds; with a new volume it joins under
    CONCORD_NODE_NAME (default: the pod's name). A removed member's name never comes back
    (its data would be stale), so a pod whose member was removed (scaled down) joins again,
    when scaled up, only under a new name: CONCORD_NODE_NAME="{pod}-2", say."""
    if pod.founding:
        return pod.name
    held = joined_name(pod.dir)
    if held is not None:
        return held
    try:
        name = template.format(pod=pod.name, ordinal=pod.ordinal, set=pod.set_name)
    except (KeyError, IndexError, ValueError) as error:
        raise PodError(f"{NODE_NAME} {template!r}: {error!r} is not a known field") from None
    if not _NODE_NAME.fullmatch(name):
        raise PodError(f"{NODE_NAME} {template!r} makes {name!r}: use letters, digits, . _ -")
    return name


def joined_name(directory: Path) -> str | None:
    """The node name in the data directory's `meta` (server/app.py) if the node joined a
    cluster (a join that never finished leaves a name that can still change)."""
    try:
        meta = cbor2.loads((directory / "meta").read_bytes())
    except (OSError, cbor2.CBORDecodeError):
        return None  # (none yet; or damaged, which the server reports)
    if not isinstance(meta, dict) or "initial_cluster" not in meta:
        return None
    name = meta.get("name")
    return name if isinstance(name, str) else None


def _number(env: Mapping[str, str], key: str, default: int, low: int, high: int = 1000) -> int:
    text = env.get(key, str(default)).strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise PodError(f"{key} must be a number from {low} to {high}, not {text!r}")
    return int(text)


def server_flags(pod: Pod) -> list[str]:
    """concord-server's flags for this pod (the same at every start of it)."""
    flags = [
        *("--name", pod.node),
        *("--dir", str(pod.dir)),
        *("--bind", pod.bind),
        *("--port", str(pod.port)),
        *("--cluster-port", str(pod.cluster_port)),
    ]
    if pod.secret_file:
        flags += ["--cluster-secret-file", pod.secret_file]
    if pod.password_file:
        # The start-up users from an ACL file in the data directory: the password as a hash,
        # not on the command line. Joining (a pod beyond the founders) needs it in clear.
        flags += ["--aclfile", str(pod.dir / ACL_FILE)]
        if not pod.founding:
            flags += ["--masterauth", read_password(pod.password_file)]
    if pod.founding:
        members = ",".join(
            f"{pod.member_name(ordinal)}={pod.address(ordinal)}"
            for ordinal in range(pod.initial_members)
        )
        flags += ["--initial-cluster", members]
    else:
        flags += [
            *("--join", pod.join or f"{pod.host(0)}:{pod.port}"),
            *("--advertise", pod.address(pod.ordinal)),
        ]
    return flags


def read_password(path: str) -> str:
    try:
        password = Path(path).read_text().strip()
    except OSError as error:
        raise PodError(f"{PASSWORD_FILE} {path}: cannot read it: {error.strerror}") from None
    if not password:
        raise PodError(f"{PASSWORD_FILE} {path} is empty")
    return password


def write_acl_file(pod: Pod) -> None:
    """The default user with the password's SHA-256, once: after the first start the users
    are replicated state (changed with ACL SETUSER or CONFIG SET requirepass), and ACL SAVE
    writes this file."""
    path = pod.dir / ACL_FILE
    if path.exists():
        return
    digest = hashlib.sha256(read_password(pod.password_file).encode()).hexdigest()
    pod.dir.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_text(f"user default on #{digest} ~* &* +@all\n")
    temp.chmod(0o600)
    os.replace(temp, path)


def start(argv: list[str], env: Mapping[str, str], dry_run: bool) -> int:
    password_file = env.get(PASSWORD_FILE, "")
    auth = (None, read_password(password_file)) if password_file else None
    pod = read_pod(env, socket.gethostname(), partial(call, auth=auth))
    flags = server_flags(pod)
    command = [sys.executable, "-m", "concord_resp", *flags, *argv]
    role = "founding member" if pod.founding else "joins the cluster if new"
    shown = ["***" if before == "--masterauth" else word for before, word in _pairs(command[3:])]
    print(
        f"concord-container: {pod.node} ({role}): concord-server {' '.join(shown)}", file=sys.stderr
    )
    if dry_run:
        print("\n".join(command[3:]))
        return 0
    if pod.password_file:
        write_acl_file(pod)
    server_env = {key: value for key, value in env.items() if key not in CONSUMED}
    sys.stderr.flush()
    os.execve(sys.executable, command, server_env)
    return 1  # (not reached)


def _pairs(words: list[str]) -> list[tuple[str, str]]:
    return list(zip(["", *words[:-1]], words, strict=True))


def health(env: Mapping[str, str], live: bool, timeout: float) -> int:
    """0 if this node answers (`live`), or answers PING and knows a leader (ready). It asks
    the address the server binds (loopback if it binds every address)."""
    port = int(env.get(PORT, "6379"))
    bind = env.get(BIND, "0.0.0.0")
    host = "127.0.0.1" if bind in ("0.0.0.0", "::", "") else bind
    password_file = env.get(PASSWORD_FILE, "")
    auth = (None, read_password(password_file)) if password_file else None
    try:
        reply = call(host, port, "PING", timeout=timeout, auth=auth)
    except ToolError as error:
        text = str(error)
        if live and not text.startswith("cannot reach"):
            return 0  # an error reply (-LOADING while the log replays) is an answer
        print(f"concord-container: PING: {text}", file=sys.stderr)
        return 1
    if live:
        return 0
    try:
        info = parse_info(call(host, port, "INFO", "raft", timeout=timeout, auth=auth))
    except ToolError as error:
        print(f"concord-container: INFO raft: {error}", file=sys.stderr)
        return 1
    role, leader = info.get("raft_role", "?"), info.get("raft_leader", "none")
    if reply != "PONG" or role == "loading" or leader == "none":
        print(f"concord-container: not ready: role {role}, leader {leader}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="concord-container",
        description="Concord's container entry point (see README, Deployment).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "start",
        help="run concord-server with flags made from the pod's environment",
        description="Arguments after the flags go to concord-server (after --).",
    )
    run.add_argument("--dry-run", action="store_true", help="print the flags, one a line")
    run.add_argument("server_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    check = sub.add_parser("health", help="exit 0 if the node is healthy (PING, INFO raft)")
    check.add_argument("--live", action="store_true", help="only: the server answers at all")
    check.add_argument("--timeout", type=float, default=3.0, help="seconds per request")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            extra = list(args.server_args)
            if extra[:1] == ["--"]:
                extra = extra[1:]
            sys.exit(start(extra, os.environ, args.dry_run))
        sys.exit(health(os.environ, args.live, args.timeout))
    except PodError as error:
        print(f"concord-container: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
