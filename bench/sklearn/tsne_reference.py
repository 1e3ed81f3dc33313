#!/usr/bin/python3
"""scikit-learn reference for `gestaltlab bench tsne`.

Runs sklearn.manifold.TSNE with the same settings GestaltLab's Tsne uses by default (perplexity 30, early
exaggeration 12 for 250 iterations, learning rate "auto", PCA start, 1000 iterations, Barnes-Hut angle 0.5) on the
same input, and scores both embeddings with sklearn.manifold.trustworthiness (k = 5), so the comparison uses one
trustworthiness implementation for both.

Usage: /usr/bin/python3 bench/sklearn/tsne_reference.py INPUT.csv OURS.csv [--threads N] [--method barnes_hut|exact]
INPUT.csv: header row, one point per row (numbers only). OURS.csv: header x,y, one row per point.
Prints one JSON object: sklearn version, seconds, KL divergence, trustworthiness of sklearn's and of ours.
Needs Debian's python3-sklearn (scikit-learn 1.2); nothing is downloaded.
"""
import argparse
import json
import os
import sys
import time

import _deps  # noqa: F401  (first: names the missing package and how to install it)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("ours")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--method", default="barnes_hut", choices=["barnes_hut", "exact"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--neighbours", type=int, default=5)
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))

    import numpy as np
    import sklearn
    from sklearn.manifold import TSNE, trustworthiness

    x = np.loadtxt(a.input, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    ours = np.loadtxt(a.ours, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    if ours.shape[0] != x.shape[0]:
        sys.exit(f"{a.ours}: {ours.shape[0]} rows but {a.input} has {x.shape[0]}")

    kwargs = dict(n_components=2, perplexity=30.0, early_exaggeration=12.0, learning_rate="auto", n_iter=1000,
                  init="pca", method=a.method, angle=0.5, random_state=a.seed)
    try:
        tsne = TSNE(n_jobs=a.threads, **kwargs)
    except TypeError:  # very old scikit-learn without n_jobs
        tsne = TSNE(**kwargs)
    t0 = time.perf_counter()
    emb = tsne.fit_transform(x)
    seconds = time.perf_counter() - t0

    print(json.dumps({
        "sklearn": sklearn.__version__,
        "n": int(x.shape[0]),
        "dim": int(x.shape[1]),
        "method": a.method,
        "seconds": seconds,
        "kl_divergence": float(tsne.kl_divergence_),
        "trustworthiness_sklearn": float(trustworthiness(x, emb, n_neighbors=a.neighbours)),
        "trustworthiness_ours": float(trustworthiness(x, ours, n_neighbors=a.neighbours)),
    }))


if __name__ == "__main__":
    main()
