"""The backends every ledger contract test runs on: memory, SQLite and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smsops.ledger.base import Ledger
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.sqlite import SqliteLedger

BACKENDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def open_ledger_handle(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], Ledger]]:
    """Opens a handle on one ledger per call (another process's view; memory: the same object).

    PostgreSQL: a fresh database of the session's throwaway server. Every
    handle is closed after the test.
    """
    opened: list[Ledger] = []
    factory: Callable[[], Ledger]
    if request.param == "memory":
        shared = MemoryLedger()
        factory = lambda: shared  # noqa: E731
    elif request.param == "sqlite":
        factory = lambda: SqliteLedger(tmp_path / "l.sqlite")  # noqa: E731
    else:
        url = request.getfixturevalue("postgres_db")
        factory = lambda: PostgresLedger(url)  # noqa: E731

    def handle() -> Ledger:
        ledger = factory()
        opened.append(ledger)
        return ledger

    yield handle
    for ledger in reversed(opened):
        ledger.close()
