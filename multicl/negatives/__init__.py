from multicl.negatives.masks import FalseNegativePolicy

__all__ = ["FalseNegativePolicy"]
