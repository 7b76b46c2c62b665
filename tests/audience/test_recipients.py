"""Audiences: CSV and inline contacts to E.164, with every skip reported by row."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from smsops.audience.recipients import recipients
from smsops.config.loader import load_config
from smsops.config.models import Audience
from smsops.core.errors import ConfigError, Location
from smsops.core.recipient import Recipient, Source
from smsops.core.skips import Skip, SkipReason
from smsops.core.snapshots import store_for
from smsops.engine.project import load_project
from smsops.providers.registry import provider_models


def _config(
    tmp_path: Path, csv_text: str | bytes, audience: str = "", optouts: str = "+447400123459\n"
) -> Path:
    data = tmp_path / "people.csv"
    if isinstance(csv_text, bytes):
        data.write_bytes(csv_text)
    else:
        data.write_text(csv_text, encoding="utf-8")
    (tmp_path / "optouts.csv").write_text("phone\n" + optouts)
    (tmp_path / "a.yaml").write_text(
        "audiences:\n"
        "  people:\n"
        "    source: people.csv\n"
        "    default_region: GB\n"
        "    exclude: [optouts]\n"
        f"{audience}"
        "  optouts:\n"
        "    source: optouts.csv\n"
    )
    return tmp_path


def test_rows_become_recipients_or_skips_with_row_numbers(tmp_path: Path) -> None:
    config = load_project(
        _config(
            tmp_path,
            "phone,name\n"
            "+447400123456,Sam\n"
            "07400 123457,Priya\n"
            "\n"
            "garbage,Bad\n"
            "+44 7400 123456,Again\n"
            "+447400123459,Opted out\n",
        )
    )
    found = list(recipients(config, "people"))
    csv_file = tmp_path / "people.csv"
    assert found[0] == Recipient(
        "+447400123456",
        "GB",
        Source(("phone", "name"), Location(csv_file)),
        ["+447400123456", "Sam"],
        row=2,
    )
    assert found[0].variables == {"phone": "+447400123456", "name": "Sam"}
    assert found[0].where == Location(csv_file, row=2)
    assert isinstance(found[1], Recipient)
    assert found[1].phone == "+447400123457"
    assert found[2:] == [
        Skip(SkipReason.INVALID_NUMBER, "not a phone number", Location(csv_file, row=5)),
        Skip(SkipReason.DUPLICATE, f"same number as {csv_file}:row 2", Location(csv_file, row=6)),
        Skip(
            SkipReason.EXCLUDED,
            "in excluded audience 'optouts'",
            Location(csv_file, row=7),
            excluded_by="optouts",
        ),
    ]


def test_inline_contacts_point_at_yaml(tmp_path: Path) -> None:
    config = load_project(
        _config(
            tmp_path,
            "phone\n",
            audience="    contacts:\n      - {phone: '07400 123458', name: Inline}\n      - {phone: '12'}\n",
        )
    )
    first, second = recipients(config, "people")
    assert isinstance(first, Recipient)
    assert first.variables == {"name": "Inline"}
    assert first.where == Location(tmp_path / "a.yaml", 7, 9)
    assert isinstance(second, Skip)
    assert second.where == Location(tmp_path / "a.yaml", 8, 9)


def test_bom_and_quoted_fields(tmp_path: Path) -> None:
    config = load_project(_config(tmp_path, '\ufeffphone,note\n+447400123456,"Hello, ""world"""\n'))
    (only,) = recipients(config, "people")
    assert isinstance(only, Recipient)
    assert only.variables["note"] == 'Hello, "world"'


def test_a_quoted_field_over_a_line_end_refuses_the_file(tmp_path: Path) -> None:
    # fields never hold line breaks: an unclosed quote would swallow the rows after it
    config = load_project(
        _config(tmp_path, 'phone,note\n+447400123456,"Hello\nline two"\n+447400123457,x\n')
    )
    with pytest.raises(ConfigError) as caught:
        list(recipients(config, "people"))
    message = str(caught.value)
    assert f"{tmp_path / 'people.csv'}:row 2: a quoted field runs over the end" in message
    assert "Hello" not in message
    assert "line two" not in message


def test_bad_encoding_names_the_row_and_what_to_do(tmp_path: Path) -> None:
    config = load_project(
        _config(tmp_path, b"phone,name\n+447400123456,Sam\n+447400123457,Jos\xe9\n")
    )
    with pytest.raises(ConfigError) as caught:
        list(recipients(config, "people"))
    message = str(caught.value)
    assert f"{tmp_path / 'people.csv'}:row 3" in message
    assert "set `encoding` on the audience" in message


def test_bad_encoding_deep_in_a_big_file_names_its_own_row(tmp_path: Path) -> None:
    rows = b"".join(b"+4474001%05d,Name\n" % i for i in range(5000))
    bad = b"+447400199999,Jos\xe9\n"
    config = load_project(_config(tmp_path, b"phone,name\n" + rows + bad + rows[:200]))
    found: list[object] = []
    with pytest.raises(ConfigError) as caught:
        found.extend(recipients(config, "people"))  # keeps what came before the error
    assert f"{tmp_path / 'people.csv'}:row 5002:" in str(caught.value)  # header, 5000, then it
    assert 0 < len(found) <= 5000  # no row at or after the broken one was yielded


