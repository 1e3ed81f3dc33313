#!/usr/bin/python3
"""How precisely a trained model's embedding measures each synthetic trait.

The generator knows every subject's 32 trait values (traits.csv). A model that ranks syndromes well must, in effect,
read those traits from the pixels. This script fits a ridge regression from the model's face-space embedding
(`embeddings.csv`, written by `gestaltlab evaluate`) to the true traits on one split and reports, on another split,
per trait: R², the reading error in trait units (SD of true − read) and the region whose embedding block reads it best.
Feed the errors to `trait_ceiling.py --noise-per-trait` to see what accuracy such reading allows.

Usage:
  gestaltlab evaluate --model RUN --data ALIGNED --split train --out /tmp/readout/train/metrics.json
  gestaltlab evaluate --model RUN --data ALIGNED --split test  --out /tmp/readout/test/metrics.json
  /usr/bin/python3 bench/sklearn/trait_readout.py DATA /tmp/readout/train/embeddings.csv \
      /tmp/readout/test/embeddings.csv [--run RUN] [--ridge 100] [--json errors.json]
DATA: the folder written by `gestaltlab generate` (traits.csv). RUN (optional): the run directory, whose
config.json ("regions") or else regions.json names the embedding's blocks (the embedding concatenates the regions'
embeddings in that order).
Needs Debian's python3-numpy; nothing is downloaded.
"""
import argparse
import csv
import json
import os

import _deps  # noqa: F401  (first: names the missing package and how to install it)
import numpy as np


def read_embeddings(path):
    """An `embeddings.csv` of `gestaltlab evaluate`: subjects, embedding matrix, true syndromes (row by row)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    first = header.index("e0")
    subjects = [r[header.index("subject")] for r in body]
    truth = [r[header.index("true")] for r in body]
    return subjects, np.array([[float(v) for v in r[first:]] for r in body]), truth


def ridge(x, y, lam):
    """Ridge regression with an intercept; x is already standardised."""
    mean = y.mean(0)
    w = np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ (y - mean))
    return lambda z: z @ w + mean


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("fit_embeddings")
    p.add_argument("score_embeddings")
    p.add_argument("--run", help="run directory (regions.json) for the per-region breakdown")
    p.add_argument("--ridge", type=float, default=100.0)
    p.add_argument("--json", help="write {trait: reading error SD} here (for trait_ceiling.py --noise-per-trait)")
    a = p.parse_args()
    with open(os.path.join(a.data, "traits.csv"), newline="") as f:
        rows = {r["subject"]: r for r in csv.DictReader(f)}
    keys = list(next(iter(rows.values())).keys())
    traits = keys[keys.index("severity") + 1:]

    def truth(subjects):
        missing = [s for s in subjects if s not in rows]
        if missing:
            raise SystemExit(f"{a.data}/traits.csv: no traits for subject {missing[0]} (is this the data the run was evaluated on?)")
        return np.array([[float(rows[s][t]) for t in traits] for s in subjects])

    fit_subjects, e_fit, _ = read_embeddings(a.fit_embeddings)
    score_subjects, e_score, _ = read_embeddings(a.score_embeddings)
    t_fit, t_score = truth(fit_subjects), truth(score_subjects)
    mean, sd = e_fit.mean(0), e_fit.std(0) + 1e-6
    x_fit, x_score = (e_fit - mean) / sd, (e_score - mean) / sd

    def scores(columns):
        read = ridge(x_fit[:, columns], t_fit, a.ridge)(x_score[:, columns])
        residual = t_score - read
        return 1 - residual.var(0) / t_score.var(0), residual.std(0)

    r2, error = scores(slice(None))
    regions = []
    if a.run:
        # The model's regions, in the order GestaltModel.Load concatenates their embeddings: config.json's "regions"
        # when the run trained a subset, else every region of regions.json.
        with open(os.path.join(a.run, "config.json")) as f:
            regions = json.load(f).get("regions") or []
        if not regions:
            with open(os.path.join(a.run, "regions.json")) as f:
                regions = [r["name"] for r in json.load(f)["regions"]]
        block = x_fit.shape[1] // len(regions)
        if block * len(regions) != x_fit.shape[1]:
            raise SystemExit(f"{a.run}: {len(regions)} regions do not divide the embedding's {x_fit.shape[1]} values")
        per_region = np.array([scores(slice(k * block, (k + 1) * block))[0] for k in range(len(regions))])
    print(f"{len(fit_subjects)} photos to fit, {len(score_subjects)} scored, embedding of {x_fit.shape[1]} values")
    print(f"{'trait':26s} {'SD':>5s} {'R2':>6s} {'error SD':>9s}" + ("  best region (R2)" if regions else ""))
    for j, t in enumerate(traits):
        line = f"{t:26s} {t_score[:, j].std():5.2f} {r2[j]:6.2f} {error[j]:9.2f}"
        if regions:
            k = int(per_region[:, j].argmax())
            line += f"  {regions[k]} ({per_region[k, j]:.2f})"
        print(line)
    print(f"{'mean':26s} {t_score.std(0).mean():5.2f} {r2.mean():6.2f} {error.mean():9.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({t: round(float(e), 4) for t, e in zip(traits, error)}, f, indent=1)


if __name__ == "__main__":
    main()
