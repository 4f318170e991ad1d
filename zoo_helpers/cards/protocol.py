"""The book's evaluation protocol: labelled sets split into ``dev`` and ``test``, each side prepared once as a batch.

Every chapter is judged the same way (:mod:`zoo_helpers.evaluation.splits` for the rule):

* a :class:`Part` is one side of one labelled set, prepared for one model input size (images read, decoded and
  cropped once, shared by every model of that size);
* choices (the best recipe, a threshold) are made on the ``dev`` parts, by their labels or by label-free agreement;
  the tables, goals and glance report the ``test`` parts, which nothing is tuned on;
* calibration images come from a third pool (:mod:`zoo_helpers.evaluation.photos`), checked disjoint from every
  part by content hash.

:func:`single_pose` gives the MoveNet chapter's parts: LSP Extended ``dev`` (every dev image by default: the
recipe choice and the label-free agreement, at least 1,000 images), the first ``n_test`` LSP ``test`` images (by
image number) and the COCO val2017 subset's ``test`` people (or those of your ``coco_dir``, split by the same
rule). A record's ``kind`` names the sample mode and the set (``person_crops, LSP``), its ``split`` the side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import zoo_helpers.cards.landmarks as landmarks
import zoo_helpers.cards.multipose as multipose
import zoo_helpers.cards.singlepose as singlepose
from zoo_helpers.evaluation import datasets, labelled, photos, splits, transforms
from zoo_helpers.evaluation.batches import Batch
from zoo_helpers.results import Record


@dataclass
class Part:
    """One side (``split``) of one labelled set, as a batch for one input size.

    ``name`` is the set's short name (``LSP``, ``COCO``), ``set_name`` its split rule's name
    (:data:`zoo_helpers.evaluation.splits.SETS`), ``coco`` its ground truth restricted to this side; a part that is
    not ``labelled`` serves label-free agreement only (its labels are not of the chapter's task, or it has none:
    then ``coco`` is None and ``paths`` are its image files).
    """

    name: str
    set_name: str
    split: str
    coco: datasets.CocoKeypoints | None
    batch: Batch
    labelled: bool = True
    paths: list[Path] | None = None

    @property
    def label(self) -> str:
        """``LSP test``, ``COCO dev``, ..."""
        return f"{self.name} {self.split}"

    def files(self) -> list[Path]:
        """The image files of the part's samples (for the calibration disjointness check)."""
        if self.coco is None:
            return list(self.paths or [])
        return [self.coco.image_path(i) for i in dict.fromkeys(self.batch.ids)]

    def data(self) -> dict[str, str]:
        """Where the part comes from, for its result records."""
        source = self.coco.source() if self.coco is not None else {"data": self.set_name}
        return {**source, "set": self.set_name, "part": self.label}


def side(coco: datasets.CocoKeypoints, set_name: str, split: str, limit: int = 0) -> datasets.CocoKeypoints:
    """The images of ``coco`` on one side of ``set_name``'s split, the first ``limit`` by id (0: all).

    Examples
    --------
    >>> coco = labelled.coco_val2017_set()
    >>> test = side(coco, "coco_val2017_mini", "test")
    >>> len(test), sum(len(p) for p in test.people.values())
    (140, 229)
    """
    if split not in ("dev", "test"):
        raise ValueError(f"split must be 'dev' or 'test', got {split!r}")
    if limit < 0:
        raise ValueError(f"limit must be 0 (all) or positive, got {limit}")
    ids = splits.split(set_name, sorted(coco.images))[split]
    ids = ids[:limit] if limit else ids
    if not ids:
        raise ValueError(f"no image of {coco.name or set_name} falls in {split!r}")
    return coco.subset(ids, f"{coco.name}, {split}")


def _part(name: str, set_name: str, split: str, coco: datasets.CocoKeypoints, size: tuple[int, int], mode: str,
          limit: int, progress: bool) -> Part:
    own = side(coco, set_name, split, limit)
    batch = singlepose.prepare_samples(own, size, mode, progress=progress)
    batch.kind = f"{mode}, {name}"
    return Part(name, set_name, split, own, batch)


def single_pose(size: tuple[int, int], mode: str = "person_crops", n_test: int = 500, n_dev: int = 0,
                coco_dir: str = "", progress: bool = False) -> dict[str, Part]:
    """The single-pose chapter's parts by label: ``LSP dev``, ``LSP test`` and ``COCO test`` (module docstring).

    ``n_test`` / ``n_dev``: at most this many LSP images of each side (0: all); ``coco_dir``: a COCO folder of
    your own instead of the registered val2017 subset.
    """
    lsp = labelled.lsp_extended_set()
    coco = datasets.load_coco(coco_dir) if coco_dir else labelled.coco_val2017_set()
    parts = [_part("LSP", "lsp_extended_2000", "dev", lsp, size, mode, n_dev, progress),
             _part("LSP", "lsp_extended_2000", "test", lsp, size, mode, n_test, progress),
             _part("COCO", "coco_val2017_mini", "test", coco, size, mode, 0, progress)]
    return {p.label: p for p in parts}


