"""The cards layer: each card's pipeline, from its data to scored records.

- :mod:`~zoo_helpers.cards.singlepose`: MoveNet person crops or whole images, decode, score;
- :mod:`~zoo_helpers.cards.multipose`: YOLO pose images, detections, both metrics;
- :mod:`~zoo_helpers.cards.landmarks`: hand and face landmark samples, crops and scores;
- :mod:`~zoo_helpers.cards.handposture`: the 8x8 ToF hand-posture data, model and stream;
- :mod:`~zoo_helpers.cards.protocol`: the labelled sets' dev and test parts, prepared once per input size;
- :mod:`~zoo_helpers.cards.loop`: the one loop that prepares, runs, scores and records catalog models;
- :mod:`~zoo_helpers.cards.quantized`: the published files and every recipe scored on labels and without;
- :mod:`~zoo_helpers.cards.runtimes`: one int8 file run by every CPU runtime here, scored and compared;
- :mod:`~zoo_helpers.cards.divergence_report`: ``zoo-divergence``, where two runtimes part, operator by operator
  (a program, run with ``-m`` or its script: not imported here).

Imports evaluation, quant, runtime, board, results and registry; never deploy or book.
"""

from zoo_helpers.cards import handposture, landmarks, loop, multipose, protocol, quantized, runtimes, singlepose

__all__ = [
    "handposture", "landmarks", "loop", "multipose", "protocol", "quantized", "runtimes", "singlepose"
]
