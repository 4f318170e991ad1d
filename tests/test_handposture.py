"""Hand posture: ST's preprocessing on the real dataset, the topology, training, int8, the F401 stream."""

import numpy as np
import pytest
import serial

from zoo_helpers.board import tof
from zoo_helpers.cards import handposture as hp
from zoo_helpers.registry.assets import extract


@pytest.fixture(scope="module")
def logs(mirror):
    return hp.load_logs(extract("tof_handposture_dataset"))


def _st_loop(zone_data, max_d=400, min_d=100, bg=120):
    """ST's loader written as ST wrote it (a loop over frames and zones), for comparison only."""
    keep, out = [], []
    for t in range(zone_data.shape[2]):
        valid = [zone_data[0, j, t] in (5, 9) for j in range(64)]
        nearest = 4000.0
        for j in range(64):
            if valid[j] and zone_data[3, j, t] < nearest:
                nearest = zone_data[3, j, t]
        ok = min_d <= nearest <= max_d
        keep.append(ok)
        if not ok:
            continue
        frame = np.zeros((64, 2))
        for j in range(64):
            v = valid[j] and zone_data[3, j, t] <= nearest + bg
            d, s = (zone_data[3, j, t], zone_data[2, j, t]) if v else (4000, 0)
            frame[j] = [(d - 295) / 196, (s - 281) / 452]
        out.append(frame.reshape(8, 8, 2))
    return np.array(out, np.float32), np.array(keep)


def test_keeps_exactly_the_frames_st_keeps(logs):
    x, keep = hp.preprocess(logs.zone_data)
    assert logs.zone_data.shape[2] == 11448 and keep.sum() == 11443 and x.shape == (11443, 8, 8, 2)
    y = hp.class_indices(logs.labels[keep])
    assert np.bincount(y).tolist() == [382, 1738, 1580, 1274, 1686, 1243, 1266, 2274]
    assert sorted(np.unique(logs.users)) == [1, 2, 3, 4]
    ref_x, ref_keep = _st_loop(logs.zone_data[:, :, :600])
    x600, keep600 = hp.preprocess(logs.zone_data[:, :, :600])
    assert np.array_equal(keep600, ref_keep) and np.allclose(x600, ref_x)


def test_classes_follow_evk_ids():
    assert [c[0] for c in hp.CLASSES] == ["None", "FlatHand", "Like", "Love", "Dislike", "BreakTime", "CrossHands",
                                          "Fist"]
    assert hp.class_indices(np.array([32, 0, 21])).tolist() == [7, 0, 2]
    with pytest.raises(ValueError, match="unknown EVK label ids \\[99\\]"):
        hp.class_indices(np.array([99]))


def test_topology_trains_and_quantizes_through_the_recipes(logs, tmp_path):
    from zoo_helpers.quant import recipes

    x, keep = hp.preprocess(logs.zone_data)
    y = hp.class_indices(logs.labels[keep])
    model = hp.build_model()
    assert model.count_params() == 2752
    train, val = hp.frame_split(len(x))
    assert not set(train) & set(val) and len(val) == round(0.2 * len(x))
    model.fit(x[train], y[train], epochs=3, batch_size=64, verbose=0)
    float_acc = (model.predict(x[val], verbose=0).argmax(1) == y[val]).mean()
    assert float_acc > 0.7
    made = recipes.make(model, tmp_path, x[train][:200], "default")  # a Keras model keeps the tflite recipes
    assert list(made.recipes) == ["int8 per-channel", "int8 per-tensor"] and made.reference == "float (Keras)"
    for label in made.recipes:
        int8 = made.models[label]
        assert int8.inputs[0].dtype == np.int8 and int8.path.suffix == ".tflite"
        scores = next(iter(int8.predict_array(x[val]).values()))
        assert abs((scores.argmax(1) == y[val]).mean() - float_acc) < 0.05
    with pytest.raises(ValueError, match="do not apply to a Keras model"):
        recipes.make(model, tmp_path, x[train][:20], "minmax_pc")


def test_firmware_header():
    h = hp.firmware_header()
    assert '#define NB_CLASSES (8)' in h and "{0, 20, 21, 24, 25, 27, 28, 32}" in h
    assert '"None", "FlatHand"' in h and "#define NORMALIZATION_RANGING_IQR (196)" in h


def _records(logs, n):
    return [tof.format_ran_record(t, logs.zone_data[:, :, t], int(logs.labels[t])) for t in range(n)]


@pytest.fixture()
def pty_port():
    """A real pyserial port on a pseudo-terminal, and a function that writes bytes to its other end."""
    import os
    import threading
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    port = serial.Serial(os.ttyname(slave), tof.BAUD, timeout=0.5)
    threads = []

    def send(data: bytes) -> None:  # a thread: the pty buffer is smaller than the stream
        t = threading.Thread(target=lambda: [os.write(master, data[i:i + 512]) for i in range(0, len(data), 512)])
        t.start()
        threads.append(t)

    yield port, send
    for t in threads:
        t.join(5)
    port.close()
    os.close(master)


