"""multicl: contrastive embedding learning for every non-image modality."""
from multicl.api import EmbeddingModel
from multicl.models.card import ModelCard
from multicl.models.index import EmbeddingIndex
from multicl.negatives.ann_index import ExactIndex, HnswIndex
from multicl.negatives.masks import FalseNegativePolicy
from multicl.objectives import OBJECTIVES, build_objective

__version__ = "0.1.0"

__all__ = ["EmbeddingModel", "EmbeddingIndex", "ModelCard", "ExactIndex", "HnswIndex", "FalseNegativePolicy", "OBJECTIVES",
           "build_objective", "__version__"]
