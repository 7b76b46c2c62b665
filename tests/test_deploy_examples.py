"""The deployment examples are valid for the tools that read them, and tell the truth.

`examples/deploy/` is what users copy: a compose file and a Kubernetes
manifest running several `smsops run` replicas on one PostgreSQL ledger. Each
is checked by its own format's schema with no network (the compose-spec
schema vendored in `tests/schemas/`, the Kubernetes schemas that
`kubernetes-validate` ships), and then for what docs/operations.md promises: the
ledger URL and its password come from secrets (never a password in a file),
the replicas wait for the first git sync instead of crash-looping, every
secret the example config names reaches the smsops containers, and every
smsops command line parses with smsops' own parser.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from ruamel.yaml import YAML

from smsops.cli import build_parser
from smsops.daemon.readiness import provider_variables
from smsops.engine.project import load_project

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "examples" / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
KUBERNETES = DEPLOY / "kubernetes" / "smsops.yaml"
SCHEMAS = ROOT / "tests" / "schemas"
EXAMPLES = sorted(DEPLOY.rglob("*.y*ml")) + sorted((ROOT / "examples" / "ci").glob("*.yml"))
# A Kubernetes release inside its support window today; kubernetes-validate
# ships the schemas of every release, so this pins what "valid" means.
KUBERNETES_VERSION = "1.34.0"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(COMPOSE.read_text())
    return data


def manifests() -> list[dict[str, Any]]:
    # PyYAML reads YAML 1.1 as kubectl does (octal modes, anchors).
    return [doc for doc in yaml.safe_load_all(KUBERNETES.read_text()) if doc]


def deployment() -> dict[str, Any]:
    [found] = [doc for doc in manifests() if doc["kind"] == "Deployment"]
    return found


def example_config_variables(tmp_path: Path) -> set[str]:
    """Every `${env:...}` the example config names (what a deployment must pass)."""
    config = load_project(ROOT / "examples" / "configs", cache_dir=tmp_path)
    return {name for refs in provider_variables(config).values() for name, _ in refs}


def assert_parses_as_smsops(argv: list[str]) -> None:
    """smsops' own parser accepts the command line an example runs (exits on an error)."""
    args = build_parser().parse_args(argv)
    assert callable(args.handler), argv


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_parses_and_runs_smsops(path: Path) -> None:
    documents = list(YAML(typ="safe").load_all(path.read_text()))
    assert documents
    assert all(isinstance(d, dict) for d in documents)
    assert "smsops" in path.read_text()


def test_the_compose_file_matches_the_compose_spec() -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(compose())


def test_the_compose_spec_check_rejects_a_broken_file() -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    broken = compose()
    broken["services"]["postgres"]["healthcheck"]["retry"] = 3  # a misspelled key
    with pytest.raises(jsonschema.ValidationError, match="retry"):
        jsonschema.Draft202012Validator(schema).validate(broken)