class CalibrationOverlap(ValueError):
    """Calibration images that are also evaluation images (the same content): the recipes would be tuned on the
    images they are judged on."""


def check_calibration(calib_dir: str, n_calib: int, coco_dir: str = "") -> None:
    """Check the calibration files a single-pose chapter will read from ``calib_dir``, before any slow work:
    enough ``.jpg`` files, and none with the content (sha256) of an image of the evaluation sets (LSP Extended, both
    sides, and the COCO test set or ``coco_dir``). Empty ``calib_dir``: the registered pool, checked by the tests.

    Raises :class:`CalibrationOverlap` naming the shared files.

    Examples
    --------
    >>> check_calibration("", 8)  # the registered pool: nothing to check here
    """
    if not calib_dir:
        return
    files = photos.calibration_files(calib_dir, n_calib)
    sets = [labelled.lsp_extended_set(), datasets.load_coco(coco_dir) if coco_dir else labelled.coco_val2017_set()]
    owner = {s.image_path(i): f"{s.name.split(' (')[0]} image {i}" for s in sets for i in s.images}
    shared = [f"{f.name} (= {owner[other]})" for f, other in photos.shared(files, list(owner)).items()]
    if shared:
        raise CalibrationOverlap(
            f"calib_dir={calib_dir!r}: {len(shared)} of the {len(files)} calibration images are evaluation images: "
            f"{', '.join(shared[:5])}{' ...' if len(shared) > 5 else ''}. Calibration must come from a third pool; "
            "give a folder of other photos, or leave calib_dir empty for the registered people photos")


def multi_pose(size: tuple[int, int], resize_mode: str = "fit", n_dev: int = 0,
               coco_dir: str = "") -> dict[str, Part]:
    """The YOLO chapter's parts: ``LSP dev`` (whole people photos, for the label-free agreement that chooses the
    recipes; LSP labels one person a photo, so it is not scored) and ``COCO test`` (every test image of the COCO
    val2017 subset, or of your ``coco_dir``, people or not, scored with the card's metric).
    """
    lsp = labelled.lsp_extended_set()
    coco = datasets.load_coco(coco_dir) if coco_dir else labelled.coco_val2017_set()
    out = {}
    for name, set_name, split, data, limit, scored in (("LSP", "lsp_extended_2000", "dev", lsp, n_dev, False),
                                                       ("COCO", "coco_val2017_mini", "test", coco, 0, True)):
        own = side(data, set_name, split, limit)
        batch = multipose.prepare_images(own, size, resize_mode)
        batch.kind = f"{resize_mode}, {name}"
        out[f"{name} {split}"] = Part(name, set_name, split, own, batch, scored)
    return out


#: The JPEG decoder each way of making samples uses (the other is the comparison of :func:`redecoded`).
DECODER_OF = {"person_crops": "pillow", "st_subset": "tensorflow", "fit": "tensorflow", "padding": "pillow"}


def redecoded(part: Part, decoder: str) -> Part:
    """``part`` with its samples made again from the same files, decoded by ``decoder`` (``pillow`` or
    ``tensorflow``) instead of the one its mode uses (:data:`DECODER_OF`); the same samples, in the same order.

    Examples
    --------
    >>> part = faces()["AFLW2000-3D test"]
    >>> redecoded(part, "pillow")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: AFLW2000-3D test (face crops, AFLW2000-3D) is not a COCO person part: ...
    """
    mode = part.batch.kind.split(",")[0]
    if mode not in DECODER_OF or part.coco is None:
        raise ValueError(f"{part.label} ({part.batch.kind}) is not a COCO person part: its samples are made "
                         "by its chapter")
    h, w = part.batch.images.shape[1:3]
    n = len(dict.fromkeys(part.batch.ids))
    if mode in singlepose.SAMPLE_MODES:
        batch = singlepose.prepare_samples(part.coco, (w, h), mode, decoder=decoder)
    else:
        batch = multipose.prepare_images(part.coco, (w, h), mode, decoder=decoder)
    if list(batch.ids) != list(part.batch.ids):
        raise ValueError(f"{part.label}: decoding with {decoder} kept other samples ({len(batch)} of "
                         f"{len(part.batch)}, {n} images)")
    batch.kind = f"{part.batch.kind}, {decoder} decoder"
    return Part(part.name, part.set_name, part.split, part.coco, batch, part.labelled, part.paths)


