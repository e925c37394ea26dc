"""Where the shared datasets live: ``$MULTICL_DATA``, else ``../shared/data`` beside the repository."""
from __future__ import annotations

import os
from pathlib import Path


def shared_data_dir() -> Path:
    env = os.environ.get("MULTICL_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"
