import csv, pathlib
from multicl.data.nsl_kdd import FEATURES
src = pathlib.Path("/work/shared/data/security/nsl_kdd/KDDTrain+_20Percent.txt")
lines = src.read_text().splitlines()
LINE = 1000  # 1-based line of the file to corrupt
i = FEATURES.index("src_bytes")
row = lines[LINE - 1].split(",")
print("line", LINE, "src_bytes was", row[i])
row[i] = "abc"
bad = lines.copy(); bad[LINE - 1] = ",".join(row)
pathlib.Path("/tmp/ui/KDDTrain+_20Percent_abc.txt").write_text("\n".join(bad) + "\n")
# same data as a CSV table with a header (the read_table path: schema inferred by TablePreprocessor)
for name, data in (("clean", lines), ("abc", bad)):
    with open(f"/tmp/ui/kdd_train_{name}.csv", "w", newline="") as f:
        w = csv.writer(f); w.writerow([*FEATURES, "label"])
        for l in data:
            r = l.split(","); w.writerow([*r[:41], r[41]])
print(len(FEATURES), "features; csv line of corrupted row:", LINE + 1)
