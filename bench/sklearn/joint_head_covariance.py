#!/usr/bin/python3
"""Does the joint head's within-class covariance limit the ensemble? A numpy probe on a run's embeddings.

The joint head (GestaltLab's `JointHead`) is shrinkage LDA on the training photos' concatenated, standardised region
embeddings. Nets that memorise their training people make those embeddings tighter than unseen photos', so the
covariance the head inverts may be the wrong one. This script scores three covariances on the test split, each over a
shrinkage grid (Σ_α = (1 − α)Σ + α·v̄·I, as in `DiscriminantHead`; equal priors; class means from training photos):
  train  the pooled within-class covariance of the training photos (what the library fits),
  val    the validation photos' residuals around the training class means (unseen people's scatter; α by 2-fold
         cross-validation over validation subjects),
  mix    both, each scaled to unit trace, averaged.

Usage:
  gestaltlab evaluate --model RUN --data ALIGNED --split train --out /tmp/jh/train/metrics.json
  gestaltlab evaluate --model RUN --data ALIGNED --split val   --out /tmp/jh/val/metrics.json
  gestaltlab evaluate --model RUN --data ALIGNED --split test  --out /tmp/jh/test/metrics.json
  /usr/bin/python3 bench/sklearn/joint_head_covariance.py /tmp/jh/train/embeddings.csv /tmp/jh/val/embeddings.csv \
      /tmp/jh/test/embeddings.csv
Needs Debian's python3-numpy (bash environment/setup.sh --bench); nothing is downloaded.
"""
import argparse

import _deps  # noqa: F401  (first: names the missing package and how to install it)
import numpy as np
from trait_readout import read_embeddings


def pooled(x, y, means, dof):
    r = x - means[y]
    return r.T @ r / dof


def topk(cov, alpha, x, y, means):
    d = x.shape[1]
    a = (1 - alpha) * cov + alpha * np.trace(cov) / d * np.eye(d)
    w = np.linalg.solve(a, means.T)
    logits = x @ w - 0.5 * np.sum(means * w.T, 1)
    rank = (logits > logits[np.arange(len(y)), y][:, None]).sum(1)
    return [(rank < k).mean() for k in (1, 5, 10)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("train")
    ap.add_argument("val")
    ap.add_argument("test")
    ap.add_argument("--seed", type=int, default=1, help="seed of the validation subjects' 2-fold split")
    args = ap.parse_args()
    _, xtr, ytr = read_embeddings(args.train)
    sva, xva, yva = read_embeddings(args.val)
    _, xte, yte = read_embeddings(args.test)
    classes = sorted(set(ytr))
    index = {c: i for i, c in enumerate(classes)}
    ytr, yva, yte = (np.array([index[c] for c in y]) for y in (ytr, yva, yte))
    mean, sd = xtr.mean(0), xtr.std(0)
    sd[sd == 0] = 1
    xtr, xva, xte = ((x - mean) / sd for x in (xtr, xva, xte))
    n_classes = len(classes)
    means = np.stack([xtr[ytr == c].mean(0) for c in range(n_classes)])
    s_train = pooled(xtr, ytr, means, len(xtr) - n_classes)
    s_val = pooled(xva, yva, means, len(xva))
    subjects = sorted(set(sva))
    np.random.default_rng(args.seed).shuffle(subjects)
    first_half = set(subjects[: len(subjects) // 2])
    fold = np.array([s in first_half for s in sva])
    s_fold = {True: pooled(xva[fold], yva[fold], means, fold.sum()), False: pooled(xva[~fold], yva[~fold], means, (~fold).sum())}
    s_mix = 0.5 * s_train / np.trace(s_train) + 0.5 * s_val / np.trace(s_val)
    print(f"{len(xtr)} training, {len(xva)} validation, {len(xte)} test photos; {xtr.shape[1]} values; {n_classes} classes")
    print("alpha  train: val top-1 | test top-1/5/10     val-residual: 2-fold top-1 | test top-1/5/10     mix: test top-1/5/10")
    for alpha in (0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95):
        v = topk(s_train, alpha, xva, yva, means)[0]
        t = topk(s_train, alpha, xte, yte, means)
        cv = sum(topk(s_fold[not side], alpha, xva[fold == side], yva[fold == side], means)[0] * (fold == side).sum()
                 for side in (True, False)) / len(fold)
        tv = topk(s_val, alpha, xte, yte, means)
        tm = topk(s_mix, alpha, xte, yte, means)
        f = lambda r: " / ".join(f"{100 * q:.1f}" for q in r)
        print(f"{alpha:<5}  {100 * v:5.1f} | {f(t)}     {100 * cv:5.1f} | {f(tv)}     {f(tm)}")


if __name__ == "__main__":
    main()
