"""Whether a process of this host still exists: how a dead run's leftovers are told apart."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while `pid` exists here (a crashed run leaves its claims and its writer row behind).

    Signal 0 checks without signalling; a process owned by another user answers
    PermissionError, and it exists.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
