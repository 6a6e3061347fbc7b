"""Scores of the semi-supervised AAE's classes and clusters from q(y|x) [N, K] of a whole split
(numpy); errors in percent. Clustering (the paper's section 6) labels each cluster by
`assign_clusters` on the validation split, for the test split too.
"""

from __future__ import annotations

import numpy as np

NUM_LABELS = 10  # the digits


def assign_clusters(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """int32 [K]: cluster k's label is that of the image with the largest q(y = k|x) (the
    paper's rule; the first on a tie)."""
    return np.asarray(labels)[np.argmax(probs, axis=0)].astype(np.int32)


def predict(probs: np.ndarray, assignment: np.ndarray | None = None) -> np.ndarray:
    """int32 [N]: each image's most probable class, or (with `assignment`) its cluster's label."""
    best = np.argmax(probs, axis=-1)
    return (best if assignment is None else assignment[best]).astype(np.int32)


def error_percent(predicted: np.ndarray, labels: np.ndarray) -> float:
    """The share of predicted labels [N] that differ from labels [N], in percent."""
    return 100.0 * float(np.mean(np.asarray(predicted) != np.asarray(labels)))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """int64 [10, 10]: entry (i, j) counts the images of label i predicted as j."""
    matrix = np.zeros((NUM_LABELS, NUM_LABELS), np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def surest(probs: np.ndarray, num: int) -> np.ndarray:
    """int [K, min(num, N)]: per cluster k, the images with the largest q(y = k|x), surest first."""
    num = min(num, probs.shape[0])
    return np.argsort(-probs, axis=0, kind="stable")[:num].T


def cluster_sizes(probs: np.ndarray) -> np.ndarray:
    """int64 [K]: how many images have cluster k as their most probable (0: a cluster unused)."""
    return np.bincount(np.argmax(probs, axis=-1), minlength=probs.shape[-1])
