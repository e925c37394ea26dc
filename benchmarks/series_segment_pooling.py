"""Does pooling TS2Vec's per-timestep output by time segments help its nearest neighbours? (dev only, issue 18)

TS2Vec's instance embedding is the max over all valid steps: it keeps *what* occurs in a series, not *where*. On
shape-based univariate sets its nearest neighbours lose to the raw series (ArrowHead 1-NN 77 vs 80; PLAID 68 vs 73,
DTW 93; docs/series.md). Segment pooling splits each series' valid steps into S equal parts in time and concatenates
the S maxima (S = 1 is the saved embedding), keeping coarse order at S x the size; padding never enters.

For each set and dev split (``--dev-fraction 0.3`` of *_TRAIN.ts, split seed = run seed; no *_TEST.ts read) one
default TS2Vec run is trained by the recipe; its saved model's per-timestep output (eval mode) is pooled with each S
and scored by the recipe's four probes (cosine 1-NN, 5-NN, logistic regression, RBF SVM). The rule:
``benchmarks/results/series_segment_pooling/RULE.md``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_segment_pooling.py --sktime-root <sets> --split-seeds 0 1 2
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from multicl.eval.report import format_table
from multicl.recipes._sequence_eval import embedding_scores

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _series_sets import PROBES, default_run, run_cells, series_study_args  # noqa: E402

SEGMENTS = (1, 2, 4, 8)


def segment_max(steps: torch.Tensor, lengths: torch.Tensor, segments: int) -> torch.Tensor:
    """(B, T, D) per-step output, (B,) valid lengths -> (B, segments * D): the max over each of ``segments`` equal
    parts of the valid steps (a part of a series shorter than ``segments`` steps still holds one step)."""
    t = torch.arange(steps.shape[1], device=steps.device)
    out = []
    for i in range(segments):
        lo = (i * lengths) // segments
        hi = torch.maximum(((i + 1) * lengths) // segments, lo + 1)
        inside = (t[None, :] >= lo[:, None]) & (t[None, :] < hi[:, None])
        out.append(steps.masked_fill(~inside[..., None], torch.finfo(steps.dtype).min).amax(1))
    return torch.cat(out, dim=1)


@torch.no_grad()
def pooled(model, series: list[np.ndarray]) -> dict[int, np.ndarray]:
    """The saved TS2Vec model's per-step output on ``series`` (standardised by its reader, eval mode), computed once per
    series -> ``{S: (N, S * D) segment maxima}`` for every S of ``SEGMENTS``."""
    encoder, reader = model.encoder.eval(), model.reader
    out: dict[int, list[np.ndarray]] = {s: [] for s in SEGMENTS}
    for x in series:  # one at a time: no padding at all
        values = torch.from_numpy(((np.asarray(x, np.float32) - reader.center) / reader.scale)[None])
        lengths = torch.tensor([len(x)])
        steps = encoder.forward_steps({"values": values, "lengths": lengths})
        for s in SEGMENTS:
            out[s].append(segment_max(steps, lengths, s)[0].numpy())
    return {s: np.stack(v) for s, v in out.items()}


def run(train_file: Path, seed: int, stage: str = "dev") -> dict[str, float]:
    """One default TS2Vec run: ``dev`` (30% of the training file held out, split seed = seed) or ``test``
    (train -> the *_TEST.ts beside it) -> every probe on the raw series, as the recipe scored, and per S."""
    with default_run(train_file, seed, stage) as r:
        out = {f"raw_{p}": r.metrics[f"{stage}_raw_{p}_accuracy"] for p in PROBES} | {f"recipe_{p}": r.metrics[f"{stage}_{p}_accuracy"] for p in PROBES}
        fit_z, dev_z = pooled(r.model, r.fit_series), pooled(r.model, r.eval_series)
    for s in SEGMENTS:
        scores = embedding_scores(fit_z[s], r.fit_labels, dev_z[s], r.eval_labels, 5, "p")
        out |= {f"S{s}_{p}": scores[f"p_{p}_accuracy"] for p in PROBES}
    return out


def main() -> None:
    args = series_study_args(__doc__.split("\n\n")[0], Path("benchmarks/results/series_segment_pooling"))
    results, set_names = run_cells(args, run)
    rows = []
    names = {"raw": "raw series (euclidean; LR / SVM on it)"} | {f"S{s}": f"TS2Vec, {s} segment max{' (as saved)' if s == 1 else 'es'}" for s in SEGMENTS}
    for prefix, label in names.items():
        for p in PROBES:
            values = [np.array([results[f"{ds}/{s}"][f"{prefix}_{p}"] for s in args.split_seeds]) for ds in set_names]
            cells = [f"{v.mean():.1f}" + (f" ± {v.std(ddof=1):.1f}" if args.stage == "test" and len(v) > 1 else "") for v in values]
            rows.append([label, p, *cells, f"{np.mean([v.mean() for v in values]):.2f}"])
    text = format_table(rows, ["representation", "probe", *set_names, "mean"])
    text += (f"\ndev accuracy (30% of each *_TRAIN.ts), mean over split seeds {args.split_seeds} (each also the run's seed)" if args.stage == "dev"
             else f"\ntest accuracy, mean over seeds {args.split_seeds}")
    (args.out / f"{args.stage}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
