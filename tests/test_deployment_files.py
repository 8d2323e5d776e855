"""The Dockerfile and the Kubernetes manifests (deploy/kubernetes/), checked without Docker
or Kubernetes, which do not run here: each manifest against Kubernetes' own schemas
(kubernetes-validate, strict: no unknown field), the Dockerfile by hadolint, and what the
files must agree on with each other and with concord-container: names, ports, paths, the
user, the probes. The environment the StatefulSet gives a pod is rendered as the kubelet
would (fieldRef, `$(VAR)`) and turned into flags that concord-server accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser

from concord_resp.config import config_from_args
from concord_resp.container import read_pod, server_flags

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes the manifests are for (PodDisruptionBudget policy/v1: 1.21;
# seccompProfile in securityContext: 1.19), and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())

Resource = dict[str, Any]


def resources() -> dict[tuple[str, str], Resource]:
    found: dict[tuple[str, str], Resource] = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            found[(document["kind"], document["metadata"]["name"])] = document
    return found


def statefulset() -> Resource:
    return resources()[("StatefulSet", "concord")]


def container() -> Resource:
    containers = statefulset()["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def pod_environment(ordinal: int, namespace: str) -> dict[str, str]:
    """The container's environment in pod concord-N, as the kubelet makes it."""
    env = {"HOSTNAME": f"concord-{ordinal}"}
    for variable in container()["env"]:
        if "valueFrom" in variable:
            assert variable["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
            env[variable["name"]] = namespace
        else:
            value = variable["value"]
            env[variable["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m[1]], value)
    return env


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_kubernetes(version: str) -> None:
    found = resources()
    assert set(found) == {
        ("Service", "concord-peers"),
        ("Service", "concord"),
        ("StatefulSet", "concord"),
        ("PodDisruptionBudget", "concord"),
    }
    for resource in found.values():
        kubernetes_validate.validate(resource, version, strict=True)


def test_the_validator_does_refuse_a_broken_manifest() -> None:
    broken = statefulset()
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "6379"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)
    broken = statefulset()
    broken["spec"]["replica"] = 3  # (a typo: strict validation knows every field)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}


def test_the_services_and_the_statefulset_agree() -> None:
    found = resources()
    peers, clients, spec = (
        found[("Service", "concord-peers")]["spec"],
        found[("Service", "concord")]["spec"],
        statefulset()["spec"],
    )
    env = pod_environment(0, "prod")
    # The headless Service names the pods, also before they are ready (no leader without
    # peers that find each other).
    assert spec["serviceName"] == "concord-peers" == env["CONCORD_PEER_SERVICE"]
    assert peers["clusterIP"] == "None"
    assert peers["publishNotReadyAddresses"] is True
    # Founding pods start together: a founder is ready only once a quorum of them runs.
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["replicas"] == int(env["CONCORD_INITIAL_MEMBERS"])
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"] == labels
    assert peers["selector"] == clients["selector"] == labels
    pdb = found[("PodDisruptionBudget", "concord")]["spec"]
    assert (pdb["selector"]["matchLabels"], pdb["maxUnavailable"]) == (labels, 1)
    ports = {port["name"]: port["containerPort"] for port in container()["ports"]}
    assert ports == {
        "client": int(env["CONCORD_PORT"]),
        "peer": int(env["CONCORD_CLUSTER_PORT"]),
    }
    for service in (peers, clients):
        for port in service["ports"]:
            assert port["port"] == ports[port["targetPort"]]
    # New pods join through the client Service (any ready member).
    assert env["CONCORD_JOIN"] == f"concord.prod.svc.cluster.local:{ports['client']}"


def test_the_pod_runs_as_the_images_user_with_its_volume_secrets_and_probes() -> None:
    spec = statefulset()["spec"]
    pod = spec["template"]["spec"]
    image = DockerfileParser(str(ROOT / "Dockerfile"))
    user = next(i["value"] for i in reversed(image.structure) if i["instruction"] == "USER")
    uid, gid = (int(part) for part in user.split(":"))
    assert uid != 0
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"], security["fsGroup"]) == (uid, gid, gid)
    own = container()["securityContext"]
    assert own["allowPrivilegeEscalation"] is False
    assert own["readOnlyRootFilesystem"] is True
    assert own["capabilities"]["drop"] == ["ALL"]
    env = pod_environment(1, "prod")
    mounts = {mount["name"]: mount["mountPath"] for mount in container()["volumeMounts"]}
    claims = [claim["metadata"]["name"] for claim in spec["volumeClaimTemplates"]]
    assert claims == ["data"]
    assert mounts["data"] == env["CONCORD_DIR"]
    volumes = [i["value"] for i in image.structure if i["instruction"] == "VOLUME"]
    assert volumes == [f'["{env["CONCORD_DIR"]}"]']
    secret_dir = Path(mounts["secret"])
    assert Path(env["CONCORD_CLUSTER_SECRET_FILE"]).parent == secret_dir
    assert Path(env["CONCORD_PASSWORD_FILE"]).parent == secret_dir
    resources_ = container()["resources"]
    assert {"cpu", "memory"} <= set(resources_["requests"])
    probes = {
        name: container()[name]["exec"]["command"]
        for name in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes == {
        "startupProbe": ["concord-container", "health", "--live"],
        "livenessProbe": ["concord-container", "health", "--live"],
        "readinessProbe": ["concord-container", "health"],
    }


def test_each_pods_environment_makes_flags_the_server_accepts(tmp_path: Path) -> None:
    # The Secret's files, here: what is mounted at /etc/concord/secret in a pod.
    (tmp_path / "cluster-secret").write_text("f" * 64)
    (tmp_path / "password").write_text("pod-password\n")
    founders = ",".join(
        f"concord-{n}=concord-{n}.concord-peers.prod.svc.cluster.local:6379@16379" for n in range(3)
    )
    args = [str(arg) for arg in container()["args"]]
    for ordinal in range(5):
        env = pod_environment(ordinal, "prod")
        for name in ("CONCORD_CLUSTER_SECRET_FILE", "CONCORD_PASSWORD_FILE"):
            env[name] = str(tmp_path / Path(env[name]).name)
        flags = server_flags(read_pod(env, "unused"))
        config = config_from_args([*flags, *args])
        assert config.name == f"concord-{ordinal}"
        assert config.bind == "0.0.0.0"
        assert config.fsync == "always"
        assert config.cluster_secret == b"f" * 64
        assert config.aclfile == "/data/users.acl"
        if ordinal < 3:
            assert config.initial_cluster == founders
        else:
            assert config.join == "concord.prod.svc.cluster.local:6379"
            assert config.masterauth == "pod-password"
            assert config.advertise == (
                f"concord-{ordinal}.concord-peers.prod.svc.cluster.local:6379@16379"
            )


def test_the_dockerfile_builds_in_two_stages_and_runs_the_entry_point() -> None:
    image = DockerfileParser(str(ROOT / "Dockerfile"))
    stages: list[list[tuple[str, str]]] = []
    for instruction in image.structure:
        if instruction["instruction"] == "FROM":
            stages.append([])
        if stages and instruction["instruction"] != "COMMENT":
            stages[-1].append((instruction["instruction"], instruction["value"]))
    assert len(stages) == 2
    build, final = stages
    assert build[0] == ("FROM", "${PYTHON_IMAGE} AS build")
    assert any("pip wheel" in value for kind, value in build if kind == "RUN")
    assert final[0] == ("FROM", "${PYTHON_IMAGE}")
    runs = " ".join(value for kind, value in final if kind == "RUN")
    assert "build-essential" not in runs
    assert "apt-get" not in runs
    assert "pip install --no-cache-dir --no-index /wheels/*.whl" in runs
    last = {kind: value for kind, value in final}
    assert last["ENTRYPOINT"] == '["concord-container", "start", "--"]'
    assert last["HEALTHCHECK"].endswith('CMD ["concord-container", "health"]')
    assert re.search(r"python:3\.11-slim", image.baseimage or "")
    # What the build copies is what .dockerignore lets into the context.
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert {"*", "!pyproject.toml", "!README.md", "!concord_resp/"} <= set(ignore)
    copied = [value for kind, value in build if kind == "COPY"]
    assert copied == ["pyproject.toml README.md ./", "concord_resp ./concord_resp"]


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    # (installed with the test tools: in the virtualenv's bin, which may not be on PATH)
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    done = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