def test_declared_encoding_is_used(tmp_path: Path) -> None:
    config = load_project(
        _config(
            tmp_path,
            "phone,name\n+447400123457,José\n".encode("latin-1"),
            audience="    encoding: latin-1\n",
        )
    )
    (only,) = recipients(config, "people")
    assert isinstance(only, Recipient)
    assert only.variables["name"] == "José"


def test_csv_removed_after_validation_is_read_from_its_snapshot(tmp_path: Path) -> None:
    config = load_project(_config(tmp_path, "phone\n+447400123456\n"))
    (tmp_path / "people.csv").unlink()
    (only,) = recipients(config, "people")
    assert isinstance(only, Recipient)
    assert only.phone == "+447400123456"


def test_a_removed_snapshot_copy_is_a_clear_error_not_the_live_file(tmp_path: Path) -> None:
    config = load_project(_config(tmp_path, "phone\n+447400123456\n"))
    config.snapshots[tmp_path / "people.csv"].copy.unlink()
    with pytest.raises(
        ConfigError, match=r"a.yaml:3:13: .*people.csv.* is missing; the file on disk"
    ):
        list(recipients(config, "people"))


def test_reading_is_streamed(tmp_path: Path) -> None:
    rows = "".join(f"+4474001{i:05d}\n" for i in range(50_000))
    config = load_project(_config(tmp_path, "phone\n" + rows))
    stream = recipients(config, "people")
    first = list(itertools.islice(stream, 3))
    assert [r.phone for r in first if isinstance(r, Recipient)] == [
        "+447400100000",
        "+447400100001",
        "+447400100002",
    ]


def test_a_csv_row_repeating_an_inline_contact_names_the_contact(tmp_path: Path) -> None:
    contacts = "    contacts:\n      - {phone: '+447400123457', name: Inline}\n"
    config = load_project(_config(tmp_path, "phone,name\n07400 123457,Again\n", contacts))
    inline, again = recipients(config, "people")
    assert isinstance(inline, Recipient)
    assert isinstance(again, Skip)
    assert again.reason is SkipReason.DUPLICATE
    assert again.detail.startswith(f"same number as {tmp_path / 'a.yaml'}:")


def test_numbers_come_from_the_cache_until_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smsops.audience import numbers

    cache = tmp_path / "cache"
    config = load_project(_config(tmp_path, "phone,name\n+447400123456,Sam\ngarbage,Bad\n"))
    first = list(recipients(config, "people", cache))
    (entry,) = (p for p in cache.glob("numbers-*") if "123456" in p.read_text())
    assert entry.read_text() == "+447400123456\tGB\t+447400123456\n!not a phone number\tgarbage\n"

    calls: list[str] = []
    real = numbers.normalize
    monkeypatch.setattr(
        numbers, "normalize", lambda raw, region: calls.append(raw) or real(raw, region)
    )
    assert list(recipients(config, "people", cache)) == first
    assert "+447400123456" not in calls  # read from the cache entry

    (tmp_path / "people.csv").write_text("phone,name\n+447400123458,Kim\n")
    (found,) = recipients(load_project(tmp_path), "people", cache)
    assert isinstance(found, Recipient)
    assert found.phone == "+447400123458"
    assert "+447400123458" in calls  # a new file content: normalised again


def test_a_cache_line_of_another_row_is_never_used(tmp_path: Path) -> None:
    """The file replaced between hashing and reading: lines and rows no longer match."""
    from smsops.audience import numbers

    cache = tmp_path / "cache"
    config = load_project(_config(tmp_path, "phone,name\n+447400123456,Sam\n"))
    list(recipients(config, "people", cache))
    (entry,) = (p for p in cache.glob("numbers-*") if "123456" in p.read_text())
    rows = iter([("row", "+447400123499")])
    ((_, found),) = numbers._from_entry(entry, rows, None)
    assert isinstance(found, numbers.PhoneNumber)
    assert found.e164 == "+447400123499"  # normalised afresh, not the cached +...456

    grown = iter([("a", "+447400123456"), ("b", "+447400123457"), ("c", "x")])
    found_all = list(numbers._from_entry(entry, grown, None))  # rows past the entry's end
    assert [row for row, _ in found_all] == ["a", "b", "c"]
    assert [getattr(r, "e164", r) for _, r in found_all][:2] == ["+447400123456", "+447400123457"]


