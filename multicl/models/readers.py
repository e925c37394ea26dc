"""How a saved model reads its modality's raw input: one reader per modality.

A reader turns what a user has (texts; a DataFrame or a CSV/parquet path; audio files or
``(array, sample_rate)`` pairs; ``(T, C)`` arrays) into encoder inputs, batch by batch, and
carries what that needs (tokenizer and max length; the fitted ``TablePreprocessor``; sample
rate; channels and normalisation). ``config()`` is what ``multicl.json`` records under
``"input"``; ``save_files`` / ``load`` write and read the rest of the folder.

Wrong input is refused with a message naming what came, what the model takes, and the fix.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from multicl.types import TensorInputs


@dataclass
class Prepared:
    """Inputs ready for batching: ``data`` (reader-specific), ``count`` rows, optional lengths
    (batches are cut in length order to limit padding)."""

    data: Any
    count: int
    lengths: np.ndarray | None = None


def _kind(x: Any) -> str:
    if isinstance(x, (list, tuple)) and x:
        return f"{type(x).__name__} of {type(x[0]).__name__}"
    return type(x).__name__


def _pad(arrays: Sequence[np.ndarray], tail: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = [len(a) for a in arrays]
    batch = np.zeros((len(arrays), max(lengths), *tail), dtype=np.float32)
    for i, a in enumerate(arrays):
        batch[i, : len(a)] = a
    return torch.from_numpy(batch), torch.tensor(lengths, dtype=torch.long)


class TextReader:
    modality = "text"
    input_hint = "a list of strings"

    def __init__(self, tokenizer, max_length: int = 256) -> None:
        self.tokenizer, self.max_length = tokenizer, int(max_length)

    def config(self) -> dict[str, Any]:
        return {"max_length": self.max_length, "tokenizer": type(self.tokenizer).__name__}

    def prepare(self, texts: Any) -> Prepared:
        from multicl.modalities.text import check_texts

        if hasattr(texts, "columns") or isinstance(texts, (os.PathLike, dict)) or (isinstance(texts, np.ndarray) and texts.dtype.kind == "f"):
            raise TypeError(f"this is a text model: it encodes {self.input_hint}, got {_kind(texts)}; "
                            f"read the texts first (e.g. a column: frame['text'].tolist())")
        texts = check_texts(texts)
        if not texts:
            return Prepared(None, 0)
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)
        return Prepared(encoded, len(texts), np.array([len(ids) for ids in encoded["input_ids"]]))

    def batch(self, prepared: Prepared, rows: np.ndarray) -> dict[str, torch.Tensor]:
        encoded = prepared.data
        return dict(self.tokenizer.pad({k: [encoded[k][i] for i in rows] for k in encoded.keys()}, return_tensors="pt"))


class TableReader:
    """A pandas DataFrame, or the path of a CSV / TSV / parquet file, through the fitted preprocessor."""

    modality = "table"
    input_hint = "a pandas DataFrame or the path of a CSV/TSV/parquet file"
    file_name = "preprocessing.json"

    def __init__(self, preprocessor) -> None:
        self.preprocessor = preprocessor

    def config(self) -> dict[str, Any]:
        pre = self.preprocessor
        return {"preprocessing": self.file_name, "numeric_columns": list(pre.numeric), "categorical_columns": list(pre.categorical),
                "scaling": pre.scaling}

    def save_files(self, folder: Path) -> None:
        self.preprocessor.save(folder / self.file_name)

    @classmethod
    def load(cls, folder: Path, config: dict[str, Any]) -> "TableReader":
        from multicl.data.table_preprocessing import TablePreprocessor

        path = folder / config.get("preprocessing", cls.file_name)
        if not path.exists():
            raise FileNotFoundError(f"{folder}: a table model needs its fitted preprocessing ({path.name}), which is missing; "
                                    f"re-save the model with EmbeddingModel.save")
        return cls(TablePreprocessor.load(path))

    def prepare(self, table: Any) -> Prepared:
        import pandas as pd

        from multicl.data.table_files import read_table

        if isinstance(table, (str, os.PathLike)):
            table = read_table(table)
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"this is a table model: it encodes {self.input_hint}, got {_kind(table)}; "
                            f"build a DataFrame with the training columns ({self._columns()})")
        try:
            transformed = self.preprocessor.transform(table)
        except KeyError as err:
            raise KeyError(f"{err.args[0]}; the model was trained on the columns {self._columns()}: add the missing ones "
                           f"(NaN is allowed: it is imputed)") from None
        return Prepared(transformed, len(transformed))

    def _columns(self) -> str:
        cols = [*self.preprocessor.numeric, *self.preprocessor.categorical]
        return ", ".join(cols[:12]) + (f", ... ({len(cols)} in all)" if len(cols) > 12 else "")

    def batch(self, prepared: Prepared, rows: np.ndarray) -> TensorInputs:
        part = prepared.data[rows]
        return TensorInputs({"numeric": torch.from_numpy(np.ascontiguousarray(part.numeric)),
                             "categorical": torch.from_numpy(np.ascontiguousarray(part.categorical))})


class AudioReader:
    """Audio file paths (wav, flac, ogg: mono mix-down, resampled) or ``(array, sample_rate)`` pairs."""

    modality = "audio"
    input_hint = "a list of audio file paths or (array, sample_rate) pairs"

    def __init__(self, sample_rate: int, frontend: dict[str, Any] | None = None) -> None:
        self.sample_rate, self.frontend = int(sample_rate), dict(frontend or {})

    def config(self) -> dict[str, Any]:
        return {"sample_rate": self.sample_rate, "frontend": self.frontend}

    def _waveform(self, i: int, item: Any) -> np.ndarray:
        from multicl.data.audio_files import load_waveform

        if isinstance(item, (str, os.PathLike)):
            if not Path(item).is_file():
                raise FileNotFoundError(f"audio item {i}: no file at {item}")
            try:
                return load_waveform(item, self.sample_rate)
            except ValueError as err:
                raise ValueError(f"audio item {i}: {err}; pass a readable wav/flac/ogg file or an (array, sample_rate) pair") from None
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], (int, np.integer)):
            wave = np.asarray(item[0], dtype=np.float32)
            if wave.ndim == 2:  # (frames, channels) -> mono
                wave = wave.mean(axis=1 if wave.shape[0] >= wave.shape[1] else 0)
            if wave.ndim != 1 or len(wave) == 0 or not np.isfinite(wave).all():
                raise ValueError(f"audio item {i}: expected a non-empty finite waveform (samples,) or (samples, channels), "
                                 f"got shape {wave.shape}")
            if int(item[1]) != self.sample_rate:
                import torchaudio.functional as AF

                wave = AF.resample(torch.from_numpy(wave), int(item[1]), self.sample_rate).numpy()
            return np.ascontiguousarray(wave, dtype=np.float32)
        raise TypeError(f"this is an audio model: it encodes {self.input_hint}; item {i} is {type(item).__name__}. "
                        f"A bare array needs its rate: pass (array, sample_rate)")

    def prepare(self, items: Any) -> Prepared:
        if isinstance(items, (str, os.PathLike, tuple)) or not isinstance(items, Sequence):
            raise TypeError(f"this is an audio model: it encodes {self.input_hint}, got {_kind(items)}; wrap one clip in a list")
        waves = [self._waveform(i, item) for i, item in enumerate(items)]
        return Prepared(waves, len(waves), np.array([len(w) for w in waves]))

    def batch(self, prepared: Prepared, rows: np.ndarray) -> TensorInputs:
        waveform, lengths = _pad([prepared.data[i] for i in rows], ())
        return TensorInputs({"waveform": waveform, "lengths": lengths})


class SeriesReader:
    """``(T, C)`` arrays in raw units: gaps (NaN) filled per channel, standardised with the training statistics."""

    modality = "series"
    input_hint = "a list of (T, C) numpy arrays"

    def __init__(self, channels: int, center: Sequence[float], scale: Sequence[float]) -> None:
        self.channels = int(channels)
        self.center, self.scale = np.asarray(center, np.float32), np.asarray(scale, np.float32)

    def config(self) -> dict[str, Any]:
        return {"channels": self.channels, "normalisation": {"center": self.center.tolist(), "scale": self.scale.tolist()}}

    def prepare(self, items: Any) -> Prepared:
        from multicl.data.series_files import fill_gaps

        if isinstance(items, np.ndarray) and items.ndim == 2:
            raise TypeError(f"this is a series model: it encodes {self.input_hint}; wrap a single series in a list "
                            f"(a 2-D array here would be read as embeddings by index.search)")
        if isinstance(items, str) or not isinstance(items, (Sequence, np.ndarray)):
            raise TypeError(f"this is a series model: it encodes {self.input_hint}, got {_kind(items)}")
        out = []
        for i, x in enumerate(items):
            if isinstance(x, str):
                raise TypeError(f"this is a series model: it encodes {self.input_hint}; item {i} is a string")
            x = np.asarray(x, dtype=np.float32)
            x = x[:, None] if x.ndim == 1 else x
            if x.ndim != 2 or x.shape[1] != self.channels or len(x) == 0:
                raise ValueError(f"series {i}: expected shape (T, {self.channels}) like the training series, got {x.shape}; "
                                 f"give each series as steps x channels with the training channels in their order")
            if not np.isfinite(x).all():
                try:
                    x, _ = fill_gaps(x)
                except ValueError as err:
                    raise ValueError(f"series {i}: {err}") from None
            out.append((x - self.center) / self.scale)
        return Prepared(out, len(out), np.array([len(x) for x in out]))

    def batch(self, prepared: Prepared, rows: np.ndarray) -> TensorInputs:
        values, lengths = _pad([prepared.data[i] for i in rows], (self.channels,))
        return TensorInputs({"values": values, "lengths": lengths})


class GraphReader:
    """Graphs: node level (one graph in, an embedding per node out) or graph level (a list of
    graphs in, one embedding per graph out). A graph is a :class:`~multicl.data.planetoid.GraphData`,
    a ``torch_geometric.data.Data`` or an ``(x (N, F), edge_index (2, E))`` pair; ``x`` must have
    the training features (``in_dim`` columns, in their order).

    Node level: every batch of rows runs message passing over the whole graph and keeps those
    nodes' rows (``encode(graph, batch_size=graph.num_nodes)`` does it in one pass).
    """

    modality = "graph"

    def __init__(self, level: str, in_dim: int) -> None:
        if level not in ("node", "graph"):
            raise ValueError(f"level must be 'node' or 'graph', got {level!r}")
        self.level, self.in_dim = level, int(in_dim)
        self.input_hint = ("one graph (GraphData, torch_geometric Data or an (x, edge_index) pair)" if level == "node"
                           else "a list of graphs (GraphData, torch_geometric Data or (x, edge_index) pairs)")

    def config(self) -> dict[str, Any]:
        return {"level": self.level, "in_dim": self.in_dim}

    def _graph(self, item: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
        from multicl.data.planetoid import GraphData

        if isinstance(item, GraphData):
            x, edge_index = item.x, item.edge_index
        elif isinstance(item, tuple) and len(item) == 2:
            x, edge_index = item
        else:
            try:
                from torch_geometric.data import Data
            except ImportError:  # torch_geometric is optional
                Data = None
            if Data is None or not isinstance(item, Data):
                raise TypeError(f"this is a {self.level}-level graph model: it encodes {self.input_hint}; {what} is {_kind(item)}")
            x, edge_index = item.x, item.edge_index
        x = torch.as_tensor(x, dtype=torch.float32)
        edge_index = torch.as_tensor(edge_index, dtype=torch.long)
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"{what}: node features of shape {tuple(x.shape)}; this model was trained on {self.in_dim} features per "
                             f"node: give x as (nodes, {self.in_dim}) with the training columns in their order")
        if edge_index.ndim != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"{what}: edge_index must be (2, E), got {tuple(edge_index.shape)}")
        if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= x.shape[0]):
            raise ValueError(f"{what}: edge_index names nodes outside 0..{x.shape[0] - 1}")
        return x, edge_index

    def prepare(self, items: Any) -> Prepared:
        if self.level == "node":
            if isinstance(items, list):
                raise TypeError(f"this is a node-level graph model: it encodes {self.input_hint} (one embedding per node), "
                                f"not a list; pass the graph itself")
            x, edge_index = self._graph(items, "the graph")
            return Prepared((x, edge_index), int(x.shape[0]))
        if not isinstance(items, (list, tuple)) or (isinstance(items, tuple) and len(items) == 2 and isinstance(items[0], torch.Tensor)):
            raise TypeError(f"this is a graph-level model: it encodes {self.input_hint}; wrap a single graph in a list")
        graphs = [self._graph(g, f"graph {i}") for i, g in enumerate(items)]
        return Prepared(graphs, len(graphs), np.array([g[0].shape[0] for g in graphs]))

    def batch(self, prepared: Prepared, rows: np.ndarray) -> Any:
        from multicl.modalities.graph import GraphInputs

        if self.level == "node":
            x, edge_index = prepared.data
            return GraphInputs(x, edge_index, torch.zeros(x.shape[0], dtype=torch.long), 1, torch.as_tensor(rows, dtype=torch.long))
        parts = [GraphInputs(x, e, torch.zeros(x.shape[0], dtype=torch.long), 1) for x, e in (prepared.data[i] for i in rows)]
        return GraphInputs.cat(parts)
