"""Typed values that every layer above shares: encoder inputs and training batches."""
from multicl.types.batch import ContrastiveBatch, HardNegative, Meta, RoleBatch, View, meta_tensors
from multicl.types.inputs import Inputs, TensorInputs
from multicl.types.multi_crop import MultiCropBatch

__all__ = ["ContrastiveBatch", "HardNegative", "Inputs", "Meta", "MultiCropBatch", "RoleBatch", "TensorInputs", "View", "meta_tensors"]
