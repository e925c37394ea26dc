#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv and install multicl into it.
# Idempotent: a second run only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev,graph]"
# transformers imports torchaudio whenever it is installed: fail here, not later, if the pair is broken.
.venv/bin/python -c "import torch, torchaudio, transformers, sentence_transformers; print('env ok: torch', torch.__version__, 'torchaudio', torchaudio.__version__, 'transformers', transformers.__version__, 'sentence-transformers', sentence_transformers.__version__)"
.venv/bin/python -W ignore -c "import torch_geometric; from torch_geometric.nn import GCNConv, GATConv, GINConv; print('graph extra ok: torch_geometric', torch_geometric.__version__)"
