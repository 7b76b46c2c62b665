"""`smsops otp send|verify`: one-time codes from the command line, through the API's code.

Both call `engine.otp.Otp`, as `POST /v1/otp/send|verify` does, and print
its answer as one JSON object (`{"status": ...}`) for scripts. Exit 0 when
a code went out (`sent`, or `uncertain`: it may have reached the phone and
verifies) or verified (`approved`); 1 for every other outcome and error.
With `--sandbox` the providers point at an in-process emulator and the text
it received is shown (the number masked): nothing reaches a phone there.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from smsops.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    add_config,
    add_ledger,
    add_sandbox,
    cache_dir,
    console,
    ledger_location,
    open_ledger_at,
    start_sandbox,
)
from smsops.cli.subcommands import Commands

if TYPE_CHECKING:
    from smsops.engine.otp import OtpAnswer
    from smsops.sandbox.server import Sandbox

SUCCESS = {"send": ("sent", "uncertain"), "verify": ("approved",)}


def register(commands: Commands) -> None:
    @commands.command(
        "otp", help="send a one-time code, or verify one (SendWithSES's or one smsops makes)"
    )
    def _otp_arguments(otp: argparse.ArgumentParser) -> None:
        actions = otp.add_subparsers(dest="action", required=True, metavar="ACTION")
        send = actions.add_parser("send", help="send a new code to a number with an otp template")
        add_config(send)
        send.add_argument("--template", required=True, metavar="T", help="an otp template")
        send.add_argument("--to", required=True, metavar="NUMBER", help="E.164, e.g. +447400123456")
        send.add_argument("--provider", metavar="P", help="default: the one provider that can")
        add_sandbox(send)
        add_ledger(send)
        send.set_defaults(handler=_run)
        verify = actions.add_parser("verify", help="check the code a person typed")
        add_config(verify)
        verify.add_argument("--to", required=True, metavar="NUMBER", help="E.164, as sent")
        verify.add_argument("--code", required=True, metavar="C", help="the digits typed")
        verify.add_argument("--provider", metavar="P", help="only that provider's codes")
        add_sandbox(verify)
        add_ledger(verify)
        verify.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import os
    from contextlib import ExitStack

    from smsops.core.envref import Placeholders
    from smsops.engine.otp import Otp
    from smsops.engine.project import load_project

    config = load_project(args.config, cache_dir())
    env: dict[str, str] | Placeholders = dict(os.environ)
    with ExitStack() as stack:
        started: list[Sandbox] = []
        if args.sandbox:
            point, env = start_sandbox(stack, started=started)
            config = point(config)
        ledger = open_ledger_at(ledger_location(args), f"smsops otp {args.action}")
        stack.callback(ledger.close)
        otp = Otp(config, ledger, env)
        if args.action == "send":
            answer = asyncio.run(otp.send(args.to, args.template, args.provider))
        else:
            answer = asyncio.run(otp.verify(args.to, args.code, args.provider))
        if started and args.action == "send":
            _show_text(started[0])
    return _print(answer, args.action)


def _print(answer: OtpAnswer, action: str) -> int:
    import json

    print(json.dumps(answer.as_json(), sort_keys=True))
    return EXIT_OK if answer.status in SUCCESS[action] else EXIT_ERROR


def _show_text(sandbox: Sandbox) -> None:
    """The newest text the in-process sandbox received, its number masked (stderr)."""
    from smsops.core.phone import mask

    messages = sandbox.state.snapshot()
    if messages:
        last = messages[-1]
        line = f"sandbox: {mask(str(last['recipient']))} received: {last['text']}"
        console(stderr=True).print(line, markup=False)
