#!/usr/bin/python3
"""Would a joint head over two runs' embeddings beat each run's own? A numpy probe.

GestaltLab's joint head (`JointHead`) is shrinkage LDA on one run's concatenated, standardised region embeddings of the
training photos. Fine-tuned nets memorise their training people, so those embeddings are tighter than unseen photos';
a backbone that never saw the syndromes (frozen, `"freeze_stages"` = its stages) has no such bias but weaker features.
This script fits the same head (equal priors; Σ_α = (1 − α)Σ + α·v̄·I; α picked by validation top-1) on each run's
embeddings alone and on both runs' side by side (joined photo by photo), and scores the test photos. When every folder
also has test/probabilities.csv it scores the mean of the runs' own test probabilities too (for runs that differ only
in their seed: a seed ensemble).

Usage (each RUN evaluated on the same aligned folder; evaluate writes embeddings.csv beside metrics.json):
  gestaltlab evaluate --model RUN --data ALIGNED --split train --out /tmp/jc/RUN/train/metrics.json   (and val, test)
  /usr/bin/python3 bench/sklearn/joint_head_concat.py /tmp/jc/RUN_A /tmp/jc/RUN_B
Needs Debian's python3-numpy (bash environment/setup.sh --bench); nothing is downloaded.
"""
import argparse
import csv
import os

import _deps  # noqa: F401  (first: names the missing package and how to install it)
import numpy as np

ALPHAS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def read(path):
    """image → (syndrome, embedding) from an embeddings.csv."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, first = rows[0], rows[0].index("e0")
    image, true = header.index("image"), header.index("true")
    return {r[image]: (r[true], np.array([float(v) for v in r[first:]])) for r in rows[1:]}


def splits(folders):
    """For train/val/test: the photos every folder has, their labels and the folders' embeddings side by side."""
    out = {}
    for split in ("train", "val", "test"):
        tables = [read(os.path.join(d, split, "embeddings.csv")) for d in folders]
        images = sorted(set.intersection(*(set(t) for t in tables)))
        out[split] = ([tables[0][i][0] for i in images], [np.stack([t[i][1] for i in images]) for t in tables])
    return out


def read_probabilities(path):
    """image → (syndrome, probabilities in class-name order) from a probabilities.csv."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    first, image, true = header.index("true") + 1, header.index("image"), header.index("true")
    order = np.argsort(header[first:])
    return {r[image]: (r[true], np.array([float(v) for v in r[first:]])[order]) for r in rows[1:]}, sorted(header[first:])


def lda_scores(xtr, ytr, x, n_classes, alpha):
    mean, sd = xtr.mean(0), xtr.std(0)
    sd[sd == 0] = 1
    xtr, x = (xtr - mean) / sd, (x - mean) / sd
    means = np.stack([xtr[ytr == c].mean(0) for c in range(n_classes)])
    r = xtr - means[ytr]
    cov = r.T @ r / (len(xtr) - n_classes)
    d = cov.shape[0]
    w = np.linalg.solve((1 - alpha) * cov + alpha * np.trace(cov) / d * np.eye(d), means.T)
    return x @ w - 0.5 * np.sum(means * w.T, 1)


def topk(logits, y):
    rank = (logits > logits[np.arange(len(y)), y][:, None]).sum(1)
    return [100 * (rank < k).mean() for k in (1, 5, 10)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+", help="one folder per run, holding train/, val/ and test/ embeddings.csv")
    args = ap.parse_args()
    data = splits(args.folders)
    classes = sorted(set(data["train"][0]))
    index = {c: i for i, c in enumerate(classes)}
    y = {s: np.array([index[c] for c in data[s][0]]) for s in data}
    print(f"{len(y['train'])} training, {len(y['val'])} validation, {len(y['test'])} test photos; {len(classes)} classes")
    sets = [([k], os.path.basename(os.path.normpath(d))) for k, d in enumerate(args.folders)]
    if len(args.folders) > 1:
        sets.append((list(range(len(args.folders))), " + ".join(name for _, name in sets)))
    for members, name in sets:
        x = {s: np.hstack([data[s][1][k] for k in members]) for s in data}
        best = max(ALPHAS, key=lambda a: topk(lda_scores(x["train"], y["train"], x["val"], len(classes), a), y["val"])[0])
        val = topk(lda_scores(x["train"], y["train"], x["val"], len(classes), best), y["val"])[0]
        test = topk(lda_scores(x["train"], y["train"], x["test"], len(classes), best), y["test"])
        print(f"{name}: {x['train'].shape[1]} values, shrinkage {best}, validation top-1 {val:.1f} %, "
              f"test top-1/5/10 {test[0]:.1f} / {test[1]:.1f} / {test[2]:.1f} %")
    paths = [os.path.join(d, "test", "probabilities.csv") for d in args.folders]
    if len(paths) > 1 and all(os.path.exists(p) for p in paths):
        tables = [read_probabilities(p) for p in paths]
        names = tables[0][1]
        images = sorted(set.intersection(*(set(t[0]) for t in tables)))
        mean = np.mean([np.stack([t[0][i][1] for i in images]) for t in tables], axis=0)
        truth = np.array([names.index(tables[0][0][i][0]) for i in images])
        r = topk(mean, truth)
        print(f"mean of the runs' own test probabilities: top-1/5/10 {r[0]:.1f} / {r[1]:.1f} / {r[2]:.1f} % ({len(images)} photos)")


if __name__ == "__main__":
    main()
