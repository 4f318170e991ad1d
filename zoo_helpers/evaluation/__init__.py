"""The evaluation layer: arrays in, numbers out. Never runs a model (evaluators take outputs).

- :mod:`~zoo_helpers.evaluation.transforms`: geometry between a model input and the original image;
- :mod:`~zoo_helpers.evaluation.preprocess`: resizing and crops with exact transforms back;
- :mod:`~zoo_helpers.evaluation.batches`: the one sample-batch type and the one evaluation type;
- :mod:`~zoo_helpers.evaluation.codecs`: decoders of every output kind, and the codec table (:data:`CODECS`);
- :mod:`~zoo_helpers.evaluation.metrics`: ST's metrics, COCO's (pycocotools), PCK, EPE, NME;
- :mod:`~zoo_helpers.evaluation.datasets`: COCO keypoint sets and robust image reading;
- :mod:`~zoo_helpers.evaluation.labelled`: the larger labelled sets (COCO val2017 subset with YOLO-pose labels, LSP
  Extended, a hand test video, AFLW2000-3D) as COCO ground truth;
- :mod:`~zoo_helpers.evaluation.splits`: their fixed ``dev`` / ``test`` splits;
- :mod:`~zoo_helpers.evaluation.uncertainty`: bootstrap intervals over images, paired differences, goal verdicts;
- :mod:`~zoo_helpers.evaluation.photos`: unlabelled photos (calibration, agreement) and their disjointness;
- :mod:`~zoo_helpers.evaluation.agreement`: label-free agreement of two models' outputs.

Imports the registry only: never the runtime or quant layers.
"""

from zoo_helpers.evaluation import (
    agreement,
    batches,
    codecs,
    datasets,
    labelled,
    metrics,
    photos,
    preprocess,
    splits,
    transforms,
    uncertainty,
)
from zoo_helpers.evaluation.codecs import CODECS, Codec, codec

__all__ = [
    "CODECS", "Codec", "agreement", "batches", "codec", "codecs", "datasets", "labelled", "metrics", "photos",
    "preprocess", "splits", "transforms", "uncertainty",
]
