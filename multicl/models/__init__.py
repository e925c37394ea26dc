"""The saved-model format (one folder per model, every modality) and the embedding index.

``multicl.EmbeddingModel`` (in :mod:`multicl.api`) is the public face; this package holds what
it is made of: :mod:`~multicl.models.folder` (layout, load/save), :mod:`~multicl.models.readers`
(raw input per modality), :mod:`~multicl.models.encoders` (encoder class + arguments),
:mod:`~multicl.models.card` (README.md) and :mod:`~multicl.models.index` (``EmbeddingIndex``).
"""
