"""Request bodies read bounded: in the chunks they arrive in, refused past a limit.

The one reader of the run server's request bodies (webhooks, the API): a
body is refused at `limit` bytes, before reading when Content-Length says so
already, and a chunked one (or one running past what it declared) as soon as
it has. Nothing of a refused body is kept.
"""

from __future__ import annotations

from starlette.requests import Request

from smsops.core.errors import Refused


async def bounded(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise Refused(413 if declared.isdigit() else 400, f"bodies are at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked, or more than it declared: stop reading here
            raise Refused(413, f"bodies are at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
