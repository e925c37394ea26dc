"""Readers for the text formats we meet: sentence lists, pair/triplet tables, STS-B, SICK.

Every reader decodes UTF-8 strictly (a non-UTF-8 file is an error naming the file and byte
offset, never silently mangled text), drops blank lines with a count, and fails with the
expected layout when columns do not fit.
"""
from __future__ import annotations

import csv
import logging
import random
from dataclasses import dataclass
from pathlib import Path

from multicl.data.text_sample import TextSample

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoredPair:
    sentence1: str
    sentence2: str
    score: float


def read_text(path: str | Path) -> str:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"expected a file, got the folder {path}")
    data = path.read_bytes()
    if path.suffix == ".gz":
        import gzip

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise ValueError(f"{path} is not a complete gzip file ({err})") from err
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path} is not valid UTF-8 (byte {err.start}: {data[err.start:err.start + 8]!r}); "
            f"convert it, e.g. `iconv -f latin1 -t utf-8 {path.name}`"
        ) from err


def read_sentences(path: str | Path) -> list[str]:
    """One sentence per line. ``id<TAB>sentence`` lines (Leipzig corpora) keep the sentence.

    Blank lines are skipped (and counted in the log); an empty result is an error.
    """
    sentences, blank = [], 0
    for line in read_text(path).splitlines():
        if "\t" in line:
            head, tail = line.split("\t", 1)
            if head.strip().isdigit():
                line = tail
        line = line.strip()
        if not line:
            blank += 1
            continue
        sentences.append(line)
    if blank:
        logger.info("%s: skipped %d blank lines", path, blank)
    if not sentences:
        raise ValueError(f"{path} has no non-blank lines: the corpus is empty")
    return sentences


def _rows(path: Path) -> list[list[str]]:
    text = read_text(path)
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".txt") or "\t" in text.split("\n", 1)[0] else ","
    if delimiter == "\t":
        # Split on tabs only: STS files carry unbalanced quotes that csv quoting would swallow.
        return [line.split("\t") for line in text.splitlines() if line.strip()]
    return [row for row in csv.reader(text.splitlines()) if row]


_PAIR_HEADERS = ({"sent0", "sent1"}, {"anchor", "positive"}, {"sentence1", "sentence2"}, {"premise", "hypothesis"})


def read_pairs(path: str | Path) -> list[TextSample]:
    """A csv/tsv of ``anchor, positive[, hard_negative]`` (header optional: ``sent0,sent1,hard_neg``
    or ``anchor,positive,negative``). Rows with an empty anchor or positive are errors."""
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise ValueError(f"{path} is empty")
    header = [c.strip().lower() for c in rows[0]]
    if any(set(header) >= h for h in _PAIR_HEADERS):
        rows = rows[1:]
    width = len(rows[0]) if rows else 0
    if width not in (2, 3):
        raise ValueError(
            f"{path}: expected 2 columns (anchor, positive) or 3 (anchor, positive, hard_negative); "
            f"the first row has {width}: {rows[0][:4] if rows else []}"
        )
    samples = []
    for number, row in enumerate(rows, start=2 if len(header) else 1):
        if len(row) != width:
            raise ValueError(f"{path} line {number}: expected {width} columns, found {len(row)}")
        cells = [c.strip() for c in row]
        if not cells[0] or not cells[1]:
            raise ValueError(f"{path} line {number}: empty anchor or positive")
        samples.append(TextSample(cells[0], positive=cells[1], hard_negative=(cells[2] or None) if width == 3 else None))
    if not samples:
        raise ValueError(f"{path} has a header but no rows")
    return samples


