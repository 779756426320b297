"""SIGKILL the server mid-write (event batches, streamed uploads, a re-plan), restart it, lose nothing.

Real subprocesses on loopback (``python -m uvicorn contenthub.asgi:app``); the rounds and every check are in
tests/crash_harness.py, which bench/crash.py also runs for longer. Three kill rounds here keep the test
around a minute on an idle two-core box (most of it is server start-up and the first model load).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.crash_harness import prepare_data_dir, run_crash_rounds

ROUNDS = int(os.environ.get("CONTENTHUB_CRASH_ROUNDS", "3"))


def test_sigkill_mid_write_loses_nothing(tmp_path: Path, embedder: Any) -> None:
    data_dir = tmp_path / "data"
    prep = prepare_data_dir(data_dir, embedder)
    report = run_crash_rounds(data_dir, prep, ROUNDS)
    summary = report.as_dict()
    print("crash recovery:", json.dumps(summary))
    out = os.environ.get("CONTENTHUB_CRASH_SUMMARY")
    if out:
        Path(out).write_text(json.dumps(summary, indent=2))
    assert report.kills == ROUNDS
    assert report.lost == 0, report.problems
    # the kills really landed mid-write, and every kind of write was acknowledged at least once
    assert report.kills_mid_upload >= 1 and report.kills_mid_replan >= 1, summary
    assert report.batches_acked and report.uploads_acked and report.replans_acked, summary
    assert report.media_files_checked >= report.uploads_acked
