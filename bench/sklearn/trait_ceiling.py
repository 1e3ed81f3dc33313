#!/usr/bin/python3
"""How much of the oracle a model that *learns* from perfectly measured traits can reach.

The oracle (`oracle.json`) is the Bayes classifier with the generator's own class models. A model trained on the data
must estimate those models from the training photos; this script fits linear discriminant analysis on the *true* trait
vectors of the train + val subjects (one row per photo, as an image model sees them) and scores the test photos, then
repeats it with Gaussian measurement noise of s SD added to every trait: the accuracy an image model would have if it
read all 32 traits from the pixels with that error. It tells how far the oracle-relative goals are reachable at all.
Each level is scored twice: with the training split's class frequencies as priors (as the oracle uses the generator's
prevalence) and with equal priors (as GestaltLab ranks: class-balanced training, equal-prior heads).
`--noise-per-trait errors.json` adds a row with each trait's own reading error (from `trait_readout.py --json`).

Usage: /usr/bin/python3 bench/sklearn/trait_ceiling.py DATA_DIR [--noise 0 0.25 0.5 1] [--noise-per-trait FILE]
DATA_DIR: a folder written by `gestaltlab generate` (traits.csv, manifest.csv, oracle.json).
Prints one JSON object per noise level. Needs Debian's python3-sklearn; nothing is downloaded.
"""
import argparse
import csv
import json
import os

import _deps  # noqa: F401  (first: names the missing package and how to install it)
import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis


def top_k(probabilities, classes, truth, k):
    best = np.argsort(-probabilities, axis=1)[:, :k]
    return float(np.mean([truth[i] in classes[best[i]] for i in range(len(truth))]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--noise", type=float, nargs="*", default=[0.0, 0.25, 0.5, 1.0])
    p.add_argument("--noise-per-trait", help="JSON {trait: error SD}, e.g. written by trait_readout.py --json")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    with open(os.path.join(a.data, "traits.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    first_trait = list(rows[0].keys()).index("severity") + 1
    traits = list(rows[0].keys())[first_trait:]
    x = np.array([[float(r[t]) for t in traits] for r in rows])
    y = np.array([r["syndrome"] for r in rows])
    split = np.array([r["split"] for r in rows])
    photos = np.array([int(r["photos"]) for r in rows])
    train, test = split != "test", split == "test"
    # One row per photo: an image model sees a subject as often as it has photos.
    x_train, y_train = np.repeat(x[train], photos[train], axis=0), np.repeat(y[train], photos[train])
    x_test, y_test = np.repeat(x[test], photos[test], axis=0), np.repeat(y[test], photos[test])
    with open(os.path.join(a.data, "oracle.json")) as f:
        oracle = json.load(f)
    levels = [(f"{s:g}", np.full(len(traits), s)) for s in a.noise]
    if a.noise_per_trait:
        with open(a.noise_per_trait) as f:
            per_trait = json.load(f)
        levels.append((os.path.basename(a.noise_per_trait), np.array([float(per_trait[t]) for t in traits])))
    classes = np.unique(y_train)
    for name, sd in levels:
        for priors in ("training", "equal"):
            # The same noise draw for both priors, so the two rows differ by the prior alone.
            rng = np.random.default_rng(a.seed)
            noisy_train = x_train + rng.normal(0, 1, x_train.shape) * sd
            noisy_test = x_test + rng.normal(0, 1, x_test.shape) * sd
            model = LinearDiscriminantAnalysis(priors=None if priors == "training" else np.full(len(classes), 1 / len(classes)))
            probabilities = model.fit(noisy_train, y_train).predict_proba(noisy_test)
            scores = {f"top{k}": round(top_k(probabilities, model.classes_, y_test, k), 4) for k in (1, 5, 10)}
            print(json.dumps({"model": "LDA on true traits", "trait_noise_sd": name, "priors": priors, **scores,
                              "n_test": int(len(y_test)), "oracle_top1": oracle["top1"], "oracle_top10": oracle["top10"],
                              "top1_over_oracle": round(scores["top1"] / oracle["top1"], 3)}))


if __name__ == "__main__":
    main()
