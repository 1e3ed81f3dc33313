#!/usr/bin/python3
"""How much syndrome signal the 68 landmarks carry, measured exactly (the generator's) and as detected (dlib's model).

Many of the synthetic traits are distances and angles between landmarks (eye spacing, fissure length and slant, mouth
width, nose length, face proportions). This script reads two landmark tables for the same photos - the generator's
ground truth (DATA_DIR/landmarks.csv) and what GestaltLab's face stage found (ALIGNED_DIR/landmarks.csv, written by
`gestaltlab align` or inside a run's `aligned/` folder) - removes position, scale and rotation from each face
(Procrustes to the mean shape), and fits shrinkage linear discriminant analysis on the train photos (and their mirror
images, equal class priors, as GestaltLab trains) with the shrinkage chosen on the validation split. It prints the test
accuracy of each, and the landmark error of the detected points against the truth in units of the inter-ocular
distance (IOD): total, and after removing each landmark's mean offset (the part that varies from face to face).

Usage: /usr/bin/python3 bench/sklearn/landmark_ceiling.py DATA_DIR ALIGNED_DIR
Prints one JSON object per landmark source and one for the error. Needs Debian's python3-sklearn; nothing is downloaded.
"""
import argparse
import csv
import json
import os

import _deps  # noqa: F401  (first: names the missing package and how to install it)
import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

# dlib 68-point indices of the mirror image's points: jaw, brows, nose bridge, nostrils, eyes, mouth.
MIRROR = (list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
          + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40] + [54, 53, 52, 51, 50, 49, 48]
          + [59, 58, 57, 56, 55] + [64, 63, 62, 61, 60] + [67, 66, 65])


def read_landmarks(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return {r[0]: np.array([float(v) for v in r[1:137]]).reshape(68, 2) for r in rows[1:]}


def procrustes(points, reference):
    """Similarity-aligns points to reference (least squares, via complex numbers); returns the aligned points."""
    p = points - points.mean(0)
    q = reference - reference.mean(0)
    pc, qc = p[:, 0] + 1j * p[:, 1], q[:, 0] + 1j * q[:, 1]
    z = (np.conj(pc) @ qc) / (np.conj(pc) @ pc) * pc
    return np.stack([z.real, z.imag], 1)


def shapes(landmarks, keys):
    reference = np.mean([landmarks[k] - landmarks[k].mean(0) for k in keys], 0)
    for _ in range(3):
        reference = np.mean([procrustes(landmarks[k], reference) for k in keys], 0)
        reference /= np.sqrt((reference ** 2).sum())
    return np.array([procrustes(landmarks[k], reference).ravel() for k in keys])


def mirror(x):
    z = x.reshape(len(x), 68, 2)[:, MIRROR, :].copy()
    z[:, :, 0] *= -1
    return z.reshape(len(x), -1)


def top_k(probabilities, classes, truth, k):
    best = np.argsort(-probabilities, axis=1)[:, :k]
    return float(np.mean([truth[i] in classes[best[i]] for i in range(len(truth))]))


def evaluate(x, y, split, classes):
    tr, va, te = split == "train", split == "val", split == "test"
    x_train, y_train = np.vstack([x[tr], mirror(x[tr])]), np.concatenate([y[tr], y[tr]])
    priors = np.ones(len(classes)) / len(classes)

    def probabilities(model, rows):
        return (model.predict_proba(rows) + model.predict_proba(mirror(rows))) / 2

    best = None
    for shrinkage in (0.01, 0.03, 0.1, 0.3):
        model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage, priors=priors).fit(x_train, y_train)
        val_top1 = top_k(probabilities(model, x[va]), model.classes_, y[va], 1)
        if best is None or val_top1 > best[0]:
            best = (val_top1, shrinkage, model)
    val_top1, shrinkage, model = best
    p = probabilities(model, x[te])
    return {"shrinkage": shrinkage, "val_top1": round(val_top1, 4),
            **{f"top{k}": round(top_k(p, model.classes_, y[te], k), 4) for k in (1, 5, 10)}, "n_test": int(te.sum())}


def main():
    a = argparse.ArgumentParser()
    a.add_argument("data")
    a.add_argument("aligned")
    args = a.parse_args()
    with open(os.path.join(args.aligned, "manifest.csv"), newline="") as f:
        manifest = {r["source_image"]: r for r in csv.DictReader(f)}
    truth = read_landmarks(os.path.join(args.data, "landmarks.csv"))
    detected = read_landmarks(os.path.join(args.aligned, "landmarks.csv"))
    keys = sorted(k for k in manifest if k in truth and k in detected)
    y = np.array([manifest[k]["syndrome"] for k in keys])
    split = np.array([manifest[k]["split"] for k in keys])
    classes = sorted(set(y[split == "train"]))
    keep = np.isin(y, classes)
    keys, y, split = [k for k, m in zip(keys, keep) if m], y[keep], split[keep]
    for name, table in (("generator's landmarks", truth), ("detected landmarks", detected)):
        print(json.dumps({"model": "LDA on landmark shape", "landmarks": name, **evaluate(shapes(table, keys), y, split, classes)}))
    offsets = np.array([detected[k] - truth[k] for k in keys])
    iod = np.array([np.linalg.norm(truth[k][36:42].mean(0) - truth[k][42:48].mean(0)) for k in keys])
    error = np.linalg.norm(offsets, axis=2).mean(1) / iod
    varying = np.linalg.norm(offsets - offsets.mean(0), axis=2).mean(1) / iod
    print(json.dumps({"detected_vs_truth": "mean point error / IOD", "total": round(float(error.mean()), 4),
                      "after_mean_offset": round(float(varying.mean()), 4), "median_iod_px": round(float(np.median(iod)), 1),
                      "n_photos": len(keys)}))


if __name__ == "__main__":
    main()
