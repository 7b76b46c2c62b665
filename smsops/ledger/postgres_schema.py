"""The PostgreSQL ledger's schema (versioned migrations), its rows, and its rules as SQL.

The columns are SQLite's (`sqlite_schema.COLUMNS`, one list: a row means the
same on both), in PostgreSQL's own types (timestamptz, boolean). The rules are
the policy table's, as `sql_policy.policy_where` spells them in the dialects
below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from smsops.ledger.base import SendRecord
from smsops.ledger.held import SKIP_PARTS
from smsops.ledger.held import TABLES as HELD_TABLES
from smsops.ledger.partitions import MIGRATION_LOCK as MIGRATION_LOCK
from smsops.ledger.partitions import PARTITIONED
from smsops.ledger.pruning import WATERMARK_TABLE
from smsops.ledger.sql_otp import TABLES as OTP_TABLES
from smsops.ledger.sql_policy import Dialect
from smsops.ledger.sqlite_schema import COLUMNS, MOVED, checked_status

# The version table: one row per migration applied (under MIGRATION_LOCK).
VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
)

# Each entry moves the schema one version up; never change what one does.
# The key sorts bytewise (COLLATE "C"): rows come back in the order Python sorts keys.
MIGRATIONS = (
    """
    CREATE TABLE sends (
        key text COLLATE "C" PRIMARY KEY,
        schedule text NOT NULL,
        occurrence text NOT NULL,
        recipient text NOT NULL,
        provider text NOT NULL,
        template text NOT NULL,
        text_hash text NOT NULL,
        segments integer NOT NULL,
        status text NOT NULL,
        provider_message_id text,
        attempts integer NOT NULL DEFAULT 0,
        error text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        claimed_by text,
        retryable boolean NOT NULL DEFAULT false,
        resolved_by text,
        resolved_at timestamptz,
        resolution text
    );
    CREATE INDEX sends_by_schedule ON sends (schedule, occurrence, status) INCLUDE (key);
    CREATE INDEX sends_by_status ON sends (status, created_at);
    """,
    """
    CREATE TABLE runs (
        id text PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        command text NOT NULL,
        started_at timestamptz NOT NULL,
        heartbeat_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
    );
    """,
    # Delivery receipts and the suppression list (issue 21; receipts.py, suppressions.py).
    """
    ALTER TABLE sends ADD COLUMN receipt_at timestamptz, ADD COLUMN receipt_code text,
        ADD COLUMN receipt_error text;
    CREATE INDEX sends_by_message ON sends (provider_message_id, provider);
    CREATE TABLE parked_receipts (
        seq bigserial PRIMARY KEY,
        provider text NOT NULL,
        message_id text NOT NULL,
        delivery text NOT NULL,
        code text NOT NULL,
        error text,
        at timestamptz,
        parked_at timestamptz NOT NULL,
        UNIQUE (provider, message_id)
    );
    CREATE INDEX parked_by_age ON parked_receipts (parked_at);
    CREATE TABLE suppressions (
        number text PRIMARY KEY,
        at timestamptz NOT NULL,
        source text NOT NULL,
        keyword text NOT NULL
    );
    CREATE TABLE opt_events (
        id bigserial PRIMARY KEY,
        number text NOT NULL,
        action text NOT NULL,
        at timestamptz NOT NULL,
        source text NOT NULL,
        keyword text NOT NULL
    );
    CREATE INDEX opt_events_by_number ON opt_events (number, id);
    """,
    # One-time codes: keyed hashes, expiry, attempts; every request and outcome (issue 22).
    OTP_TABLES.format(time="timestamptz", serial="bigserial PRIMARY KEY"),
    # What rounds decided besides sends: held schedules, skips per occurrence (issue 23).
    HELD_TABLES.format(time="timestamptz"),
    # The sends table partitioned by month (issue 24; partitions.py says why this key).
    PARTITIONED,
    # A provider's limits shared by every replica (issue 24; postgres_pace.py).
    """
    CREATE TABLE pace (
        provider text PRIMARY KEY,
        next_at timestamptz NOT NULL
    );
    CREATE TABLE pace_holds (
        id bigserial PRIMARY KEY,
        provider text NOT NULL,
        run text NOT NULL,
        messages integer NOT NULL,
        granted_at timestamptz NOT NULL,
        answered boolean NOT NULL DEFAULT false,
        counts_until timestamptz NOT NULL
    );
    CREATE INDEX pace_holds_by_provider ON pace_holds (provider, counts_until);
    """,
    # The prune watermark: a pruned occurrence is never due again (issue 24; pruning.py).
    WATERMARK_TABLE.format(time="timestamptz"),
    # Units of work: (schedule, occurrence, shard) held by one replica's run (issue 24;
    # postgres_units.py). `shards`: the occurrence's count, as its first opener saw it.
    """
    CREATE TABLE units (
        schedule text NOT NULL,
        occurrence text NOT NULL,
        shard integer NOT NULL,
        shards integer NOT NULL,
        holder text,
        taken_at timestamptz,
        passed_at timestamptz,
        PRIMARY KEY (schedule, occurrence, shard)
    );
    """,
    # Skips per shard of an occurrence, so units' plans record theirs (issue 24; held.py).
    SKIP_PARTS,
)

NAMES = tuple(name.strip() for name in COLUMNS.split(","))
MONTH = "smsops_month(r.schedule, r.occurrence)"  # a row's partition (`r`: the rows written)
MOVED_NAMES = tuple(name.strip() for name in MOVED.split(","))
_TYPES = {
    "segments": "integer",
    "attempts": "integer",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "resolved_at": "timestamptz",
    "receipt_at": "timestamptz",
    "retryable": "boolean",
}


def unnest(names: Sequence[str]) -> str:
    """Rows given as one array per column (one parameter each): any number in one statement."""
    arrays = ", ".join(f"%s::{_TYPES.get(name, 'text')}[]" for name in names)
    return f"unnest({arrays}) AS r({', '.join(names)})"


def columns(records: Sequence[SendRecord], names: Sequence[str]) -> list[list[object]]:
    """The arrays `unnest(names)` takes: one list per column."""
    return [[_value(record, name) for record in records] for name in names]


def _value(record: SendRecord, name: str) -> object:
    value = getattr(record, name)
    return value.value if name == "status" else value


def to_record(row: Sequence[object]) -> SendRecord:
    """A row of `SELECT COLUMNS` (types as psycopg reads them) as a SendRecord."""
    data = dict(zip(NAMES, row, strict=True))
    data["status"] = checked_status(str(data["key"]), str(data["status"]))
    return SendRecord(**data)  # type: ignore[arg-type]


# The table's conditions in PostgreSQL. "Still held by the caller's run" reads
# the run from the rows written (one statement writes many, each naming its own
# run): `r` in an UPDATE ... FROM unnest(...) AS r, `excluded` in an upsert.
_PG = Dialect(
    mark="%s",
    false="false",
    always="true",
    retryable="sends.retryable",
    resend_asked="%s",
    holder="sends.claimed_by IS NOT DISTINCT FROM r.claimed_by",
    holder_param=False,
)
MOVING = _PG
UPSERTING = replace(_PG, holder="sends.claimed_by IS NOT DISTINCT FROM excluded.claimed_by")
