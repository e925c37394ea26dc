"""Scale-out on CPU (2 gloo processes): BatchNorm across ranks, SyncBN on CPU, GradCache under
DDP, resuming on another world size."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("ddp_scale_script.py")


def _launch(mode: str, model: str, out: Path, nproc: int = 2) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", str(port),
           str(SCRIPT), mode, model, str(out)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-4000:]
    return [json.loads((out / f"{mode}-rank{r}.json").read_text()) for r in range(nproc)]


@pytest.mark.slow
def test_batchnorm_syncbn_and_grad_cache_across_two_processes(tiny_text_model, tmp_path):
    ranks = _launch("checks", tiny_text_model, tmp_path)
    for r in ranks:
        # all-reduced batch statistics: 2 ranks x B with gathered negatives == 1 process x 2B
        assert r["bn"]["global_bn"]["grad_diff"] < 1e-5 and r["bn"]["global_bn"]["loss_diff"] < 1e-5, r["bn"]
        # per-rank BatchNorm is another function (the statistics of half the rows)
        assert r["bn"]["per_rank_bn"]["grad_diff"] > 1e-3, r["bn"]
        # torch's SyncBatchNorm does not run on CPU tensors, so the option refuses clearly
        assert r["torch_syncbn_cpu"] != "ran"
        assert "needs CUDA" in r["sync_batchnorm_refused"] and "convert_global_batchnorm" in r["sync_batchnorm_refused"]
        # GradCache (chunks of 4 rows, accumulation 2, gathered negatives) trains like the plain DDP step
        assert r["grad_cache_vs_plain"] < 1e-5, r["grad_cache_vs_plain"]
    assert ranks[0]["cached_fingerprint"] == pytest.approx(ranks[1]["cached_fingerprint"], rel=1e-9)


@pytest.mark.slow
def test_resume_on_another_world_size_reshards_the_data(tiny_text_model, tmp_path):
    """2 steps in 1 process, then 2 more in 2 processes: the batches continue where the first
    run stopped, dealt to both ranks, nothing repeated or skipped."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import ddp_scale_script as script
    finally:
        sys.path.pop(0)
    from multicl.data.sampler import ResumableBatchSampler

    trainer, _ = script.text_run(tiny_text_model, tmp_path / "run", max_steps=2)
    trainer.train()
    first = list(trainer.seen)
    ranks = _launch("resume", tiny_text_model, tmp_path)
    order = [list(b) for b in ResumableBatchSampler(48, 6, seed=42, start_batch=0, num_batches=6)]
    assert first == order[0] + order[1]
    assert all(r["steps"] == 4 and r["resumed_from"] == 2 for r in ranks)
    # rank r gets global batches 2 + r, 4 + r (accelerate deals batches round-robin)
    assert ranks[0]["seen"] == order[2] + order[4] and ranks[1]["seen"] == order[3] + order[5]
