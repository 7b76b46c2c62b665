"""Reading CSV text bounded: no line longer than the cap is ever held, a longer one is named."""

from __future__ import annotations

import csv
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


def _records(data: str) -> list[list[str]]:
    text = io.TextIOWrapper(io.BytesIO(data.encode()), newline="")
    return list(csvfile.records(csv.reader(csvfile.text_lines(text))))


@pytest.mark.parametrize(
    ("data", "row"),
    [
        ('phone,name\n+1,"Sam\n+2,Bob\n+3,Eve\n', 2),  # swallows every row after it
        ('phone,name\n+1,"Sam\n', 2),  # open at the end of the file
        ('phone,name\r\n+1,"Sam\r\n', 2),
        ('phone,name\r+1,"Sam\r+2,Bob\r', 2),
        ('phone,name\n+1,Sam\n+2,"B\nob"\n+3,Eve\n', 3),  # closed, but over two lines
        ('phone,"na\nme"\n+1,Sam\n', 1),
    ],
)
def test_a_field_over_a_line_end_is_refused_with_its_row(data: str, row: int) -> None:
    with pytest.raises(csvfile.FieldRunsOver) as refused:
        _records(data)
    assert refused.value.row == row
    assert "Sam" not in str(refused.value)
    assert "+2" not in str(refused.value)


def test_quoted_fields_on_one_line_and_blank_lines_are_read() -> None:
    data = 'phone,name\r\n+1,"Sam, Jr."\r\n\r\n+2,"say ""hi"""\n+3,\n'
    assert _records(data) == [
        ["phone", "name"],
        ["+1", "Sam, Jr."],
        [],
        ["+2", 'say "hi"'],
        ["+3", ""],
    ]
