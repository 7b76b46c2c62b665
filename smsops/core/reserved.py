"""Schedule names smsops keeps for sends no schedule makes: the one home of them.

Ledger rows carry a schedule name; sends that no schedule of the config
makes are filed under one of these, so `ledger list` and `ledger stats`
show them as what they are and their keys never meet a schedule's. Each
holds a `:`, which a config name cannot (`smsops.config.types.NAME_PATTERN`),
and `check_name` refuses every one of them besides, so a later change of the
pattern cannot open them to a config.
"""

from __future__ import annotations

# Transactional sends of the API and `smsops send` (engine/transactional.py):
# the occurrence is the caller's idempotency key.
API_MESSAGES = "api:messages"
# The reply to an opt-out (`defaults.opt_out.confirm_template`).
OPT_OUT_CONFIRM = "opt-out:confirm"

# One-time codes (engine/otp.py): `otp:TEMPLATE`, the occurrence the code's id.
OTP_PREFIX = "otp:"

RESERVED = frozenset({API_MESSAGES, OPT_OUT_CONFIRM})


def reserved(name: str) -> str | None:
    """Why `name` cannot be a schedule's (None: it can, as far as reserved names go)."""
    if name in RESERVED or name.startswith(OTP_PREFIX):
        return f"{name!r} is a name smsops keeps for its own sends; choose another"
    return None
