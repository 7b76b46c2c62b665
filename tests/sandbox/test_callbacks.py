"""The sandbox closes the loop: receipts after a send and texts from people, over loopback.

What the sandbox posts is read back with smsops's own webhook parsers
(providers/skycore_hooks.py, twilio_hooks.py): the sandbox writes exactly
what those read, in the seeds' formats.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from defusedxml.ElementTree import fromstring

from smsops.core.hooks import Delivery, Inbound
from smsops.providers import skycore_hooks, twilio_hooks
from smsops.providers.base import Accepted, Message
from smsops.providers.emulation import Post
from smsops.sandbox.loop import picked
from smsops.sandbox.poster import Poster, loopback
from smsops.sandbox.server import Sandbox
from tests.providers.conftest import SECRETS, make_adapter
from tests.sandbox.receiver import Receiver, dead, receiving, stalled, until

NUMBERS = [f"+4474001234{i:02d}" for i in range(12)]
# The elements of an SMS_MT postback, in the seed's order (seeds/skycore-postbacks.md).
SEED_MT = [
    "ORIGIN", "CODE", "STATUS", "FROM", "FROM_MASK", "TO", "TRACKINGID", "SPID", "TIMESTAMP",
    "AGGREGATORID",
]  # fmt: skip
SEED_MO = ["ORIGIN", "CODE", "FROM", "TO", "TEXT", "RECEIVED", "TRANSACTIONID"]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


def configure(client: httpx.Client, sandbox: Sandbox, **body: Any) -> httpx.Response:
    return client.put(sandbox.url + "/_sandbox/callbacks", json=body)


def send(client: httpx.Client, sandbox: Sandbox, name: str, number: str, **changes: Any) -> str:
    base = changes.pop("base_url", None) or sandbox.base_url(make_type(name))
    adapter = make_adapter(name, base_url=base, **changes)
    message = Message(number, "Hi")
    (result,) = adapter.parse(client.send(adapter.build([message])), [message])
    assert isinstance(result, Accepted)
    assert result.message_id
    return result.message_id


def make_type(name: str) -> str:
    return {"sky": "skycore", "tw": "twilio"}[name]


def sky_target(receiver: Receiver, **more: str) -> dict[str, Any]:
    url = receiver.url + "/hooks/sky/receipts?token=T0K"
    return {"sky": {"type": "skycore", "receipts_url": url, **more}}


def test_skycore_posts_n201_then_n202_or_e202_as_the_seed_shows(
    sandbox: Sandbox, client: httpx.Client, receiver: Receiver
) -> None:
    assert configure(
        client, sandbox, targets=sky_target(receiver), undelivered_share=0.5
    ).is_success
    ids = {send(client, sandbox, "sky", number): number for number in NUMBERS}
    seen = receiver.wait_for(2 * len(NUMBERS))
    by_id: dict[str, list[str]] = {}
    for post in seen:
        assert post.path == "/hooks/sky/receipts?token=T0K"
        assert post.headers["content-type"] == "application/xml"
        assert [child.tag for child in fromstring(post.body)] == SEED_MT
        (receipt,) = skycore_hooks.read("sky", post.body)
        assert isinstance(receipt, skycore_hooks.Receipt)
        assert fromstring(post.body).findtext("TO") == ids[receipt.message_id].lstrip("+")
        by_id.setdefault(receipt.message_id, []).append(receipt.code)
    assert set(by_id) == set(ids)
    for message_id, codes in by_id.items():  # each message's postbacks in order
        final = "E202" if picked(ids[message_id], "undelivered", 0.5) else "N202"
        assert codes == ["N201", final]
    # the share is by number: some of each here, and the same answer every time
    assert 0 < sum(picked(n, "undelivered", 0.5) for n in NUMBERS) < len(NUMBERS)


def test_skycore_accounts_are_told_apart_by_the_base_urls_last_segment(
    sandbox: Sandbox, client: httpx.Client, receiver: Receiver
) -> None:
    targets = sky_target(receiver) | {
        "other": {"type": "skycore", "receipts_url": receiver.url + "/hooks/other/receipts"}
    }
    configure(client, sandbox, targets=targets, interim=False)
    send(client, sandbox, "sky", NUMBERS[0], base_url=sandbox.base_url("skycore") + "/other")
    send(client, sandbox, "sky", NUMBERS[1], base_url=sandbox.base_url("skycore") + "/sky")
    send(client, sandbox, "sky", NUMBERS[2], base_url=sandbox.base_url("skycore") + "/nobody")
    send(client, sandbox, "sky", NUMBERS[3])  # no account named: two targets, none chosen
    seen = receiver.wait_for(2)
    until(
        lambda: sandbox.state.loop.poster is not None and sandbox.state.loop.poster.pending() == 0
    )
    assert sorted(post.path.partition("?")[0] for post in receiver.seen) == [
        "/hooks/other/receipts",
        "/hooks/sky/receipts",
    ]
    assert len(seen) == 2


def test_twilio_status_callbacks_are_signed_with_the_accounts_auth_token(
    sandbox: Sandbox, client: httpx.Client, receiver: Receiver
) -> None:
    url = receiver.url + "/hooks/tw/receipts"
    configure(client, sandbox, undelivered_share=0.5)
    ids = {send(client, sandbox, "tw", n, status_callback=url): n for n in NUMBERS[:6]}
    seen = receiver.wait_for(12)
    finals: dict[str, Delivery] = {}
    for post in seen:
        assert post.headers["content-type"] == "application/x-www-form-urlencoded"
        params = twilio_hooks.form(post.body)
        signature = post.headers["x-twilio-signature"]
        twilio_hooks.check_signature(url, params, SECRETS["TW_TOKEN"], signature)
        with pytest.raises(twilio_hooks.HookRefused):
            twilio_hooks.check_signature(url, params, "another-token", signature)
        receipt = twilio_hooks.receipt("tw", params)
        assert dict(params)["To"] == ids[receipt.message_id]
        if receipt.delivery is not Delivery.INTERIM:
            finals[receipt.message_id] = receipt.delivery
            assert (receipt.error == "30003") == (receipt.delivery is Delivery.UNDELIVERED)
    assert finals == {
        message_id: Delivery.UNDELIVERED
        if picked(number, "undelivered", 0.5)
        else Delivery.DELIVERED
        for message_id, number in ids.items()
    }


def test_an_injected_text_arrives_as_skycore_mo_and_as_a_signed_twilio_message(
    sandbox: Sandbox, client: httpx.Client, receiver: Receiver
) -> None:
    targets = sky_target(receiver, inbound_url=receiver.url + "/hooks/sky/inbound?token=T0K")
    tw_url = receiver.url + "/hooks/tw/inbound"
    targets["tw"] = {"type": "twilio", "inbound_url": tw_url, "secret": "tw-token"}
    assert configure(client, sandbox, targets=targets).is_success
    for provider, text in (("sky", "STOP"), ("tw", " start & <go>\n")):
        body = {"from": NUMBERS[0], "to": "12025550100", "text": text, "provider": provider}
        answer = client.post(sandbox.url + "/_sandbox/inbound", json=body)
        assert answer.status_code == 202, answer.text
        receiver.wait_for(1 if provider == "sky" else 2)
    sky, tw = receiver.seen
    assert sky.path == "/hooks/sky/inbound?token=T0K"
    assert [child.tag for child in fromstring(sky.body)] == SEED_MO
    assert skycore_hooks.read("sky", sky.body) == Inbound(
        "sky",
        NUMBERS[0],
        "12025550100",
        "STOP",
        skycore_hooks.read("sky", sky.body).at,  # type: ignore[union-attr]
    )
    params = twilio_hooks.form(tw.body)
    twilio_hooks.check_signature(tw_url, params, "tw-token", tw.headers["x-twilio-signature"])
    assert twilio_hooks.inbound("tw", params) == Inbound(
        "tw", NUMBERS[0], "12025550100", " start & <go>\n"
    )
    shown = client.get(sandbox.url + "/_sandbox/callbacks").json()
    assert "T0K" not in str(shown)
    assert "tw-token" not in str(shown)
    assert shown["targets"]["tw"]["secret"] == "***"


def test_options_delay_twice_and_first(
    sandbox: Sandbox, client: httpx.Client, receiver: Receiver
) -> None:
    configure(client, sandbox, targets=sky_target(receiver), twice_share=1.0, interim=False)
    send(client, sandbox, "sky", NUMBERS[0])
    first, second = receiver.wait_for(2)
    assert first.body == second.body  # the same postback twice

    receiver.seen.clear()
    configure(client, sandbox, twice_share=0.0, first_share=1.0, delay_ms=60_000)
    send(client, sandbox, "sky", NUMBERS[1])
    assert len(receiver.seen) == 1  # posted and answered before the send's own answer

    receiver.seen.clear()
    configure(client, sandbox, first_share=0.0, delay_ms=5_000)
    send(client, sandbox, "sky", NUMBERS[2])
    assert receiver.seen == []  # the answer came first; the postback waits its delay
    assert sandbox.state.loop.poster is not None
    assert sandbox.state.loop.poster.pending() == 1


def test_picked_is_stable_and_takes_its_share() -> None:
    numbers = [f"+1202555{i:04d}" for i in range(2000)]
    assert not any(picked(n, "undelivered", 0.0) for n in numbers)
    assert all(picked(n, "undelivered", 1.0) for n in numbers)
    half = [n for n in numbers if picked(n, "undelivered", 0.5)]
    assert 850 < len(half) < 1150
    assert half == [n for n in numbers if picked(n, "undelivered", 0.5)]
    twice = {n for n in numbers if picked(n, "twice", 0.5)}
    assert twice != set(half)  # each option picks its own numbers


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hooks",
        "http://localhost:8080/hooks",  # a name could resolve anywhere: IP literals only
        "http://[::ffff:127.0.0.1]/hooks",
        "http://0.0.0.0:80/",
        "ftp://127.0.0.1/",
        "http://127.0.0.1:99999/",
        "http://user@93.184.216.34/",
    ],
)
def test_anything_but_a_loopback_ip_is_refused(
    url: str, sandbox: Sandbox, client: httpx.Client
) -> None:
    assert not loopback(url)
    answer = configure(client, sandbox, targets={"x": {"type": "skycore", "receipts_url": url}})
    assert answer.status_code == 400
    assert "loopback" in answer.json()["error"]
    assert client.get(sandbox.url + "/_sandbox/callbacks").json()["targets"] == {}


def test_a_twilio_status_callback_elsewhere_is_never_posted(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    send(client, sandbox, "tw", NUMBERS[0], status_callback="https://hooks.example.test/r")
    posts = client.get(sandbox.url + "/_sandbox/callbacks").json()["posts"]
    assert posts["refused"] == 2
    assert posts["posted"] == posts["failed"] == 0


def test_loopback_accepts_loopback_addresses() -> None:
    assert loopback("http://127.0.0.1:8080/hooks/sky/receipts?token=x")
    assert loopback("http://127.1.2.3/")
    assert loopback("https://[::1]:8443/")


def test_a_dead_receiver_is_counted_and_the_sandbox_goes_on(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    url = dead() + "/hooks/sky/receipts"
    configure(client, sandbox, targets={"sky": {"type": "skycore", "receipts_url": url}})
    send(client, sandbox, "sky", NUMBERS[0])
    until(lambda: client.get(sandbox.url + "/_sandbox/callbacks").json()["posts"]["failed"] == 2)
    send(client, sandbox, "sky", NUMBERS[1])  # still answering


def test_a_stalled_receiver_never_blocks_nor_grows_the_poster() -> None:
    poster = Poster(max_pending=3, workers=1, timeout=0.2).start()
    try:
        with stalled() as url:
            post = Post(url + "/r", b"<POSTBACK/>", {"content-type": "application/xml"})
            jobs = [poster.submit([post]) for _ in range(10)]
            assert sum(job is not None for job in jobs) == 3  # the rest dropped, not queued
            assert poster.pending() <= 3
            assert poster.stats()["dropped"] == 7
            for job in jobs[:3]:
                assert job is not None
                assert job.done.wait(10)
            assert poster.stats()["failed"] == 3
    finally:
        poster.stop()


BIG = "x" * 20_000


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"\xff\xfe", 400),
        (b"[" * 100_00 + b"]" * 100_00, 413),
        (b"[]", 400),
        (b'{"from": "+447400123400", "to": "1", "text": "STOP"}', 400),
        (b'{"from": "+447400123400", "to": "1", "text": "x", "provider": "sky", "x": 1}', 400),
        (b'{"from": 447400123400, "to": "1", "text": "x", "provider": "sky"}', 400),
        (b'{"from": "+447400123400\\n", "to": "1", "text": "x", "provider": "sky"}', 400),
        (b'{"from": "+4474\\u0660\\u0660123400", "to": "1", "text": "x", "provider": "sky"}', 400),
        (b'{"from": "447400123400", "to": "1", "text": "x", "provider": "sky"}', 400),
        (b'{"from": "+447400123400", "to": "", "text": "x", "provider": "sky"}', 400),
        (b'{"from": "+447400123400", "to": "1\\u0000", "text": "x", "provider": "sky"}', 400),
        (b'{"from": "+447400123400", "to": "1", "text": "a\\u0000b", "provider": "sky"}', 400),
        (b'{"from": "+447400123400", "to": "1", "text": "\\ud800", "provider": "sky"}', 400),
        (b'{"from": "+447400123400", "to": "1", "text": "' + b"x" * 1601 + b'", "provider": "sky"}', 400),
        (b'{"from": "+447400123400", "to": "1", "text": "x", "provider": "nobody"}', 404),
        (b'{"from": "+447400123400", "to": "1", "text": "' + BIG.encode() + b'", "provider": "sky"}', 413),
    ],
)  # fmt: skip
def test_hostile_inbound_bodies_are_refused_and_post_nothing(
    body: bytes, status: int, sandbox: Sandbox, client: httpx.Client, receiver: Receiver
) -> None:
    inbound = receiver.url + "/hooks/sky/inbound"
    configure(client, sandbox, targets=sky_target(receiver, inbound_url=inbound))
    answer = client.post(sandbox.url + "/_sandbox/inbound", content=body)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()
    chunked = client.post(sandbox.url + "/_sandbox/inbound", content=iter([body[:10], body[10:]]))
    assert chunked.status_code == status
    assert client.get(sandbox.url + "/_sandbox/callbacks").json()["posts"]["pending"] == 0
    assert receiver.seen == []


@pytest.mark.parametrize(
    "body",
    [
        {"nope": 1},
        {"undelivered_share": 2},
        {"undelivered_share": True},
        {"delay_ms": -1},
        {"delay_ms": 1e9},
        {"interim": 1},
        {"targets": []},
        {"targets": {"x": {"type": "opentact", "receipts_url": "http://127.0.0.1:1/"}}},
        {"targets": {"x": {"type": "skycore", "receipts_url": 5}}},
        {"targets": {"x": {"type": "skycore", "secret": ""}}},
        {"targets": {"x": {"type": "skycore", "extra": 1}}},
        {"targets": {"": {"type": "skycore"}}},
        {"targets": {"x": {"type": "skycore"}}, "first_share": 9},  # all or nothing
    ],
)
def test_bad_callback_options_are_refused_whole(
    body: dict[str, Any], sandbox: Sandbox, client: httpx.Client
) -> None:
    before = client.get(sandbox.url + "/_sandbox/callbacks").json()
    answer = configure(client, sandbox, **body)
    assert answer.status_code == 400
    assert answer.json()["error"]
    assert client.get(sandbox.url + "/_sandbox/callbacks").json() == before


def test_a_huge_faults_body_is_refused_unread(sandbox: Sandbox, client: httpx.Client) -> None:
    huge = b'{"latency_ms": 0, "raw_body": "' + b"x" * 2_000_000 + b'"}'
    assert client.put(sandbox.url + "/_sandbox/faults", content=huge).status_code == 413
    assert client.get(sandbox.url + "/_sandbox/faults").json()["raw_body"] == ""
