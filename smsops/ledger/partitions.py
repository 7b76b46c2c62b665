"""The PostgreSQL sends table partitioned by month: the key, the migration, the months ahead.

Why this partition key. PostgreSQL requires the partition key in every
unique key of a partitioned table, and the claim is `INSERT ... ON CONFLICT`
on the key: a second claim of a send must meet the first one's row, so the
row's partition must follow from the key's own inputs, never from a clock.
The key is a hash of (schedule, occurrence, recipient); the month is
`smsops_month(schedule, occurrence)`, an IMMUTABLE SQL function of two of
them, so one key always lands in one month and the unique key (key, month)
is exactly as unique as the key alone. A month taken from `created_at`
would break that: a retry claimed in the next month would be a new row, a
second message.

- A schedule's occurrence is its fire time (`2026-11-22T09:00:00Z`, or a
  recipient's wall clock `2026-11-22T09:00:00`), an opt-out confirmation's
  the opt-out's time: the month of that label.
- `once`, a transactional send's occurrence (the caller's idempotency key,
  any text: `api:messages`) and a one-time code's (its id: `otp:*`) name no
  time: they all go to the `sends_undated` partition, whatever their text
  looks like (a caller's idempotency key "2026-01-x" is not a date).
- A month with no partition of its own (a label years away, a partition not
  made yet) goes to `sends_default`, the safety net; `smsops_add_month`
  moves a month's rows out of it when it makes that month's partition.

Months are made ahead: every writable open makes the previous, current and
next `AHEAD` months, and a long-running process again when its lease
renewal sees a new month (PostgresLedger.renew_lease); rows moving in (the
migration's, `ledger migrate`'s copies) get the months they hold
(`MONTHS_OF`). Making one takes a lock on the table for a moment, under the
migration's advisory lock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

AHEAD = 3  # months made ahead of the current one
# Migrations, and the making of a month, run under this advisory lock (any
# constant every smsops agrees on: "smsops" in ASCII).
MIGRATION_LOCK = 0x736D736F7073
UNDATED = "sends_undated"
DEFAULT = "sends_default"

# The sends table's columns, as migrations 1 and 3 made them (the key sorts bytewise).
_COLUMNS = """
        key text COLLATE "C" NOT NULL,
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
        resolution text,
        receipt_at timestamptz,
        receipt_code text,
        receipt_error text,
        month date NOT NULL"""
_OLD_COLUMNS = (
    "key, schedule, occurrence, recipient, provider, template, text_hash, segments, status, "
    "provider_message_id, attempts, error, created_at, updated_at, claimed_by, retryable, "
    "resolved_by, resolved_at, resolution, receipt_at, receipt_code, receipt_error"
)

# The months of the rows of `table` made where missing: old rows moving in (the
# migration, `ledger migrate`'s copies) go to partitions, not the default one.
# Months more than 10 years back or over a year ahead get none of their own:
# a hostile ledger's labels must not make thousands of tables.
MONTHS_OF = (
    "SELECT smsops_add_month(m) FROM (SELECT DISTINCT smsops_month(schedule, occurrence) AS m "
    "FROM {table}) months WHERE m >= date_trunc('month', now()) - interval '10 years' "
    "AND m <= now() + interval '1 year'"
)

# The migration: the old table's rows move into the partitioned one in the
# migration's transaction (a reader sees the old table or the new, whole).
PARTITIONED = f"""
    CREATE FUNCTION smsops_month(schedule text, occurrence text) RETURNS date
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT CASE
            WHEN (strpos(schedule, ':') = 0 OR schedule = 'opt-out:confirm')
                AND occurrence ~ '^[0-9]{{4}}-(0[1-9]|1[0-2])-' AND left(occurrence, 4) <> '0000'
            THEN make_date(left(occurrence, 4)::integer, substr(occurrence, 6, 2)::integer, 1)
            ELSE date '-infinity'
        END
    $$;
    ALTER TABLE sends RENAME TO sends_unpartitioned;
    ALTER INDEX sends_pkey RENAME TO sends_unpartitioned_pkey;
    ALTER INDEX sends_by_schedule RENAME TO sends_unpartitioned_by_schedule;
    ALTER INDEX sends_by_status RENAME TO sends_unpartitioned_by_status;
    ALTER INDEX sends_by_message RENAME TO sends_unpartitioned_by_message;
    CREATE TABLE sends ({_COLUMNS},
        PRIMARY KEY (key, month)
    ) PARTITION BY RANGE (month);
    -- month too: a plan's read names it (partition pruning) and reads only the index
    CREATE INDEX sends_by_schedule ON sends (schedule, occurrence, status) INCLUDE (key, month);
    CREATE INDEX sends_by_status ON sends (status, created_at);
    CREATE INDEX sends_by_message ON sends (provider_message_id, provider);
    -- max_per_day's count (claimed_since): a seek per schedule, not every row it ever had
    CREATE INDEX sends_by_claim_time ON sends (schedule, created_at) INCLUDE (status);
    CREATE TABLE {UNDATED} PARTITION OF sends FOR VALUES FROM (MINVALUE) TO ('0001-01-01');
    CREATE TABLE {DEFAULT} PARTITION OF sends DEFAULT;
    CREATE FUNCTION smsops_add_month(m date) RETURNS boolean LANGUAGE plpgsql AS $$
    DECLARE
        first date := date_trunc('month', m)::date;
        next date := (date_trunc('month', m) + interval '1 month')::date;
        name text := 'sends_' || to_char(date_trunc('month', m), 'YYYY_MM');
    BEGIN
        PERFORM pg_advisory_xact_lock({MIGRATION_LOCK});
        IF to_regclass(name) IS NOT NULL THEN
            RETURN false;
        END IF;
        EXECUTE format('CREATE TABLE %I (LIKE sends INCLUDING DEFAULTS)', name);
        EXECUTE format('INSERT INTO %I SELECT * FROM {DEFAULT} WHERE month >= %L AND month < %L',
            name, first, next);
        DELETE FROM {DEFAULT} WHERE month >= first AND month < next;
        EXECUTE format('ALTER TABLE sends ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
            name, first, next);
        RETURN true;
    END
    $$;
    {MONTHS_OF.format(table="sends_unpartitioned")};
    SELECT smsops_add_month((date_trunc('month', now()) + make_interval(months => n))::date)
        FROM generate_series(-1, {AHEAD}) AS n;
    INSERT INTO sends ({_OLD_COLUMNS}, month)
        SELECT {_OLD_COLUMNS}, smsops_month(schedule, occurrence) FROM sends_unpartitioned;
    DROP TABLE sends_unpartitioned;
"""  # noqa: S608 - constants only

# The months a writable open makes (if missing): the previous, this one, AHEAD more.
ENSURE = (
    "SELECT smsops_add_month((date_trunc('month', %s::timestamptz AT TIME ZONE 'UTC') "
    "+ make_interval(months => n))::date) FROM generate_series(-1, %s) AS n"
)


def month_of(at: datetime) -> date:
    """The first day of `at`'s month in UTC (a new one: the months ahead are made again)."""
    utc = at.astimezone(UTC)
    return date(utc.year, utc.month, 1)
