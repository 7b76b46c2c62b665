"""The four provider APIs as the sandbox answers them, following the seed docs.

Each handler validates what the real API validates and answers in that
API's documented shapes; accepted messages are recorded in `SandboxState`.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from smsops.sandbox.state import SandboxState

Handler = Callable[[Request, SandboxState], Awaitable[JSONResponse]]
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DIGITS = re.compile(r"^\+?[1-9]\d{6,14}$")
# NANP numbers (+1) are US or Canada; SendWithSES requires the origination number for them.
NANP = "+1"


async def _json(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def sendwithses(request: Request, state: SandboxState) -> JSONResponse:
    kind = request.path_params["action"]

    def fail(status: int, message: str, error: str) -> JSONResponse:
        return JSONResponse({"success": False, "message": message, "error": error}, status)

    if kind not in ("send-sms", "send-otp", "verify-otp"):
        return fail(404, "Not found", f"no endpoint /{kind}")

    if not request.headers.get("template-key"):
        return fail(401, "Unauthorized", "the template-key header is required")
    body = await _json(request)
    if body is None:
        return fail(400, "Bad request", "the body must be a JSON object")
    mobile = str(body.get("mobile", ""))
    if not E164.match(mobile):
        return fail(400, "Invalid mobile", "mobile numbers must be in E.164 format")
    if kind == "verify-otp":
        ok = state.otp_codes.get(mobile) == str(body.get("otp", ""))
        return (
            JSONResponse({"success": True, "message": "OTP Verified"})
            if ok
            else fail(400, "OTP not verified", "the code does not match")
        )
    origination = body.get("origination_number")
    if mobile.startswith(NANP) and not origination:
        return fail(400, "Origination number required", "sending to USA numbers needs one")
    if origination is not None and not E164.match(str(origination)):
        return fail(400, "Invalid origination number", "it must be in E.164 format")
    if kind == "send-otp":
        code = f"{secrets.randbelow(10**6):06d}"
        state.otp_codes[mobile] = code
        state.record("sendwithses", mobile, f"Your code is {code}", None, body)
        return JSONResponse({"success": True, "message": "OTP Sent"})
    text = body.get("message")
    if not isinstance(text, str) or not text:
        return fail(400, "Invalid message", "message is required")
    state.record("sendwithses", mobile, text, None, body)
    return JSONResponse({"success": True, "message": "SMS Sent"})


async def skycore(request: Request, state: SandboxState) -> JSONResponse:
    body = await _json(request) or {}
    to = str(body.get("to", ""))

    def fail(status: int, code: str, info: str) -> JSONResponse:
        payload = {"status": "Failure", "error-code": code, "error-info": info, "to": to}
        return JSONResponse(payload, status)

    if not request.headers.get("x-api-key"):
        return fail(401, "E101", "Invalid API Key.")
    if str(body.get("action", "")).lower() != "sendsms":
        return fail(400, "E102", "Invalid action.")
    text = body.get("message-text")
    if not isinstance(text, str) or not text:
        return fail(400, "E103", "message-text is required.")
    if not DIGITS.match(to):
        return fail(400, "E104", "Invalid recipient phone number.")
    sender = str(body.get("from", ""))
    if not sender.isdigit():
        return fail(400, "E111", "Invalid Sender.")
    tracking = uuid.uuid4().hex[:12]
    state.record("skycore", "+" + to.lstrip("+"), text, tracking, body)
    return JSONResponse(
        {
            "status": "Success",
            "tracking-id": tracking,
            "to": to,
            "from": sender,
            "status-details": "SMS request accepted and queued for delivery",
        }
    )


async def opentact(request: Request, state: SandboxState) -> JSONResponse:
    if not request.headers.get("x-auth-token"):
        return JSONResponse({"success": False, "status": 403, "message": "Forbidden"}, 403)
    body = await _json(request) or {}
    invalid = {
        f"params.{name}": {"message": "invalid integer number", "value": body.get(name)}
        for name in ("from", "to")
        if not DIGITS.match(str(body.get(name, ""))) or str(body.get(name, "")).startswith("+")
    }
    if invalid or not body.get("message"):
        if not body.get("message"):
            invalid["params.message"] = {"message": "required", "value": body.get("message")}
        payload = {
            "success": False,
            "message": "Validation failed",
            "status": 403,
            "meta": "params",
        }
        return JSONResponse(payload | {"fields": invalid}, 403)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    message_uuid = str(uuid.uuid4())
    state.record("opentact", f"+{body['to']}", str(body["message"]), message_uuid, body)
    payload = {
        "uuid": message_uuid,
        "type": "smso",
        "state": "created",
        "from": str(body["from"]),
        "to": int(body["to"]),
        "message": body["message"],
        "thread": uuid.uuid4().hex,
        "delivered": False,
        "automated": False,
        "tn": {"tn": int(body["from"]), "created_on": now, "modified_on": now, "deleted_on": None},
        "created_on": now,
        "modified_on": now,
    }
    return JSONResponse({"success": True, "payload": payload}, 201)


async def aoc(request: Request, state: SandboxState) -> JSONResponse:
    def fail(status: int, error: str) -> JSONResponse:
        payload: dict[str, Any] = {
            "id": None,
            "data": [],
            "totalCount": 0,
            "message": "Message Not Sent",
        }
        return JSONResponse(payload | {"error": error}, status)

    if not request.headers.get("apikey"):
        return fail(401, "Invalid apiKey")
    body = await _json(request)
    if body is None:
        return fail(400, "the body must be a JSON object")
    for required in ("sender", "to", "type"):
        if not body.get(required):
            return fail(400, f"{required} is required")
    if body["type"] not in ("TRANS", "PROMO", "OTP"):
        return fail(400, "type must be TRANS, PROMO or OTP")
    if "templateId" in body:
        if not isinstance(body.get("custom"), list):
            return fail(400, "custom must be an array (blank when the template has no variables)")
        text = f"[template {body['templateId']}] " + " | ".join(map(str, body["custom"]))
    elif not body.get("text"):
        return fail(400, "text is required")
    else:
        text = str(body["text"])
    recipients = [part.strip() for part in str(body["to"]).split(",")]
    if not all(part.isdigit() and 8 <= len(part) <= 15 for part in recipients):
        return fail(400, "to must be MSISDNs (digits with country code), comma-separated")
    batch = str(uuid.uuid4())
    data = [{"recipient": r, "messageId": f"{batch}:{i}"} for i, r in enumerate(recipients, 1)]
    for item in data:
        state.record("aoc", f"+{item['recipient']}", text, item["messageId"], body)
    payload: dict[str, Any] = {"id": batch, "data": data, "totalCount": len(data)}
    payload |= {k: 1 for k in ("unicode", "flash") if body.get(k) == 1}
    return JSONResponse(payload | {"message": "Message Sent Successfully!", "error": None})


async def json_webhook(request: Request, state: SandboxState) -> JSONResponse:
    """A generic JSON webhook as Apprise's `json://` plugin posts it (for benchmarks).

    Apprise sends `{"version", "title", "message", "type"}` plus any `?:key=value`
    of its URL; the recipient comes as `:to=+E164`.
    """
    body = await _json(request)
    if body is None or not isinstance(body.get("message"), str):
        return JSONResponse({"error": "the body must be a JSON object with a message"}, 400)
    to = str(body.get("to", ""))
    if not E164.match(to):
        return JSONResponse({"error": "to must be an E.164 number (json://...?:to=+...)"}, 400)
    state.record("json", to, body["message"], None, body)
    return JSONResponse({"ok": True})


ROUTES: dict[str, tuple[str, Handler]] = {
    "sendwithses": ("/sendwithses/{action:str}", sendwithses),
    "skycore": ("/skycore", skycore),
    "opentact": ("/opentact/rest/sms", opentact),
    "aoc": ("/aoc/sms", aoc),
    "json": ("/json/notify", json_webhook),  # not a provider type: Apprise, in benchmarks
}
# The base_url each provider type gets under --sandbox (routes above minus the API path).
BASE_PATHS = {"sendwithses": "/sendwithses", "skycore": "/skycore", "opentact": "/opentact"}
BASE_PATHS |= {"aoc": "/aoc"}
