"""Gathered negatives: 2 gloo processes x batch B give the loss and gradients of 1 process x 2B."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_two_ranks_with_gathered_negatives_equal_one_process_with_the_whole_batch():
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "ddp_equivalence.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(script), "--batch", "8"], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["max_abs_loss_diff"] < 1e-5 and result["max_abs_grad_diff"] < 1e-5
    assert result["parameters_compared"] >= 4


def test_without_other_ranks_the_source_gives_nothing():
    import torch

    from multicl.negatives.sources import GatheredNegatives, StepContext
    from multicl.types import ContrastiveBatch, RoleBatch, TensorInputs

    meta = {"instance_id": torch.arange(4)}
    role = RoleBatch(TensorInputs({"x": torch.zeros(4, 2)}), meta)
    context = StepContext(ContrastiveBatch(role, role), torch.zeros(4, 3), torch.zeros(4, 3))
    assert GatheredNegatives().block(context, None, None) is None
