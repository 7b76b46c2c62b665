from __future__ import annotations

from collections.abc import Iterator

import pytest

from smsops.sandbox.server import Sandbox
from tests.postgres import Cluster, NoPostgres


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    with Sandbox() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Iterator[Sandbox]:
    """The shared sandbox, emptied and with no faults, for one test."""
    sandbox_server.state.reset()
    yield sandbox_server
    sandbox_server.state.reset()


@pytest.fixture(autouse=True)
def numbers_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test normalises into a cache of its own, never the user's ~/.cache."""
    monkeypatch.setenv("SMSOPS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def forget_secrets() -> Iterator[None]:
    """Secrets registered by one test (the scrubber is process-wide) never affect another."""
    from smsops.core import secrets

    secrets.forget_all()
    yield
    secrets.forget_all()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL server for this session (tests/postgres.py); removed at the end.

    Without PostgreSQL binaries the tests that need it fail saying what to
    install: CI must never pass by skipping them.
    """
    try:
        cluster = Cluster()
    except NoPostgres as missing:
        pytest.fail(str(missing), pytrace=False)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_db(postgres_cluster: Cluster) -> Iterator[str]:
    """A fresh empty database on the session's server, for one test: its URL (Unix socket)."""
    name = postgres_cluster.database()
    yield postgres_cluster.url(name)
    postgres_cluster.drop(name)
