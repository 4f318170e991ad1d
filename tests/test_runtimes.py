"""One int8 file, several runtimes: engines, per-operator divergence, the runtime matrix and its tables."""

import json

import numpy as np
import pytest

from zoo_helpers.book import runtime_tables
from zoo_helpers.cards import divergence_report, protocol, runtimes
from zoo_helpers.evaluation import datasets, preprocess
from zoo_helpers.registry import catalog
from zoo_helpers.registry.assets import fetch
from zoo_helpers.results import Recorder
from zoo_helpers.runtime import divergence, engines, load_model, tflm


def _photos(size):
    """Two real photos at ``size``: Coral's squat image and the first COCO sample image."""
    coco = datasets.load_coco()
    files = [fetch("coral_squat_image"), coco.image_path(next(iter(coco.people)))]
    return np.stack([preprocess.resize(datasets.read_image(f), size, mode="fit")[0] for f in files])


def _int8_tflite_keys():
    keys = []
    for key in catalog.entries_all():
        if catalog.status(key) == "download needed":
            continue
        path = catalog.path(key)
        if path.suffix == ".tflite":
            kinds = {d["dtype"] for d in load_model(path)._interp.get_tensor_details()}
            if np.int8 in kinds or np.uint8 in kinds:
                keys.append(key)
    return keys


def test_tflm_and_litert_reference_kernels_on_every_int8_tflite_tflm_can_run(mirror):
    """Bit for bit on every file but ST's hand landmarks, where TFLM's FULLY_CONNECTED (operator 58, the 63
    landmark coordinates) rounds 1 LSB away from LiteRT's reference kernel on a few elements: the kernels are
    ports of each other, not one code."""
    keys = _int8_tflite_keys()
    cannot, parted = {}, {}
    for key in keys:
        path = catalog.path(key)
        model = engines.load(path, "litert_reference", catalog.entry(key).rescale)
        x = model.prepare(_photos(model.input_size))
        try:
            micro = engines.load(path, "tflm", catalog.entry(key).rescale)
        except tflm.TFLMError as exc:
            cannot[key] = exc.op
            continue
        for i in range(len(x)):
            ref, got = model._run({model.inputs[0].name: x[i:i + 1]}), micro._run({model.inputs[0].name: x[i:i + 1]})
            if any(got[n].dtype != ref[n].dtype or not np.array_equal(got[n], ref[n]) for n in ref):
                rows = divergence.compare(divergence.operator_outputs(path, x[i:i + 1], "litert_reference"),
                                          divergence.operator_outputs(path, x[i:i + 1], "tflm"))
                parted[key] = [(r["operator"], r["op"], r["max diff (LSB)"]) for r in rows if r["differ (%)"] > 0]
    # Google's MoveNet Lightning starts with a CAST of its uint8 input, which TFLM's CAST kernel refuses; YOLO11n-pose
    # concatenates more tensors in one operator than TFLM's CONCATENATION takes (kMaxInputNum)
    assert cannot == {"movenet_lightning_192": "CAST", "yolo11n_pose_256": "CONCATENATION"}
    assert parted == {"st_hand_landmarks_224": [(58, "FULLY_CONNECTED", 1.0)]}
    assert len(keys) - len(cannot) >= 8  # ST's and Google's heatmap MoveNets, 4 YOLOv8n-pose, hand landmarks, palms


def test_engines_by_file_kind_and_clear_refusals(mirror):
    assert engines.for_file("a.onnx") == ["ort", "ort_unoptimized"]
    with pytest.raises(ValueError, match="runtime 'tflm' cannot run face_landmarks_v1_192_int8_pc.onnx"):
        engines.load(catalog.path("st_face_landmarks_192"), "tflm")
    with pytest.raises(ValueError, match="unknown runtime 'cmsis'"):
        engines.label("cmsis")
    with pytest.raises(ValueError, match="engine 'ort' cannot run"):
        load_model(catalog.path("st_movenet_heatmaps_192"), engine="ort")


def test_builtin_and_reference_kernels_part_at_the_first_projection_conv_by_one_lsb(mirror):
    """What the issue found by hand on ST's 13-keypoint MoveNet: operator 3, a 1x1 projection, 1 LSB on a few
    elements, then larger differences downstream; TFLM never parts from the reference kernels."""
    path = catalog.path("st_movenet_heatmaps_192")
    x = load_model(path).prepare(_photos((192, 192))[:1])
    ref = divergence.operator_outputs(path, x, "litert_reference")
    rows = divergence.compare(divergence.operator_outputs(path, x, "litert_builtin"), ref)
    first = divergence.first_parting(rows)
    assert (first["operator"], first["op"], first["max diff (LSB)"]) == (3, "CONV_2D", 1.0)
    assert 0 < first["differ (%)"] < 1 and max(r["max diff (LSB)"] for r in rows) > 10
    assert divergence.first_parting(divergence.compare(divergence.operator_outputs(path, x, "tflm"), ref)) is None