def unlabelled(name: str, images: photos.Images) -> Part:
    """A ``dev`` part of photos for label-free agreement only (no labels, each image its own sample)."""
    h, w = images.images.shape[1:3]
    same = transforms.Transform((1.0, 1.0), (0.0, 0.0), (w, h), (w, h))
    batch = Batch(images.images, [same] * len(images), list(images.names), [None] * len(images), [], name)
    return Part(name, name, "dev", None, batch, labelled=False, paths=list(images.files))


def hands(size: int = 224, n_calib: int = 0) -> dict[str, Part]:
    """The hand chapter's parts: ``real hands dev`` and ``real hands test``, the hand-graph-cnn video frames split in
    runs of 25 consecutive frames (:data:`zoo_helpers.evaluation.splits.FRAMES_PER_GROUP`), each hand cropped from
    its annotated keypoints (``gt`` crops; the chapter makes the palm detector's crops of the same samples), and
    ``hand photos dev``: every other hand crop here that does not calibrate (the InterHand2.6M and COCO-WholeBody
    crops after the first ``n_calib``, which calibrate, less those cut from a calibrating photo, and the mmpose hand
    samples' ground-truth crops), for the label-free agreement only.
    """
    coco = labelled.hand_test_set()
    pool = photos.hands(size)
    keep = [i for i in range(n_calib, len(pool)) if pool.files[i] not in pool.files[:n_calib]]
    others = photos.Images(pool.images[keep], [pool.names[i] for i in keep], [pool.files[i] for i in keep])
    samples = landmarks.hand_samples()
    crops = landmarks.hand_crops(samples, "gt", size=size)
    extra = photos.Images(crops.images, [f"{s.dataset} {s.image_id}" for s in samples],
                          landmarks.sample_files(samples))
    out = {"hand photos dev": unlabelled("hand photos", others.extend(extra))}
    for split in ("dev", "test"):
        own = side(coco, "hand_graph_cnn_real_test", split)
        batch = landmarks.hand_crops(landmarks.samples_of(own, "real hands"), "gt", size=size)
        batch.kind = f"{batch.kind}, real hands"
        out[f"real hands {split}"] = Part("real hands", "hand_graph_cnn_real_test", split, own, batch)
    return out


def faces(size: int = 192) -> dict[str, Part]:
    """The head chapter's labelled part: ``AFLW2000-3D test``, the 16 faces (all ``test``: no choice is made on
    them), each cropped from its 68 fitted landmarks' extent, :data:`zoo_helpers.cards.landmarks.FACE_MARGIN` x its
    longer side (the chapter adds the mmpose faces, also ``test``).
    """
    own = side(labelled.aflw2000_3d_set(), "aflw2000_3d_prnet", "test")
    batch = landmarks.face_crops(landmarks.samples_of(own, "aflw2000-3d"), size)
    batch.kind = f"{batch.kind}, AFLW2000-3D"
    return {"AFLW2000-3D test": Part("AFLW2000-3D", "aflw2000_3d_prnet", "test", own, batch)}


def judged(records: list[Record], name: str) -> list[Record]:
    """The records a table of set ``name`` reads: every ``dev`` record (where choices are made) and the ``test``
    records of that set (what is shown).

    Examples
    --------
    >>> rec = lambda kind, split: Record("m", "c", "k", "v", {}, 1, 1, {}, {}, "host CPU", kind=kind, split=split)
    >>> [(r.kind, r.split) for r in judged([rec("x, LSP", "dev"), rec("x, LSP", "test"), rec("x, COCO", "test")],
    ...                                    "COCO")]
    [('x, LSP', 'dev'), ('x, COCO', 'test')]
    """
    return [r for r in records if r.split == "dev"] + shown(records, name)


def shown(records: list[Record], name: str | None = None) -> list[Record]:
    """The ``test`` records, of set ``name`` only when given (what a chapter's tables and glance show)."""
    return [r for r in records if r.split == "test" and (name is None or r.kind.endswith(f", {name}"))]


def describe(parts: dict[str, Part]) -> str:
    """One line per part: samples, images, kind, and the files it could not read."""
    return "\n".join(f"{label}: {len(p.batch)} samples from {p.batch.num_images} images ({p.batch.kind}); "
                     f"skipped: {'; '.join(p.batch.skipped) or 'none'}" for label, p in parts.items())
