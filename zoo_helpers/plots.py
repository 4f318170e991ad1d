"""Figures: keypoints and skeletons drawn over images, labelled with where the numbers came from."""

from __future__ import annotations

import numpy as np


def skeleton_grid(images: list[np.ndarray], keypoints: list[np.ndarray], edges: list[tuple[int, int]],
                  titles: list[str], suptitle: str, min_score: float = 0.2, cols: int = 4,
                  boxes: list[np.ndarray] | None = None):
    """Draw keypoints (image pixels) and their skeleton on each image; returns the matplotlib figure.

    ``keypoints[i]`` is ``(K, 3)`` [x, y, score] for one person or ``(P, K, 3)`` for several;
    ``boxes[i]`` (optional) is ``(P, 4)`` [x1, y1, x2, y2]. Keypoints under ``min_score`` are drawn hollow.
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
    for i, (ax, img, title) in enumerate(zip(axes.ravel(), images, titles, strict=False)):
        ax.imshow(img)
        people = np.asarray(keypoints[i]).reshape(-1, *np.shape(keypoints[i])[-2:])
        for kp in people:
            ok = kp[:, 2] >= min_score
            for a, b in edges:
                if ok[a] and ok[b]:
                    ax.plot(kp[[a, b], 0], kp[[a, b], 1], "-", color="lime", lw=1.5)
            ax.scatter(kp[ok, 0], kp[ok, 1], s=12, c="red", zorder=3)
            ax.scatter(kp[~ok, 0], kp[~ok, 1], s=12, facecolors="none", edgecolors="yellow", zorder=3)
        for x1, y1, x2, y2 in (boxes[i] if boxes is not None else []):
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="cyan", lw=1))
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig
