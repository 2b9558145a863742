"""Structured logs as a served process writes them: one JSON object per line on stderr with the
record's fields, and the scheduler's per-run lines (and uvicorn's access lines) off by default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import logging
from derivatives import logs
logs.configure()
logging.getLogger("apscheduler.executors.default").info('Running job "reconcile" (scheduled at 12:00:00)')
logging.getLogger("apscheduler.scheduler").info("Added job")
logging.getLogger("uvicorn.access").info("GET /fapi/v1/ping 200")
logging.getLogger("derivatives.liquidation").info("auto-deleveraged", extra={"fields": {"account": 7, "qty": "0.1"}})
logging.getLogger("apscheduler.scheduler").warning("job missed")
"""


def test_one_json_line_per_record_and_no_scheduler_chatter() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(line["logger"], line["level"], line["msg"]) for line in lines] == [
        ("derivatives.liquidation", "info", "auto-deleveraged"),
        ("apscheduler.scheduler", "warning", "job missed"),
    ]
    assert (lines[0]["account"], lines[0]["qty"]) == (7, "0.1") and lines[0]["ts"].endswith("Z")
