"""A throwaway PostgreSQL server for the tests: one cluster per test session (per xdist worker).

`initdb` + `pg_ctl` in a temp dir, listening on a Unix socket in that dir and
on a free loopback port; stopped and removed at the end. Each test gets a
database of its own (`Cluster.database`, a CREATE DATABASE: ~0.1 s).

Root: these machines and CI run as root, and `initdb` refuses to run as root
(a server must not run with root's rights). The cluster is therefore made and
run as the unprivileged `postgres` OS user (which the distribution's package
creates) through `runuser -u postgres --`, in a temp dir it owns; the tests,
still root, connect over the socket or the port like any client. As another
user the commands run directly. pytest-postgresql is not used: its executor
runs `initdb`/`pg_ctl` as the current user with no way to name another (asked
for in dbfixtures/pytest-postgresql#341 and #455), so it cannot run here as
root.

No process is left behind: the finalizer stops the server (`pg_ctl stop -m
immediate`), then kills the postmaster by its postmaster.pid should it still
live; and a watchdog started with the server does the same if the test process
dies without finalizers (SIGKILL): the server does not notice its parent's
death by itself.

Auth: local socket connections are trusted (the admin role, the tests'
roles); TCP connections need a password (scram), so the URL tests can show a
password that is really used and never shown.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import psycopg
from psycopg import sql

ADMIN = "smsops_admin"
INSTALL = (
    "PostgreSQL server binaries (initdb, pg_ctl) were found neither on PATH nor under "
    "/usr/lib/postgresql/*/bin; the ledger tests need a real server: install it "
    "(`apt-get install -y postgresql` as root; scripts/test.sh does this when pg_ctl is missing)"
)


class NoPostgres(RuntimeError):
    """No PostgreSQL binaries, or no unprivileged user to run them as."""


def bindir() -> Path:
    """The directory of initdb and pg_ctl: PATH first, then the newest Debian/Ubuntu install."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    installed = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if not installed:
        raise NoPostgres(INSTALL)
    return Path(installed[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """One running server; `start()` then `stop()` (idempotent)."""

    def __init__(self) -> None:
        self.bin = bindir()
        self.root = Path(tempfile.mkdtemp(prefix="smsops-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.password = secrets.token_hex(12)  # the admin's, for TCP connections
        self._as: list[str] = []
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._numbers = 0
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise NoPostgres(
                    "running as root, and initdb refuses root: the tests run the server as the "
                    "unprivileged `postgres` user, which does not exist here (`apt-get install -y "
                    "postgresql` creates it, or `useradd postgres`)"
                ) from None
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *command: str) -> None:
        subprocess.run(
            [*self._as, *command], cwd=self.root, check=True, capture_output=True, timeout=60
        )

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if self._as:
            shutil.chown(pwfile, "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", ADMIN, "-E", "UTF8",
            "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
        )  # fmt: skip
        pwfile.unlink()
        self._serve()
        self._watch()

    def _serve(self) -> None:
        options = (
            f"-k {self.root} -c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
            "-o", options, "-w", "-t", "30", "start",
        )  # fmt: skip

    def restart(self, down: float = 0.0) -> None:
        """Stop the server (its sessions cut, as by a crash), `down` seconds later start it again.

        `-m immediate`: no session is let finish; the server recovers on start.
        """
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        time.sleep(down)
        self._serve()

    def _watch(self) -> None:
        """A watchdog: when this process dies without its finalizers, stop and remove the server."""
        stop = " ".join([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data)])
        script = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
            f"{stop} -m immediate -w stop >/dev/null 2>&1; rm -rf {self.root}"
        )
        self._watchdog = subprocess.Popen(
            ["/bin/sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a ^C to the test run reaches pytest, not the watchdog
        )

    def stop(self) -> None:
        with suppress(subprocess.SubprocessError, OSError):
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
            )
        pidfile = self.data / "postmaster.pid"  # left only when the stop failed
        with suppress(OSError, ValueError, IndexError):
            pid = int(pidfile.read_text().split()[0])
            if b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes():  # not a reused pid
                os.kill(pid, signal.SIGKILL)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", user: str = ADMIN) -> str:
        """A URL over the Unix socket (trusted: no password)."""
        return f"postgresql://{user}@/{database}?host={self.root}&port={self.port}"

    def tcp_url(self, database: str, user: str = ADMIN, password: str | None = None) -> str:
        """A URL over loopback TCP (scram: the password is needed)."""
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def admin(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(database), autocommit=True)

    def database(self) -> str:
        """A new empty database; `drop` removes it."""
        self._numbers += 1
        name = f"t{os.getpid()}_{self._numbers}"
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
