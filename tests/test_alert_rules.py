"""The example alerting rules are valid Prometheus rules, do what they say, and name only
metrics smsops exports.

`examples/deploy/prometheus/smsops-alerts.yml` is checked by Prometheus' own
tool: `promtool check rules` (YAML, PromQL, templates) and `promtool test
rules` with the unit tests in tests/alerts/ (each alert fires on the series
it is about and stays quiet on healthy ones). promtool comes with Debian's
`prometheus` package, installed by scripts/test.sh as root as PostgreSQL's
server is; nothing here needs the network. The metric names are checked
against smsops' registry without it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Counter, Gauge, Histogram
from ruamel.yaml import YAML

from smsops.daemon.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "examples" / "deploy" / "prometheus" / "smsops-alerts.yml"
UNIT_TESTS = ROOT / "tests" / "alerts" / "smsops-alerts.test.yml"
OPERATIONS = ROOT / "docs" / "operations.md"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed: apt-get install prometheus (scripts/test.sh does, as root)",
)
NAME = re.compile(r"\b(smsops_[a-z0-9_]+)\b")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text())
    return data


def rules() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"]]


def exported() -> set[str]:
    """Every series name smsops' registry can produce (a counter's `_total`, a histogram's
    `_bucket`, `_count`, `_sum`)."""
    names = set()
    for metric in vars(Metrics()).values():
        if isinstance(metric, Counter):
            names.add(metric._name + "_total")
        elif isinstance(metric, Histogram):
            names.update(metric._name + suffix for suffix in ("_bucket", "_count", "_sum"))
        elif isinstance(metric, Gauge):
            names.add(metric._name)
    return names


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False
    )


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


@needs_promtool
def test_each_alert_fires_on_its_series_and_not_on_healthy_ones() -> None:
    done = promtool("test", "rules", str(UNIT_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    tested = {
        case["alertname"]
        for test in load(UNIT_TESTS)["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert {rule["alert"] for rule in rules()} == tested


def test_the_rules_and_their_tests_name_only_metrics_smsops_exports() -> None:
    known = exported()
    used = {
        name
        for rule in rules()
        for name in NAME.findall(QUOTED.sub("", rule["expr"]))  # not a label's value
    }
    assert used, "no smsops metric found in the rules"
    assert used <= known, sorted(used - known)
    fed = {
        NAME.findall(series["series"])[0]
        for test in load(UNIT_TESTS)["tests"]
        for series in test["input_series"]
    }
    assert fed <= known, sorted(fed - known)


def test_each_alert_says_how_bad_and_what_to_do() -> None:
    for rule in rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
        assert rule.get("for"), rule["alert"]


def test_the_alerting_section_of_the_operations_guide_names_every_alert() -> None:
    text = OPERATIONS.read_text()
    section = text[text.index("## Alerting") :]
    section = section[: section.find("\n## ", 1)] if "\n## " in section[1:] else section
    assert "examples/deploy/prometheus/smsops-alerts.yml" in section
    for rule in rules():
        assert f"`{rule['alert']}`" in section, rule["alert"]
