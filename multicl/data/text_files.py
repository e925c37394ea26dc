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
from multicl.errors import UserInputError

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
            raise UserInputError(f"{path} is not a complete gzip file ({err}); download or compress it again") from err
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        bad = data[err.start:err.start + 3]
        if len(bad) == 3 and bad[0] == 0xED and 0xA0 <= bad[1] <= 0xBF:  # CESU-8 / WTF-8: an encoded UTF-16 surrogate
            raise UserInputError(
                f"{path} line {line}: not valid UTF-8 (byte {column} of the line, {err.start} of the file): {bad!r} is an encoded lone "
                f"surrogate (half of a UTF-16 pair, written by a tool that encodes UTF-16 halves separately), not UTF-8; "
                f"fix the writer, or replace it: `python -c \"import sys; b=open(sys.argv[1],'rb').read(); "
                f"open(sys.argv[1]+'.fixed','wb').write(b.decode('utf-8','replace').encode())\" {path.name}`"
            ) from None
        raise UserInputError(
            f"{path} line {line}: not valid UTF-8 (byte {err.start}: {data[err.start:err.start + 8]!r}); "
            f"convert it, e.g. `iconv -f latin1 -t utf-8 {path.name}`"
        ) from err


def read_sentences(path: str | Path, counts: dict[str, int] | None = None) -> list[str]:
    """One sentence per line. ``id<TAB>sentence`` lines (Leipzig corpora) keep the sentence.

    Blank lines are skipped (a WARNING with their count; ``counts["blank_lines_skipped"]``); an
    empty result is an error.
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
        logger.warning("%s: skipped %d blank lines", path, blank)
    if counts is not None:
        counts["blank_lines_skipped"] = counts.get("blank_lines_skipped", 0) + blank
    if not sentences:
        raise UserInputError(f"{path} has no non-blank lines: the corpus is empty; give a file with one sentence per line")
    return sentences


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """``(line number, cells)`` of every non-blank row; the number is the row's first physical line."""
    text = read_text(path)
    first = text.split("\n", 1)[0]
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".txt") or "\t" in first else ","
    lines = text.splitlines()
    if delimiter == "\t":
        # Split on tabs only: STS files carry unbalanced quotes that csv quoting would swallow.
        return [(n, line.split("\t")) for n, line in enumerate(lines, start=1) if line.strip()]
    rows, reader = [], csv.reader(lines)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as err:
            raise UserInputError(f"{path} line {start}: not a valid CSV row ({err}); check its quotes") from None
        if any(c.strip() for c in row):
            rows.append((start, row))


# Known headers of pair / triplet / scored / NLI files -> role of each column.
ROLE_NAMES = {
    "anchor": ("anchor", "sent0", "query", "question", "sentence1", "premise", "text1", "sentence_a"),
    "positive": ("positive", "sent1", "document", "answer", "passage", "sentence2", "hypothesis", "text2", "sentence_b"),
    "negative": ("negative", "hard_negative", "hard_neg", "negative_document"),
    "score": ("score", "similarity", "relatedness_score"),
    "label": ("label", "gold_label", "entailment_judgment"),
}
IGNORED_COLUMNS = ("id", "idx", "pair_id", "pairid", "genre", "source")
KNOWN_SCHEMAS = (
    "anchor,positive[,negative]", "sent0,sent1[,hard_neg]", "query,document[,negative]", "question,answer",
    "sentence1,sentence2,score (scored)", "premise,hypothesis,label (NLI)",
)
NLI_LABELS = {"entailment": "entailment", "neutral": "neutral", "contradiction": "contradiction",
              "0": "entailment", "1": "neutral", "2": "contradiction"}  # 0/1/2: the SNLI/MNLI (datasets) convention
_ROLE_OF = {name: role for role, names in ROLE_NAMES.items() for name in names}


