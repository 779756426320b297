"""Bench: SIGKILL the server mid-write for many rounds; count what was acknowledged and what was lost (must be 0).

The longer run of tests/test_crash_recovery.py: the same rounds and checks (tests/crash_harness.py) — two
clients posting event batches, two streaming uploads, one re-planning a week, a SIGKILL while uploads and a
re-plan are in flight, a restart, then: acknowledged batches whole, unacknowledged ones whole or absent, event
counters equal to events, media files complete and named by their hash, temp folder swept, plan head equal
to its history copy and not older than the last acknowledged version, ``PRAGMA integrity_check`` ok.
Loopback only; the server is a subprocess stopped by pid. Prints JSON.

Usage: python bench/crash.py [--rounds 10] [--seed 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.crash_harness import prepare_data_dir, run_crash_rounds  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=8)
    args = ap.parse_args()
    if not 1 <= args.rounds <= 200:
        ap.error("--rounds must be 1..200")
    from contenthub.config import DEFAULT_MODEL_DIR
    from contenthub.embeddings import load_embedder

    tmp = Path(tempfile.mkdtemp(prefix="contenthub-crash-"))
    try:
        model = Path(os.environ.get("CONTENTHUB_TEST_MODEL") or DEFAULT_MODEL_DIR)
        prep = prepare_data_dir(tmp / "data", load_embedder(model))
        report = run_crash_rounds(tmp / "data", prep, args.rounds, seed=args.seed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {
        "bench": "crash",
        **report.as_dict(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        },
    }
    print(json.dumps(out, ensure_ascii=False, indent=2))
    if report.lost:
        sys.exit(1)


if __name__ == "__main__":
    main()
