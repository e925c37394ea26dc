"""Switching a parameter's gradient off for some steps without leaving DDP's graph."""
from __future__ import annotations

import torch


def gradient_gate(tensor: torch.Tensor, open_: bool) -> torch.Tensor:
    """``tensor`` itself when ``open_``; otherwise the same values with a zero gradient.

    Freezing by ``requires_grad_(False)`` or by detaching mid-run drops the parameter from the
    autograd graph, which DDP (without ``find_unused_parameters``) reports as an error; a zero
    gradient keeps it in the graph. With Adam-style optimisers, zero gradients from the start
    leave the moments at zero, so the frozen parameter does not move.
    """
    if open_:
        return tensor
    return tensor.detach() + 0.0 * tensor