def _header_roles(path: Path, header: list[str], line: int) -> dict[str, int] | None:
    """Column index of each role if ``header`` is a header row; None if the row is data."""
    names = [c.strip().lower().lstrip("\ufeff") for c in header]
    if not any(n in _ROLE_OF for n in names):
        return None  # no known column name: a headerless file
    roles: dict[str, int] = {}
    unknown = [n for n in names if n not in _ROLE_OF and n not in IGNORED_COLUMNS]
    for index, name in enumerate(names):
        role = _ROLE_OF.get(name)
        if role is None:
            continue
        if role in roles:
            unknown.append(f"{name} (a second {role} column)")
        roles[role] = index
    if unknown or "anchor" not in roles or "positive" not in roles:
        raise UserInputError(
            f"{path} line {line}: header {header} is not a layout this reader understands"
            + (f" (unknown columns {unknown})" if unknown else "")
            + f"; understood headers: {'; '.join(KNOWN_SCHEMAS)} (extra columns {list(IGNORED_COLUMNS)} are ignored), "
            "or no header at all: anchor, positive[, hard_negative] by position. Rename the columns to one of these."
        )
    return roles


def read_pairs(path: str | Path, mode: str = "sup", counts: dict[str, int] | None = None) -> list[TextSample]:
    """Pairs, triplets, scored pairs or NLI rows from a csv/tsv, by its header when it has one.

    Headers (case-insensitive; see :data:`KNOWN_SCHEMAS`): ``anchor/positive/negative``,
    ``sent0/sent1/hard_neg``, ``query/document``, ``question/answer`` -> (anchor, positive[, hard
    negative]); ``premise/hypothesis/label`` (NLI; labels entailment / neutral / contradiction or
    0 / 1 / 2) -> anchor = premise, positive = an entailed hypothesis, hard negative = a
    contradiction of the same premise (neutral rows and premises without an entailment are
    dropped, counted); ``sentence1/sentence2/score`` (scored, STS) -> an error in ``mode="sup"``
    (a score is no positive/negative decision: evaluate with it, or train ``unsup`` on its
    sentences). An unknown header is an error that lists these. Without a header: ``anchor,
    positive[, hard_negative]`` by position. ``mode="unsup"`` returns every distinct sentence as
    its own sample. ``counts`` (optional) gets ``rows_dropped_*`` counts.
    """
    if mode not in ("sup", "unsup"):
        raise ValueError(f"mode must be 'sup' or 'unsup', got {mode!r}")
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise UserInputError(f"{path} is empty: expected rows of anchor, positive[, hard_negative]")
    roles = _header_roles(path, rows[0][1], rows[0][0])
    if roles is not None:
        if len(rows) == 1:
            raise UserInputError(f"{path} has a header but no rows")
        samples = _by_header(path, rows[1:], roles, len(rows[0][1]), mode, counts)
    else:
        samples = _by_position(path, rows)
    if mode == "unsup":
        texts = (t for s in samples for t in (s.text, s.positive, s.hard_negative) if t)
        return [TextSample(t) for t in dict.fromkeys(texts)]
    return samples


def _by_position(path: Path, rows: list[tuple[int, list[str]]]) -> list[TextSample]:
    width = len(rows[0][1])
    if width not in (2, 3):
        raise UserInputError(
            f"{path} line {rows[0][0]}: expected 2 columns (anchor, positive) or 3 (anchor, positive, hard_negative); "
            f"found {width}: {rows[0][1][:4]}. Without a header columns are read by position; with one, name them "
            f"({'; '.join(KNOWN_SCHEMAS)})"
        )
    samples = []
    for number, row in rows:
        if len(row) != width:
            raise UserInputError(f"{path} line {number}: expected {width} columns like line {rows[0][0]}, found {len(row)}")
        cells = [c.strip() for c in row]
        if not cells[0] or not cells[1]:
            raise UserInputError(f"{path} line {number}: empty anchor or positive; fill it in or delete the row")
        samples.append(TextSample(cells[0], positive=cells[1], hard_negative=(cells[2] or None) if width == 3 else None))
    return samples


