"""Wall time and peak memory of one call, for benchmarks that compare methods in one process."""
from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path


def fixed_mmap_threshold() -> None:
    """Re-run this script once with a fixed glibc mmap threshold. It turns off glibc's dynamic
    threshold: every large buffer is its own mmap, returned to the system when freed, so one
    method's peak is not hidden in memory another method freed but the heap kept resident."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is None:
        os.environ["MALLOC_MMAP_THRESHOLD_"] = str(1 << 20)
        os.execv(sys.executable, [sys.executable, *sys.argv])


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


def measure(fn, *args, **kwargs):
    """``(result, seconds, peak MiB above the resident set at the start)``."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    base = _status("VmRSS")
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds = time.perf_counter() - start
    return out, seconds, max(0, _status("VmHWM") - base) / 2**20
