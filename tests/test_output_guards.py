"""The last guards where text leaves: CLI stdout/stderr and run-mode log lines.

Outside text is scrubbed where it enters; these guards make sure a path
that forgets (a new message, a library's exception) still prints no secret.
"""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from smsops.cli.common import _scrubbed_excepthook, scrubbed_output
from smsops.core import secrets
from smsops.daemon.logs import JsonFormatter, ScrubbingHandler

KEY = "guard-SECRET-0a1b2c"


def test_cli_output_is_scrubbed_while_a_command_runs(capsys: pytest.CaptureFixture[str]) -> None:
    secrets.register(KEY)
    with scrubbed_output():
        print(f"echo: x-api-key: {KEY}")
        print(f"error: {KEY.upper()}", file=sys.stderr)
        assert sys.stdout.isatty() is False  # everything but write() is the real stream's
    print("after the block, streams are the real ones again")
    captured = capsys.readouterr()
    assert captured.out == (
        "echo: x-api-key: ***\nafter the block, streams are the real ones again\n"
    )
    assert captured.err == "error: ***\n"


def test_a_traceback_nobody_caught_is_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    secrets.register(KEY)
    try:
        raise ValueError(f"invalid literal for int() with base 10: {KEY!r}")
    except ValueError as exc:
        _scrubbed_excepthook(type(exc), exc, exc.__traceback__)
    err = capsys.readouterr().err
    assert "ValueError: invalid literal for int() with base 10: '***'" in err
    assert KEY not in err


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])
def test_log_lines_are_scrubbed_and_numbers_masked(json_lines: bool) -> None:
    secrets.register(KEY)
    stream = io.StringIO()
    handler = ScrubbingHandler(stream)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    log = logging.getLogger("smsops.test-guard")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.error("provider said %s for +447400123456", KEY, extra={"detail": KEY})
        try:
            raise RuntimeError(f"header echo apiKey: {KEY}")
        except RuntimeError:
            log.exception("round failed")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert KEY not in text
    assert "+447400123456" not in text
    assert "+44 74** ***456" in text
    if json_lines:
        first, second = (json.loads(line) for line in text.splitlines() if line.startswith("{"))
        assert first["message"] == "provider said *** for +44 74** ***456"
        assert first["detail"] == "***"
        assert "apiKey: ***" in second["error"]
