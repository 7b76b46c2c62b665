"""`POST /v1/messages` and `GET /v1/messages/{key}` (docs/api.md): transactional sends.

The routes only adapt HTTP to `engine.transactional.Transactional` (what
`smsops send` calls too): one per service, kept with the service (its
connection pool closes with it), sharing the runner's provider lanes so an
API send and a schedule's round keep one cap and one pace per provider.
"""

from __future__ import annotations

from smsops.core.errors import Refused
from smsops.daemon.api import Answer, ApiRoute, Call
from smsops.daemon.service import Service
from smsops.engine.transactional import MessageAnswer, MessageKey, MessageRequest, Transactional


def transactional(service: Service) -> Transactional:
    runner = service.runner
    return service.keep(
        "transactional", lambda: Transactional(service.ledger, runner.env, runner.lanes)
    )


async def send_message(call: Call) -> Answer:
    request: MessageRequest = call.body
    if call.service.stopped.is_set():
        raise Refused(503, "smsops is stopping; send it again to another replica")
    outcome = await transactional(call.service).send(call.service.runner.config, request)
    status = outcome.answer.status
    return Answer(200, outcome.answer, "replayed" if outcome.replayed else status)


async def get_message(call: Call) -> Answer:
    key: MessageKey = call.params
    found = await transactional(call.service).look(key.key)
    if found is None:
        raise Refused(404, "no message was sent under this idempotency key")
    return Answer(200, found, found.status)


ROUTES = [
    ApiRoute(
        "POST",
        "/v1/messages",
        "send_message",
        "Send one message now from a template (once per idempotency key)",
        send_message,
        {200: (MessageAnswer, "Sent, or tried: `status` says how it stands")},
        body=MessageRequest,
        refusals=(400, 401, 404, 409, 413, 415, 422, 503),
    ),
    ApiRoute(
        "GET",
        "/v1/messages/{key}",
        "get_message",
        "Where a message stands in the ledger (receipts included)",
        get_message,
        {200: (MessageAnswer, "The ledger's row of the send")},
        params=MessageKey,
        refusals=(401, 404, 422, 503),
    ),
]
