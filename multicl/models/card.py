"""The model card: ``README.md`` in a saved model's folder (recipe, configuration, data, metrics, environment)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ModelCard:
    """What a saved model says about itself. ``data``: data fingerprints (file -> size + SHA-256,
    as in a run's ``run_identity.json``); ``metrics``: any scores known when it was saved;
    ``environment``: versions and CPU thread count of the run that trained it (what repeating it needs)."""

    recipe: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    environment: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_run(cls, recipe: str, config: dict[str, Any], identity: dict[str, Any] | None = None,
                 metrics: dict[str, Any] | None = None) -> "ModelCard":
        """A recipe's card: its config, the data fingerprints from its run identity, and this process's environment."""
        from multicl.utils.environment import run_environment

        data = {k: v for k, v in (identity or {}).items() if k.endswith("(content)")}
        return cls(recipe=recipe, config=dict(config), data=data, metrics=dict(metrics or {}),
                   environment=run_environment(config.get("device")))


def write_card(folder: Path, meta: dict[str, Any], card: ModelCard | None) -> None:
    card = card or ModelCard()
    modality = meta["modality"]
    load = {"text": 'model.encode(["a sentence", "another"])',
            "table": 'model.encode(pd.read_csv("rows.csv"))   # or model.encode("rows.parquet")',
            "audio": 'model.encode(["clip.wav", (waveform, 16000)])',
            "series": "model.encode([array_T_by_C, ...])",
            "graph": "model.encode(graph)   # node level: one graph (x, edge_index) -> an embedding per node"}.get(modality, "model.encode(inputs)")
    lines = [f"# multicl {modality} embedding model", "",
             f"- modality: `{modality}`", f"- encoder: `{meta['encoder']['class']}` -> {meta['embed_dim']}-d embeddings",
             f"- recipe: `{card.recipe}`" if card.recipe else "- recipe: (saved from Python)", "",
             "```python", "from multicl import EmbeddingModel", "", f'model = EmbeddingModel.load("{folder.name}")', f"emb = {load}",
             "index = model.index(corpus)            # then index.search(queries, k=10) -> (ids, scores)", "```", ""]
    if modality == "text":
        lines += ["Also loads in sentence-transformers: `SentenceTransformer(path)` gives the same embeddings.", ""]
    lines += ["## Encoder", "", "```json", json.dumps(meta["encoder"], indent=2), "```", "",
              "## Input", "", "```json", json.dumps(meta.get("input", {}), indent=2)[:4000], "```", ""]
    for title, values in (("Configuration", card.config), ("Data", card.data), ("Metrics", card.metrics),
                          ("Training environment", card.environment)):
        if values:
            lines += [f"## {title}", "", "| key | value |", "|---|---|"]
            lines += [f"| {k} | {_cell(v)} |" for k, v in sorted(values.items())]
            lines.append("")
    if card.notes:
        lines += ["## Notes", "", card.notes, ""]
    (folder / "README.md").write_text("\n".join(lines), encoding="utf-8")


def _cell(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else json.dumps(value) if not isinstance(value, str) else value
    return text.replace("|", "\\|")[:200]
