"""One-time codes on demand: send a code to a number, then verify what the person types.

Both the CLI (`smsops otp send|verify`) and the run server's API
(`POST /v1/otp/send|verify`) call `Otp`; nothing here prints or logs.

Sending: the request is checked (an E.164 number, an `otp` template, a
provider that can send it), the number's limits are checked and the code
stored in one ledger transaction (ledger/otp.py), then the message goes
through the same `Sender` as every schedule's send (claimed in `sends` as
schedule `otp:TEMPLATE`, occurrence the code's id: paced, retried, settled;
never sent twice), its window closing when the code expires.

- A provider that makes its own codes (SendWithSES `/send-otp`) gets the
  OTP template key and the number; smsops stores no code, only the expiry
  and attempts its policy sets.
- Any other provider (AOC's `OTP` route, ...): smsops makes the code with
  `secrets` (the policy's length), stores only its HMAC-SHA256 keyed by the
  server secret, and renders it into the template as `{{ code }}`. The
  ledger's text hash of such a send is the template body's, never the
  text's: a hash of a six-digit text is reversed in a million guesses.

Verifying: one attempt is counted on the number's newest code in one
transaction, then the code is compared (HMAC, constant time) or the
provider is asked (`verify_otp`, its answer read by the providers' answer
rule: accepted is right, a documented rejection wrong, anything else
`unavailable`); a right code is approved once.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from smsops.config.loader import Config
from smsops.config.models import Template
from smsops.config.otp import CODE_LENGTH, CODE_VARIABLE
from smsops.config.providers import ProviderBase
from smsops.config.tokens import refusal
from smsops.core import envref
from smsops.core.errors import Location, OtpRefused, OtpUnusable, SecretMissing
from smsops.core.phone import normalize, scrub_numbers
from smsops.core.recipient import Recipient
from smsops.core.reserved import OTP_PREFIX
from smsops.core.secrets import redact
from smsops.core.skips import Skip
from smsops.engine.apply import ApplyOptions, Sender
from smsops.engine.clock import SYSTEM_CLOCK, Clock
from smsops.engine.exchange import exchange
from smsops.engine.lanes import Lane, Lanes
from smsops.engine.messages import message_for
from smsops.engine.owner import this_run
from smsops.engine.plan import Send
from smsops.engine.transport import Transport
from smsops.ledger.base import Ledger, Status
from smsops.ledger.otp import (
    OtpCode,
    OtpStore,
    RateLimited,
    SendOutcome,
    SendRule,
    Verdict,
    code_digest,
    matches,
)
from smsops.ledger.records import send_key
from smsops.providers.base import Accepted, Adapter, Message, Rejected, Result
from smsops.providers.registry import adapter_for
from smsops.render.renderer import compile_templates, render

SCHEDULE_PREFIX = OTP_PREFIX  # these rows are no schedule's (core/reserved.py)
MAX_NUMBER = 32  # characters of a number as given; E.164 is at most 16
_CODE = re.compile(r"[0-9]+")
_OUTCOMES = {
    Status.SENT: SendOutcome.SENT,
    Status.DELIVERED: SendOutcome.SENT,
    Status.UNDELIVERED: SendOutcome.SENT,
    Status.FAILED: SendOutcome.FAILED,
    Status.EXPIRED: SendOutcome.FAILED,
}


@dataclass(frozen=True)
class OtpAnswer:
    """What a send or verify answers: `status` is a SendOutcome or a Verdict value."""

    status: str
    provider: str | None = None
    attempts_left: int | None = None  # wrong_code
    retry_after: float | None = None  # rate_limited: seconds
    reason: str | None = None  # failed, uncertain, unavailable: why (no number, no secret)

    def as_json(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def e164(raw: object) -> tuple[str, str | None]:
    """A number as the API takes it: E.164 text (with its `+`), else OtpRefused."""
    if not isinstance(raw, str) or not raw.strip():
        raise OtpRefused("`to` must be a phone number in E.164 form, e.g. +447700900123")
    if len(raw) > MAX_NUMBER or not raw.strip().startswith("+"):
        raise OtpRefused("`to` must be a phone number in E.164 form (a + and its country code)")
    found = normalize(raw)
    if isinstance(found, str):
        raise OtpRefused(f"`to` is not a number a message can go to: {found}")
    return found.e164, found.region


def checked_code(raw: object) -> str:
    """A code as a person typed it: digits only, of a length some policy allows."""
    low, high = CODE_LENGTH
    if not isinstance(raw, str) or not _CODE.fullmatch(raw) or not low <= len(raw) <= high:
        raise OtpRefused(f"`code` must be {low} to {high} digits (0-9), nothing else")
    return raw


class Otp:
    """Sends and verifies one-time codes of `config` over `ledger` (which must keep them).

    `lanes`: run mode's provider lanes, so a code shares each provider's pace
    and in-flight cap with the schedules' rounds. `transport`: tests.
    """

    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        env: Mapping[str, str],
        *,
        clock: Clock = SYSTEM_CLOCK,
        lanes: Lanes | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not isinstance(ledger, OtpStore):
            raise OtpUnusable("this ledger keeps no one-time codes")
        self.config, self.ledger, self.codes, self.env = config, ledger, ledger, env
        self.clock, self.lanes, self.transport = clock, lanes, transport

    def provider_for(self, template: str, provider: str | None) -> str:
        """The provider that sends `template`: the one named, or the only one that can."""
        able = [name for name, p in self.config.providers.items() if self._can_send(p)]
        if provider is not None:
            if provider not in self.config.providers:
                raise OtpRefused(f"no provider named {_named(provider)!r}", missing=True)
            if provider not in able:
                raise OtpRefused(
                    f"provider {provider!r} cannot send one-time codes as configured "
                    "(it lacks OTP, or its OTP key)"
                )
            return provider
        if len(able) == 1:
            return able[0]
        if not able:
            raise OtpRefused("no provider of this config can send one-time codes")
        raise OtpRefused(
            f"several providers can send template {template!r} ({', '.join(able)}): "
            "name one as `provider`"
        )

    async def send(self, to: object, template: object, provider: object = None) -> OtpAnswer:
        """Send a new code to `to` with `template`; the outcome (rate_limited: nothing sent)."""
        phone, region = e164(to)
        name, chosen = self._template(template), self._provider_name(provider)
        config = self.config.templates[name]
        provider_name = self.provider_for(name, chosen)
        adapter = adapter_for(provider_name, self.config.providers[provider_name], self.env)
        policy = config.otp_policy
        now = self.clock.now()
        code_id = secrets.token_hex(16)
        private: tuple[str, ...] = ()  # the code, kept out of every error text
        if adapter.makes_otp_codes:
            digest, message = None, Message(phone, "", category="otp", region=region)
            segments, text_hash = 1, _hash(config.body)
        else:
            secret = self._secret()
            code = "".join(secrets.choice("0123456789") for _ in range(policy.code_length))
            digest = code_digest(secret, code_id, phone, code)
            private = (code,)
            message, segments = self._rendered(name, config, provider_name, phone, region, code)
            text_hash = _hash(config.body)
        stored = OtpCode(
            id=code_id,
            recipient=phone,
            provider=provider_name,
            template=name,
            digest=digest,
            created_at=now,
            expires_at=now + policy.expiry,
            max_attempts=policy.max_attempts,
        )
        rule = SendRule(policy.max_sends, policy.send_window, policy.min_gap)
        refused = await asyncio.to_thread(self.codes.open_code, stored, rule)
        if isinstance(refused, RateLimited):
            wait = round(max(refused.retry_after, 0.0), 3)
            status = SendOutcome.RATE_LIMITED.value
            return OtpAnswer(status, provider_name, retry_after=wait, reason=refused.reason)
        schedule = SCHEDULE_PREFIX + name
        send = Send(
            key=send_key(schedule, code_id, phone),
            schedule=schedule,
            occurrence=code_id,
            template=name,
            providers=(provider_name,),
            message=message,
            text_hash=text_hash,
            segments=segments,
            closes=stored.expires_at,  # a code that expired before it could go is not sent
            private=private,
        )
        outcome = SendOutcome.UNCERTAIN  # until the answer is read
        reason: str | None = None
        try:
            outcome, reason = await self._send(send)
        finally:  # whatever happened, the code's row says it (a failure of smsops stays loud)
            await asyncio.to_thread(self.codes.code_sent, stored, outcome, self.clock.now())
        return OtpAnswer(outcome.value, provider_name, reason=reason)

    async def verify(self, to: object, code: object, provider: object = None) -> OtpAnswer:
        """Check `code` against the newest code sent to `to` (of `provider`, if given)."""
        phone, _ = e164(to)
        typed = checked_code(code)
        chosen = self._provider_name(provider)
        if chosen is not None and chosen not in self.config.providers:
            raise OtpRefused(f"no provider named {_named(chosen)!r}", missing=True)
        taken = await asyncio.to_thread(self.codes.take_attempt, phone, chosen, self.clock.now())
        if isinstance(taken, Verdict):
            return OtpAnswer(taken.value, chosen)
        if taken.digest is not None:
            right = matches(taken, code_digest(self._secret(), taken.id, phone, typed))
            return await self._judged(taken, right)
        if taken.provider not in self.config.providers:
            return await self._unavailable(taken, "its provider is no longer in the config")
        adapter = adapter_for(taken.provider, self.config.providers[taken.provider], self.env)
        (result,) = await self._ask(adapter, phone, typed)
        if isinstance(result, Accepted | Rejected):
            return await self._judged(taken, isinstance(result, Accepted))
        # The provider's error may echo the request: the number and the code typed
        reason = scrub_numbers(redact(result.reason, (typed,)))
        return await self._unavailable(taken, reason)

    async def _judged(self, taken: OtpCode, right: bool) -> OtpAnswer:
        now = self.clock.now()
        if right:
            approved = await asyncio.to_thread(self.codes.approve, taken, now)
            return OtpAnswer(approved.value, taken.provider)
        await asyncio.to_thread(self.codes.record_verdict, taken, Verdict.WRONG_CODE, now)
        status = Verdict.WRONG_CODE.value
        return OtpAnswer(status, taken.provider, attempts_left=taken.attempts_left)

    async def _unavailable(self, taken: OtpCode, reason: str) -> OtpAnswer:
        now = self.clock.now()
        await asyncio.to_thread(self.codes.record_verdict, taken, Verdict.UNAVAILABLE, now)
        return OtpAnswer(Verdict.UNAVAILABLE.value, taken.provider, reason=reason)

    async def _ask(self, adapter: Adapter, phone: str, code: str) -> list[Result]:
        """The provider's word on `code` (one request; its answer read by the answer rule)."""
        message = Message(phone, "", category="otp")
        timeout = Lane(adapter).timeout
        async with self.transport or Transport(max_connections=1) as http:
            results = await exchange(
                http, adapter, lambda: adapter.verify_otp(phone, code), [message], timeout
            )
        return results

    async def _send(self, send: Send) -> tuple[SendOutcome, str | None]:
        options = ApplyOptions(claimed_by=this_run(), clock=self.clock)
        sender = Sender(
            self.config, self.ledger, self.env, options, transport=self.transport, shared=self.lanes
        )
        report = await sender.run([send])
        row = (await asyncio.to_thread(self.ledger.get, [send.key])).get(send.key)
        if row is None:
            detail = report.ledger_error or "; ".join(report.problems) or "nothing was claimed"
            return SendOutcome.FAILED, f"not sent: {detail}"
        outcome = _OUTCOMES.get(row.status, SendOutcome.UNCERTAIN)
        if outcome is SendOutcome.SENT or row.error is None:
            return outcome, None
        # The answer's reader is the caller: the number masked, as every view shows it (the
        # error may echo the request); the code is out of it already (`Send.private`).
        return outcome, scrub_numbers(row.error)

    def _template(self, template: object) -> str:
        if not isinstance(template, str) or template not in self.config.templates:
            raise OtpRefused(f"no template named {_named(template)!r}", missing=True)
        if self.config.templates[template].category != "otp":
            raise OtpRefused(f"template {template!r} is not of category otp")
        return template

    def _provider_name(self, provider: object) -> str | None:
        if provider is None or (isinstance(provider, str) and len(provider) <= 64):
            return provider
        raise OtpRefused("`provider` must be a provider's name")

    def _secret(self) -> str:
        reference = self.config.otp_secret()
        if reference is None:
            raise OtpUnusable(
                "one-time codes smsops makes need the top-level `otp: {secret: ${env:NAME}}`"
            )
        try:
            value = envref.resolve(reference, self.env, "otp")
        except SecretMissing as missing:
            raise OtpUnusable(
                f"the otp secret reads the environment variable {missing.variable} "
                f"({reference}), which is not set: set it to a long random value where codes "
                "are sent and verified"
            ) from None
        # The token rule (config/tokens.py); the sandbox's placeholder values are no
        # secrets: any value does there.
        weak = refusal("the otp secret", reference, value)
        if weak is not None and not isinstance(self.env, envref.Placeholders):
            raise OtpUnusable(weak)
        return value

    def _rendered(
        self,
        name: str,
        template: Template,
        provider: str,
        phone: str,
        region: str | None,
        code: str,
    ) -> tuple[Message, int]:
        compiled = compile_templates(self.config, [name])[name]
        if CODE_VARIABLE not in compiled.variables:
            raise OtpUnusable(
                f"template {name!r} does not render {{{{ {CODE_VARIABLE} }}}}, and provider "
                f"{provider!r} does not make codes itself: the code would never reach the person"
            )
        recipient = Recipient.contact(phone, region, {}, Location(self.config.root))
        now = self.clock.now()
        rendered = render(
            compiled, SCHEDULE_PREFIX + name, {CODE_VARIABLE: code}, recipient, "otp", now
        )
        if isinstance(rendered, Skip):
            raise OtpUnusable(f"template {name!r} cannot be rendered: {rendered.detail}")
        return message_for(rendered, recipient, template), rendered.segments

    def _can_send(self, provider: ProviderBase) -> bool:
        return provider.capabilities.otp and provider.lacks("otp") is None


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _named(value: object) -> str:
    """A name the request gave that the config lacks, fit to quote: it is the API's answer
    and may be anything, a number too (masked), or huge (left out)."""
    return scrub_numbers(value) if isinstance(value, str) and len(value) <= 64 else "..."
