"""Transactional sends (issue 22): one message now, from a template of the config.

The API's `POST /v1/messages` and `smsops send` both come here. A request
names a template, a number, its variables, maybe a provider, and an
idempotency key; it is checked and rendered as a schedule's send is (the
sandboxed renderer and its skips, the encoding, the providers' reach, the
suppression list for marketing, the template's own `quiet_hours`), then
handed to the one sending path, `engine.apply.Sender`: claimed in the ledger
right before its request, paced and capped by the provider's lane (shared
with the schedules' rounds in run mode), retried, failed over, settled.
Nothing here sends or writes a row any other way.

Idempotency: the ledger row's key is derived from API_MESSAGES and the
idempotency key alone (`send_key(API_MESSAGES, key, "")`), whatever number
it goes to, so one key is one claim, one message, for as long as the
ledger keeps the row, across processes and replicas. The row's occurrence
is the idempotency key, its `text_hash` the sha256 of the request as
checked (template, number in E.164, variables, provider asked for): a
repeated key with the same request gets the row's current state and sends
nothing (unless the policy table lets a claim take the row again: a failure
the provider certainly did not take, retried as a schedule's would be); with
another request it is a conflict (409), like Stripe's. In one process a
repeat that arrives while the first is still sending waits for its result.

Refusals are `Refused` (422 not sendable, 409 conflict, 503 a secret is
unset), raised before anything is claimed: nothing is recorded or sent.
Their reasons never quote the number.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
)

from smsops.config.loader import Config
from smsops.config.secret_refs import unset_variables
from smsops.config.types import NAME_PATTERN
from smsops.core.errors import Location, Refused
from smsops.core.phone import PhoneNumber, holds_number, mask, normalize, scrub_numbers
from smsops.core.recipient import Recipient
from smsops.core.reserved import API_MESSAGES
from smsops.core.skips import Skip
from smsops.engine.apply import ApplyOptions, Sender
from smsops.engine.lanes import Lanes
from smsops.engine.ledger_writes import LedgerWrites
from smsops.engine.messages import message_for
from smsops.engine.owner import this_run
from smsops.engine.plan import Send
from smsops.engine.sendable import NO_SECRETS, ProviderCheck
from smsops.engine.transport import Transport
from smsops.ledger.base import Ledger, SendRecord
from smsops.ledger.records import send_key
from smsops.providers.registry import adapter_for
from smsops.render.renderer import CompiledTemplate, compile_templates, render
from smsops.schedule.zones import quiet_zone, recipient_zones

T = TypeVar("T")
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
MAX_VARS = 50
MAX_VALUE = 500  # characters of one variable's value
WHERE = Location(Path("(api request)"))
VarName = Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
VarText = Annotated[str, Field(max_length=MAX_VALUE)]
# Numbers are rendered as text too, so they get the same bound as it; Python's json reads
# `1e999` as inf, which is no value a message should carry.
VarFloat = Annotated[StrictFloat, Field(allow_inf_nan=False)]


def _short(value: int) -> int:
    if len(str(value)) > MAX_VALUE:
        raise ValueError(f"a number of at most {MAX_VALUE} characters")
    return value


VarInt = Annotated[StrictInt, AfterValidator(_short)]
UTC_ZONE = ZoneInfo("UTC")  # quiet hours of a number no zone is known for


class MessageRequest(BaseModel):
    """`POST /v1/messages`: one message now, from a template of the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    template: str = Field(max_length=64, pattern=NAME_PATTERN, description="A template's name.")
    to: str = Field(
        min_length=1, max_length=32, description="The number, in E.164 (+447400123456)."
    )
    vars: dict[VarName, StrictBool | VarInt | VarFloat | VarText] = Field(
        default_factory=dict,
        max_length=MAX_VARS,
        description=f"The template's variables (at most {MAX_VARS}; values up to "
        f"{MAX_VALUE} characters).",
    )
    provider: str | None = Field(
        default=None,
        max_length=64,
        pattern=NAME_PATTERN,
        description="A provider of the config, alone (no failover); default: the `api` "
        "map's `providers`, or the config's only provider.",
    )
    idempotency_key: str = Field(
        pattern=KEY_PATTERN,
        description="The caller's name for this message: a repeated key sends nothing again.",
    )


class MessageKey(BaseModel):
    """The path of `GET /v1/messages/{key}`."""

    key: str = Field(pattern=KEY_PATTERN, description="The idempotency key of the send.")


class MessageAnswer(BaseModel):
    """Where a transactional send stands: as sent, or as the ledger holds it now."""

    key: str = Field(description="The idempotency key.")
    status: Literal[
        "pending", "sent", "delivered", "undelivered", "failed", "uncertain", "expired"
    ] = Field(description="The ledger's status of the send (docs/concepts.md).")
    provider: str = Field(description="The provider it went (or was to go) through.")
    to: str = Field(description="The number, masked.")
    template: str
    segments: int
    message_id: str | None = Field(default=None, description="The provider's message id.")
    error: str | None = Field(default=None, description="Why it failed, or may have gone.")
    receipt: str | None = Field(
        default=None, description="The provider's own word of its delivery report (N202...)."
    )
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Outcome:
    answer: MessageAnswer
    replayed: bool  # the key was known: nothing was sent by this request


