from __future__ import annotations

from typing import Any

import pytest

from smsops.config.providers import ProviderBase
from smsops.providers.base import Adapter
from smsops.providers.registry import adapter_for, provider_models

SECRETS = {
    "SES_TX": "ses-transactional-SECRET",
    "SES_MK": "ses-marketing-SECRET",
    "SES_OTP": "ses-otp-SECRET",
    "SKY_KEY": "skycore-SECRET",
    "OT_JWT": "opentact-SECRET",
    "AOC_KEY": "aoc-SECRET",
    "TW_SID": "AC-twilio-sid-SECRET",
    "TW_TOKEN": "twilio-token-SECRET",
}

CONFIGS: dict[str, dict[str, Any]] = {
    "ses": {
        "type": "sendwithses",
        "template_keys": {
            "transactional": "${env:SES_TX}",
            "marketing": "${env:SES_MK}",
            "otp": "${env:SES_OTP}",
        },
        "sender_id": "ACME",
        "origination_number": "+12025550143",
    },
    "sky": {
        "type": "skycore",
        "base_url": "https://sky.example.invalid/api/v2",
        "api_key": "${env:SKY_KEY}",
        "from": "12025550100",
    },
    "ot": {"type": "opentact", "token": "${env:OT_JWT}", "from": "+12017771234"},
    "aoc": {
        "type": "aoc",
        "base_url": "https://one.telepie.com",
        "api_key": "${env:AOC_KEY}",
        "sender": "AOCAPI",
        "bulk_size": 3,
    },
    "tw": {
        "type": "twilio",
        "account_sid": "${env:TW_SID}",
        "auth_token": "${env:TW_TOKEN}",
        "from": "+12025550100",
    },
}


def make_adapter(name: str, base_url: str | None = None, **changes: Any) -> Adapter:
    data = CONFIGS[name] | changes
    if base_url is not None:
        data = data | {"base_url": base_url}
    config: ProviderBase = provider_models()[data["type"]].model_validate(data)
    return adapter_for(name, config, SECRETS)


@pytest.fixture
def secrets() -> dict[str, str]:
    return SECRETS
