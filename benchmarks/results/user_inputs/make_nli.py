import csv
src = "/work/shared/data/text/sick/SICK_train.txt"
with open(src, newline="") as f, open("/tmp/ui/sick_nli.csv", "w", newline="") as g:
    r = csv.DictReader(f, delimiter="\t"); w = csv.writer(g)
    w.writerow(["premise", "hypothesis", "label"]); n = {}
    for row in r:
        lab = row["entailment_judgment"].strip().lower(); n[lab] = n.get(lab, 0) + 1
        w.writerow([row["sentence_A"], row["sentence_B"], lab])
print("rows by label:", n)
