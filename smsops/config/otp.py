"""One-time codes in the config: each `otp` template's policy, and the server secret.

A template of category `otp` may carry `otp:` (its policy: code length,
expiry, verify attempts, sends per number); every value has a default and a
bound, because configs come from pull requests: a 1,000-digit code, a code
valid for a year or a million attempts would each undo what a one-time code
is for. The top-level `otp` map holds the server secret that keys the hashes
of the codes smsops makes (`otp: {secret: ${env:OTP_SECRET}}`): a
reference only, resolved when a code is made or checked.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smsops.config.types import Count, SecretRef, bounded_duration
from smsops.core.units import format_duration

CODE_LENGTH = (4, 10)
EXPIRY_RANGE = (timedelta(seconds=30), timedelta(hours=24))
ATTEMPTS_RANGE = (1, 20)
SENDS_RANGE = (1, 100)
SEND_WINDOW_RANGE = (timedelta(minutes=1), timedelta(hours=24))
GAP_RANGE = (timedelta(0), timedelta(hours=1))
# The variable an `otp` template renders the code smsops made into.
CODE_VARIABLE = "code"

if TYPE_CHECKING:
    Expiry = timedelta
    SendWindow = timedelta
    Gap = timedelta
else:
    Expiry = bounded_duration(*EXPIRY_RANGE)
    SendWindow = bounded_duration(*SEND_WINDOW_RANGE)
    Gap = bounded_duration(*GAP_RANGE)


class OtpPolicy(BaseModel):
    """How an `otp` template's codes are made, checked and rate limited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code_length: Count = Field(
        default=6,
        ge=CODE_LENGTH[0],
        le=CODE_LENGTH[1],
        description="Digits of a code smsops makes (4 to 10).",
    )
    expiry: Expiry = Field(
        default=timedelta(minutes=10),
        description=f"How long a code verifies ({format_duration(EXPIRY_RANGE[0])} to "
        f"{format_duration(EXPIRY_RANGE[1])}).",
    )
    max_attempts: Count = Field(
        default=5,
        ge=ATTEMPTS_RANGE[0],
        le=ATTEMPTS_RANGE[1],
        description="Verify attempts a code allows, right or wrong (1 to 20); then "
        "`too_many_attempts`.",
    )
    max_sends: Count = Field(
        default=5,
        ge=SENDS_RANGE[0],
        le=SENDS_RANGE[1],
        description="Codes one number may be sent per `send_window` (1 to 100), counted over "
        "every otp template.",
    )
    send_window: SendWindow = Field(
        default=timedelta(minutes=10),
        description=f"The window `max_sends` counts in ({format_duration(SEND_WINDOW_RANGE[0])} "
        f"to {format_duration(SEND_WINDOW_RANGE[1])}).",
    )
    min_gap: Gap = Field(
        default=timedelta(seconds=30),
        description="Shortest time between two codes to one number (0s to 1h, at most "
        "`send_window`).",
    )

    @model_validator(mode="after")
    def _gap_within_window(self) -> OtpPolicy:
        if self.min_gap > self.send_window:
            raise ValueError(
                f"min_gap ({format_duration(self.min_gap)}) is longer than send_window "
                f"({format_duration(self.send_window)}): make the gap shorter or the window longer"
            )
        return self


DEFAULT_POLICY = OtpPolicy()


class OtpSettings(BaseModel):
    """The top-level `otp` map: settings of every one-time code smsops makes."""

    # built when first used (defer_build): a config without `otp` never builds it
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    secret: SecretRef | None = Field(
        default=None,
        description="Keys the HMAC-SHA256 of each code smsops makes (the ledger keeps only "
        "that hash); must pass the token rule (32+ characters, random-looking). Needed by "
        "templates that render `{{ code }}`.",
    )
