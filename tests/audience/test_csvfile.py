"""Reading CSV text bounded: no line longer than the cap is ever held, a longer one is named."""

from __future__ import annotations

import io

import pytest

from smsops.audience import csvfile


def test_a_csv_line_past_the_cap_is_refused_with_its_line_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(csvfile, "CSV_MAX_LINE", 16)
    text = io.TextIOWrapper(io.BytesIO(b"phone,name\r\n+1,a\n" + b"x" * 40 + b"\n"), newline="")
    lines = csvfile.text_lines(text)
    assert next(lines) == "phone,name\r\n"
    assert next(lines) == "+1,a\n"
    with pytest.raises(csvfile.LineTooLong) as refused:
        next(lines)
    assert refused.value.line == 3


def test_a_line_of_exactly_the_cap_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvfile, "CSV_MAX_LINE", 6)
    text = io.TextIOWrapper(io.BytesIO(b"phone\nabcde\n"), newline="")
    assert list(csvfile.text_lines(text)) == ["phone\n", "abcde\n"]
