"""One lock per asset (striped) for the read-modify-write of an asset document within this process.

Why: the background media reader (``ocr_jobs``) and an editor's edit (``service.update_asset`` and the
accept/reject actions) each read the whole document, change their fields and write the whole document back;
the store has no compare-and-set for assets. Interleaved, the later write undid the earlier one: an editor's
accepted tags vanished when the reader stored the poster's text a moment later (it had read the asset before
the accept), or the reader's text and ``ocr: done`` vanished under an edit. Holding the asset's lock from the
read to the write makes the two take turns. Striped (a fixed set of locks chosen by the id's hash) so that
nothing grows with the number of assets; re-entrant so that an action can call another that locks too.
"""

from __future__ import annotations

import threading
import zlib

STRIPES = 64
_locks = tuple(threading.RLock() for _ in range(STRIPES))


def asset_lock(asset_id: str) -> threading.RLock:
    """The lock to hold while reading, changing and writing back the asset ``asset_id``."""
    return _locks[zlib.crc32(asset_id.encode()) % STRIPES]