def test_a_planted_one_lsb_change_is_found_at_its_operator(mirror):
    path = catalog.path("st_movenet_heatmaps_192")
    x = load_model(path).prepare(_photos((192, 192))[:1])
    ref = divergence.operator_outputs(path, x, "litert_reference")
    planted = [divergence.OpTensor(t.index, t.op, t.name, t.values.copy(), t.scale) for t in ref]
    target = next(t for t in planted if t.index == 40)
    flat = target.values.reshape(-1)
    k = int(np.argmax(flat < 127))  # an element that can take one more step
    flat[k] += 1
    rows = divergence.compare(ref, planted)
    first = divergence.first_parting(rows)
    assert first["operator"] == 40 and first["max diff (LSB)"] == 1.0
    assert first["differ (%)"] == pytest.approx(100 / target.values.size)
    assert sum(r["differ (%)"] > 0 for r in rows) == 1


def test_tapping_onnxruntime_keeps_its_fused_arithmetic(mirror):
    """The tapped graphs' outputs are exactly the plain sessions' (the taps did not stop a fusion), and the
    optimized and unoptimized paths part."""
    path = catalog.path("st_face_landmarks_192")
    model = engines.load(path, "ort", catalog.entry("st_face_landmarks_192").rescale)
    x = model.prepare(_photos((192, 192))[:1])
    plain = {e: engines.load(path, e, model.rescale)._run({model.inputs[0].name: x})["landmarks"]
             for e in ("ort", "ort_unoptimized")}
    taps = {e: divergence.operator_outputs(path, x, e) for e in ("ort", "ort_unoptimized")}
    for e in taps:
        assert taps[e][-1].name == "landmarks" and np.array_equal(taps[e][-1].values, plain[e]), e
    assert not np.array_equal(plain["ort"], plain["ort_unoptimized"])
    assert len(taps["ort"]) < len(taps["ort_unoptimized"])  # the optimizer fused most Q/DQ pairs away
    rows = divergence.compare(taps["ort"], taps["ort_unoptimized"])
    assert divergence.first_parting(rows) is not None and rows[-1]["max diff (LSB)"] >= 1


@pytest.fixture(scope="module")
def small_matrix(mirror, tmp_path_factory):
    parts = protocol.single_pose((192, 192), "person_crops", n_test=12)
    rec = Recorder("movenet", "movenet", {}, tmp_path_factory.mktemp("results"))
    work = tmp_path_factory.mktemp("work")
    files = {"published int8": runtimes.published("st_movenet_heatmaps_192"),
             "Google lightning": runtimes.published("movenet_lightning_192")}
    return runtimes.matrix(files, parts["LSP test"], 8, rec, work, progress=False), work, rec


def test_the_matrix_scores_each_runtime_and_says_which_could_not_run(small_matrix):
    m, _, rec = small_matrix
    by = {r.variant: r for r in m.records}
    assert set(by) == {f"published int8 · {e}" for e in ("litert_xnnpack", "litert_builtin", "litert_reference",
                                                         "tflm")} | {"Google lightning · litert_xnnpack",
                                                                     "Google lightning · litert_builtin",
                                                                     "Google lightning · litert_reference"}
    assert m.skipped[("Google lightning", "tflm")].startswith("TFLM cannot run")
    tf, ref = by["published int8 · tflm"], by["published int8 · litert_reference"]
    assert tf.metrics == ref.metrics and tf.per_sample == ref.per_sample and tf.samples == 8
    assert tf.measured_on == "host CPU, TFLM reference kernels (Cortex-M reference arithmetic)"
    assert (rec.root / "movenet_runtimes").is_dir() and not (rec.root / "movenet").exists()
    table = runtime_tables.accuracy(m, "ST mean OKS")
    assert table.loc[("Google lightning", engines.label("tflm")), "verdict"].startswith("cannot run")


