"""The CI examples are valid for the CI that reads them, and their scripts do what they say.

`examples/ci/` is the GitOps kit: pull/merge requests plan against the shared
ledger with a read-only URL secret and post the plan as one comment; a merge
applies against the same ledger. These tests check each file against its
CI's JSON schema (vendored in `tests/schemas/`, no network), check that every
GitHub action is a major version that runs on Node 24 and every script parses,
and then run the scripts themselves:

- the plan step of each file, in bash as its CI runs it, with the real
  smsops: without the ledger secret it stops and says why (instead of
  planning against an empty ledger); with it, it plans against that ledger,
  and after an apply on the same ledger the next plan sends nothing. The
  ledger here is a SQLite file standing in for the PostgreSQL URL: the step
  passes the secret through unchanged, whatever ledger it names;
- the GitLab job's note script, exactly as written in the job, with this
  machine's python3.11 (the job's image is python:3.11-slim) against a
  loopback stand-in for the GitLab notes API: it adds one note, then edits
  that same note, never another user's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
from ruamel.yaml import YAML

from smsops.daemon.readiness import provider_variables
from smsops.engine.project import load_project

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"
SCHEMAS = ROOT / "tests" / "schemas"
MARKER = "<!-- smsops-plan -->"
# The first major version of each action whose action.yml runs on Node 24
# (checkout v5, setup-python v6); Node 20 actions are deprecated on GitHub's runners.
NODE24_MAJORS = {"actions/checkout": 5, "actions/setup-python": 6}
CONFIG = """\
providers:
  ot: {type: opentact, token: '${env:OT}', from: '+12017771234'}
templates:
  t: {category: transactional, body: 'Hi {{ name }}'}
audiences:
  a: {contacts: [{phone: '+12025550123', name: A}, {phone: '+12025550124', name: B}]}
schedules:
  s: {template: t, audience: a, provider: ot}
"""


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text())
    return data


def step(job: str, name: str) -> dict[str, Any]:
    [found] = [s for s in load(WORKFLOW)["jobs"][job]["steps"] if s.get("name") == name]
    return found


def scripts() -> Iterator[tuple[str, str]]:
    """(where, shell text) of every script either CI runs."""
    for job, spec in load(WORKFLOW)["jobs"].items():
        for number, entry in enumerate(spec["steps"]):
            if "run" in entry:
                yield f"github {job} step {number}", entry["run"]
    for job, spec in load(GITLAB).items():
        if isinstance(spec, dict):
            for key in ("before_script", "script"):
                for number, entry in enumerate(spec.get(key, [])):
                    yield f"gitlab {job} {key} {number}", entry


def shell_env(tmp_path: Path, variables: Mapping[str, str]) -> dict[str, str]:
    """A CI job's environment: this smsops on PATH, no smsops settings or proxies inherited."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SMSOPS_") and not k.lower().endswith("_proxy")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SMSOPS_CACHE_DIR"] = str(tmp_path / "cache")
    env.update(variables)
    return env


