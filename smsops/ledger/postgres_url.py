"""`postgresql://` ledger locations: recognising them, and naming them without the password.

A URL may carry a password (`postgresql://user:pw@host/db`, `?password=`),
and libpq also reads PGPASSWORD and ~/.pgpass. Whatever names the ledger to a
person (errors, the apply prompt, the PR comment) uses `display_name`, which
keeps user, host, port and database only; and every password found is
registered with the secret scrubber, which guards what leaves the process.
"""

from __future__ import annotations

import os

from smsops.core import secrets
from smsops.core.errors import UsageError

SCHEMES = ("postgresql://", "postgres://")


def is_postgres(location: str) -> bool:
    return location.startswith(SCHEMES)


def settings(url: str) -> dict[str, str]:
    """The libpq settings the URL names; a malformed URL is a UsageError that does not echo it."""
    password = os.environ.get("PGPASSWORD")
    if password:
        secrets.register(password)
    from psycopg import conninfo  # loaded only for a PostgreSQL ledger (cold start)

    try:
        found = conninfo.conninfo_to_dict(url)
    except Exception:
        raise _malformed() from None
    values = {key: str(value) for key, value in found.items() if value is not None}
    if values.get("password"):
        secrets.register(values["password"])
    if _misparsed(url, values):
        raise _malformed()
    return values


def _malformed() -> UsageError:
    return UsageError(
        "the --ledger / SMSOPS_LEDGER value is not a valid PostgreSQL URL; the form is "
        "postgresql://USER@HOST:PORT/DATABASE?sslmode=require (a password is best given "
        "in PGPASSWORD; a special character in one written in the URL, such as / @ : or %, "
        "must be percent-encoded)"
    )


def _misparsed(url: str, values: dict[str, str]) -> bool:
    """A URL libpq accepts but reads wrongly: a password with an unencoded `/` or `:`.

    `postgresql://user:ab/cd@host/db` parses as host `user`, port `ab` and
    database `cd@host/db`: the password would end up in what names the
    ledger. An `@` after the authority, or a port that is not a number, is
    refused (never echoed) instead.
    """
    path = url.split("://", 1)[1].split("?", 1)[0].partition("/")[2]
    port = values.get("port", "")
    return "@" in path or any(not part.isdigit() for part in port.split(",") if part)


def display_name(url: str, *, with_user: bool = True) -> str:
    """`postgresql://user@host:port/db`: the ledger as errors and reports name it, no password."""
    values = settings(url)
    user = values.get("user", "") if with_user else ""
    host = values.get("host", "")
    port = values.get("port", "")
    where = f"{user}@" if user else ""
    database = values.get("dbname", "")
    if host.startswith("/"):  # a Unix socket directory
        return f"postgresql://{where}/{database}?host={host}{'&port=' + port if port else ''}"
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"postgresql://{where}{host}{':' + port if port else ''}/{database}"
