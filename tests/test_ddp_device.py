"""cuda:N is respected (device resolution runs on CPU with a pretend GPU count)."""
import pytest
import torch

from multicl.train.engine_setup import resolve_device


def test_cpu_and_auto_without_cuda():
    assert resolve_device("cpu", True, 4, 1) == torch.device("cpu")
    assert resolve_device("auto", False, 0, 1) == torch.device("cpu")


def test_cuda_index_is_kept_in_one_process():
    assert resolve_device("cuda:1", True, 2, 1) == torch.device("cuda", 1)
    assert resolve_device("cuda", True, 2, 1) == torch.device("cuda")
    assert resolve_device("auto", True, 2, 1) == torch.device("cuda")


def test_cuda_index_refusals():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda:0", False, 0, 1)
    with pytest.raises(ValueError, match="only 2 CUDA device"):
        resolve_device("cuda:3", True, 2, 1)
    with pytest.raises(ValueError, match="CUDA_VISIBLE_DEVICES"):
        resolve_device("cuda:1", True, 2, 2)


def test_trainer_config_refuses_cuda_without_gpu(tmp_path, monkeypatch):
    from multicl.train.config import TrainerConfig
    from multicl.train.engine_setup import build_accelerator

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the machine without a GPU, on any machine
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        build_accelerator(TrainerConfig(out_dir=str(tmp_path), device="cuda:1"))
