"""The ``app_config.h`` of ST's STM32N6 pose-estimation application, and the ``stedgeai generate`` line.

ST's model-zoo services write this header when they deploy a pose model to the STM32N6570-DK camera
application (``gen_h_user_file_n6``, see ``st_services_study.md`` section 6.1). The application reads the
post-processing type, the network input size and colour mode and, by post-processing:

* MoveNet heatmaps (``POSTPROCESS_SPE_MOVENET_UF``): keypoint count and heatmap width and height;
* YOLOv8n-pose (``POSTPROCESS_MPE_YOLO_V8_UF``): total candidate boxes, box limit and the two thresholds.

Every size here is read from the model file's own tensors (:func:`zoo_helpers.runtime.models.load_model`): the
input's height, width and channels, the heatmap output's height, width and channels, the YOLO output's
``(1, 5 + 3K, A)`` rows and columns. ST's generator hard-codes the heatmap as a quarter of the input; this
one writes the output's real size and says when the two differ. ST writes the header only for those two
post-processing types; other decoders raise :class:`NoAppConfigError` saying why.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from zoo_helpers.evaluation.codecs import CODECS
from zoo_helpers.registry import catalog
from zoo_helpers.runtime.models import load_model

#: Post-processing of ST's application by catalog decoder (the codec table's ``postprocess``).
POSTPROCESS = {name: c.postprocess for name, c in CODECS.items() if c.postprocess}
#: ``ASPECT_RATIO_*`` values of the application (ST's deploy yamls use ``crop``).
ASPECT_RATIO = {"crop": 1, "fit": 2, "fullscreen": 3}
COLOR_MODE = {"bgr": 0, "rgb": 1}


class NoAppConfigError(ValueError):
    """The model's decoder has no post-processing in ST's STM32N6 pose application."""


def _shape(spec) -> tuple[int, int, int]:
    """(height, width, channels) of a 4-D tensor, channel-last or channel-first."""
    s = tuple(int(d or 1) for d in spec.shape)
    if len(s) != 4:
        raise ValueError(f"tensor {spec.name!r} has shape {s}; a 4-D image or heatmap tensor is expected")
    return (s[2], s[3], s[1]) if spec.layout == "NCHW" else (s[1], s[2], s[3])


def defines(path: str | os.PathLike[str], decoder: str, aspect_ratio: str = "crop", color_mode: str = "rgb",
            conf_threshold: float = 0.5, iou_threshold: float = 0.5, max_boxes: int = 10) -> dict[str, str]:
    """The header's ``#define`` names and values (as written), in order, for the model at ``path``.

    Parameters
    ----------
    path
        ``.tflite`` (or ``.onnx``) model file.
    decoder
        The catalog decoder: ``heatmaps`` or ``yolo_pose``; any other raises :class:`NoAppConfigError`.
    aspect_ratio, color_mode
        Camera pipeline choices (``crop``/``fit``/``fullscreen``; ``rgb``/``bgr``).
    conf_threshold, iou_threshold, max_boxes
        Post-processing settings (defaults: ST's N6 deployment config, 0.5 / 0.5 / 10).

    Examples
    --------
    >>> from zoo_helpers.registry import catalog
    >>> d = defines(catalog.path("st_movenet_heatmaps_192"), "heatmaps")
    >>> d["NN_WIDTH"], d["AI_POSE_PP_POSE_KEYPOINTS_NB"], d["AI_SPE_MOVENET_POSTPROC_HEATMAP_WIDTH"]
    ('(192)', '(13)', '(48)')
    """

    if decoder not in POSTPROCESS:
        raise NoAppConfigError(
            f"no app_config.h for decoder {decoder!r}: ST's STM32N6 pose application has post-processing only for "
            f"{', '.join(f'{k} ({v})' for k, v in POSTPROCESS.items())}, and its generator raises for other types")
    if aspect_ratio not in ASPECT_RATIO or color_mode not in COLOR_MODE:
        raise ValueError(f"aspect_ratio must be one of {list(ASPECT_RATIO)}, color_mode one of {list(COLOR_MODE)}")
    model = load_model(path, num_threads=1)
    if len(model.inputs) != 1:
        raise ValueError(f"{Path(path).name} has {len(model.inputs)} inputs; the application feeds one image")
    height, width, channels = _shape(model.inputs[0])
    out = {"CAMERA_FLIP": "CMW_MIRRORFLIP_NONE",
           **{f"ASPECT_RATIO_{k.upper()}": f"({v})" for k, v in ASPECT_RATIO.items()},
           "ASPECT_RATIO_MODE": f"ASPECT_RATIO_{aspect_ratio.upper()}",
           "CAPTURE_FORMAT": "DCMIPP_PIXEL_PACKER_FORMAT_RGB565_1", "CAPTURE_BPP": "2",
           "CAMERA_WIDTH": "0", "CAMERA_HEIGHT": "0", "LCD_FG_WIDTH": "800", "LCD_FG_HEIGHT": "480",
           "LCD_FG_FRAMEBUFFER_SIZE": "(LCD_FG_WIDTH * LCD_FG_HEIGHT * 2)",
           "POSTPROCESS_TYPE": POSTPROCESS[decoder],
           "NN_HEIGHT": f"({height})", "NN_WIDTH": f"({width})", "NN_BPP": f"{channels}",
           **{f"COLOR_{k.upper()}": f"({v})" for k, v in COLOR_MODE.items()},
           "COLOR_MODE": f"COLOR_{color_mode.upper()}"}
    out.update(_BUILDERS[POSTPROCESS[decoder]](model.outputs[0], conf_threshold, iou_threshold, max_boxes))
    out.update({"WELCOME_MSG_0": '"Single/multi pose estimation"', "WELCOME_MSG_1": f'"{Path(path).name}"',
                "WELCOME_MSG_2": '"Model running on the STM32N6 NPU"'})
    return out


def _heatmap_defines(output, conf_threshold: float, iou_threshold: float, max_boxes: int) -> dict[str, str]:
    hm_h, hm_w, keypoints = _shape(output)
    return {"AI_POSE_PP_CONF_THRESHOLD": f"({float(conf_threshold)})",
            "AI_POSE_PP_POSE_KEYPOINTS_NB": f"({keypoints})",
            "AI_SPE_MOVENET_POSTPROC_HEATMAP_WIDTH": f"({hm_w})",
            "AI_SPE_MOVENET_POSTPROC_HEATMAP_HEIGHT": f"({hm_h})",
            "AI_SPE_MOVENET_POSTPROC_NB_KEYPOINTS": "(AI_POSE_PP_POSE_KEYPOINTS_NB)"}


def _yolo_defines(output, conf_threshold: float, iou_threshold: float, max_boxes: int) -> dict[str, str]:
    shape = tuple(int(d or 1) for d in output.shape)
    if len(shape) != 3 or (shape[1] - 5) % 3:
        raise ValueError(f"YOLOv8-pose output {output.name!r} has shape {shape}; (1, 5 + 3K, boxes) is expected")
    return {"AI_MPE_YOLOV8_PP_NB_CLASSES": "(1)", "AI_MPE_YOLOV8_PP_TOTAL_BOXES": f"({shape[2]})",
            "AI_MPE_YOLOV8_PP_MAX_BOXES_LIMIT": f"({int(max_boxes)})",
            "AI_MPE_YOLOV8_PP_IOU_THRESHOLD": f"({float(iou_threshold)})",
            "AI_MPE_YOLOV8_PP_CONF_THRESHOLD": f"({float(conf_threshold)})",
            "AI_POSE_PP_CONF_THRESHOLD": "(AI_MPE_YOLOV8_PP_CONF_THRESHOLD)",
            "AI_POSE_PP_POSE_KEYPOINTS_NB": f"({(shape[1] - 5) // 3})"}


#: The post-processing ``#define``s of each ``POSTPROCESS_TYPE``, read from the model's output tensor.
_BUILDERS = {"POSTPROCESS_SPE_MOVENET_UF": _heatmap_defines, "POSTPROCESS_MPE_YOLO_V8_UF": _yolo_defines}


def header(path: str | os.PathLike[str], decoder: str, **options) -> str:
    """The whole ``app_config.h`` text for the model at ``path`` (``options`` as in :func:`defines`).

    Examples
    --------
    >>> from zoo_helpers.registry import catalog
    >>> text = header(catalog.path("yolov8n_pose_256_pc"), "yolo_pose")
    >>> re.search(r"#define AI_MPE_YOLOV8_PP_TOTAL_BOXES (\\S+)", text).group(1)
    '(1344)'
    """
    values = defines(path, decoder, **options)
    lines = ["/* app_config.h for the STM32N6 pose-estimation application, generated by zoo_helpers.deploy.appconfig",
             f" * from {Path(path).name}: every size below is read from the model's own tensors. */",
             "#ifndef APP_CONFIG", "#define APP_CONFIG", "", '#include "arm_math.h"', "", "#define USE_DCACHE", ""]
    lines += [f"#define {name} {value}" for name, value in values.items()]
    if "AI_SPE_MOVENET_POSTPROC_HEATMAP_HEIGHT" in values:
        nn_h, nn_w = int(values["NN_HEIGHT"].strip("()")), int(values["NN_WIDTH"].strip("()"))
        hm = (int(values["AI_SPE_MOVENET_POSTPROC_HEATMAP_HEIGHT"].strip("()")),
              int(values["AI_SPE_MOVENET_POSTPROC_HEATMAP_WIDTH"].strip("()")))
        if hm != (nn_h // 4, nn_w // 4):
            lines.append(f"/* note: heatmap {hm[0]}x{hm[1]} is not NN/4; ST's generator would write NN/4 */")
    return "\n".join([*lines, "", "#endif /* APP_CONFIG */", ""])


def for_catalog(key: str, **options) -> str:
    """:func:`header` for a catalog model (its file and decoder from :mod:`zoo_helpers.registry.catalog`).

    Examples
    --------
    >>> parse(for_catalog("movenet_heatmaps_192"))["AI_POSE_PP_POSE_KEYPOINTS_NB"]
    '(17)'
    """

    return header(catalog.path(key), catalog.entry(key).decoder, **options)


def write(path: str | os.PathLike[str], decoder: str, directory: str | os.PathLike[str], **options) -> Path:
    """Write ``app_config.h`` for the model into ``directory`` (created if needed); returns the file."""
    target = Path(directory) / "app_config.h"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(header(path, decoder, **options))
    return target


def parse(text: str) -> dict[str, str]:
    """The ``#define NAME VALUE`` pairs of a header (include guards and comments left out).

    Examples
    --------
    >>> parse("#define NN_WIDTH (192) /* px */\\n#define APP_CONFIG\\n")
    {'NN_WIDTH': '(192)'}
    """
    found = re.findall(r"^#define[ \t]+(\w+)[ \t]+(.+?)[ \t]*(?:/\*.*)?$", text, flags=re.M)
    return dict(found)


def generate_command(path: str | os.PathLike[str], profile: str = "default", neural_art: str = "",
                     output: str = "") -> str:
    """The ``stedgeai generate`` line that compiles the model for the STM32N6 NPU.

    As ST's deployment does it: ``--target stm32n6``, the Neural-ART profile (``profile@file.json`` when a
    user ``neural_art`` file is given), channel-last inputs, and the input data type the file has (the zoo's
    uint8 camera input). The output type is left at the compiler's default, as ST does.

    Examples
    --------
    >>> from zoo_helpers.registry import catalog
    >>> generate_command(catalog.path("st_movenet_heatmaps_192"))  # doctest: +ELLIPSIS
    'stedgeai generate --model .../st_movenet_lightning_heatmaps_192_int8_pc.tflite --target stm32n6 ...'
    """

    path = Path(path)
    dtype = load_model(path, num_threads=1).inputs[0].dtype
    art = f"{profile}@{neural_art}" if neural_art else profile
    args = ["stedgeai", "generate", "--model", str(path), "--target", "stm32n6", "--st-neural-art", art,
            "--input-data-type", dtype.name if dtype.kind != "f" else "float32", "--inputs-ch-position", "chlast"]
    if output:
        args += ["--output", output]
    return shlex.join(args)
