"""A fork server for `run_cli`: each CLI run is still a fresh process, minus the imports.

The attack suite runs the CLI ~600 times; each `python -m smsops` spends
most of its ~0.4 s importing pydantic, jinja2, ruamel.yaml, phonenumbers,
httpx... This module starts one *zygote* per test process: a Python that
imports every module of smsops once and then waits on a Unix socket. For
each run it forks a *handler*, which forks the *run*: a new session, the
caller's pipes as fds 0/1/2, the caller's cwd, environment and address-space
cap, then `smsops.cli.main(args)` exactly as `python -m smsops` would call
it (a `SystemExit` or an uncaught exception ends it the same way; atexit
handlers run). The handler tells the caller the run's pid (so a timeout can
kill its process group) and then its exit status (negative for a signal, as
`Popen.returncode`).

What is shared is only what the zygote imported: no run ever sees another
run's state (each is forked from the untouched zygote), `random` reseeds at
fork, and nothing is read from the environment at import time. What
differs from a fresh interpreter: `/proc/self/environ` shows the zygote's
environment, which is `attack_env`'s (the secrets and the outside marker),
so reading it is still caught. `SMSOPS_TEST_EXEC=1` makes `run_cli` start
`python -m smsops` afresh instead, to rule the zygote out.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import locale
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_SERVER = r"""
import atexit, importlib, json, os, pkgutil, resource, signal, socket, sys, time, traceback
import smsops
for module in pkgutil.walk_packages(smsops.__path__, "smsops."):
    if module.name != "smsops.__main__":
        importlib.import_module(module.name)
from smsops.cli import main

parent = os.getppid()
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[1])
server.listen(64)
server.settimeout(1.0)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
print("ready", flush=True)

def run(request, fds):
    os.setsid()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    limit = request["memory_mb"] * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.argv = ["smsops", *request["args"]]
    try:
        code = main(request["args"])
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = 120  # what an interpreter exits with when its last flush fails
    with __import__("contextlib").suppress(Exception):
        sys.stderr.flush()
    os._exit(code)

def handle(connection):
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    request = json.loads(message)
    pid = os.fork()
    if pid == 0:
        connection.close()
        run(request, fds)
    for fd in fds:
        os.close(fd)
    connection.sendall(f"{pid}\n".encode())
    _, status = os.waitpid(pid, 0)
    connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
    os._exit(0)

while os.getppid() == parent:  # the test process is gone: so is the zygote
    try:
        connection, _ = server.accept()
    except TimeoutError:
        continue
    if os.fork() == 0:
        server.close()
        handle(connection)
    connection.close()
"""


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


class Zygote:
    def __init__(self, env: dict[str, str]) -> None:
        self.directory = tempfile.mkdtemp(prefix="smsops-zygote-")
        self.path = os.path.join(self.directory, "socket")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVER, self.path],
            env=env,
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline().strip()
        if ready != "ready":
            self.close()
            raise RuntimeError(f"the CLI fork server did not start ({ready!r})")
        atexit.register(self.close)

    def run(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        stdin: str | None,
        timeout: float,
        memory_mb: int,
    ) -> Ran:
        request = json.dumps(
            {"args": args, "cwd": str(cwd), "env": env, "memory_mb": memory_mb}
        ).encode()
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        with socket.socket(socket.AF_UNIX) as connection:
            connection.connect(self.path)
            socket.send_fds(connection, [request], [in_r, out_w, err_w])
            for fd in (in_r, out_w, err_w):
                os.close(fd)
            answers = connection.makefile("r")
            pid = int(answers.readline())
            try:
                stdout, stderr = _communicate(in_w, out_r, err_r, stdin, timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                raise
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)  # anything the run left behind
            code = int(answers.readline())
        return Ran(code, stdout, stderr)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.rmdir(self.directory)


def _communicate(
    stdin_fd: int, stdout_fd: int, stderr_fd: int, data: str | None, timeout: float
) -> tuple[str, str]:
    """Write `data` to the run's stdin and read its stdout/stderr to the end (or time out)."""
    deadline = time.monotonic() + timeout
    pending = memoryview((data or "").encode())
    chunks: dict[int, list[bytes]] = {stdout_fd: [], stderr_fd: []}
    with selectors.DefaultSelector() as selector:
        if pending:
            os.set_blocking(stdin_fd, False)
            selector.register(stdin_fd, selectors.EVENT_WRITE)
        else:
            os.close(stdin_fd)
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        try:
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                for key, _ in selector.select(left):
                    fd = int(key.fd)
                    if fd == stdin_fd:
                        try:
                            written = os.write(fd, pending[:65536])
                        except BrokenPipeError:
                            written = len(pending)
                        pending = pending[written:]
                        if not pending:
                            selector.unregister(fd)
                            os.close(fd)
                        continue
                    chunk = os.read(fd, 65536)
                    if chunk:
                        chunks[fd].append(chunk)
                    else:
                        selector.unregister(fd)
        finally:
            for fd in list(chunks) + ([stdin_fd] if pending else []):
                with contextlib.suppress(OSError):
                    os.close(fd)
    return _text(b"".join(chunks[stdout_fd])), _text(b"".join(chunks[stderr_fd]))


def _text(data: bytes) -> str:
    """As `subprocess.Popen(text=True)` reads it: the locale's encoding, universal newlines."""
    encoding = locale.getpreferredencoding(False)
    return io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline=None).read()


_zygote: Zygote | None = None


def zygote(env: dict[str, str]) -> Zygote:
    """This test process's fork server (started on first use, stopped at exit)."""
    global _zygote
    if _zygote is None or _zygote.process.poll() is not None:
        _zygote = Zygote(env)
    return _zygote
