"""Capturing the files a config reads besides its YAML, once, when it is loaded.

An audience's CSV is copied into the snapshot store (`smsops.core.snapshots`)
as it is read; the copy is what the generation validates and later reads.
A file that cannot be captured is a problem at the audience's `source`.
"""

from __future__ import annotations

from smsops.config.models import Audience
from smsops.core.errors import FileRefused, Location, Problem
from smsops.core.files import CSV_MAX_BYTES
from smsops.core.snapshots import Snapshot, SnapshotStore


def capture_source(
    name: str, audience: Audience, where: Location, store: SnapshotStore
) -> Snapshot | Problem | None:
    """The snapshot of the audience's CSV file, why it cannot be taken, or None (no file).

    Raises `CacheUnusable` when the store cannot be written: that is not the
    config's fault, and no problem in it would fix it.
    """
    path = audience.source_path()
    if path is None:
        return None
    try:
        return store.capture(path, audience.source_root(), CSV_MAX_BYTES)
    except FileNotFoundError:
        return Problem(where, f"audience {name!r}: CSV file {str(path)!r} does not exist")
    except FileRefused as exc:
        return Problem(where, f"audience {name!r}: CSV file {str(path)!r} refused: {exc.reason}")
    except OSError as exc:
        return Problem(where, f"audience {name!r}: cannot read {str(path)!r}: {exc.strerror}")
