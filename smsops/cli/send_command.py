"""`smsops send`: one transactional message now, through the same code as `POST /v1/messages`.

engine/transactional.py checks, renders, claims under the idempotency key
and sends; this prints its answer (the API's shape, the number masked) as
one JSON object. Without `--key` a fresh key is made and shown, so the same
send can be repeated safely with `--key`.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from contextlib import ExitStack

from smsops.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PENDING,
    add_config,
    add_ledger,
    add_sandbox,
    cache_dir,
    ledger_location,
    open_ledger_at,
    start_sandbox,
)
from smsops.cli.subcommands import Commands
from smsops.core.errors import UsageError

SENT = frozenset({"sent", "delivered"})


def _variable(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=VALUE, e.g. order=42")
    return name, value


def _send(args: argparse.Namespace) -> int:
    import asyncio  # keep --help fast
    import uuid  # with platform, ~1.5 ms of every command's start

    from pydantic import ValidationError

    from smsops.core.envref import Placeholders
    from smsops.core.errors import Refused
    from smsops.core.terminal import json_text
    from smsops.daemon.api import invalid_fields
    from smsops.engine.project import load_project
    from smsops.engine.transactional import MessageRequest, Transactional

    given = dict(args.var)
    if len(given) < len(args.var):  # which of two values was meant is not ours to guess
        twice = next(name for name, n in Counter(n for n, _ in args.var).items() if n > 1)
        raise UsageError(f"--var {twice} is given twice: give each variable once")
    try:
        request = MessageRequest(
            template=args.template,
            to=args.to,
            vars=given,
            provider=args.provider,
            idempotency_key=args.key or f"cli-{uuid.uuid4().hex}",
        )
    except ValidationError as exc:
        raise UsageError(invalid_fields(exc)) from None
    config = load_project(args.config, cache_dir())
    with ExitStack() as stack:
        env: dict[str, str] | Placeholders = dict(os.environ)
        if args.sandbox:
            point, env = start_sandbox(stack)
            config = point(config)
        ledger = open_ledger_at(ledger_location(args), "smsops send")
        stack.callback(ledger.close)

        async def once() -> object:
            sends = Transactional(ledger, env)
            try:
                return await sends.send(config, request)
            finally:
                await sends.aclose()

        try:
            outcome = asyncio.run(once())
        except Refused as refused:
            raise UsageError(refused.reason) from None
    from smsops.engine.transactional import Outcome

    assert isinstance(outcome, Outcome)
    answer = outcome.answer.model_dump(mode="json", exclude_none=True)
    print(json_text(answer | {"replayed": outcome.replayed}))
    if outcome.answer.status in SENT:
        return EXIT_OK
    return EXIT_PENDING if outcome.answer.status == "pending" else EXIT_ERROR


def register(commands: Commands) -> None:
    @commands.command(
        "send",
        help="send one message now from a template (once per --key)",
        description="Check, render and send one message from a template of CONFIG, as "
        "POST /v1/messages does: claimed in the ledger under the idempotency key, so the "
        "same --key never sends twice. Prints the outcome as JSON (the number masked).",
    )
    def _send_arguments(send: argparse.ArgumentParser) -> None:
        add_config(send)
        send.add_argument("--template", required=True, metavar="T", help="the template's name")
        send.add_argument("--to", required=True, metavar="NUMBER", help="the number, in E.164")
        send.add_argument(
            "--var",
            type=_variable,
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a template variable (repeatable)",
        )
        send.add_argument(
            "--key",
            metavar="K",
            help="the idempotency key (default: a new one, printed); the same key sends once",
        )
        send.add_argument(
            "--provider",
            metavar="NAME",
            help="send through this provider alone (default: the api map's providers, or the "
            "config's only one)",
        )
        add_sandbox(send)
        add_ledger(send)
        send.set_defaults(handler=_send)
