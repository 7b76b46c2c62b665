"""Commands that read a config and send nothing: validate, render, schema, sandbox."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from smsops.cli.common import EXIT_ERROR, EXIT_OK, add_at, add_config, cache_dir, count
from smsops.cli.subcommands import Commands
from smsops.core.errors import ConfigError, Problem
from smsops.providers.registry import PROVIDER_MODULES


def _validate(args: argparse.Namespace) -> int:
    from smsops.config.tokens import check_tokens
    from smsops.core.terminal import printable
    from smsops.engine.project import load_project  # keep --help fast
    from smsops.render.checks import opt_out_warnings

    try:
        config = load_project(args.config, cache_dir())
        check_tokens(config, os.environ)  # the tokens this environment sets; none: no secret
    except ConfigError as exc:
        if args.format != "json":
            raise  # main() prints config problems (and markdown) the same way for every command
        problems = [_located(p) for p in exc.problems]
        print(json.dumps({"valid": False, "problems": problems}, indent=2))
        return EXIT_ERROR
    counts = {s: len(config.names(s)) for s in ("providers", "templates", "audiences", "schedules")}
    warned = opt_out_warnings(config)  # never change the exit code: a warning is not an error
    if args.format == "json":
        found = [_located(p) for p in warned]
        print(
            json.dumps(
                {"valid": True, "files": len(config.files), **counts, "warnings": found}, indent=2
            )
        )
    else:
        from smsops.report.wording import plural

        summary = ", ".join(plural(n, s.removesuffix("s")) for s, n in counts.items())
        files = plural(len(config.files), "file")
        if args.format == "markdown":
            from smsops.report.failure_markdown import valid_markdown

            lines = [str(w) for w in warned]
            sys.stdout.write(valid_markdown(str(args.config), f"valid ({files}: {summary})", lines))
            return EXIT_OK
        for warning in warned:
            location, message = printable(str(warning.location)), printable(warning.message)
            print(f"{location}: warning: {message}", file=sys.stderr)  # quotes config text
        summary += f"; {plural(len(warned), 'warning')}" if warned else ""
        # The path may be a directory a pull request named (CI globbing config folders).
        print(f"{printable(str(args.config))}: valid ({files}: {summary})")
    return EXIT_OK


def _located(problem: Problem) -> dict[str, Any]:
    where = problem.location
    return {
        "file": str(where.file),
        "line": where.line,
        "column": where.column,
        "message": problem.message,
    }


def _render(args: argparse.Namespace) -> int:
    from smsops.core.terminal import json_text
    from smsops.engine.preview import preview  # keep --help fast
    from smsops.engine.project import load_project
    from smsops.engine.targets import check_schedules
    from smsops.report.preview_format import as_json, as_text

    config = load_project(args.config, cache_dir())
    check_schedules(args.schedule, config, "--schedule")
    now = args.at or datetime.now(UTC)
    previews = preview(
        config, now, args.schedule or None, samples=args.samples, cache_dir=cache_dir()
    )
    if args.format == "json":
        print(json_text(as_json(previews), indent=2))
    else:
        print(as_text(previews), end="")
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from smsops.config.reference import reference_markdown  # keep --help fast
    from smsops.config.schema import schema_text
    from smsops.providers.registry import provider_models

    render = reference_markdown if args.markdown else schema_text
    sys.stdout.write(render(provider_models()))
    return EXIT_OK


def _sandbox(args: argparse.Namespace) -> int:
    from smsops.sandbox.emulators import base_paths  # keep --help fast
    from smsops.sandbox.server import listening_socket, serve

    sock = listening_socket(args.host, args.port)  # taken: an error before any banner
    url = f"http://{args.host}:{sock.getsockname()[1]}"
    print(f"smsops sandbox on {url} (Ctrl-C to stop); base_url per provider type:")
    for provider_type, path in base_paths().items():
        print(f"  {provider_type:<12} {url}{path}")
    print(f"  messages     GET/DELETE {url}/_sandbox/messages")
    print(f"  faults       GET/PUT    {url}/_sandbox/faults")
    print(f"  callbacks    GET/PUT    {url}/_sandbox/callbacks")
    print(f"  inbound      POST       {url}/_sandbox/inbound", flush=True)
    serve(sock)
    return EXIT_OK


def register(commands: Commands) -> None:
    @commands.command(
        "validate",
        help="check a config; exit 0 valid, 1 invalid",
        description="Check every file of a config and report every problem as file:line:col.",
    )
    def _validate_arguments(validate: argparse.ArgumentParser) -> None:
        add_config(validate)
        validate.add_argument(
            "--format",
            choices=("text", "json", "markdown"),
            default="text",
            help="markdown: a pull-request comment (marker first), also when invalid",
        )
        validate.set_defaults(handler=_validate)

    @commands.command(
        "render",
        help="preview every message schedules would send (no ledger, no secrets)",
        description="Render each enabled schedule's messages: counts, encodings, segments, "
        "cost, sample texts with masked numbers, and every skipped recipient with its reason.",
    )
    def _render_arguments(render: argparse.ArgumentParser) -> None:
        add_config(render)
        render.add_argument(
            "--schedule", action="append", default=[], metavar="NAME", help="only this (repeatable)"
        )
        render.add_argument(
            "--samples",
            type=count,
            default=3,
            help="sample messages shown per schedule (default: 3)",
        )
        add_at(render, "render")
        render.add_argument("--format", choices=("text", "json"), default="text")
        render.set_defaults(handler=_render)

    @commands.command("schema", help="print the JSON Schema of the config format")
    def _schema_arguments(schema: argparse.ArgumentParser) -> None:
        schema.add_argument(
            "--markdown",
            action="store_true",
            help="print the config reference (docs/config.md) instead, "
            "generated from the same models",
        )
        schema.set_defaults(handler=_schema)

    @commands.command(
        "sandbox",
        help=f"run a local emulator of all {len(PROVIDER_MODULES)} provider APIs",
        description=f"Emulate every provider type ({', '.join(PROVIDER_MODULES)}) on a local "
        "port, record what they accept, and inject faults on request.",
    )
    def _sandbox_arguments(sandbox: argparse.ArgumentParser) -> None:
        sandbox.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (loopback)")
        sandbox.add_argument(
            "--port", type=_port, default=8765, help="default: 8765; 0 picks a free port"
        )
        sandbox.set_defaults(handler=_sandbox)


def _port(text: str) -> int:
    """A TCP port, 0-65535 (0: any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0-65535)")
    return port