def test_stream_round_trip_with_faults(logs, pty_port):
    port, send = pty_port
    recs = _records(logs, 6)
    corrupt = recs[3].replace(b",0,1,", b",0,x,", 1)
    terminal = b"Hand Posture = #2 Like\r\n" + b"".join(
        f"Class #{i} {n} : {0.9 if i == 2 else 0.0125}\r\n".encode() for i, (n, _) in enumerate(hp.CLASSES))
    send(b"\x1b[2J\x1b[H" + recs[0] + recs[1] + recs[2][:500] + b"\r\n" + corrupt + recs[4] + terminal
         + b"Hand Posture = #0 None\r\n" + recs[5][:300])
    reader = tof.StreamReader(port, idle_timeout=1.0)
    events = list(reader.events())
    frames = [e for e in events if isinstance(e, tof.Frame)]
    errors = [e for e in events if isinstance(e, tof.StreamError)]
    preds = [e for e in events if isinstance(e, tof.Prediction)]
    assert [f.frame for f in frames] == [0, 1, 4]
    for f in frames:
        assert np.array_equal(f.zones[[0, 2, 3]], logs.zone_data[[0, 2, 3], :, f.frame])
        assert f.label == logs.labels[f.frame]
    assert len(errors) == 3  # short record, corrupt field, trailing partial line
    assert preds[0].name == "Like" and preds[0].scores["Like"] == 0.9 and len(preds[0].scores) == 8


class _Unplugged:
    """A port that delivers some lines, then fails like a board pulled off USB."""

    port = "/dev/ttyACM0"
    timeout = 0.1

    def __init__(self, lines):
        self.lines = list(lines)

    def readline(self, size=-1):  # pyserial's signature: the reader bounds every line
        if self.lines:
            return self.lines.pop(0)
        raise serial.SerialException("device reports readiness to read but returned no data")


def test_unplugged_port_is_a_clear_error_and_nothing_is_lost(logs, tmp_path):
    reader = tof.StreamReader(_Unplugged(_records(logs, 4)))
    log = tof.FrameLogger(tmp_path / "log.npz", flush_every=100)
    with pytest.raises(ConnectionError, match="/dev/ttyACM0"):
        for event in reader.events():
            log.add(event)
    saved = log.flush()
    back = hp.load_logs(saved.parent)
    assert back.zone_data.shape == (4, 64, 4)
    assert np.array_equal(back.zone_data[[0, 2, 3]], logs.zone_data[[0, 2, 3], :, :4])


def test_classify_live_frames(logs):
    model = hp.build_model()
    names = hp.classify(logs.zone_data[:, :, :5], lambda f: model.predict(f, verbose=0))
    assert len(names) == 5 and all(n in [c[0] for c in hp.CLASSES] + ["(no hand in range)"] for n in names)


def test_replay_port_streams_dataset_frames(logs):
    picks = np.arange(0, 3000, 300)
    with tof.open_source("", logs.zone_data[:, :, picks], logs.labels[picks]) as port:
        frames = [e for e in tof.StreamReader(port).events(limit=len(picks))]
    assert all(isinstance(f, tof.Frame) for f in frames) and len(frames) == len(picks)
    assert np.array_equal(np.stack([f.zones[3] for f in frames], 1), logs.zone_data[3][:, picks])


def test_leave_one_user_out_scores_every_user(logs):
    x, keep = hp.preprocess(logs.zone_data)
    y, users = hp.class_indices(logs.labels[keep]), logs.users[keep]
    sub = np.arange(0, len(x), 4)  # a quarter of the frames keeps this quick
    louo = hp.leave_one_user_out(x[sub], y[sub], users[sub], epochs=1)
    assert sorted(louo) == [1, 2, 3, 4] and all(0.1 < a <= 1.0 for a in louo.values())


def test_a_truncated_log_names_the_file_and_how_to_recover(logs, tmp_path, monkeypatch):
    import shutil

    from zoo_helpers.registry.assets import AssetError

    for f in logs.files[:2]:  # two logs in their session folders, the second cut in half
        (tmp_path / f.parent.name).mkdir(exist_ok=True)
        shutil.copy(f, tmp_path / f.parent.name / f.name)
    cut = tmp_path / logs.files[1].parent.name / logs.files[1].name
    cut.write_bytes(cut.read_bytes()[:cut.stat().st_size // 2])
    with pytest.raises(AssetError, match=rf"{cut}.*truncated or damaged. Replace it with a good copy"):
        hp.load_logs(tmp_path)
    monkeypatch.setattr(hp, "extract", lambda name: tmp_path)  # the same damage inside the extracted dataset
    with pytest.raises(AssetError, match=rf"{cut}.*Delete the extracted dataset folder {tmp_path}"):
        hp.load_logs()
    np.savez(cut, frames=np.zeros((2, 64)))  # a whole .npz of another layout is not called damaged
    with pytest.raises(AssetError, match=rf"{cut} \(KeyError.*not a VL53L8 log"):
        hp.load_logs(tmp_path)


def test_stream_logs_are_kept_under_the_results_folder_one_folder_per_run(logs, tmp_path):
    import json
    from pathlib import Path

    from zoo_helpers.results import Recorder

    run = Recorder("hand_posture", "cnn2d_st_handposture", {}, tmp_path)
    paths = [hp.stream_log_path(run, port) for port in ("", "", "/dev/ttyACM0")]
    assert len({p.parent for p in paths}) == 3 and paths[2].parent.name.endswith("-board")
    assert all(p.is_relative_to(tmp_path / "hand_posture" / "stream_logs") for p in paths)
    log = tof.FrameLogger(paths[0])
    for t in range(3):
        log.add(tof.Frame(t, t, int(logs.labels[t]), logs.zone_data[:, :, t], np.ones(64, int)))
    assert hp.load_logs(paths[0].parent).zone_data.shape == (4, 64, 3)
    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "hand_posture.ipynb").read_text())
    cell = next("".join(c["source"]) for c in nb["cells"] if "tof.FrameLogger(" in "".join(c["source"]))
    assert "handposture.stream_log_path(run, port)" in cell and "workdir" not in cell  # never the emptied work dir
