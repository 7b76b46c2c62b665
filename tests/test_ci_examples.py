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
import re
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

from smsops import __version__
from smsops.daemon.readiness import provider_variables
from smsops.engine.project import load_project

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"
SCHEMAS = ROOT / "tests" / "schemas"
MARKER = "<!-- smsops-plan -->"
APPLY_STEP = "apply the reviewed plan against the shared ledger"
# The first major version of each action whose action.yml runs on Node 24
# (checkout v5, setup-python v6); Node 20 actions are deprecated on GitHub's runners.
NODE24_MAJORS = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/upload-artifact": 6,
    "actions/download-artifact": 7,
}
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
            for key in ("before_script", "script", "after_script"):
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


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def merge_checkout(tmp_path: Path, base: str, head: str, branch: str = "feature") -> str:
    """A repository checked out as CI checks out a pull request: the merge of `branch`.

    main holds `base` as smsops/smsops.yaml, `branch` changes it to `head`, and
    HEAD is their merge commit (GitHub's refs/pull/N/merge), main its first
    parent. Returns main's commit before the merge: the base.
    """
    config = tmp_path / "smsops" / "smsops.yaml"
    git(tmp_path, "init", "-q", "-b", "main")
    for key, value in {"user.name": "ci", "user.email": "ci@example.test"}.items():
        git(tmp_path, "config", key, value)
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "root")
    git(tmp_path, "checkout", "-q", "-b", branch)
    config.parent.mkdir(exist_ok=True)
    config.write_text(head)
    git(tmp_path, "add", "smsops")
    git(tmp_path, "commit", "-q", "-m", "head")
    git(tmp_path, "checkout", "-q", "main")
    config.parent.mkdir(exist_ok=True)  # git removed the folder with the branch's file
    config.write_text(base)
    git(tmp_path, "add", "smsops")
    git(tmp_path, "commit", "-q", "-m", "base")
    base_commit = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "merge", "-q", "--no-ff", "-X", "theirs", "-m", "merge", branch)
    return base_commit


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
    # GitLab gives the merge request's base as a commit id (here: the first parent).
    base = {"CI_MERGE_REQUEST_DIFF_BASE_SHA": git(tmp_path, "rev-parse", "HEAD^1")}
    return bash(f"{validate}\n{plan}", tmp_path, shell_env(tmp_path, {**secrets, **base}))


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
    used = [USES.match(line) for line in WORKFLOW.read_text().splitlines() if "uses:" in line]
    assert used
    for uses in used:
        assert uses, "every action is pinned (see the test below)"
        action, version = uses["action"], uses["tag"]
        assert action in NODE24_MAJORS, f"{action}: check which major runs on Node 24, add it"
        assert int(version.removeprefix("v").split(".")[0]) >= NODE24_MAJORS[action], version


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
    env = step("apply", APPLY_STEP)["env"]
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
    merge_checkout(tmp_path, CONFIG.split("schedules:")[0], CONFIG)
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
    entry = step("apply", APPLY_STEP)
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
    [note_script] = [s for s in load(GITLAB)["plan"]["after_script"] if "<<'EOF'" in s]
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

    (tmp_path / "comment.md").write_text(f"{MARKER}\nfirst plan: 2 to send\n")
    first = bash(note_script, tmp_path, env)
    assert first.returncode == 0, first.stderr
    assert notes_api.notes[:3] == others
    [ours] = notes_api.notes[3:]
    assert ours["author"]["id"] == notes_api.me
    assert ours["body"] == f"{MARKER}\nfirst plan: 2 to send\n"
    assert notes_api.calls[-1] == "POST /api/v4/projects/42/merge_requests/5/notes"

    (tmp_path / "comment.md").write_text(f"{MARKER}\nsecond plan: 0 to send\n")
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


