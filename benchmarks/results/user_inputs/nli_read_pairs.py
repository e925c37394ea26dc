"""Issue 14 NLI header: how multicl.data.text_files.read_pairs reads the SICK-as-NLI csv
(built by make_nli.py), and how the same rows without a header (positional rule) are read."""
import collections, inspect, json
from multicl.data.text_files import read_pairs
print("signature: read_pairs" + str(inspect.signature(read_pairs)))
counts = {}
samples = read_pairs("/tmp/ui/sick_nli.csv", mode="sup", counts=counts)
with_hn = [s for s in samples if s.hard_negative]
print("samples:", len(samples), "with hard negative:", len(with_hn))
print("counts:", json.dumps(counts))
for s in samples[:2]:
    print(s)
print("first sample with a hard negative:", with_hn[0])
old = read_pairs("/tmp/ui/sick_nli_headerless.csv", mode="sup")
old_negatives = collections.Counter(s.hard_negative for s in old)
print("headerless copy (the old reading of the headered file, positional):", len(old), "samples; hard_negative texts:", dict(old_negatives))
print("  first:", old[0])
json.dump({"signature": str(inspect.signature(read_pairs)), "samples": len(samples), "with_hard_negative": len(with_hn), "counts": counts,
           "first_two": [repr(s) for s in samples[:2]], "first_with_hard_negative": repr(with_hn[0]),
           "headerless_positional": {"samples": len(old), "hard_negative_texts": dict(old_negatives), "first": repr(old[0])}},
          open("/work/main/benchmarks/results/user_inputs/nli_read_pairs.json", "w"), indent=2)