def bash(script: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a script as both CIs run theirs: bash, stop at the first failure, pipefail."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def github_step_env(entry: dict[str, Any], secrets: Mapping[str, str]) -> dict[str, str]:
    """The step's `env:`, each `${{ secrets.NAME }}` as GitHub fills it ('' when unset)."""
    env = {}
    for name, value in entry.get("env", {}).items():
        expression = value.removeprefix("${{").removesuffix("}}").strip()
        assert expression.startswith("secrets."), (name, value)
        env[name] = secrets.get(expression.removeprefix("secrets."), "")
    return env


def run_plan(
    ci: str, tmp_path: Path, secrets: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """The plan job's plan step of `ci`, with these secrets (CI/CD variables on GitLab)."""
    if ci == "github":
        entry = step("plan", "plan against the shared ledger, read-only")
        env = shell_env(tmp_path, github_step_env(entry, secrets))
        return bash(entry["run"], tmp_path, env)
    validate, plan = load(GITLAB)["plan"]["script"][:2]
    return bash(f"{validate}\n{plan}", tmp_path, shell_env(tmp_path, secrets))


def test_the_workflow_matches_the_github_workflow_schema() -> None:
    schema = json.loads((SCHEMAS / "github-workflows.json").read_text())
    jsonschema.Draft7Validator(schema).validate(load(WORKFLOW))
    broken = load(WORKFLOW)
    broken["jobs"]["plan"]["run-on"] = broken["jobs"]["plan"].pop("runs-on")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_the_gitlab_file_matches_the_gitlab_ci_schema() -> None:
    schema = json.loads((SCHEMAS / "gitlab-ci.json").read_text())
    jsonschema.Draft7Validator(schema).validate(load(GITLAB))
    broken = load(GITLAB)
    broken["apply"]["resource_group"] = ["smsops-apply"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_every_github_action_runs_on_node_24() -> None:
    used = [
        entry["uses"]
        for job in load(WORKFLOW)["jobs"].values()
        for entry in job["steps"]
        if "uses" in entry
    ]
    assert used
    for uses in used:
        action, _, version = uses.partition("@")
        assert action in NODE24_MAJORS, f"{uses}: check which major runs on Node 24, add it"
        assert int(version.removeprefix("v").split(".")[0]) >= NODE24_MAJORS[action], uses


@pytest.mark.parametrize(("where", "script"), list(scripts()), ids=lambda v: v[:40])
def test_every_script_parses_and_takes_no_expression(where: str, script: str) -> None:
    # A `${{ ... }}` inside a GitHub script is pasted into the shell text (an
    # injection); values go through `env:` instead.
    assert "${{" not in script, where
    done = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, (where, done.stderr)


def test_every_secret_the_example_config_names_is_passed_to_apply(tmp_path: Path) -> None:
    config = load_project(ROOT / "examples" / "configs", cache_dir=tmp_path)
    needed = {name for refs in provider_variables(config).values() for name, _ in refs}
    assert len(needed) == 5
    env = step("apply", "apply against the shared ledger")["env"]
    assert {v: env.get(v) for v in needed} == {v: f"${{{{ secrets.{v} }}}}" for v in needed}
    assert env["SMSOPS_LEDGER"] == "${{ secrets.SMSOPS_LEDGER }}"
    assert env["PGPASSWORD"] == "${{ secrets.PGPASSWORD }}"
    # GitLab hands every CI/CD variable to the job: its header lists which to set.
    header = GITLAB.read_text().split("\nstages:")[0]
    assert all(v in header for v in needed | {"SMSOPS_LEDGER", "PGPASSWORD"})


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_the_plan_step_plans_against_the_ledger_the_merge_applies_to(
    ci: str, tmp_path: Path
) -> None:
    (tmp_path / "smsops").mkdir()
    (tmp_path / "smsops" / "smsops.yaml").write_text(CONFIG)
    plan_md = tmp_path / "plan.md"

    refused = run_plan(ci, tmp_path, {})
    assert refused.returncode == 1
    assert "SMSOPS_LEDGER_READONLY is not set" in refused.stdout + refused.stderr
    assert not plan_md.exists()

    ledger = tmp_path / "shared-ledger.sqlite"
    secrets = {"SMSOPS_LEDGER_READONLY": str(ledger), "PGPASSWORD_READONLY": "unused"}
    before = run_plan(ci, tmp_path, secrets)
    assert before.returncode == 0, before.stderr  # plan exited 2: the merge will send
    assert plan_md.read_text().startswith(MARKER + "\n")
    assert "**2 messages to send (2 segments).**" in plan_md.read_text()

    # The merge: apply on the same ledger (the sandbox stands in for the provider;
    # it keeps a ledger of its own unless --ledger names one).
    apply = 'smsops apply smsops/ --sandbox --yes --ledger "$SMSOPS_LEDGER"'
    merged = bash(apply, tmp_path, shell_env(tmp_path, {"SMSOPS_LEDGER": str(ledger)}))
    assert merged.returncode == 0, merged.stderr
    assert "Applied: 2 sent" in merged.stdout

    after = run_plan(ci, tmp_path, secrets)
    assert after.returncode == 0, after.stderr
    assert "**0 messages to send (0 segments): 2 sent.**" in plan_md.read_text()


def test_the_apply_jobs_refuse_to_run_without_the_shared_ledger(tmp_path: Path) -> None:
    entry = step("apply", "apply against the shared ledger")
    github = bash(entry["run"], tmp_path, shell_env(tmp_path, github_step_env(entry, {})))
    gitlab = bash(load(GITLAB)["apply"]["script"][0], tmp_path, shell_env(tmp_path, {}))
    for done, message in [
        (github, "the secret SMSOPS_LEDGER is not set"),
        (gitlab, "the protected CI/CD variable SMSOPS_LEDGER is not set"),
    ]:
        assert done.returncode == 1
        assert message in done.stdout + done.stderr


class NotesApi(HTTPServer):
    """A loopback stand-in for the GitLab notes API of one merge request."""

    token = "glpat-test-token"
    me = 7
    page_size = 2  # GitLab caps per_page too: the script must follow X-Next-Page

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), NotesHandler)
        self.notes: list[dict[str, Any]] = [
            {"id": 1, "author": {"id": 99}, "body": f"{MARKER}\nsomeone else's plan"},
            {"id": 2, "author": {"id": 7}, "body": "a note of ours that is not a plan"},
            {"id": 3, "author": {"id": 99}, "body": "lgtm"},
        ]
        self.calls: list[str] = []


class NotesHandler(BaseHTTPRequestHandler):
    server: NotesApi
    base = "/api/v4/projects/42/merge_requests/5/notes"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads `calls` instead."""

    def answer(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def handle_one(self, method: str) -> None:
        url = urlsplit(self.path)
        self.server.calls.append(f"{method} {url.path}")
        if self.headers["PRIVATE-TOKEN"] != self.server.token:
            self.answer(401, {"message": "401 Unauthorized"})
        elif method == "GET" and url.path == "/api/v4/user":
            self.answer(200, {"id": self.server.me})
        elif method == "GET" and url.path == self.base:
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            size = self.server.page_size
            listed = self.server.notes[(page - 1) * size : page * size]
            more = page * size < len(self.server.notes)
            self.answer(200, listed, {"X-Next-Page": str(page + 1) if more else ""})
        else:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))["body"]
            if method == "POST" and url.path == self.base:
                note = {"id": 100 + len(self.server.notes), "author": {"id": self.server.me}}
                self.server.notes.append({**note, "body": body})
                self.answer(201, self.server.notes[-1])
                return
            note_id = int(url.path.rsplit("/", 1)[1])
            [note] = [n for n in self.server.notes if n["id"] == note_id]
            note["body"] = body
            self.answer(200, note)

    def do_GET(self) -> None:
        self.handle_one("GET")

    def do_POST(self) -> None:
        self.handle_one("POST")

    def do_PUT(self) -> None:
        self.handle_one("PUT")


@pytest.fixture
def notes_api() -> Iterator[NotesApi]:
    server = NotesApi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_gitlab_note_script_adds_then_edits_its_own_note_on_python_311(
    tmp_path: Path, notes_api: NotesApi
) -> None:
    python311 = shutil.which("python3.11")
    assert python311, "the GitLab job runs python:3.11: this machine's python3.11 checks it"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(python311)  # `python` in the job's image is 3.11
    [note_script] = [s for s in load(GITLAB)["plan"]["script"] if "<<'EOF'" in s]
    port = notes_api.server_address[1]
    env = shell_env(
        tmp_path,
        {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "CI_API_V4_URL": f"http://127.0.0.1:{port}/api/v4",
            "CI_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_IID": "5",
            "GITLAB_NOTE_TOKEN": notes_api.token,
        },
    )
    others = [dict(n) for n in notes_api.notes]

    (tmp_path / "plan.md").write_text(f"{MARKER}\nfirst plan: 2 to send\n")
    first = bash(note_script, tmp_path, env)
    assert first.returncode == 0, first.stderr
    assert notes_api.notes[:3] == others
    [ours] = notes_api.notes[3:]
    assert ours["author"]["id"] == notes_api.me
    assert ours["body"] == f"{MARKER}\nfirst plan: 2 to send\n"
    assert notes_api.calls[-1] == "POST /api/v4/projects/42/merge_requests/5/notes"

    (tmp_path / "plan.md").write_text(f"{MARKER}\nsecond plan: 0 to send\n")
    notes_api.calls.clear()
    second = bash(note_script, tmp_path, env)
    assert second.returncode == 0, second.stderr
    assert notes_api.notes[:3] == others
    assert notes_api.notes[3:] == [{**ours, "body": f"{MARKER}\nsecond plan: 0 to send\n"}]
    assert notes_api.calls == [
        "GET /api/v4/user",
        "GET /api/v4/projects/42/merge_requests/5/notes",
        "GET /api/v4/projects/42/merge_requests/5/notes",  # page 2 holds our note
        f"PUT /api/v4/projects/42/merge_requests/5/notes/{ours['id']}",
    ]
