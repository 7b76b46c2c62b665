"""Every request variant, as the provider receives it (secrets redacted), as snapshots."""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from smsops.core.errors import SecretMissing
from smsops.core.skips import SkipReason
from smsops.providers.base import Message
from smsops.providers.redaction import redacted
from smsops.providers.sendwithses import SendWithSESAdapter
from tests.providers.conftest import SECRETS, make_adapter

UK = Message(recipient="+447400123456", text="Hi Sam, order A-1 has shipped.", region="GB")
US = Message(recipient="+12025550199", text="Hi Dana, order A-4 has shipped.", region="US")

VARIANTS: dict[str, tuple[str, dict[str, Any], list[Message]]] = {
    "ses-transactional": ("ses", {}, [UK]),
    "ses-us-origination": ("ses", {}, [US]),
    "ses-marketing-no-sender": (
        "ses",
        {"sender_id": None},
        [Message(UK.recipient, "20% off", "marketing", region="GB")],
    ),
    "ses-otp-category": ("ses", {}, [Message(UK.recipient, "ignored", "otp", region="GB")]),
    "skycore-minimal": ("sky", {}, [UK]),
    "skycore-digits-mask-campaign-tracking": (
        "sky",
        {
            "number_format": "digits",
            "from_mask": "ACME",
            "campaign_ref": "spring-2027",
            "click_tracking": True,
        },
        [UK],
    ),
    "opentact": ("ot", {}, [US]),
    "aoc-single": ("aoc", {}, [Message("+919820012345", "Hello World!", region="IN")]),
    "aoc-bulk": (
        "aoc",
        {},
        [Message(f"+91982001234{i}", "Hello World!", region="IN") for i in range(3)],
    ),
    "aoc-unicode-flash-promo": (
        "aoc",
        {},
        [Message("+919820012345", "नमस्ते", "marketing", ucs2=True, flash=True)],
    ),
    "aoc-template-custom": (
        "aoc",
        {},
        [
            Message(
                "+919820012345",
                "Dear Asha, 30% off",
                "marketing",
                template_id="1507165650000000000",
                custom=("Asha", "30"),
            )
        ],
    ),
    "aoc-route-override": ("aoc", {"route": "OTP"}, [Message("+919820012345", "code 1234")]),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_request_wire_format(variant: str, snapshot: SnapshotAssertion) -> None:
    name, changes, messages = VARIANTS[variant]
    adapter = make_adapter(name, **changes)
    request = adapter.build(messages)
    shown = redacted(request, adapter)
    assert shown == snapshot
    # The real request carries the secret; nothing we show does.
    assert any(value in SECRETS.values() for value in request.headers.values())
    assert not any(secret in str(shown) for secret in SECRETS.values())


def test_sendwithses_otp_send_and_verify(snapshot: SnapshotAssertion) -> None:
    adapter = make_adapter("ses")
    assert isinstance(adapter, SendWithSESAdapter)
    send = redacted(adapter.send_otp("+447400123456", "GB"), adapter)
    verify = redacted(adapter.verify_otp("+447400123456", "123456"), adapter)
    assert {"send": send, "verify": verify} == snapshot


def test_us_recipient_without_origination_is_skipped_before_any_request() -> None:
    adapter = make_adapter("ses", origination_number=None)
    assert adapter.skip_reason("US") == (
        SkipReason.NO_ORIGINATION_NUMBER,
        "provider 'ses' has no origination_number, required for US numbers",
    )
    assert adapter.skip_reason("GB") is None


def test_missing_secret_names_provider_and_variable() -> None:
    adapter = make_adapter("aoc")
    bare = type(adapter)(name=adapter.name, config=adapter.config, env={})
    with pytest.raises(
        SecretMissing, match=r"provider 'aoc' needs the environment variable AOC_KEY"
    ):
        bare.build([UK])


def test_secrets_are_not_in_reprs() -> None:
    for name in ("ses", "sky", "ot", "aoc"):
        adapter = make_adapter(name)
        for secret in SECRETS.values():
            assert secret not in repr(adapter)
            assert secret not in repr(adapter.config)


def test_adapters_stay_small() -> None:
    import importlib
    from pathlib import Path

    import smsops.providers as package
    from smsops.providers.registry import PROVIDER_MODULES

    # model, adapter, documented rejections (as data) and emulator: one small module
    for module in PROVIDER_MODULES:
        text = (Path(package.__file__).parent / f"{module}.py").read_text()
        doc = importlib.import_module(f"smsops.providers.{module}").__doc__ or ""
        # The module docstring is the provider's page of docs/providers.md, not adapter code.
        lines = text.replace(doc, "", 1).splitlines()
        assert len(lines) < 200, module


def test_registry_modules_hold_model_and_adapter_of_their_type() -> None:
    from typing import get_args

    from smsops.providers.registry import PROVIDER_MODULES, adapters

    assert tuple(adapters()) == PROVIDER_MODULES
    for name, adapter in adapters().items():
        assert get_args(adapter.config_model().model_fields["type"].annotation) == (name,)
        assert adapter.__module__ == f"smsops.providers.{name}"