def test_compose_runs_two_replicas_on_the_postgres_ledger() -> None:
    services = compose()["services"]
    replicas = {name: s for name, s in services.items() if s.get("command", [""])[0] == "run"}
    assert len(replicas) == 2
    postgres = services["postgres"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert any(v.startswith("ledger:") for v in postgres["volumes"])
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${PGPASSWORD:?")
    for name, replica in replicas.items():
        env = replica["environment"]
        url = env["SMSOPS_LEDGER"]
        assert url.startswith("postgresql://smsops@postgres:5432/smsops?sslmode="), name
        assert env["PGPASSWORD"].startswith("${PGPASSWORD:?"), name  # from .env, never here
        assert replica["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert replica["depends_on"]["git-sync-init"] == {
            "condition": "service_completed_successfully"
        }
        assert replica["read_only"] is True
        assert_parses_as_smsops(replica["command"])
    assert_parses_as_smsops(services["sandbox"]["command"])


def test_compose_git_sync_clones_once_before_smsops_starts_then_keeps_syncing() -> None:
    services = compose()["services"]
    first, sidecar = services["git-sync-init"], services["git-sync"]
    assert first["command"] == ["--one-time"]
    assert "--one-time" not in sidecar["command"]
    for service in (first, sidecar):
        env = service["environment"]
        assert env["GITSYNC_PASSWORD_FILE"] == "/run/secrets/git-token"
        assert service["secrets"] == ["git-token"]
        # git-sync's own user owns the image's /git, which seeds the new volume.
        assert "user" not in service
        assert "config:/git" in service["volumes"]
    assert compose()["secrets"]["git-token"] == {"file": "./secrets/git-token"}


def test_no_example_holds_a_password() -> None:
    for path in [COMPOSE, KUBERNETES, *sorted((ROOT / "examples" / "ci").glob("*.yml"))]:
        text = path.read_text()
        # a URL with user:password@ in it, or a password written as a value
        assert not re.search(r"postgres(?:ql)?://[^@\s/]*:[^@\s/]*@", text), path
        assert not re.search(r"(?i)password[\"']?\s*[:=]\s*[\"']?[\w-]{6,}", text), path


@pytest.mark.parametrize("doc", range(len(manifests())))
def test_the_kubernetes_manifest_matches_the_kubernetes_schemas(doc: int) -> None:
    resource = manifests()[doc]
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_kubernetes_check_rejects_a_broken_manifest() -> None:
    broken = copy.deepcopy(deployment())
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kubernetes_runs_three_replicas_rolling_on_the_postgres_ledger() -> None:
    spec = deployment()["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["type"] == "RollingUpdate"
    [smsops] = [c for c in spec["template"]["spec"]["containers"] if c["name"] == "smsops"]
    env = {e["name"]: e for e in smsops["env"]}
    assert env["SMSOPS_LEDGER"]["valueFrom"]["secretKeyRef"] == {
        "name": "smsops-ledger",
        "key": "url",
    }
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "smsops-ledger",
        "key": "password",
    }
    assert smsops["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert smsops["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert_parses_as_smsops(smsops["args"])
    assert not any(doc["kind"] == "PersistentVolumeClaim" for doc in manifests())


def test_kubernetes_clones_the_config_before_smsops_starts() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    [first] = pod["initContainers"]
    [sidecar] = [c for c in pod["containers"] if c["name"] == "git-sync"]
    assert first["args"] == ["--one-time"]
    assert "--one-time" not in sidecar["args"]
    [config_map] = [doc for doc in manifests() if doc["kind"] == "ConfigMap"]
    settings = config_map["data"]
    assert settings["GITSYNC_REPO"].startswith("https://")
    token_file = Path(settings["GITSYNC_PASSWORD_FILE"])
    secret_volume = next(v for v in pod["volumes"] if "secret" in v)
    assert secret_volume["secret"]["secretName"] == "smsops-git"
    assert secret_volume["secret"]["items"] == [{"key": "token", "path": token_file.name}]
    for container in (first, sidecar):
        assert container["envFrom"] == [{"configMapRef": {"name": "smsops-git-sync"}}]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts[secret_volume["name"]] == str(token_file.parent)
        assert mounts["config"] == "/git"
        [user] = container["env"]
        assert user["valueFrom"]["secretKeyRef"] == {"name": "smsops-git", "key": "username"}


def test_kubernetes_containers_are_locked_down_and_sized() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    for container in pod["initContainers"] + pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        assert container["resources"]["requests"], container["name"]
        assert container["resources"]["limits"]["memory"], container["name"]
        # a read-only root: every place it writes is a volume
        assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"])


def test_every_secret_the_example_config_names_reaches_smsops(tmp_path: Path) -> None:
    needed = example_config_variables(tmp_path)
    assert needed == {
        "SES_TRANSACTIONAL_KEY",
        "SES_MARKETING_KEY",
        "SKYCORE_API_KEY",
        "OPENTACT_JWT",
        "AOC_API_KEY",
    }
    services = compose()["services"]
    for name in ("smsops-1", "smsops-2"):
        env = services[name]["environment"]
        assert {v: env.get(v) for v in needed} == {v: f"${{{v}:-}}" for v in needed}
    pod = deployment()["spec"]["template"]["spec"]
    [smsops] = [c for c in pod["containers"] if c["name"] == "smsops"]
    env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in smsops["env"]}
    assert {v: env.get(v) for v in needed} == {
        v: {"name": "smsops-provider-keys", "key": v} for v in needed
    }


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001" in text
    assert "HEALTHCHECK" in text
    assert 'CMD ["run", "/config"]' in text
    assert 'VOLUME ["/var/lib/smsops"]' in text


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run(
        [str(hadolint), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
