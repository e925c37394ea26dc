"""What a run's numbers depend on beyond its configuration: library versions and the CPU thread count.

On CPU a run is bit-repeatable for a fixed thread count (the same seed gives the same weights), but not
across thread counts: floating-point sums are split differently, and a few hundred steps later the
weights differ (FSDD audio, one fold, seed 2: kNN 66.2 with 1 thread, 55.6 with 2; docs/audio.md).
Each recipe writes this next to ``config.json`` so a figure can be repeated exactly.
"""
from __future__ import annotations

import os
import platform
import sys
from typing import Any

import numpy as np
import torch

ENVIRONMENT_FILE = "environment.json"


def run_environment(device: str | None = None) -> dict[str, Any]:
    """JSON-able facts: Python / torch / numpy versions, torch's intra-op threads, ``OMP_NUM_THREADS``,
    the machine, and (when CUDA is there) the GPU names."""
    facts: dict[str, Any] = {
        "python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "system": platform.system(), "device": device,
    }
    if torch.cuda.is_available():
        facts["cuda"] = torch.version.cuda
        facts["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return facts
