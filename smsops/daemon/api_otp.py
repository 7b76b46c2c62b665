"""`POST /v1/otp/send` and `POST /v1/otp/verify` (docs/otp.md): one-time codes over the API.

The shell (api.py) has authenticated the caller and read the body into its
model; the engine (`engine.otp.Otp`, the same code as `smsops otp`) does
the rest. Each answer is `{"status": ...}`, the status also the outcome
counted in `smsops_api_requests_total{route,outcome}`: a send is 200 `sent`
or `uncertain`, 429 `rate_limited` (with `retry_after`), 502 `failed`; a
verify is 200 with its verdict (`wrong_code` with `attempts_left`), 502
`unavailable` when the provider that checks it did not answer. A bad number,
code, template or provider is a 422 (404 for a name that is not there),
nothing sent or checked; a config that cannot make codes (its secret unset)
is a 503. Nothing here logs a number: the engine returns no number, and a
refusal's reason never quotes one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from smsops.core.errors import OtpRefused, OtpUnusable, Refused
from smsops.daemon.api import Answer, ApiRoute, Call
from smsops.engine.otp import Otp
from smsops.ledger.otp import SendOutcome, Verdict

_NUMBER = Field(max_length=32, description="The number, E.164 (`+447400123456`).")
_PROVIDER = Field(
    default=None,
    max_length=64,
    description="The provider's name; may be left out when one provider can send one-time codes.",
)
SEND_STATUS = {
    SendOutcome.SENT: 200,
    SendOutcome.UNCERTAIN: 200,
    SendOutcome.RATE_LIMITED: 429,
    SendOutcome.FAILED: 502,
}


class OtpSendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    to: str = _NUMBER
    template: str = Field(max_length=64, description="A template of category `otp`.")
    provider: str | None = _PROVIDER


class OtpVerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    to: str = _NUMBER
    code: str = Field(max_length=16, description="The digits the person typed (4 to 10).")
    provider: str | None = _PROVIDER


class OtpSent(BaseModel):
    status: Literal["sent", "uncertain", "failed", "rate_limited"]
    provider: str | None = None
    retry_after: float | None = Field(
        default=None, description="rate_limited: seconds until a code may be asked for again."
    )
    reason: str | None = None


class OtpVerified(BaseModel):
    status: Literal[
        "approved", "wrong_code", "expired", "too_many_attempts", "not_found", "unavailable"
    ]
    provider: str | None = None
    attempts_left: int | None = Field(default=None, description="wrong_code: tries that remain.")
    reason: str | None = None


def _otp(call: Call) -> Otp:
    runner = call.service.runner
    return Otp(runner.config, call.service.ledger, runner.env, lanes=runner.lanes)


def _refused(error: OtpRefused | OtpUnusable) -> Refused:
    if isinstance(error, OtpUnusable):
        return Refused(503, str(error))
    return Refused(404 if error.missing else 422, str(error))


async def send(call: Call) -> Answer:
    body: OtpSendRequest = call.body
    try:
        answer = await _otp(call).send(body.to, body.template, body.provider)
    except (OtpRefused, OtpUnusable) as error:
        raise _refused(error) from None
    status = SEND_STATUS[SendOutcome(answer.status)]
    return Answer(status, OtpSent.model_validate(answer.as_json()), answer.status)


async def verify(call: Call) -> Answer:
    body: OtpVerifyRequest = call.body
    try:
        answer = await _otp(call).verify(body.to, body.code, body.provider)
    except (OtpRefused, OtpUnusable) as error:
        raise _refused(error) from None
    status = 502 if answer.status == Verdict.UNAVAILABLE else 200
    return Answer(status, OtpVerified.model_validate(answer.as_json()), answer.status)


ROUTES = [
    ApiRoute(
        "POST",
        "/v1/otp/send",
        "otp_send",
        "Send a one-time code to a number",
        send,
        {
            200: (OtpSent, "sent, or uncertain (it may have gone out; it verifies)"),
            429: (OtpSent, "rate_limited: nothing sent"),
            502: (OtpSent, "failed: it certainly did not go out"),
        },
        body=OtpSendRequest,
    ),
    ApiRoute(
        "POST",
        "/v1/otp/verify",
        "otp_verify",
        "Check the code a person typed",
        verify,
        {
            200: (OtpVerified, "the verdict: approved, wrong_code, expired, ..."),
            502: (OtpVerified, "unavailable: the provider that checks it did not answer"),
        },
        body=OtpVerifyRequest,
    ),
]