def _by_header(path: Path, rows, roles: dict[str, int], width: int, mode: str, counts: dict[str, int] | None) -> list[TextSample]:
    need = width
    table = []
    for number, row in rows:
        if len(row) < need or any(c.strip() for c in row[need:]):
            raise UserInputError(f"{path} line {number}: expected {need} columns as in the header, found {len(row)}; "
                                 "fix the row (a comma inside a text needs quotes)")
        cells = {role: row[i].strip() for role, i in roles.items()}
        if not cells["anchor"] or not cells["positive"]:
            raise UserInputError(f"{path} line {number}: empty {'anchor' if not cells['anchor'] else 'positive'} cell; "
                                 "fill it in or delete the row")
        table.append((number, cells))
    if "label" in roles and "score" not in roles and all(_is_number(c["label"]) for _, c in table) \
            and any(c["label"] not in ("0", "1", "2") for _, c in table):
        roles = {("score" if r == "label" else r): i for r, i in roles.items()}  # GLUE STS-B: sentence1, sentence2, label=4.5
        table = [(n, {("score" if r == "label" else r): v for r, v in c.items()}) for n, c in table]
    if "label" in roles:
        return _nli_samples(path, table, counts)  # a SICK file's score column is not needed then
    if "score" in roles:
        for number, cells in table:
            try:
                float(cells["score"])
            except ValueError:
                raise UserInputError(f"{path} line {number}: score {cells['score']!r} is not a number") from None
        if mode == "sup":
            raise UserInputError(
                f"{path} is a scored-pairs file (sentence1, sentence2, score): a score is not a positive / hard-negative "
                f"decision, so --mode sup cannot train on it. Use it to evaluate (--dev-file / --test-file), train "
                f"--mode unsup on its sentences, or give pairs (anchor,positive[,negative]) or NLI rows (premise,hypothesis,label)"
            )
        return [TextSample(c["anchor"], positive=c["positive"]) for _, c in table]
    return [TextSample(c["anchor"], positive=c["positive"], hard_negative=c.get("negative") or None) for _, c in table]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _nli_samples(path: Path, table, counts: dict[str, int] | None) -> list[TextSample]:
    entail: dict[str, list[str]] = {}
    contradict: dict[str, list[str]] = {}
    neutral = 0
    for number, cells in table:
        label = NLI_LABELS.get(cells["label"].lower())
        if label is None:
            raise UserInputError(
                f"{path} line {number}: NLI label {cells['label']!r} is not one of entailment, neutral, contradiction "
                f"(or 0, 1, 2); fix the cell, or drop the label column for plain pairs"
            )
        if label == "neutral":
            neutral += 1
        else:
            (entail if label == "entailment" else contradict).setdefault(cells["anchor"], []).append(cells["positive"])
    samples = []
    for premise, hypotheses in entail.items():
        negatives = contradict.get(premise, [])
        for i, hypothesis in enumerate(hypotheses):
            samples.append(TextSample(premise, positive=hypothesis, hard_negative=negatives[i % len(negatives)] if negatives else None))
    orphan = sum(len(v) for k, v in contradict.items() if k not in entail)
    dropped = {"rows_dropped_nli_neutral": neutral, "rows_dropped_nli_contradiction_without_entailment": orphan}
    for key, value in dropped.items():
        if value:
            logger.warning("%s: %s: %d rows", path, key.replace("_", " "), value)
        if counts is not None:
            counts[key] = counts.get(key, 0) + value
    if not samples:
        raise UserInputError(f"{path}: no entailment rows, so no positives to train on (NLI: entailment = positive, "
                             "contradiction = hard negative, neutral is dropped)")
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
    lines = [(n, line.split("\t")) for n, line in enumerate(read_text(path).splitlines(), start=1) if line.strip()]
    header = lines[0][1] if lines else []
    needed = ("sentence_A", "sentence_B", "entailment_judgment")
    if not all(h in header for h in needed):
        raise UserInputError(f"{path}: a SICK file needs a tab-separated header with {needed}; found {header[:6]}")
    ia, ib, il = (header.index(h) for h in needed)
    entail: list[tuple[str, str]] = []
    contradictions: dict[str, list[str]] = {}
    for number, cells in lines[1:]:
        if len(cells) <= max(ia, ib, il):
            raise UserInputError(f"{path} line {number}: expected {len(header)} tab-separated fields as in the header, "
                                 f"found {len(cells)}; fix or delete the row")
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
