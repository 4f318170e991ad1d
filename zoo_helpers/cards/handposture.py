"""Hand posture on 8x8 Time-of-Flight frames (CNN2D_ST_HandPosture): data, preprocessing, model, firmware header.

The ST VL53L8CX dataset holds 162 ``.npz`` logs, each with ``zone_data`` ``(4, 64, T)`` (rows
``target_status, valid, signal_per_spad, distance_mm``; zone ``j`` is row ``j // 8``, column ``j % 8``)
and ``glob_data`` ``(1, T)`` with the EVK label id of each frame. :func:`load_logs` reads them all,
keeping the user and session of every frame.

:func:`preprocess` is ST's preprocessing, vectorised over frames and zones: a zone is valid when its
status is 5 or 9; a frame is dropped when its nearest valid distance is outside ``[min, max]``
(inclusive, as in training); valid zones farther than nearest + background are invalidated; invalid
zones get distance 4000 and signal 0; then ``(d - 295) / 196`` and ``(s - 281) / 452``, giving
``(N, 8, 8, 2)`` frames ``[distance, signal]``.

Class indices follow the EVK label ids ascending (:data:`CLASSES`), as ST's loader and firmware do.

Frames read from the board's stream are kept under the chapter's results folder, one new folder per
run (:func:`stream_log_path`): a later run never deletes them.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from zoo_helpers.board.tof import VALID_STATUS, ZONE_HEAD, Frame, StreamReader
from zoo_helpers.registry import published
from zoo_helpers.registry.assets import AssetError, extract, lookup

#: (name, EVK label id), in class-index order.
CLASSES = [("None", 0), ("FlatHand", 20), ("Like", 21), ("Love", 24), ("Dislike", 25), ("BreakTime", 27),
           ("CrossHands", 28), ("Fist", 32)]
DISTANCE_CENTER, DISTANCE_IQR = 295.0, 196.0
SIGNAL_CENTER, SIGNAL_IQR = 281.0, 452.0
INVALID_DISTANCE = 4000.0


@dataclass
class ToFLogs:
    """All frames of a set of logs: ``zone_data`` ``(4, 64, N)``, EVK ``labels``, ``users`` and ``sessions``."""

    zone_data: np.ndarray
    labels: np.ndarray
    users: np.ndarray
    sessions: np.ndarray
    files: list[Path]


_LOG_NAME = re.compile(r"log__(?P<cls>[^_]+)__(?P<user>User\d+)__(?P<take>\d+)__")


DATASET = "tof_handposture_dataset"
#: Record key of the models this book trains (they are not registry files, so not catalog entries).
TRAINED_KEY = "cnn2d_st_handposture_trained"


def source() -> dict[str, str]:
    """The data source of the hand-posture evaluations, for result records."""

    return {"data": "ST VL53L8CX hand-posture dataset", "annotations": DATASET,
            "annotations_sha256": lookup(DATASET).sha256}


def class_names() -> list[str]:
    """The class names in class-index order."""
    return [name for name, _ in CLASSES]


def load_logs(root: str | os.PathLike[str] | None = None) -> ToFLogs:
    """Read every ``*.npz`` log under ``root`` (default: ST's dataset, extracted from the registry).

    The user and session of each frame come from the log folder's name.

    A log that cannot be read (a truncated or damaged file) is an :class:`~zoo_helpers.registry.assets.AssetError`
    naming it and saying how to recover (for the registered dataset: delete the extracted folder, which is
    extracted again from its verified archive on the next call).

    Examples
    --------
    >>> logs = load_logs()
    >>> logs.zone_data.shape, len(logs.files)
    ((4, 64, 11448), 162)
    """
    dataset = root is None
    if root is None:
        root = extract(DATASET)
    files = sorted(Path(root).rglob("*.npz"))
    if not files:
        raise FileNotFoundError(f"no .npz logs under {root}")
    zones, labels, users, sessions = [], [], [], []
    session_ids: dict[str, int] = {}
    for f in files:
        head, data, label = _read_log(f, root, dataset)
        if head != ZONE_HEAD or data.shape[:2] != (4, 64):
            raise ValueError(f"{f.name}: not a VL53L8 8x8 hand-posture log (zone_head {head})")
        folder = next((p.name for p in f.parents if p.name.startswith("log__")), f.parent.name)
        m = _LOG_NAME.search(folder)
        user = int(m.group("user")[4:]) if m else 0
        sid = session_ids.setdefault(folder, len(session_ids))
        zones.append(data)
        labels.append(label.astype(np.int64))
        users.append(np.full(data.shape[2], user))
        sessions.append(np.full(data.shape[2], sid))
    return ToFLogs(np.concatenate(zones, axis=2), np.concatenate(labels), np.concatenate(users),
                   np.concatenate(sessions), files)


def _read_log(path: Path, root, dataset: bool) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(zone_head, zone_data, labels)`` of one log, or an :class:`AssetError` naming it and how to recover."""
    try:
        with np.load(path) as z:
            return [str(h) for h in z["zone_head"]], np.asarray(z["zone_data"]), np.asarray(z["glob_data"][0])
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        recover = (f"Delete the extracted dataset folder {root}: it is extracted again from its verified archive "
                   "on the next run" if dataset else f"Replace it with a good copy, or move it out of {root}")
        what = ("it is an .npz file but not a VL53L8 log (no zone_head, zone_data and glob_data arrays of that "
                "layout)" if isinstance(exc, KeyError | IndexError) else "the file is truncated or damaged")
        raise AssetError(f"cannot read the ToF log {path} ({type(exc).__name__}: {exc}): {what}. {recover}") from exc


def stream_log_path(recorder, port: str = "") -> Path:
    """A new file for the frames this run reads from the stream, under the chapter's results folder.

    ``<recorder.dir>/stream_logs/<time>-board/stream_log.npz`` (``-replay`` when ``port`` is empty: the
    frames are replayed from the dataset), in a folder of its own that no later run deletes or reuses.

    Examples
    --------
    >>> import tempfile
    >>> from zoo_helpers.results import Recorder
    >>> run = Recorder("hand_posture", "cnn2d_st_handposture", {}, tempfile.mkdtemp())
    >>> first, second = stream_log_path(run), stream_log_path(run)
    >>> first.name, first.parent.parent == run.dir / "stream_logs", first.parent != second.parent
    ('stream_log.npz', True, True)
    """
    base = Path(recorder.dir) / "stream_logs"
    stem = f"{datetime.now().strftime('%Y%m%dT%H%M%S')}-{'board' if port else 'replay'}"
    for k in range(1000):
        folder = base / (stem if not k else f"{stem}-{k}")
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OSError(f"cannot keep the stream log under {base} (set results_dir): {exc}") from exc
        return folder / "stream_log.npz"
    raise OSError(f"no free stream log folder under {base} for {stem}")


def preprocess(zone_data: np.ndarray, max_distance: float = 400, min_distance: float = 100,
               background: float = 120) -> tuple[np.ndarray, np.ndarray]:
    """ST's frame filter and normalisation, vectorised: returns ``(frames (M, 8, 8, 2), keep (N,) bool)``.

    Examples
    --------
    >>> z = np.zeros((4, 64, 1)); z[0] = 5; z[3] = 300; z[2] = 281
    >>> x, keep = preprocess(z)
    >>> keep.tolist(), x.shape, round(float(x[0, 0, 0, 0]), 6), float(x[0, 0, 0, 1])
    ([True], (1, 8, 8, 2), 0.02551, 0.0)
    """
    z = np.asarray(zone_data, dtype=np.float64)
    if z.ndim != 3 or z.shape[:2] != (4, 64):
        raise ValueError(f"expected zone_data of shape (4, 64, N), got {z.shape}")
    status, signal, distance = z[0], z[2], z[3]
    valid = np.isin(status, VALID_STATUS)
    nearest = np.where(valid, distance, INVALID_DISTANCE).min(axis=0)
    keep = (nearest <= max_distance) & (nearest >= min_distance) & ~np.isnan(z).any(axis=(0, 1))
    valid &= distance <= nearest + background
    d = np.where(valid, distance, INVALID_DISTANCE)[:, keep]
    s = np.where(valid, signal, 0.0)[:, keep]
    frames = np.stack([(d - DISTANCE_CENTER) / DISTANCE_IQR, (s - SIGNAL_CENTER) / SIGNAL_IQR], axis=-1)
    return frames.transpose(1, 0, 2).reshape(-1, 8, 8, 2).astype(np.float32), keep


def class_indices(evk_labels: np.ndarray) -> np.ndarray:
    """Map EVK label ids to class indices (:data:`CLASSES` order); unknown ids raise."""
    ids = np.array([c[1] for c in CLASSES])
    labels = np.asarray(evk_labels).astype(np.int64)
    pos = np.searchsorted(ids, labels)
    bad = (pos >= len(ids)) | (ids[np.minimum(pos, len(ids) - 1)] != labels)
    if bad.any():
        raise ValueError(f"unknown EVK label ids {sorted(set(labels[bad].tolist()))}; known: {ids.tolist()}")
    return pos


def classify(zone_data: np.ndarray, predict) -> list[str]:
    """Class names for raw frames ``(4, 64, N)``; frames ST's filter drops get ``"(no hand in range)"``.

    ``predict`` maps ``(M, 8, 8, 2)`` float frames to ``(M, C)`` scores (a Keras model's ``predict``,
    or a :class:`zoo_helpers.runtime.models.Model`'s ``predict_array`` output).
    """
    frames, keep = preprocess(zone_data)
    names = np.array(["(no hand in range)"] * keep.size, dtype=object)
    if frames.size:
        names[keep] = [CLASSES[i][0] for i in np.asarray(predict(frames)).argmax(1)]
    return names.tolist()


def build_model(num_classes: int = len(CLASSES), dropout: float = 0.2, seed: int = 42):
    """The CNN2D_ST_HandPosture topology (2,752 parameters for 8 classes), compiled for training."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((8, 8, 2)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Dropout(dropout),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name="CNN2D_ST_HandPosture")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def frame_split(n: int, validation: float = 0.2, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """A fixed frame-level split (drawn once, never re-drawn between epochs): ``(train_idx, val_idx)``."""
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * (1 - validation)))
    return np.sort(order[:cut]), np.sort(order[cut:])


def firmware_header(max_distance: float = 400, min_distance: float = 100, background: float = 120) -> str:
    """``ai_model_config.h`` for the F401 demo: class table, EVK label table, preprocessing constants."""
    names = ", ".join(f'"{n}"' for n, _ in CLASSES)
    ids = ", ".join(str(i) for _, i in CLASSES)
    return "\n".join([
        "/* Generated by zoo_helpers.cards.handposture.firmware_header: CNN2D_ST_HandPosture configuration. */",
        "#ifndef AI_MODEL_CONFIG_H", "#define AI_MODEL_CONFIG_H", "",
        f"#define NB_CLASSES ({len(CLASSES)})", "#define INPUT_HEIGHT (8)", "#define INPUT_WIDTH (8)",
        "#define INPUT_CHANNELS (2)", "",
        f"#define CLASSES_TABLE const char* classes_table[NB_CLASSES] = {{{names}}}",
        f"#define EVK_LABEL_TABLE const int evk_label_table[NB_CLASSES] = {{{ids}}}", "",
        f"#define BACKGROUND_REMOVAL ({int(background)})", f"#define MAX_DISTANCE ({int(max_distance)})",
        f"#define MIN_DISTANCE ({int(min_distance)})", "",
        f"#define NORMALIZATION_RANGING_CENTER ({DISTANCE_CENTER:g})",
        f"#define NORMALIZATION_RANGING_IQR ({DISTANCE_IQR:g})",
        f"#define NORMALIZATION_SIGNAL_CENTER ({SIGNAL_CENTER:g})",
        f"#define NORMALIZATION_SIGNAL_IQR ({SIGNAL_IQR:g})",
        "", "#endif /* AI_MODEL_CONFIG_H */", ""])


def train(x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 42, batch_size: int = 32):
    """Train a fresh CNN2D_ST_HandPosture on ``(x, y)`` (class indices); returns the Keras model."""
    model = build_model(seed=seed)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
    return model


def train_like_st(x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 42, validation: float = 0.2,
                  batch_size: int = 32) -> tuple[float, np.ndarray, np.ndarray]:
    """Train and validate the way ST's training script does, to show where the card's accuracy comes from.

    ST's loader shuffles with ``reshuffle_each_iteration=True`` before taking its 80/20 split, so every epoch draws
    a new validation set, and frames validated on in one epoch are trained on in the next; its callbacks keep the
    best epoch by validation accuracy (``restore_best_weights``). Here each epoch draws a fresh split, trains one
    epoch on its 80 % and validates on its 20 %. Returns the best epoch's validation accuracy (the figure ST's
    script reports), and that epoch's validation frames and their correctness (for an interval, which cannot undo
    the leak).
    """
    model = build_model(seed=seed)
    rng = np.random.default_rng(seed)
    best = (-1.0, np.zeros(0, int), np.zeros(0, bool))
    for _ in range(epochs):
        order = rng.permutation(len(x))
        cut = int(round(len(x) * (1 - validation)))
        train_idx, val_idx = order[:cut], order[cut:]
        model.fit(x[train_idx], y[train_idx], epochs=1, batch_size=batch_size, verbose=0, shuffle=True)
        correct = model.predict(x[val_idx], verbose=0).argmax(1) == y[val_idx]
        if correct.mean() > best[0]:
            best = (float(correct.mean()), np.sort(val_idx), correct[np.argsort(val_idx)])
    return best


def group_split(groups: np.ndarray, validation: float = 0.2, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """A split by whole groups (recording sessions), drawn once: ``(train_idx, val_idx)``, about ``validation`` of
    the frames held out, no group on both sides.

    Examples
    --------
    >>> tr, va = group_split(np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]), 0.2, seed=1)
    >>> len(va), len(set(np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])[va]))
    (2, 1)
    """
    groups = np.asarray(groups)
    names, counts = np.unique(groups, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    held, total = [], 0
    for i in order:
        if total >= validation * len(groups):
            break
        held.append(names[i])
        total += counts[i]
    val = np.isin(groups, held)
    return np.flatnonzero(~val), np.flatnonzero(val)


def leave_one_user_out(x: np.ndarray, y: np.ndarray, users: np.ndarray, epochs: int,
                       seed: int = 42) -> dict[int, float]:
    """Accuracy on each user when trained on the others only: the honest held-out figure.

    Users with classes the others never show (here only User1 recorded "None") are scored on the
    frames of the classes the model was trained on.
    """
    return {user: float(ok.mean()) for user, ok in _louo_correct(x, y, users, epochs, seed).items()}


def _louo_correct(x: np.ndarray, y: np.ndarray, users: np.ndarray, epochs: int, seed: int) -> dict[int, np.ndarray]:
    """Per user, whether each of its frames (of the classes the others show) is classified right by a model
    trained on the other users."""
    out = {}
    for user in np.unique(users):
        held = users == user
        seen = held & np.isin(y, np.unique(y[~held]))
        pred = train(x[~held], y[~held], epochs, seed).predict(x[seen], verbose=0).argmax(1)
        out[int(user)] = pred == y[seen]
    return out


#: The metric of :func:`protocols`' records: the share of held-out frames classified right.
HELD_OUT = "held-out accuracy"


def protocols(x: np.ndarray, y: np.ndarray, users: np.ndarray, sessions: np.ndarray, epochs: int, recorder,
              seed: int = 42, validation: float = 0.2, trained: tuple | None = None) -> list:
    """The same network trained and scored four ways, each recorded with per-frame correctness so its 95 % interval
    resamples whole sessions (or users), frames of one recording being alike:

    ``ST's way``: the split re-drawn every epoch, the best epoch's validation accuracy (:func:`train_like_st`);
    ``frame split, fixed once`` (:func:`frame_split`); ``session split, fixed once`` (:func:`group_split`); and
    ``leave one user out`` (each user scored by a model trained on the others, resampling users).
    ``trained``: ``(model, val_idx)`` of the frame split the chapter already trained with the same ``validation``
    and ``seed`` (not trained again).
    """
    sessions = np.array([f"{u}/{s}" for u, s in zip(users, sessions, strict=True)])
    found = {}
    _, val, correct = train_like_st(x, y, epochs, seed, validation)
    found["ST's way: split re-drawn every epoch, best epoch"] = (correct, sessions[val])
    for name, (train_idx, val_idx) in (("frame split, fixed once", frame_split(len(x), validation, seed)),
                                       ("session split, fixed once", group_split(sessions, validation, seed))):
        if trained is not None and name.startswith("frame"):
            model, given = trained
            if not np.array_equal(given, val_idx):
                raise ValueError("trained: its validation frames are not frame_split(len(x), validation, seed)'s")
        else:
            model = train(x[train_idx], y[train_idx], epochs, seed)
        pred = model.predict(x[val_idx], verbose=0).argmax(1)
        found[name] = (pred == y[val_idx], sessions[val_idx])
    louo = _louo_correct(x, y, users, epochs, seed)
    found["leave one user out"] = (np.concatenate(list(louo.values())),
                                   np.array([f"User{u}" for u, ok in louo.items() for _ in ok]))
    return [recorder.add(TRAINED_KEY, name, {HELD_OUT: float(np.mean(ok))}, samples=len(ok), images=len(set(g)),
                         data=source(), kind="protocols", split="test", per_sample={HELD_OUT: ok.astype(float)},
                         sample_images=[str(v) for v in g])
            for name, (ok, g) in found.items()]


def published_accuracy() -> dict[str, float]:
    """The cards' float accuracies (%), by dataset and release, as published (seed card and model zoo 4.1).

    Examples
    --------
    >>> published_accuracy()["published: ST_VL53L8CX_handposture_dataset, release 4.1"]
    98.47
    """
    card = "cnn2d_st_handposture"
    return {f"published: {row.get('dataset', 'dataset not named')}, release {published.release(card, name)}":
            float(row["value"]) for name in ("accuracy", "accuracy_41") for row in published.rows(card, name)}


def predict_classes(model, frames: np.ndarray) -> np.ndarray:
    """Class indices of ``(N, 8, 8, 2)`` preprocessed frames, by a Keras or a :class:`~zoo_helpers.runtime.Model`."""
    scores = model.predict_one(frames) if hasattr(model, "predict_one") else model.predict(frames, verbose=0)
    return np.asarray(scores).argmax(1)


def record_accuracy(recorder, predictions: dict[str, np.ndarray], truth: np.ndarray, metric: str,
                    keys: dict[str, str] | None = None, models: dict | None = None) -> None:
    """Record the accuracy (share of ``predictions[label] == truth``) of each label under ``metric``.

    The record key is ``keys[label]`` when given, else :data:`TRAINED_KEY`; ``models[label]`` (optional)
    is the model whose file the record names.
    """
    for label, pred in predictions.items():
        model = (models or {}).get(label)
        recorder.add((keys or {}).get(label, TRAINED_KEY), label, {metric: float((pred == truth).mean())},
                     samples=len(truth), images=len(truth), data=source(), kind="frames",
                     model=getattr(model, "path", None))


def record_louo(recorder, accuracies: dict, epochs: int, frames: int) -> dict[str, float]:
    """Record leave-one-user-out accuracies (user -> accuracy) and their mean as one result record."""
    metric = {f"User{u} held out": a for u, a in accuracies.items()}
    metric["leave-one-user-out mean"] = float(np.mean(list(accuracies.values())))
    recorder.add(TRAINED_KEY, f"float, {epochs} epochs per user", metric, samples=frames, images=frames,
                 data=source(), kind="leave one user out")
    return metric


def card_comparison(card_accuracy: float, records: list):
    """The card's published accuracy beside our measured frame-split and leave-one-user-out accuracies (%)."""
    import pandas as pd

    ours = {f"measured: {r.variant}, {name}": 100 * v for r in records if r.key == TRAINED_KEY
            for name, v in r.metrics.items() if name in ("frame-split accuracy", "leave-one-user-out mean")}
    rows = {"published: card (VL53L5CX dataset, float)": card_accuracy, **ours}
    return pd.Series(rows, name="accuracy (%)").round(2).to_frame()


def read_stream(port, frames: int, logger=None) -> list:
    """Up to ``frames`` :class:`~zoo_helpers.board.tof.Frame` events from an open port, each logged as it arrives.

    Corrupt or truncated records are skipped (the reader reports them as events); terminal-mode
    predictions are ignored.
    """

    out = []
    for event in StreamReader(port, num_classes=len(CLASSES)).events(limit=frames):
        if isinstance(event, Frame):
            out.append(event)
            if logger is not None:
                logger.add(event)
    return out


def classify_frames(frames: list, predict) -> tuple[list[str], list[str]]:
    """Label and predicted class name of each streamed frame, classified in memory (see :func:`classify`)."""
    if not frames:
        raise ValueError("no frames to classify")
    zone_data = np.stack([f.zones for f in frames], axis=2)
    truth = [CLASSES[i][0] for i in class_indices(np.array([f.label for f in frames]))]
    return truth, classify(zone_data, predict)