def test_a_big_audience_is_normalised_in_parallel_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smsops.audience import numbers

    monkeypatch.setattr(numbers, "PARALLEL_FROM", 0)
    monkeypatch.setattr(numbers, "CHUNK", 7)
    rows = "".join(f"+4474001{i:05d},P{i}\n" for i in range(50))
    config = load_project(_config(tmp_path, "phone,name\n" + rows + "nope,X\n"))
    found = list(recipients(config, "people", tmp_path / "cache"))
    assert [r.phone for r in found[:50] if isinstance(r, Recipient)] == [
        f"+4474001{i:05d}" for i in range(50)
    ]
    assert isinstance(found[50], Skip)


def test_without_a_cache_dir_numbers_are_normalised_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSOPS_CACHE_DIR", str(tmp_path / "settings-cache"))
    config = load_project(_config(tmp_path, "phone,name\n+447400123456,Sam\n"))
    (found,) = recipients(config, "people")
    assert isinstance(found, Recipient)
    assert found.phone == "+447400123456"
    assert not (tmp_path / "settings-cache").exists()  # no setting is read below the CLI


@pytest.mark.parametrize("command", [["plan"], ["render"]])
def test_the_cli_keeps_numbers_in_the_cache_dir_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    from smsops.cli import main

    cache = tmp_path / "settings-cache"
    monkeypatch.setenv("SMSOPS_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)  # plan's default ledger is relative: never created by plan
    (tmp_path / "config").mkdir()
    config = _config(tmp_path / "config", "phone,name\n+447400123456,Sam\n")
    (config / "b.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, base_url: 'http://127.0.0.1:9', token: '${env:OT}', "
        "from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "schedules:\n  s: {template: t, audience: people, provider: ot}\n"
    )
    assert main([*command, str(config)]) == 0
    (entry,) = (p for p in cache.glob("numbers-*") if "123456" in p.read_text())
    assert entry.read_text() == "+447400123456\tGB\t+447400123456\n"


def test_an_excluded_entry_that_is_not_a_number_refuses_the_audience(tmp_path: Path) -> None:
    """Not dropped: an opt-out list in national format without default_region excluded
    nobody. validate refuses it (load_project); reading the audience from a config that
    skipped the checks refuses it too, naming every such row."""
    optouts = "07400 123457\n+447400123459\nn/a\n"
    with pytest.raises(ConfigError) as validated:
        load_project(_config(tmp_path, "phone,name\n+447400123457,Priya\n", optouts=optouts))
    read = load_config(tmp_path, provider_models(), store_for(None)).config
    with pytest.raises(ConfigError) as planned:
        list(recipients(read, "people"))
    for refused in (validated.value, planned.value):
        where = [str(p.location) for p in refused.problems]
        assert where == [f"{tmp_path / 'optouts.csv'}:row 2", f"{tmp_path / 'optouts.csv'}:row 4"]
        assert "set default_region on audience 'optouts'" in refused.problems[0].message
        assert "excluded from 'people'" in refused.problems[0].message
        assert "07400" not in str(refused)


def _reference_rows(text: str) -> list[tuple[int, list[str], str]] | int:
    """The rows `_csv_rows` must give, read through `records` (its check on every row).

    A list of (row number, cells, phone) of the non-blank rows, or the row
    number `FieldRunsOver` names.
    """
    import csv
    import io

    from smsops.audience.csvfile import FieldRunsOver, records

    lines = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [column.strip() for column in next(records(lines), [])]
        at = header.index("phone")
        found = []
        for number, row in enumerate(records(lines, first=2), start=2):
            phone = row[at] if at < len(row) else ""
            if phone.strip() or any(cell.strip() for cell in row):
                found.append((number, row, phone))
    except FieldRunsOver as exc:
        return exc.row
    return found


@pytest.mark.parametrize("seed", range(8))
def test_csv_rows_against_the_per_row_check(tmp_path: Path, seed: int) -> None:
    """The held-back row's check (only the last row can end inside a quote) is `records`'."""
    import random

    from smsops.audience.csvfile import FieldRunsOver
    from smsops.audience.recipients import _csv_rows

    pieces = ["+447400123456", "x", ",", '"', '""', " ", "\n", "\r\n", "\r", "\n\n", ',"\n']
    chance = random.Random(seed)
    store = store_for(tmp_path / "cache")
    audience = Audience(source="people.csv")
    for case in range(150):
        text = "phone,note\n" + "".join(chance.choice(pieces) for _ in range(chance.randint(0, 14)))
        path = tmp_path / f"people-{case}.csv"
        path.write_text(text, encoding="utf-8", newline="")
        snapshot = store.capture(path, tmp_path, 1 << 20)
        expected = _reference_rows(text)
        declared = Location(path)
        try:
            got: list[tuple[int, list[str], str]] | int = [
                (number, cells, phone)
                for (_, cells, number), phone in _csv_rows(snapshot, audience, declared)
            ]
        except ConfigError as exc:
            (problem,) = exc.problems
            assert "runs over" in problem.message, (text, problem)
            assert problem.location.row is not None
            got = problem.location.row
        except FieldRunsOver as exc:  # pragma: no cover - _csv_rows names it as a problem
            got = exc.row
        assert got == expected, repr(text)
