"""The peer: sentence-transformers' own trainer with MultipleNegativesRankingLoss."""
from __future__ import annotations

import tempfile
import time
from typing import Sequence

from multicl.modalities.text import TextSample


def train_sentence_transformers(
    model_path: str,
    samples: Sequence[TextSample],
    mode: str,
    max_steps: int,
    batch_size: int,
    learning_rate: float,
    temperature: float,
    max_length: int,
    seed: int,
    warmup_ratio: float = 0.1,
    bf16: bool = False,
):
    """Train with SentenceTransformerTrainer + MNRL(scale=1/temperature); return (model, seconds)."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(model_path, device="cpu")
    model.max_seq_length = max_length
    if mode == "unsup":
        columns = {"anchor": [s.text for s in samples], "positive": [s.text for s in samples]}
    else:
        columns = {"anchor": [s.text for s in samples], "positive": [s.positive for s in samples]}
        if all(s.hard_negative for s in samples):
            columns["negative"] = [s.hard_negative for s in samples]
    dataset = Dataset.from_dict(columns)
    loss = MultipleNegativesRankingLoss(model, scale=1.0 / temperature)
    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp,
            max_steps=max_steps,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            warmup_ratio=warmup_ratio,
            lr_scheduler_type="linear",
            weight_decay=0.0,
            max_grad_norm=1.0,
            seed=seed,
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            logging_steps=max(1, max_steps // 10),
            dataloader_drop_last=True,
            use_cpu=True,
            bf16=bf16,
            disable_tqdm=True,
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    return model, seconds
