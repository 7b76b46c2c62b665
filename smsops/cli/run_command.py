"""`smsops run`: the long-running container."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path

from smsops.cli.common import (
    EXIT_OK,
    add_config,
    add_ledger,
    add_sandbox,
    ledger_location,
    start_sandbox,
)
from smsops.cli.subcommands import Commands
from smsops.core.errors import UsageError


def _listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: write HOST:PORT, e.g. 0.0.0.0:8080")
    return host, int(port)


def _run(args: argparse.Namespace) -> int:
    import asyncio  # keep --help fast

    from smsops.config.loader import Config
    from smsops.config.settings import load_settings
    from smsops.config.tokens import check_tokens
    from smsops.daemon.failures import guarded
    from smsops.daemon.http import http_server, listening_socket
    from smsops.daemon.logs import setup_logging
    from smsops.daemon.metrics import Metrics
    from smsops.daemon.runner import Runner
    from smsops.daemon.service import Service
    from smsops.engine.hearing import Hearing
    from smsops.engine.project import load_project
    from smsops.ledger.open import open_ledger

    settings = load_settings(ledger=args.ledger)
    setup_logging(settings.log_format, settings.log_level)
    if args.reload_interval <= 0:
        raise UsageError("--reload-interval must be above 0 seconds")
    with ExitStack() as stack:
        sock = stack.enter_context(listening_socket(*args.listen))
        env: Mapping[str, str] = dict(os.environ)
        cache = settings.cache_dir_path()
        point: Callable[[Config], Config] | None = None
        if args.sandbox:
            point, env = start_sandbox(stack, (args.listen[0], sock.getsockname()[1]))

        def load(path: Path) -> Config:
            config = load_project(path, cache)  # each generation snapshots its files there
            config = config if point is None else point(config)
            check_tokens(config, env)  # a weak token refuses the config, start or reload
            return config

        config = load(args.config)  # an invalid config at start: exit 1, nothing runs
        ledger = open_ledger(ledger_location(args), wait=settings.ledger_wait, command="smsops run")
        stack.callback(ledger.close)
        metrics = Metrics()
        runner = Runner(config, ledger, env, metrics, cache_dir=cache, units=settings.units)
        # Webhooks' receipts and STOP/START go to the ledger, with the current config's keywords.
        hearing = Hearing(ledger, lambda: runner.config.opt_out(), opted_out=runner.confirm_soon)
        service = Service(
            args.config, load, ledger, runner, metrics, hooks=hearing, poll=args.reload_interval
        )
        server = http_server(service)

        async def main() -> None:
            http = guarded("http", server.serve(sockets=[sock]), runner.job_failed)
            http.add_done_callback(lambda _: service.stop())  # never run without probes
            try:
                await service.run()
            finally:
                server.should_exit = True
                await http
                await service.close()

        asyncio.run(main())
    return EXIT_OK


def register(commands: Commands) -> None:
    @commands.command(
        "run",
        help="keep reconciling on a clock: the long-running container",
        description="Send each schedule's due messages when they fall due, reload the config "
        "when its files change, serve /healthz, /readyz and /metrics; SIGTERM stops claiming "
        "and settles what is in flight.",
    )
    def _run_arguments(run: argparse.ArgumentParser) -> None:
        add_config(run)
        run.add_argument(
            "--listen",
            type=_listen,
            default=("0.0.0.0", 8080),  # noqa: S104 - a container's probes come from outside
            metavar="HOST:PORT",
            help="where /healthz, /readyz and /metrics are served (default 0.0.0.0:8080)",
        )
        add_sandbox(run)
        run.add_argument(
            "--reload-interval",
            type=float,
            default=2.0,
            metavar="SECONDS",
            help="how often the config files are checked for changes (default 2)",
        )
        add_ledger(run)
        run.set_defaults(handler=_run)