def test_matrix_agreement_is_recomputed_from_the_saved_outputs(small_matrix):
    """Same-cell agreement by hand: the argmax cell of each heatmap channel, from the saved outputs."""
    m, work, _ = small_matrix
    saved = runtimes.load_outputs(m.outputs["published int8"])
    stored = {(p["A"], p["B"]): p for p in json.loads((work / "pairs.json").read_text())
              if p["file"] == "published int8"}
    assert len(stored) == 6
    step = divergence.output_steps(catalog.path("st_movenet_heatmaps_192"))
    for (a, b), row in stored.items():
        ha, hb = next(iter(saved[a].values())), next(iter(saved[b].values()))
        n, h, w, k = ha.shape
        ca = ha.reshape(n, h * w, k).argmax(1)
        cb = hb.reshape(n, h * w, k).argmax(1)
        same = 100 * np.mean(ca == cb)
        near = 100 * np.mean((np.abs(ca // w - cb // w) <= 1) & (np.abs(ca % w - cb % w) <= 1))
        assert row["same cell (%)"] == pytest.approx(same) and row["within one cell (%)"] == pytest.approx(near)
        assert row["max diff (LSB)"] == pytest.approx(np.abs(ha - hb).max() / next(iter(step.values())))
    assert stored[("litert_reference", "tflm")]["same cell (%)"] == 100.0
    assert stored[("litert_reference", "tflm")]["max diff (LSB)"] == 0.0
    assert stored[("litert_xnnpack", "litert_reference")]["max diff (LSB)"] >= 1


def test_the_divergence_tool_on_the_command_line(mirror, capsys):
    image = str(fetch("coral_squat_image"))
    assert divergence_report.main(["st_movenet_heatmaps_192", image]) == 0
    out = capsys.readouterr().out
    assert "first operator where they part: 3 (CONV_2D)" in out and "up to 1 LSB" in out
    assert divergence_report.main(["st_movenet_heatmaps_192", image, "--runtimes", "litert_reference", "tflm"]) == 0
    assert "none (bit-identical)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        divergence_report.main(["st_face_landmarks_192", image, "--runtimes", "ort", "tflm"])
    assert stop.value.code == 2 and "runtime 'tflm' cannot run" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        divergence_report.main(["no/such/model.tflite", image])
    assert stop.value.code == 2 and "model file not found" in capsys.readouterr().err


def test_the_other_jpeg_decoder_keeps_the_samples_and_moves_pixels(mirror, tmp_path):
    parts = protocol.multi_pose((256, 256), "fit", 10)
    coco = parts["COCO test"]
    other = protocol.redecoded(coco, "pillow")
    assert other.batch.ids == coco.batch.ids and other.batch.kind == "fit, COCO, pillow decoder"
    moved = np.abs(other.batch.images.astype(int) - coco.batch.images.astype(int))
    assert 0 < moved.max() < 64 and moved.mean() < 2  # IDCT and chroma upsampling round differently: a level or two
    rec = Recorder("yolov8n_pose", "yolov8n_pose", {}, tmp_path)
    records = runtimes.decoders(runtimes.published("yolov8n_pose_256_pc"), coco, rec)
    assert [r.variant for r in records] == ["decoded by tensorflow", "decoded by pillow"]
    table = runtime_tables.decoders(records, "COCO AP")
    diff = 100 * (records[1].metrics["COCO AP"] - records[0].metrics["COCO AP"])
    assert table.loc["pillow", "vs the mode's own decoder"].startswith(f"{diff:+.2f} (no interval")
    with pytest.raises(ValueError, match="not a COCO person part"):
        protocol.redecoded(protocol.faces()["AFLW2000-3D test"], "pillow")


def _record(variant, scores, metric="OKS"):
    from zoo_helpers.results import Record

    return Record("m", "c", "k", variant, {metric: float(np.mean(scores))}, len(scores), len(scores), {}, {},
                  "host CPU", per_sample={metric: list(map(float, scores))},
                  sample_images=list(range(len(scores))))


def test_steadier_needs_an_agreement_interval_above_zero_and_says_not_distinguishable_for_accuracy():
    rng = np.random.default_rng(0)
    oks = rng.uniform(0.3, 0.9, 200)
    m = runtimes.Matrix(records=[_record("published int8 · litert_xnnpack", oks),
                                 _record("ours · ort", oks + rng.normal(0, 0.01, 200)),
                                 _record("same · ort", oks)])
    steady, shaky = np.full(200, 100.0), np.where(np.arange(200) % 10 == 0, 0.0, 100.0)  # 100 % vs 90 %
    pair = {"A": "ort", "B": "ort_unoptimized", "same cell (%)": 0.0}
    m.pairs = [{"file": "published int8 (as QDQ ONNX)", **pair, "same cell (%)": 90.0, "per image": shaky.tolist()},
               {"file": "ours", **pair, "same cell (%)": 100.0, "per image": steady.tolist()},
               {"file": "same", **pair, "same cell (%)": 90.0, "per image": shaky.tolist()}]
    table = runtime_tables.steadier(m, "OKS")
    assert table.loc["ours", "finding"] == "as accurate (not distinguishable) and steadier"
    assert table.loc["same", "finding"] == "no steadier (not distinguishable), as accurate (not distinguishable)"
    assert table.loc["ours", "difference (95 % CI)"].startswith("+10.00")


def test_an_interval_leaves_out_resamples_where_the_statistic_is_undefined():
    from zoo_helpers.evaluation import uncertainty

    people = np.zeros(20)
    people[0] = 1  # one image of twenty holds a person: about a third of the resamples hold none
    hits = np.zeros(20)
    hits[0] = 1
    ci = uncertainty.resampled(lambda idx: np.nan if people[idx].sum() == 0 else hits[idx].sum() / people[idx].sum(),
                               20, resamples=500)
    assert (ci.value, ci.low, ci.high) == (1.0, 1.0, 1.0)


def test_the_agreement_figure_has_one_labelled_bar_pair_per_runtime_pair(small_matrix):
    m, _, _ = small_matrix
    fig = runtime_tables.agreement(m)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "published int8: XNNPACK vs LiteRT built-in" and len(labels) == len(m.pairs)
    texts = dict(zip(labels, (t.get_text() for t in ax.texts), strict=True))
    assert texts["published int8: LiteRT reference vs TFLM"] == "max 0 LSB"  # bit for bit
    assert texts["Google lightning: LiteRT built-in vs LiteRT reference"] != "max 0 LSB"
