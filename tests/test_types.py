"""Typed inputs and batches: stacking with padding, row selection, devices, validation."""
from __future__ import annotations

import pytest
import torch

from multicl.types import ContrastiveBatch, RoleBatch, TensorInputs
from multicl.types.inputs import cat_inputs


def test_cat_pads_token_rows_with_each_keys_pad_value():
    a = TensorInputs({"input_ids": torch.ones(2, 5, dtype=torch.long), "attention_mask": torch.ones(2, 5, dtype=torch.long)}, {"input_ids": 9})
    b = TensorInputs({"input_ids": torch.full((1, 7), 3), "attention_mask": torch.ones(1, 7, dtype=torch.long)}, {"input_ids": 9})
    out = TensorInputs.cat([a, b])
    assert out.num_rows == 3 and out["input_ids"].shape == (3, 7)
    assert out["input_ids"][0].tolist() == [1] * 5 + [9, 9] and out["attention_mask"][1].tolist() == [1] * 5 + [0, 0]
    with pytest.raises(ValueError, match="different keys"):
        TensorInputs.cat([a, TensorInputs({"input_ids": b["input_ids"]})])


def test_select_to_and_row_checks():
    x = TensorInputs({"x": torch.arange(12.0).reshape(6, 2), "lengths": torch.arange(6)})
    picked = x.select([4, 1])
    assert picked["x"].tolist() == [[8.0, 9.0], [2.0, 3.0]] and picked["lengths"].tolist() == [4, 1]
    assert x.to("cpu")["x"].device.type == "cpu" and len(x) == 2 and x.num_rows == 6
    with pytest.raises(ValueError, match="same number of rows"):
        TensorInputs({"x": torch.zeros(3, 2), "lengths": torch.zeros(4)})


def test_role_and_batch_validation():
    inputs = TensorInputs({"x": torch.zeros(3, 2)})
    with pytest.raises(ValueError, match="meta"):
        RoleBatch(inputs, {"instance_id": torch.arange(4)})
    role = RoleBatch(inputs, {"instance_id": torch.arange(3)})
    with pytest.raises(ValueError, match="positives"):
        ContrastiveBatch(role, RoleBatch(TensorInputs({"x": torch.zeros(2, 2)}), {"instance_id": torch.arange(2)}))
    both = RoleBatch.cat([role, role.select([0])])
    assert len(both) == 4 and both.meta["instance_id"].tolist() == [0, 1, 2, 0]


def test_mixed_input_types_are_refused_with_a_reason():
    class Other(TensorInputs):
        pass

    with pytest.raises(TypeError, match="one modality"):
        cat_inputs([TensorInputs({"x": torch.zeros(1, 2)}), Other({"x": torch.zeros(1, 2)})])
