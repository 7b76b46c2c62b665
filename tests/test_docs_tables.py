"""Tables in the docs that mirror code are checked against that code.

Each table below (and the sandbox's list of faults) is written for people (with a meaning column the code does
not hold), so it is not generated; instead its keys must be exactly the
code's: a command, flag, exit code, status, transition, expiry or skip
reason, metric, setting, bound or fault added, renamed or removed without its row fails
here, naming what to add or drop.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

from smsops.cli import build_parser
from smsops.cli.common import EXIT_ERROR, EXIT_OK, EXIT_PENDING, EXIT_PIPE
from smsops.config.providers import ProviderBase
from smsops.config.settings_model import Settings
from smsops.config.types import INTERVAL_RANGE, RATE_RANGE, TIMEOUT_RANGE, WINDOW_RANGE
from smsops.core.expiry import ExpiryReason
from smsops.core.skips import SkipReason
from smsops.core.units import format_duration
from smsops.daemon.metrics import Metrics
from smsops.ledger.held import HOLD_REASONS
from smsops.ledger.policy import DONE, TRANSITIONS, Operation, Status
from smsops.sandbox.state import Faults

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CODE = re.compile(r"`([^`]+)`")


def section(path: Path, heading: str) -> str:
    """The text under `heading` up to the next heading of the same or a higher level."""
    text = "\n" + path.read_text()
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n")
    rest = text[start + 1 :]
    ends = [m.start() for m in re.finditer(rf"\n#{{1,{len(level)}}} ", rest)]
    return rest[: min(ends, default=len(rest))]


def tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table in `text`: rows of cells, the header row first, no rule row."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            if not all(re.fullmatch(r"\s*:?-+:?\s*", c) for c in cells):
                current.append([c.strip() for c in cells])
        elif current:
            found.append(current)
            current = []
    return found


def table(path: Path, heading: str, first_header: str) -> list[list[str]]:
    """The body rows of the table under `heading` whose header starts with `first_header`."""
    for rows in tables(section(path, heading)):
        if rows[0][0] == first_header:
            return rows[1:]
    raise AssertionError(f"{path.name}: no table headed {first_header!r} under {heading!r}")


def codes(cell: str) -> list[str]:
    return CODE.findall(cell)


# Commands, flags, exit codes


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every command as typed (`validate`, `ledger list`, ...) and its parser."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                inner = commands(sub)
                found.update({f"{name} {k}": v for k, v in inner.items()} if inner else {name: sub})
    return found


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        flag
        for action in parser._actions
        for flag in action.option_strings
        if flag.startswith("--") and flag != "--help"
    }


INDEX = DOCS / "commands" / "README.md"


def test_the_command_table_lists_every_command() -> None:
    rows = table(INDEX, "# Commands", "command")
    documented = [re.match(r"\[`([^`]+)`\]", row[0]) for row in rows]
    assert all(documented), rows
    names = [m[1] for m in documented if m]
    assert sorted(names) == sorted(commands(build_parser()))


def test_each_command_page_shows_its_usage_with_every_flag() -> None:
    rows = table(INDEX, "# Commands", "command")
    problems = []
    for row in rows:
        name, page = re.findall(r"\[`([^`]+)`\]\(([^)#]+)", row[0])[0]
        text = (INDEX.parent / page).read_text()
        block = text.split("```text\n", 1)[1].split("```", 1)[0]
        usage = [line for line in block.splitlines() if re.match(rf"smsops {name}( |$)", line)]
        if len(usage) != 1:
            problems.append(f"{page}: no usage line `smsops {name} ...` in its first text block")
            continue
        shown = set(re.findall(r"--[a-z][a-z-]*", usage[0]))
        wanted = options(commands(build_parser())[name])
        if shown != wanted:
            problems.append(f"{page}: smsops {name}: add {wanted - shown}, drop {shown - wanted}")
    assert problems == []


def test_the_exit_code_table_lists_every_code_the_cli_returns() -> None:
    literal = {
        int(code)
        for module in (ROOT / "smsops" / "cli").glob("*.py")
        for code in re.findall(r"return (\d+)\b", module.read_text())
    }
    returned = {EXIT_OK, EXIT_ERROR, EXIT_PENDING, EXIT_PIPE} | literal
    documented = {int(row[0]) for row in table(INDEX, "## Exit codes", "code")}
    assert documented == returned


# The send lifecycle

CONCEPTS = DOCS / "concepts.md"


def test_the_lifecycle_table_is_the_policy_table() -> None:
    documented = set()
    operation = None
    for op_cell, source, target, _ in table(CONCEPTS, "## The send lifecycle", "operation"):
        operation = Operation(codes(op_cell)[0]) if op_cell else operation
        sources = [None] if source == "no row" else [Status(s) for s in codes(source)]
        documented |= {(operation, s, Status(t)) for s in sources for t in codes(target)}
    assert documented == {(t.operation, t.source, t.target) for t in TRANSITIONS}


def test_the_status_table_lists_every_status_and_which_are_never_sent_again() -> None:
    rows = table(CONCEPTS, "## The send lifecycle", "status")
    assert [Status(codes(row[0])[0]) for row in rows] == list(Status)
    never = {Status(codes(row[0])[0]) for row in rows if row[2] == "never"}
    assert never == DONE | {Status.EXPIRED}


def test_the_expiry_reasons_are_the_codes() -> None:
    rows = table(CONCEPTS, "## Expired sends", "label")
    documented = [(codes(row[0])[0], row[1]) for row in rows]
    assert documented == [(reason.short, reason.value) for reason in ExpiryReason]


def test_the_hold_reasons_are_the_codes() -> None:
    rows = table(DOCS / "commands" / "status.md", "### Held", "reason")
    assert [codes(row[0])[0] for row in rows] == list(HOLD_REASONS)


def test_the_skip_reasons_are_the_codes() -> None:
    rows = table(DOCS / "messages.md", "## Skip reasons", "reason")
    assert [codes(row[0])[0] for row in rows] == [reason.value for reason in SkipReason]


# Operations

OPERATIONS = DOCS / "operations.md"


def test_the_metrics_table_is_what_run_exports() -> None:
    exported = set()
    for metric in vars(Metrics()).values():
        if isinstance(metric, Counter | Gauge | Histogram):
            suffix = "_total" if isinstance(metric, Counter) else ""
            exported.add((metric._name + suffix, tuple(metric._labelnames)))
    rows = table(OPERATIONS, "## Metrics", "metric")
    documented = {(codes(row[0])[0], tuple(codes(row[1]))) for row in rows}
    assert documented == exported


def test_the_settings_table_lists_every_variable_smsops_reads() -> None:
    sources = "\n".join(p.read_text() for p in (ROOT / "smsops").rglob("*.py"))
    read = set(re.findall(r"SMSOPS_[A-Z][A-Z_]*[A-Z]", sources))
    read |= {f"SMSOPS_{name.upper()}" for name in Settings.model_fields}
    documented = {codes(row[0])[0] for row in table(OPERATIONS, "## Settings", "variable")}
    assert documented == read


def test_the_bounds_table_gives_the_ranges_validation_enforces() -> None:
    rows = {codes(row[0])[0]: row[1] for row in table(DOCS / "schedules.md", "## Bounds", "value")}
    ranges = {"window": WINDOW_RANGE, "every": INTERVAL_RANGE, "timeout": TIMEOUT_RANGE}
    for name, (low, high) in ranges.items():
        assert rows[name] == f"{format_duration(low)} to {format_duration(high)}", name
    field = ProviderBase.model_fields["max_in_flight"].metadata
    low, high = (
        next(getattr(m, bound) for m in field if hasattr(m, bound)) for bound in ("ge", "le")
    )
    assert rows["max_in_flight"] == f"{low} to {high}"
    assert rows["rate_limit"] == f"1/h to {RATE_RANGE[1]:g}/s"
    assert RATE_RANGE[0] == 1 / 3600


def test_the_sandbox_page_names_every_fault() -> None:
    text = section(DOCS / "commands" / "sandbox.md", "# smsops sandbox")
    paragraph = text[text.index("Faults (`PUT`") :].split("\n\n", 1)[0]
    assert set(codes(paragraph)) >= {f.name for f in dataclasses.fields(Faults)}


def test_the_http_port_limits_table_gives_the_front_doors_values() -> None:
    """operations.md's limits of the HTTP port are core/frontdoor.py's constants."""
    from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT

    from smsops.core import frontdoor as door

    def seconds(value: float) -> str:
        return f"{value:g} s"

    wanted = {
        "connections at once": f"{door.MAX_CONNECTIONS} ",
        "header fields per request": f"{door.MAX_HEADER_FIELDS}",
        "request head (request line and header fields)": f"{door.MAX_HEAD_BYTES // 1024} KiB",
        "time to send a complete request head": seconds(door.HEAD_TIMEOUT),
        "keep-alive idle time": seconds(door.IDLE_TIMEOUT),
        "pipelined requests (sent before the answers to the earlier ones)": (
            f"{door.MAX_PIPELINE} queued"
        ),
        "answers left unread": (
            f"over {HIGH_WATER_LIMIT // 1024} KiB; {seconds(door.WRITE_TIMEOUT)}"
        ),
        "connections not accepted yet": f"{door.BACKLOG}",
    }
    rows = {row[0]: row[1] for row in table(DOCS / "operations.md", "## The HTTP port", "limit")}
    assert set(rows) == set(wanted), (
        f"rows: add {set(wanted) - set(rows)}, drop {set(rows) - set(wanted)}"
    )
    for limit, value in wanted.items():
        assert value in rows[limit], (limit, rows[limit], value)


def test_the_otp_send_outcomes_give_the_http_status_the_api_answers() -> None:
    from smsops.daemon.api_otp import SEND_STATUS

    rows = table(DOCS / "otp.md", "## Outcomes", "status")
    documented = {codes(row[0])[0]: int(row[1]) for row in rows}
    assert documented == {outcome.value: status for outcome, status in SEND_STATUS.items()}


def test_the_hook_limits_are_the_parsers_bounds() -> None:
    """docs/hooks.md's 400 and 413 rows state the bounds the hook parsers enforce."""
    from smsops.core.hooks import MAX_INBOUND_TEXT, MAX_MESSAGE_ID, MAX_RECEIPTS
    from smsops.providers.base import MAX_JSON_DEPTH
    from smsops.providers.hooks import MAX_BODY

    rows = {row[0]: row[1] for row in table(DOCS / "hooks.md", "## Limits and answers", "answer")}
    malformed, too_large = rows["`400`"], rows["`413`"]
    assert f"JSON deeper than {MAX_JSON_DEPTH} levels" in malformed
    assert f"an id over {MAX_MESSAGE_ID} characters" in malformed
    assert f"a text over {MAX_INBOUND_TEXT:,}" in malformed
    assert f"more than {MAX_RECEIPTS:,} receipts" in malformed
    assert too_large.count(f"{MAX_BODY // 1024} KiB") == 2


def test_the_api_limits_are_the_request_bounds() -> None:
    """docs/api.md's limits sentence states the bounds the API enforces."""
    from smsops.daemon.api import MAX_BODY
    from smsops.engine.transactional import KEY_PATTERN, MAX_VALUE, MAX_VARS

    longest_key = 1 + int(re.findall(r"\{0,(\d+)\}", KEY_PATTERN)[-1])
    said = " ".join(section(DOCS / "api.md", "## Limits and metrics").split())
    assert (
        f"Bodies up to {MAX_BODY // 1024} KiB; {MAX_VARS} variables of up to {MAX_VALUE} "
        f"characters; keys of up to {longest_key} characters." in said
    )
