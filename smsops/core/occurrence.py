"""The ledger's occurrence labels, shared by the schedules that make them and the ledger.

An occurrence is `once` (an untriggered schedule) or its fire time in ISO
8601: UTC with a `Z`, or a recipient's wall-clock time with no zone
(`timezone: recipient`). Fire-time labels sort by time as strings, and all
of them sort before `once` (a digit before a letter).
"""

from __future__ import annotations

ONCE = "once"
