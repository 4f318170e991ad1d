"""Decoders: synthetic heatmaps with known (sub-pixel) peaks, regression layout, vectorised batches."""

import numpy as np
import pytest

from zoo_helpers.evaluation.codecs import decode_heatmaps, decode_singlepose


def _gaussian_heatmaps(centres, h=48, w=48, sigma=1.5):
    """(B, H, W, K) heatmaps with a Gaussian at each (x, y) centre, in cell units (pixel centre = i + 0.5)."""
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    cx, cy = centres[..., 0][:, None, None, :], centres[..., 1][:, None, None, :]
    return np.exp(-((xs[None, :, :, None] - cx) ** 2 + (ys[None, :, :, None] - cy) ** 2) / (2 * sigma**2))


def test_st_mode_is_the_argmax_cell_centre():
    rng = np.random.default_rng(0)
    centres = rng.uniform(2, 46, (5, 17, 2))
    out = decode_heatmaps(_gaussian_heatmaps(centres).astype(np.float32), mode="st")
    expected = (np.floor(centres) + 0.5) / 48
    assert out.shape == (5, 17, 3)
    assert np.allclose(out[..., :2], expected, atol=1e-6)


def test_subpixel_mode_recovers_the_true_peak():
    rng = np.random.default_rng(1)
    centres = rng.uniform(2, 46, (4, 13, 2))
    hm = _gaussian_heatmaps(centres).astype(np.float32)
    sub = decode_heatmaps(hm, mode="subpixel")[..., :2] * 48
    st = decode_heatmaps(hm, mode="st")[..., :2] * 48
    assert np.abs(sub - centres).max() < 0.1  # a parabola fits a Gaussian peak well
    assert np.abs(st - centres).max() > 0.3   # while the cell centre is up to half a cell off


def test_confidence_is_the_peak_and_borders_are_safe():
    hm = np.zeros((2, 8, 8, 3), np.float32)
    hm[0, 0, 0, 0] = 0.9    # corner peak: no neighbours on one side
    hm[0, 7, 3, 1] = 0.4
    hm[1, 4, 7, 2] = 0.7
    out = decode_heatmaps(hm, mode="subpixel")
    assert out[0, 0].tolist() == pytest.approx([0.5 / 8, 0.5 / 8, 0.9])
    assert out[0, 1].tolist() == pytest.approx([3.5 / 8, 7.5 / 8, 0.4])
    assert out[1, 2, 2] == pytest.approx(0.7)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("shape", [(16, 48, 48, 17), (3, 7, 5, 2), (1, 1, 1, 1), (2, 1, 6, 3), (5, 9, 1, 4)])
@pytest.mark.parametrize("levels", [None, 1, 3, 16])
def test_peak_is_the_first_flat_argmax_including_ties(shape, levels):
    """Same cell as argmax over the flattened map (what ST's tf.argmax returns), ties included."""
    hm = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32)
    if levels is not None:  # few levels, as int8 outputs give: many maps have tied peaks
        hm = np.round(hm * levels).astype(np.float32)
    b, h, w, k = shape
    flat = hm.reshape(b, h * w, k)
    iy, ix = np.divmod(flat.argmax(axis=1), w)
    out = decode_heatmaps(hm)
    assert np.array_equal(out[..., 0], ((ix + 0.5) / w).astype(np.float32))
    assert np.array_equal(out[..., 1], ((iy + 0.5) / h).astype(np.float32))
    assert np.array_equal(out[..., 2], flat.max(axis=1))


def test_integer_heatmaps_decode_like_their_dequantised_floats():
    raw = np.random.default_rng(5).integers(-128, 128, (4, 12, 12, 17), dtype=np.int8)
    floats = (raw.astype(np.float32) + 128) * 0.0039
    assert np.array_equal(decode_heatmaps(raw)[..., :2], decode_heatmaps(floats)[..., :2])


def test_nan_cells_are_skipped():
    hm = np.zeros((1, 4, 4, 2), np.float32)
    hm[0, 0, 0, 0] = np.nan
    hm[0, 2, 1, 0] = 0.5
    hm[..., 1] = np.nan
    out = decode_heatmaps(hm)
    assert out[0, 0].tolist() == pytest.approx([1.5 / 4, 2.5 / 4, 0.5])
    assert out[0, 1, 2] == -np.inf
    hm[0, 3, 0, 0] = hm[0, 1, 3, 0] = 0.5  # now map 0 has its peak in three columns, map 1 in none
    assert decode_heatmaps(hm)[0, 0].tolist() == pytest.approx([3.5 / 4, 1.5 / 4, 0.5])
    hm[0, 2, 1, 0] = 0.0  # two columns for map 0 and none for map 1: as many hits as maps, still exact
    out = decode_heatmaps(hm)
    assert out[0, 0].tolist() == pytest.approx([3.5 / 4, 1.5 / 4, 0.5]) and out[0, 1, 2] == -np.inf


def test_regression_output_is_swapped_to_xy():
    raw = np.random.default_rng(2).uniform(size=(3, 1, 17, 3)).astype(np.float32)
    out = decode_singlepose(raw)
    assert np.array_equal(out[..., 0], raw[:, 0, :, 1]) and np.array_equal(out[..., 1], raw[:, 0, :, 0])
    assert np.array_equal(out[..., 2], raw[:, 0, :, 2])


def test_bad_shapes_and_modes():
    with pytest.raises(ValueError, match=r"\(B, 1, K, 3\)"):
        decode_singlepose(np.zeros((1, 17, 3)))
    with pytest.raises(ValueError, match="unknown heatmap mode"):
        decode_heatmaps(np.zeros((1, 4, 4, 1)), mode="soft")
    with pytest.raises(ValueError, match="non-empty"):
        decode_heatmaps(np.zeros((0, 4, 4, 17)))
