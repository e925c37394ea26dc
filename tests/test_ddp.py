"""DDP on CPU (gloo, two processes): the trainer's distributed path runs and ranks agree."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_two_process_ddp_on_cpu_keeps_ranks_in_sync(tiny_text_model, tmp_path):
    script = Path(__file__).with_name("ddp_train_script.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    with socket.socket() as probe:  # a free port, so parallel CI runs do not collide
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           str(script), tiny_text_model, str(tmp_path)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 and r["steps"] == 4 and "MULTI_CPU" in r["distributed_type"] for r in ranks)
    assert ranks[0]["fingerprint"] == pytest.approx(ranks[1]["fingerprint"], rel=1e-9)
    # each rank embedded half the corpus; after the gather both mined the same candidates
    assert ranks[0]["refreshes"] == ranks[1]["refreshes"] == 2
    assert ranks[0]["mined"] == ranks[1]["mined"]
    assert (tmp_path / "checkpoints" / "step-000004").is_dir()
    # MoCo: 3 steps x 4 anchors x 2 ranks = 24 keys in each rank's queue, the same on both
    assert len(ranks[0]["queue_ids"]) == 24 and ranks[0]["queue_ids"] == ranks[1]["queue_ids"]
    assert len(set(ranks[0]["queue_ids"])) == 24  # both ranks' (different) samples, not one rank's twice
    assert ranks[0]["queue_key_sum"] == pytest.approx(ranks[1]["queue_key_sum"], rel=1e-9)