def answer_of(row: SendRecord) -> MessageAnswer:
    """A ledger row as the API shows it: the number masked, the error scrubbed of numbers."""
    return MessageAnswer(
        key=row.occurrence,
        status=row.status.value,  # checked against the Literal (tests: every Status is one)
        provider=row.provider,
        to=mask(row.recipient),
        template=row.template,
        segments=row.segments,
        message_id=row.provider_message_id,
        error=scrub_numbers(row.error) if row.error else None,
        receipt=row.receipt_code,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def key_of(idempotency_key: str) -> str:
    """The ledger key of a transactional send: its idempotency key alone."""
    return send_key(API_MESSAGES, idempotency_key, "")


class _Kept(httpx.AsyncBaseTransport):
    """A transport each Sender borrows: its `async with` must not close the shared pool."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """The owner (`Transactional.aclose`) closes the pool, not each borrower."""


class Transactional:
    """Transactional sends over one ledger; `aclose` when done (it keeps a connection pool).

    `lanes`: run mode's, so these sends share each provider's cap and pace
    with the schedules' rounds. `transport`: tests' httpx.MockTransport.
    """

    def __init__(
        self,
        ledger: Ledger,
        env: Mapping[str, str],
        lanes: Lanes | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        options: ApplyOptions | None = None,  # tests: fewer attempts
    ) -> None:
        self.ledger, self.env = ledger, env
        self.options = options or ApplyOptions()
        self.lanes = lanes or Lanes(shared=ledger.shared_pace())
        self.pool = transport or Transport(max_connections=256)
        # key -> (fingerprint, result) of the request sending it in this process now
        self.sending: dict[str, tuple[str, asyncio.Future[Outcome]]] = {}
        # One LedgerWrites for every send in flight: concurrent requests' claims (and
        # settlements) share one commit each turn, as a round's sends do. A failed one
        # is retired (closed in the background: it retries what it could not write).
        self._writes: LedgerWrites | None = None
        self._retired: set[asyncio.Task[None]] = set()
        self._compiled: tuple[Config, dict[str, CompiledTemplate]] | None = None

    async def aclose(self) -> None:
        try:
            if self._writes is not None:
                await self._writes.close()
            await asyncio.gather(*self._retired, return_exceptions=True)
        finally:
            await self.pool.aclose()

    def writes(self) -> LedgerWrites:
        """The shared writes; a fresh one once a write failed (the ledger may be back)."""
        current = self._writes
        if current is not None and current.broken:
            retired = asyncio.get_running_loop().create_task(current.close())
            self._retired.add(retired)
            retired.add_done_callback(self._retired.discard)
            current = None
        if current is None:
            current = self._writes = LedgerWrites(self.ledger, resend_uncertain=False)
        current.refused.clear()  # nobody reads them here: each send reads its own row
        return current

    async def look(self, idempotency_key: str) -> MessageAnswer | None:
        rows = await self._off_loop(lambda: self.ledger.get([key_of(idempotency_key)]))
        row = rows.get(key_of(idempotency_key))
        return None if row is None else answer_of(row)

    async def send(self, config: Config, request: MessageRequest) -> Outcome:
        """Send `request` once per idempotency key; `Refused` when it cannot be sent."""
        key = key_of(request.idempotency_key)
        number = normalize(request.to)  # once: a third of an API send's own time
        e164 = number.e164 if isinstance(number, PhoneNumber) else None
        mine = fingerprint(request, e164)
        first = self.sending.get(key)
        if first is not None:  # the same key is being sent by this process now
            theirs, result = first
            earlier = await asyncio.shield(result)
            _same(mine, theirs)
            return Outcome(earlier.answer, replayed=True)
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.sending[key] = (mine, done)
        try:
            outcome = await self._send(config, request, key, mine, number)
        except BaseException as exc:
            done.set_exception(exc)
            done.exception()  # retrieved: a waiter gets it, nobody else is told it was lost
            raise
        else:
            done.set_result(outcome)
            return outcome
        finally:
            del self.sending[key]

    async def _send(
        self, config: Config, request: MessageRequest, key: str, mine: str,
        number: PhoneNumber | str,
    ) -> Outcome:  # fmt: skip
        row = (await self._off_loop(lambda: self.ledger.get([key]))).get(key)
        if row is not None:
            _same(mine, row.text_hash)
            if not row.reclaimable:  # a failure the provider certainly did not take is retried
                return Outcome(answer_of(row), replayed=True)
        now = datetime.now(UTC)
        send = await self._off_loop(lambda: self.prepare(config, request, now, mine, number))
        sender = Sender(
            config,
            self.ledger,
            self.env,
            replace(self.options, claimed_by=this_run()),
            transport=_Kept(self.pool),
            shared=self.lanes,
            writes=self.writes(),
        )
        report = await sender.run([send])
        row = (await self._off_loop(lambda: self.ledger.get([key]))).get(key)
        if row is None:  # never claimed: a ledger error (report.ledger_error says which)
            why = report.ledger_error or "the ledger did not take the claim"
            raise RuntimeError(f"nothing was sent: {why}")
        _same(mine, row.text_hash)  # another process may have claimed it first, for another
        return Outcome(answer_of(row), replayed=bool(report.taken))

    def prepare(
        self,
        config: Config,
        request: MessageRequest,
        now: datetime,
        identity: str,
        number: PhoneNumber | str,
    ) -> Send:
        """The send of `request`, checked and rendered as a schedule's; `Refused` if not.
        `identity`: its `fingerprint`, kept as the row's `text_hash`; `number`: `request.to`
        normalised (by `send`, once: parsing it is a third of an API send's own time)."""
        template = config.templates.get(request.template)
        if template is None:
            raise Refused(422, "template: the config has no template of that name")
        if template.category == "otp":  # a caller's own code would skip the OTP policy
            raise Refused(
                422,
                f"template {request.template!r} is a one-time code template: send codes "
                "with POST /v1/otp/send or `smsops otp send` (docs/otp.md)",
            )
        if not isinstance(number, PhoneNumber):
            raise Refused(422, f"to: {number}; write it in E.164: +, country code, number")
        if holds_number(request.idempotency_key, number.e164):
            raise Refused(
                422,
                "idempotency_key: holds the number it sends to, and the key is shown in full "
                "wherever its row is (ledger list and export, the status view): use an id of "
                "yours instead (order-42-shipped)",
            )
        providers = self._providers(config, request)
        variables = {name: str(value) for name, value in request.vars.items()}
        recipient = Recipient.contact(number.e164, number.region, variables, WHERE)
        checks = ProviderCheck([adapter_for(p, config.providers[p], NO_SECRETS) for p in providers])
        if (blocked := checks.skip(recipient)) is not None:
            raise Refused(422, f"to: {blocked.detail}")
        if template.quiet_hours is not None:
            zones = recipient_zones(recipient, None, UTC_ZONE)
            assert not isinstance(zones, str)  # no column: the number's zones, or UTC
            zone = quiet_zone(template.quiet_hours, zones, now)
            if zone is not None:
                quiet = template.quiet_hours
                raise Refused(
                    422,
                    f"template {request.template!r}: quiet hours {quiet.start:%H:%M}-"
                    f"{quiet.end:%H:%M} in {zone.key}; send it later",
                )
        if template.category == "marketing" and self.ledger.suppressed([number.e164]):
            raise Refused(422, "to: on the ledger's suppression list (STOP)")
        rendered = render(
            self._templates(config)[request.template], API_MESSAGES, {}, recipient,
            request.idempotency_key, now,
        )  # fmt: skip
        if isinstance(rendered, Skip):
            raise Refused(422, f"template {request.template!r}: {rendered.detail}")
        if unset := unset_variables(config, self.env, providers):
            missing = ", ".join(sorted({u.variable for u in unset}))
            raise Refused(503, f"the provider's secrets are not set: {missing}")
        return Send(
            key=key_of(request.idempotency_key),
            schedule=API_MESSAGES,
            occurrence=request.idempotency_key,
            template=request.template,
            providers=tuple(providers),
            message=message_for(rendered, recipient, template),
            text_hash=identity,
            segments=rendered.segments,
        )

    def _providers(self, config: Config, request: MessageRequest) -> list[str]:
        if request.provider is not None:
            if request.provider not in config.providers:
                raise Refused(422, "provider: the config has no provider of that name")
            return [request.provider]
        if config.api is not None and config.api.providers:
            return list(config.api.providers)
        if len(config.providers) == 1:
            return list(config.providers)
        raise Refused(
            422,
            "provider: the config has several providers; name one, or list them in "
            "the `api` map's `providers`",
        )

    def _templates(self, config: Config) -> dict[str, CompiledTemplate]:
        """The config's templates, compiled once per config (a reload brings a new one)."""
        if self._compiled is None or self._compiled[0] is not config:
            self._compiled = (config, compile_templates(config))
        return self._compiled[1]

    async def _off_loop(self, work: Callable[[], T]) -> T:
        """Ledger reads off the event loop where they wait on a server (PostgreSQL)."""
        if self.ledger.writes_in_thread:
            return await asyncio.to_thread(work)
        return work()


def _same(mine: str, theirs: str) -> None:
    """Refuses (409) a request that is not the one first sent under its key."""
    if mine != theirs:
        raise Refused(
            409,
            "this idempotency_key was used with another request (template, to, vars or "
            "provider differ); use a new key for a new message",
        )


def fingerprint(request: MessageRequest, e164: str | None) -> str:
    """sha256 of what makes a request the same request: kept in its row's `text_hash`
    (`e164`: the number normalised, so two spellings of it are the same request)."""
    same = {
        "template": request.template,
        "to": e164 or request.to,
        "vars": {name: str(value) for name, value in request.vars.items()},  # as rendered
        "provider": request.provider,
    }
    return hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()
