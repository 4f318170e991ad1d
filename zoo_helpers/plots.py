"""Figures: keypoints and skeletons drawn over images, labelled with where the numbers came from."""

from __future__ import annotations

import numpy as np


def skeleton_grid(images: list[np.ndarray], keypoints: list[np.ndarray], edges: list[tuple[int, int]],
                  titles: list[str], suptitle: str, min_score: float = 0.2, cols: int = 4):
    """Draw ``(K, 3)`` [x, y, score] keypoints (image pixels) and their skeleton on each image.

    Returns the matplotlib figure; keypoints under ``min_score`` are drawn hollow.
    """
    import matplotlib.pyplot as plt

    n = len(images)
    if n == 0:
        raise ValueError("nothing to draw")
    cols = min(cols, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, img, kp, title in zip(axes.ravel(), images, keypoints, titles, strict=False):
        ax.imshow(img)
        ok = kp[:, 2] >= min_score
        for a, b in edges:
            if ok[a] and ok[b]:
                ax.plot(kp[[a, b], 0], kp[[a, b], 1], "-", color="lime", lw=1.5)
        ax.scatter(kp[ok, 0], kp[ok, 1], s=12, c="red", zorder=3)
        ax.scatter(kp[~ok, 0], kp[~ok, 1], s=12, facecolors="none", edgecolors="yellow", zorder=3)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig
