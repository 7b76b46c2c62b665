"""The sandbox's routes: every registered provider's emulator, plus a JSON webhook.

Each provider's emulator lives in its own module (`smsops.providers.<type>`,
`EMULATOR`); the registry lists them, so a new provider is served here
without a change to this package.
"""

from __future__ import annotations

from smsops.providers.emulation import E164, Answer, EmulatedRequest, Handler, Recorder
from smsops.providers.registry import emulators


async def json_webhook(request: EmulatedRequest, state: Recorder) -> Answer:
    """A generic JSON webhook as Apprise's `json://` plugin posts it (for benchmarks).

    Apprise sends `{"version", "title", "message", "type"}` plus any `?:key=value`
    of its URL; the recipient comes as `:to=+E164`.
    """
    body = request.json()
    if body is None or not isinstance(body.get("message"), str):
        return Answer({"error": "the body must be a JSON object with a message"}, 400)
    to = str(body.get("to", ""))
    if not E164.match(to):
        return Answer({"error": "to must be an E.164 number (json://...?:to=+...)"}, 400)
    state.record("json", to, body["message"], None, body)
    return Answer({"ok": True})


def routes() -> list[tuple[str, Handler]]:
    """Every route the sandbox serves to clients: (Starlette path, handler)."""
    found = [
        (emulator.base_path + path, handler)
        for emulator in emulators().values()
        for path, handler in emulator.routes
    ]
    # not a provider type: Apprise, in benchmarks
    return [*found, ("/json/notify", json_webhook)]


def base_paths() -> dict[str, str]:
    """The base_url path each provider type gets under --sandbox."""
    return {name: emulator.base_path for name, emulator in emulators().items()}