def read_sts(path: str | Path) -> list[ScoredPair]:
    """STS-B (no header; score, sentence1, sentence2 in columns 5-7) or SICK (header with
    sentence_A, sentence_B, relatedness_score). Detected from the first line."""
    path = Path(path)
    lines = [line for line in read_text(path).splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path} is empty")
    first = lines[0].split("\t")
    pairs: list[ScoredPair] = []
    if "sentence_A" in first and "relatedness_score" in first:
        ia, ib, isc = first.index("sentence_A"), first.index("sentence_B"), first.index("relatedness_score")
        for number, line in enumerate(lines[1:], start=2):
            cells = line.split("\t")
            if len(cells) <= max(ia, ib, isc):
                raise ValueError(f"{path} line {number}: expected SICK columns, found {len(cells)} fields")
            pairs.append(ScoredPair(cells[ia].strip(), cells[ib].strip(), _score(cells[isc], path, number)))
    else:
        for number, line in enumerate(lines, start=1):
            cells = line.split("\t")
            if len(cells) >= 7:
                score, s1, s2 = cells[4], cells[5], cells[6]
            elif len(cells) == 3:  # score, sentence1, sentence2
                score, s1, s2 = cells
            else:
                raise ValueError(
                    f"{path} line {number}: expected an STS-B row (7+ tab-separated fields: genre, file, "
                    f"year, id, score, sentence1, sentence2), a 3-field row (score, s1, s2) or a SICK file "
                    f"with a header; found {len(cells)} fields"
                )
            pairs.append(ScoredPair(s1.strip(), s2.strip(), _score(score, path, number)))
    if len(pairs) < 2:
        raise ValueError(f"{path} has {len(pairs)} scored pairs; a correlation needs at least 2")
    return pairs


def _score(text: str, path: Path, number: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{path} line {number}: score {text!r} is not a number (wrong columns?)") from None


def read_sick_triplets(path: str | Path, seed: int = 0, fill_missing: str = "random_contradiction") -> list[TextSample]:
    """Supervised SimCSE data from a SICK file: anchor = sentence_A, positive = its ENTAILMENT
    partner, hard negative = a CONTRADICTION partner of the anchor.

    SICK gives only ~20% of entailment pairs a contradiction of the same anchor. For the rest,
    ``fill_missing`` says what to do: ``random_contradiction`` (default) takes a sentence from
    another contradiction pair (seeded), so every row is a triplet; ``none`` leaves the row
    without a hard negative (our batches accept that); ``drop`` keeps only full triplets.
    """
    if fill_missing not in ("random_contradiction", "none", "drop"):
        raise ValueError(f"fill_missing must be random_contradiction, none or drop; got {fill_missing!r}")
    path = Path(path)
    lines = [line.split("\t") for line in read_text(path).splitlines() if line.strip()]
    header = lines[0] if lines else []
    needed = ("sentence_A", "sentence_B", "entailment_judgment")
    if not all(h in header for h in needed):
        raise ValueError(f"{path}: a SICK file needs a header with {needed}; found {header[:6]}")
    ia, ib, il = (header.index(h) for h in needed)
    entail: list[tuple[str, str]] = []
    contradictions: dict[str, list[str]] = {}
    for cells in lines[1:]:
        a, b, label = cells[ia].strip(), cells[ib].strip(), cells[il].strip().upper()
        if label == "ENTAILMENT":
            entail.append((a, b))
        elif label == "CONTRADICTION":
            contradictions.setdefault(a, []).append(b)
            contradictions.setdefault(b, []).append(a)
    if not entail:
        raise ValueError(f"{path} has no ENTAILMENT pairs: nothing to use as positives")
    rng = random.Random(seed)
    pool = sorted({s for group in contradictions.values() for s in group})
    samples = []
    for a, b in entail:
        own = contradictions.get(a)
        if own:
            negative = own[rng.randrange(len(own))]
        elif fill_missing == "random_contradiction" and pool:
            negative = pool[rng.randrange(len(pool))]
            while negative in (a, b) and len(pool) > 2:
                negative = pool[rng.randrange(len(pool))]
        elif fill_missing == "drop":
            continue
        else:
            negative = None
        samples.append(TextSample(a, positive=b, hard_negative=negative))
    return samples
