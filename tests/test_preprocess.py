"""Resize modes: transforms invert exactly and point where the pixels really went."""

import numpy as np
import pytest

from zoo_helpers.evaluation.preprocess import crop_box, resize


@pytest.mark.parametrize("mode", ["fit", "padding", "crop"])
@pytest.mark.parametrize("shape", [(480, 640), (640, 480), (100, 100)])
def test_transform_inverts_exactly(mode, shape):
    img = np.zeros((*shape, 3), np.uint8)
    _, t = resize(img, (192, 160), mode=mode)
    pts = np.random.default_rng(1).uniform(0, 160, (50, 2))
    assert np.allclose(t.to_input(t.to_original(pts)), pts, atol=1e-9)
    assert np.allclose(t.normalized_to_original(pts / np.array([192, 160])), t.to_original(pts))


@pytest.mark.parametrize("mode", ["fit", "padding", "crop"])
def test_a_bright_block_maps_back_to_where_it_was(mode):
    img = np.zeros((300, 400, 3), np.uint8)
    img[140:160, 190:230] = 255  # block centred at x=210, y=150
    out, t = resize(img, (96, 96), mode=mode, interpolation="bilinear")
    ys, xs = np.nonzero(out[..., 0] > 127)
    centre_in = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
    assert np.abs(t.to_original(centre_in) - [210, 150]).max() < 3


def test_padding_fills_the_border_and_keeps_the_content():
    img = np.full((100, 200, 3), 200, np.uint8)
    out, t = resize(img, (100, 100), mode="padding", pad_value=7)
    assert (out[:25] == 7).all() and (out[75:] == 7).all() and (out[25:75] == 200).all()
    assert t.scale == (2.0, 2.0) and t.offset == (0.0, -50.0)


def test_bilinear_matches_tensorflow():
    import tensorflow as tf  # pinned: a broken install fails, it is not skipped
    img = np.random.default_rng(0).integers(0, 256, (61, 83, 3), dtype=np.uint8)
    ours, _ = resize(img, (40, 30), mode="fit", interpolation="bilinear")
    ref = tf.image.resize(img, (30, 40), method="bilinear", antialias=False).numpy()
    assert np.abs(ours.astype(float) - ref).max() <= 1.0


def test_crops_write_into_a_given_slot():
    img = np.random.default_rng(3).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    batch = np.zeros((2, 16, 24, 3), np.uint8)
    for interpolation in ("bilinear", "nearest"):
        fresh, _ = crop_box(img, (-5, 10, 40, 30), (24, 16), interpolation)
        written, _ = crop_box(img, (-5, 10, 40, 30), (24, 16), interpolation, out=batch[1])
        assert written is batch[1] or np.shares_memory(written, batch)
        assert np.array_equal(batch[1], fresh) and not batch[0].any()
    with pytest.raises(ValueError, match="out must be"):
        resize(img, (24, 16), out=np.zeros((24, 16, 3), np.uint8))


def test_bad_parameters():
    with pytest.raises(ValueError, match="unknown resize mode"):
        resize(np.zeros((4, 4, 3), np.uint8), (2, 2), mode="stretch")
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        resize(np.zeros((4, 4), np.uint8), (2, 2))
