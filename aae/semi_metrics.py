"""Scores of the semi-supervised AAE's classes and clusters, from q(y|x) of a whole split (numpy).

Semi-supervised, class k is label k. Clustering (the AAE paper's section 6), cluster k takes the
label of the validation image it is surest of (the largest q(y = k|x); `assign_clusters`), and
an image's label is its most probable cluster's; the test split is scored with the assignment
of the validation split. Errors are in percent.
"""

from __future__ import annotations

import numpy as np

NUM_LABELS = 10  # the digits


def assign_clusters(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The label of each cluster: that of the image with the largest q(y = k|x) in cluster k's
    column (the paper's rule; the first such image on a tie).

    Args:
      probs: [N, K] float, q(y|x) of N images.
      labels: [N] int, their labels.

    Returns:
      int32 [K], cluster k's label.
    """
    return np.asarray(labels)[np.argmax(probs, axis=0)].astype(np.int32)


def predict(probs: np.ndarray, assignment: np.ndarray | None = None) -> np.ndarray:
    """Each image's predicted label: its most probable class (assignment None) or its most
    probable cluster's label (`assign_clusters`). probs [N, K] -> int32 [N]."""
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
    """For each cluster k, the indices of the `num` images with the largest q(y = k|x), surest
    first: probs [N, K] -> int [K, min(num, N)]."""
    num = min(num, probs.shape[0])
    return np.argsort(-probs, axis=0, kind="stable")[:num].T