# Each action pinned to the commit of a release, checked against the release's
# tag in the action's repository when it was pinned (a moved tag cannot change it).
PINNED = {
    "actions/checkout": ("v7.0.1", "3d3c42e5aac5ba805825da76410c181273ba90b1"),
    "actions/setup-python": ("v7.0.0", "5fda3b95a4ea91299a34e894583c3862153e4b97"),
    "actions/upload-artifact": ("v7.0.0", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"),
    "actions/download-artifact": ("v8.0.1", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c"),
}
USES = re.compile(r"^\s*- uses: (?P<action>[\w.-]+/[\w.-]+)@(?P<ref>\S+) # (?P<tag>\S+)$")
# What a GitHub step may take from an expression into its environment: secrets,
# the token, the pull request's number, step outcomes. Never text a pull request
# author chooses (head_ref, a title, a body, a branch name).
TRUSTED = re.compile(
    r"\$\{\{ (secrets\.[A-Z_]+|github\.token|github\.event\.pull_request\.number"
    r"|steps\.[a-z]+\.outcome) \}\}"
)


def test_every_action_is_pinned_to_the_commit_of_an_exact_release() -> None:
    uses = [line for line in WORKFLOW.read_text().splitlines() if "uses:" in line]
    assert len(uses) == 8
    for line in uses:
        found = USES.match(line)
        assert found, f"{line}: pin a commit, its release in a comment (@<sha> # vX.Y.Z)"
        tag, sha = PINNED[found["action"]]
        assert (found["ref"], found["tag"]) == (sha, tag), line
        assert re.fullmatch(r"v\d+\.\d+\.\d+", tag)


@pytest.mark.parametrize("path", [WORKFLOW, GITLAB], ids=["github", "gitlab"])
def test_smsops_is_installed_at_the_exact_version_the_examples_are_written_for(
    path: Path,
) -> None:
    data = load(path)
    variables = data["env"] if path == WORKFLOW else data["variables"]
    assert variables["SMSOPS_VERSION"] == __version__
    installs = [s for _, s in scripts() if s.startswith("pip install")]
    assert installs
    assert set(installs) == {'pip install "smsops==$SMSOPS_VERSION"'}


def test_a_newer_push_cancels_the_running_plan_of_the_same_request() -> None:
    github = load(WORKFLOW)["jobs"]["plan"]["concurrency"]
    assert github == {
        "group": "smsops-plan-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }
    gitlab = load(GITLAB)
    assert gitlab["workflow"]["auto_cancel"] == {"on_new_commit": "interruptible"}
    assert gitlab["plan"]["interruptible"] is True
    assert gitlab["plan"]["resource_group"] == "smsops-plan-$CI_MERGE_REQUEST_IID"
    # The merge side never cancels: an apply stopped halfway is not undone.
    assert load(WORKFLOW)["jobs"]["apply"]["concurrency"]["cancel-in-progress"] is False
    assert "interruptible" not in gitlab["apply"]


def test_github_steps_take_only_trusted_expressions_into_their_environment() -> None:
    for job in load(WORKFLOW)["jobs"].values():
        for entry in job["steps"]:
            for name, value in entry.get("env", {}).items():
                assert TRUSTED.fullmatch(value), (name, value)


def fake_gh(tmp_path: Path, existing: str) -> Path:
    """A `gh` on PATH that answers the comment lookup with `existing` and records the rest."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(
        "#!/bin/sh\n"
        'printf "%s\\n" "$*" >> "$GH_CALLS"\n'
        'case "$*" in *--paginate*) [ -n "$EXISTING" ] && echo "$EXISTING";; esac\n'
        'case "$*" in *PATCH*) cp comment.md "$GH_CALLS.body";; esac\n'
        "exit 0\n"
    )
    gh.chmod(0o755)
    return bin_dir


def post_github_comment(
    tmp_path: Path, validated: str, planned: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """The comment step as GitHub runs it after the steps' outcomes; what it PATCHed."""
    entry = step("plan", "post or replace the plan comment")
    assert entry["if"] == "${{ !cancelled() }}"  # after a failure too, not when superseded
    assert entry["env"]["VALIDATED"] == "${{ steps.validate.outcome }}"
    assert entry["env"]["PLANNED"] == "${{ steps.plan.outcome }}"
    calls = tmp_path / "gh-calls"
    env = shell_env(
        tmp_path,
        {
            "GH_CALLS": str(calls),
            "EXISTING": "4242",
            "GITHUB_REPOSITORY": "acme/sms",
            "PR": "5",
            "VALIDATED": validated,
            "PLANNED": planned,
        },
    )
    env["PATH"] = f"{fake_gh(tmp_path, '4242')}{os.pathsep}{env['PATH']}"
    done = bash(entry["run"], tmp_path, env)
    assert "api --method PATCH repos/acme/sms/issues/comments/4242 -F body=@comment.md" in (
        calls.read_text()
    )
    return done, Path(f"{calls}.body").read_text()


BROKEN = CONFIG.replace("template: t,", "template: missing,")


def test_a_failed_validate_replaces_the_github_comment_with_its_problems(tmp_path: Path) -> None:
    merge_checkout(tmp_path, CONFIG, BROKEN)
    (tmp_path / "plan.md").write_text(f"{MARKER}\nnot this push's plan\n")
    entry = step("plan", "validate")
    assert entry["id"] == "validate"
    validated = bash(entry["run"], tmp_path, shell_env(tmp_path, {}))
    assert validated.returncode == 1
    done, body = post_github_comment(tmp_path, "failure", "skipped")
    assert done.returncode == 0, done.stderr
    assert body.startswith(f"{MARKER}\n## smsops validate failed\n")
    assert "missing" in body  # the problem: no template of that name
    assert "not this push's plan" not in body


def test_a_failed_plan_replaces_the_github_comment_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "plan.md").write_text(f"{MARKER}\n## smsops plan failed\n\n- `the error`\n")
    (tmp_path / "validate.md").write_text(f"{MARKER}\n## smsops validate: valid\n")
    done, body = post_github_comment(tmp_path, "success", "failure")
    assert done.returncode == 0, done.stderr
    assert body == f"{MARKER}\n## smsops plan failed\n\n- `the error`\n"


@pytest.mark.parametrize("leftover", ["", f"{MARKER}\n**2 messages to send.**\n"])
def test_when_smsops_never_reported_the_comment_says_so_instead_of_the_last_plan(
    tmp_path: Path, leftover: str
) -> None:
    # The install failed (nothing ran), or plan crashed after writing a plan:
    # a note of the workflow's own, never a plan this push did not make.
    if leftover:
        (tmp_path / "plan.md").write_text(leftover)
    done, body = post_github_comment(tmp_path, "skipped" if not leftover else "success", "failure")
    assert done.returncode == 0, done.stderr
    assert body.startswith(f"{MARKER}\n## smsops plan failed\n\nThe job stopped before smsops")
    assert "messages to send" not in body


def test_the_base_is_the_merge_commits_first_parent_whatever_the_branch_is_called(
    tmp_path: Path,
) -> None:
    hostile = 'x$(touch${IFS}pwned)`touch${IFS}pwned2`;"'
    base = merge_checkout(tmp_path, CONFIG, CONFIG.replace("'Hi", "'Hello"), branch=hostile)
    checkout = load(WORKFLOW)["jobs"]["plan"]["steps"][0]
    assert checkout["with"]["fetch-depth"] == 0  # the base commit is in the clone
    assert load(GITLAB)["plan"]["variables"]["GIT_DEPTH"] == "0"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "smsops").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > smsops-args\n')
    (bin_dir / "smsops").chmod(0o755)
    entry = step("plan", "plan against the shared ledger, read-only")
    env = shell_env(tmp_path, github_step_env(entry, {"SMSOPS_LEDGER_READONLY": "l.sqlite"}))
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["GITHUB_HEAD_REF"] = hostile  # what GitHub sets; the script must not need it
    done = bash(entry["run"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "smsops-args").read_text().splitlines() == [
        *["plan", "smsops/", "--base", base, "--format", "markdown"],
        *["--report", "plan.md", "--detailed-exitcode"],
    ]
    assert not list(tmp_path.glob("pwned*"))
    [gitlab_plan] = [s for s in load(GITLAB)["plan"]["script"] if "--base" in s]
    assert 'base="${CI_MERGE_REQUEST_TARGET_BRANCH_SHA:-$CI_MERGE_REQUEST_DIFF_BASE_SHA}"' in (
        gitlab_plan
    )
    assert '--base "$base"' in gitlab_plan


def test_the_merge_applies_the_plan_made_on_the_merged_commit_in_the_same_run() -> None:
    jobs = load(WORKFLOW)["jobs"]
    [plan_step] = [s for s in jobs["plan-merge"]["steps"] if "run" in s and "--out" in s["run"]]
    assert "smsops plan smsops/ --out plan.json" in plan_step["run"]
    [upload] = [s for s in jobs["plan-merge"]["steps"] if "upload-artifact" in s.get("uses", "")]
    [download] = [s for s in jobs["apply"]["steps"] if "download-artifact" in s.get("uses", "")]
    assert upload["with"]["path"] == "plan.json"
    assert download["with"]["name"] == upload["with"]["name"]
    assert jobs["apply"]["needs"] == "plan-merge"
    assert jobs["apply"]["environment"] == "production"  # its reviewers approve the apply
    assert "smsops apply smsops/ --plan plan.json --yes" in step("apply", APPLY_STEP)["run"]
    gitlab = load(GITLAB)
    assert "smsops plan smsops/ --out plan.json" in gitlab["plan-merge"]["script"][0]
    assert "plan.json" in gitlab["plan-merge"]["artifacts"]["paths"]
    assert gitlab["apply"]["needs"] == ["plan-merge"]
    assert gitlab["apply"]["rules"][0]["when"] == "manual"
    assert "smsops apply smsops/ --plan plan.json --yes" in gitlab["apply"]["script"][0]


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_the_merge_plan_step_saves_a_plan_that_apply_sends_exactly_once(
    ci: str, tmp_path: Path
) -> None:
    (tmp_path / "smsops").mkdir()
    (tmp_path / "smsops" / "smsops.yaml").write_text(CONFIG)
    ledger = tmp_path / "shared-ledger.sqlite"
    secrets = {"SMSOPS_LEDGER_READONLY": str(ledger), "PGPASSWORD_READONLY": "unused"}
    summary = tmp_path / "summary.md"
    if ci == "github":
        entry = step("plan-merge", "plan the merged commit against the shared ledger")
        env = shell_env(tmp_path, {**github_step_env(entry, secrets)})
        env["GITHUB_STEP_SUMMARY"] = str(summary)
        planned = bash(entry["run"], tmp_path, env)
    else:
        script = load(GITLAB)["plan-merge"]["script"][0]
        planned = bash(script, tmp_path, shell_env(tmp_path, secrets))
    assert planned.returncode == 0, planned.stderr
    assert (tmp_path / "plan.json").exists()
    if ci == "github":
        assert summary.read_text().startswith(MARKER)  # the approver reads the plan
    # The apply step's command, with the sandbox standing in for the provider.
    apply = 'smsops apply smsops/ --plan plan.json --yes --sandbox --ledger "$SMSOPS_LEDGER"'
    env = shell_env(tmp_path, {"SMSOPS_LEDGER": str(ledger)})
    first = bash(apply, tmp_path, env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Applied: 2 sent" in first.stdout
    again = bash(apply, tmp_path, env)
    assert "Applied: 2 sent" not in again.stdout


@pytest.mark.parametrize("status", ["failed", "success", "canceled"])
def test_gitlabs_after_script_replaces_the_note_with_what_this_push_made(
    tmp_path: Path, notes_api: NotesApi, status: str
) -> None:
    python311 = shutil.which("python3.11")
    assert python311
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(python311)
    merge_checkout(tmp_path, CONFIG, BROKEN if status == "failed" else CONFIG)
    validate = load(GITLAB)["plan"]["script"][0]
    validated = bash(validate, tmp_path, shell_env(tmp_path, {}))
    assert validated.returncode == (1 if status == "failed" else 0)
    if status == "success":
        (tmp_path / "plan.md").write_text(f"{MARKER}\nthis push's plan\n")
    ours = {"id": 50, "author": {"id": notes_api.me}, "body": f"{MARKER}\nthe last push's plan\n"}
    notes_api.notes.append(ours)
    env = shell_env(
        tmp_path,
        {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "CI_API_V4_URL": f"http://127.0.0.1:{notes_api.server_address[1]}/api/v4",
            "CI_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_IID": "5",
            "GITLAB_NOTE_TOKEN": notes_api.token,
            "CI_JOB_STATUS": status,
        },
    )
    # GitLab runs after_script in a shell of its own, whatever the script did.
    done = bash("\n".join(load(GITLAB)["plan"]["after_script"]), tmp_path, env)
    assert done.returncode == 0, done.stderr
    body = notes_api.notes[-1]["body"]
    if status == "canceled":  # superseded: the newer pipeline posts
        assert body == f"{MARKER}\nthe last push's plan\n"
    elif status == "success":
        assert body == f"{MARKER}\nthis push's plan\n"
    else:
        assert body.startswith(f"{MARKER}\n## smsops validate failed\n")
        assert "missing" in body
