"""A provider's request as a person may see it: secrets hidden, numbers masked.

`apply --dry-run` and the request snapshots show what would go on the wire.
Each adapter names its secret headers (`Adapter.secret_headers`), its secret
body fields and query parameters (`Adapter.secret_fields`) and its body
encoding; the body is decoded by its content type (JSON or a form), and
every recipient number is masked in every spelling a wire format uses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from smsops.core import secrets
from smsops.core.phone import mask
from smsops.providers.base import digits

if TYPE_CHECKING:
    import httpx

    from smsops.providers.base import Adapter

REDACTED = "***"
FORM = "application/x-www-form-urlencoded"


def redacted(
    request: httpx.Request, adapter: Adapter, recipients: Sequence[str] = ()
) -> dict[str, Any]:
    """A request as data for snapshots and --dry-run, its secrets hidden as ***.

    Hidden: the headers the adapter names (`secret_headers`), and the body
    fields (JSON keys at any depth, form fields) and URL query parameters it
    names (`secret_fields`). The body is shown decoded by its content type: a
    JSON body under `json`, a form under `form` (field -> value). Any other
    secret in the URL (an account id in its path) is scrubbed like any echo.
    Each of `recipients` (E.164) is masked wherever the request holds it: the
    URL, any body field, in any spelling a wire format uses (see `masked`).
    """
    fields = adapter.secret_fields
    headers = {}
    for raw_name, raw_value in request.headers.raw:  # wire case, e.g. apiKey
        name = raw_name.decode("latin-1")
        if name.lower() in ("content-length", "host"):
            continue
        headers[name] = REDACTED if name.lower() in adapter.secret_headers else raw_value.decode()
    url = request.url
    if fields and url.query:
        query = [(k, REDACTED if k in fields else v) for k, v in url.params.multi_items()]
        url = url.copy_with(query=urlencode(query, safe="*").encode())
    data: dict[str, Any] = {"method": request.method, "url": secrets.scrub(str(url))}
    data["headers"] = headers
    if request.headers.get("content-type") == FORM:
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        data["form"] = _hidden(form, fields)
    else:
        data["json"] = _hidden(json.loads(request.content), fields) if request.content else None
    shown: dict[str, Any] = masked(data, recipients)
    return shown


def _hidden(value: Any, fields: frozenset[str]) -> Any:
    """`value` with every field named in `fields`, at any depth, shown as ***."""
    if not fields:
        return value
    if isinstance(value, dict):
        return {k: REDACTED if k in fields else _hidden(v, fields) for k, v in value.items()}
    if isinstance(value, list):
        return [_hidden(item, fields) for item in value]
    return value


def masked(data: Any, recipients: Sequence[str]) -> Any:
    """`data` with every recipient number masked, by value, wherever it appears.

    Wire formats spell a number as E.164 (`mobile`, skycore `to`), digits
    (`to` of aoc, also comma-separated in bulk), a JSON integer (opentact
    `to`, which becomes the masked text) or percent-encoded in a URL; a
    template may put it in the text itself. Matching the known values, not
    anything number-like, leaves sender numbers, ids and amounts as they are.
    """
    if not recipients:
        return data
    shown = {e164: mask(e164) for e164 in recipients}
    spellings = {s: m for e164, m in shown.items() for s in (e164.replace("+", "%2B"), e164)}
    spellings |= {digits(e164): m for e164, m in shown.items()}
    ordered = sorted(spellings, key=len, reverse=True)
    as_ints = {int(digits(e164)): m for e164, m in shown.items() if digits(e164).isdigit()}

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            for spelling in ordered:
                if spelling in value:
                    value = value.replace(spelling, spellings[spelling])
            return value
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return as_ints.get(value, value)
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    return walk(data)
