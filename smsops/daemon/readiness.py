"""Which secrets run mode will need, checked before a schedule fires.

`apply` checks its secrets before the first request of one run; `run` lives
for months, so it checks every `${env:...}` of every provider an enabled
schedule may send through, at start and for every config a reload brings.
A missing (or empty) variable holds the schedules that need it (nothing of theirs is
planned or sent), makes `/readyz` answer 503 with the reason, and is logged
once per config with its place in the YAML — never with a value.

Only the schedules that need the variable are held, not every send: the
other schedules' windows keep running, and holding them would turn their
occurrences into missed ones (never sent late) for a fault that is not
theirs. A held schedule's own closed windows are reported as missed after
it recovers, so nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping

from smsops.config.loader import Config
from smsops.config.secret_refs import MissingSecret as MissingSecret
from smsops.config.secret_refs import missing_secrets as missing_secrets
from smsops.config.secret_refs import provider_variables as provider_variables


def secret_values(config: Config, env: Mapping[str, str]) -> list[str]:
    """The values of every variable the config refers to that is set, longest first.

    What failure messages are scrubbed of: an exception text may quote a
    request (a URL with a key in it) that was built from them.
    """
    values = {
        env[variable]
        for references in provider_variables(config).values()
        for variable, _ in references
        if env.get(variable)
    }
    return sorted(values, key=len, reverse=True)
