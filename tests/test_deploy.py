"""Deploy helpers against the emulator: a board that runs another model is named before any output is compared."""

import numpy as np
import pytest

from zoo_helpers import catalog, deploy
from zoo_helpers.board.client import ModelMismatch
from zoo_helpers.board.emulator import start_in_thread


def test_validate_on_a_board_running_another_model_names_the_difference(mirror):
    host = catalog.load("movenet_heatmaps_192")          # 17 heatmaps
    board = start_in_thread(catalog.load("st_movenet_heatmaps_192"))  # the board runs ST's 13-keypoint model
    with pytest.raises(ModelMismatch, match=r"\(1, 48, 48, 13\) on the board, \(1, 48, 48, 17\) expected"):
        deploy.validate(host, host.prepare(np.zeros((1, 192, 192, 3), np.uint8)), board)
