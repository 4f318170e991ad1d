"""ToF stream reader and logger on bad input: each bad line is a StreamError event, reading goes on, nothing lost."""

import time
import tracemalloc

import numpy as np
import pytest
import serial

from zoo_helpers.board import tof


def _zones(t):
    z = np.zeros((4, 64))
    z[0], z[1], z[2], z[3] = 5, 1, 300 + t, 200 + np.arange(64) + t  # status, valid, signal, distance
    return z


def _record(t, **override):
    """Record ``t``; ``override`` maps a zone field index (0-383, in the CSV order) to replacement text."""
    rec = tof.format_ran_record(t, _zones(t), 21).decode()
    fields = rec.rstrip("\r\n").split(",")
    for k, text in override.items():
        fields[-384 + int(k[1:])] = text
    return (",".join(fields) + "\r\n").encode()


class _Lines:
    """A port that hands out given bytes through ``readline(size)`` like pyserial, then goes quiet or fails."""

    port, timeout = "/dev/ttyACM0", 0.01

    def __init__(self, data: bytes, fail: bool = False):
        self.data, self.fail = data, fail

    def readline(self, size=-1):
        if not self.data:
            if self.fail:
                raise serial.SerialException("device reports readiness to read but returned no data")
            return b""
        end = self.data.find(b"\n") + 1 or len(self.data)
        end = end if size is None or size < 0 else min(end, size)
        line, self.data = self.data[:end], self.data[end:]
        return line


def _events(data: bytes, **options):
    return list(tof.StreamReader(_Lines(data), idle_timeout=0.05, **options).events())


def _kinds(events):
    return [type(e).__name__ if not isinstance(e, tof.Frame) else e.frame for e in events]


@pytest.mark.parametrize("cut", ["mid-field", "after-comma", "all-but-the-end"])
def test_half_a_record_then_a_full_one_is_an_error_and_the_full_one_is_kept(cut):
    rec = _record(2)
    half = rec[:{"mid-field": 500, "after-comma": rec.index(b",", 500) + 1, "all-but-the-end": -3}[cut]]
    events = _events(_record(1) + half + _record(3) + _record(4))
    assert _kinds(events) == [1, "StreamError", 3, 4]
    assert "second record" in str(events[1])
    assert np.array_equal(events[2].zones[[0, 2, 3]], _zones(3)[[0, 2, 3]])  # the intact record, not a mix


def test_a_cut_line_of_other_text_before_a_record_is_an_error_and_the_record_is_kept():
    events = _events(b"Hand Posture = #2 Li" + _record(5))
    assert _kinds(events) == ["StreamError", 5]


@pytest.mark.parametrize(("field", "value"), [(2, "-7"), (3, "-1"), (1, "-1")])
def test_negative_zone_values_are_errors(field, value):
    events = _events(_record(1, **{f"z{6 * 10 + field}": value}) + _record(2))  # zone 10: targets, distance, signal
    assert _kinds(events) == ["StreamError", 2]
    assert "negative value in zone 10" in str(events[0])
    if field == 2:  # without a valid target (status 0, 2, 4...) the sensor sends placeholders, -544 mm in the dataset
        assert _kinds(_events(_record(1, z60="0", z62="-525"))) == [1]


def test_a_zone_value_too_large_for_64_bits_is_an_error_and_reading_goes_on():
    events = _events(_record(1, z2="1" * 23) + _record(2) + _record(3))
    assert _kinds(events) == ["StreamError", 2, 3]
    assert "64 bits" in str(events[0])


@pytest.mark.parametrize("score", ["-", "1e", "1.2.3", "+", "1e999"])
def test_class_scores_that_are_not_numbers_are_errors(score):
    def prediction(index, bad=None):
        lines = [f"Hand Posture = #{index} Like"] + [f"Class #{i} c{i} : {bad if bad and i == 3 else 0.125}"
                                                     for i in range(8)]
        return "".join(f"{line}\r\n" for line in lines).encode()

    events = _events(prediction(2, bad=score) + prediction(5) + b"Hand Posture = #0 None\r\n")
    assert _kinds(events) == ["StreamError", "Prediction"]
    assert f"class score {score!r} of 'c3' is not a number" in str(events[0]) and "#2" in str(events[0])
    assert events[1].index == 5 and len(events[1].scores) == 8


class _EndlessLine:
    """A port sending a line of ``size`` bytes, made on demand (never held whole), then ``after``."""

    port, timeout = "/dev/ttyACM0", 0.01

    def __init__(self, size: int, after: bytes):
        self.left, self.tail = size, _Lines(after)

    def readline(self, size=-1):
        if not self.left:
            return self.tail.readline(size)
        n = self.left if size is None or size < 0 else min(size, self.left)
        self.left -= n
        whole = size is None or size < 0 or n < size  # room left in this read for the end of the line
        return b"7" * n + (self.tail.readline(size - n if size and size > 0 else -1) if not self.left and whole
                           else b"")


def test_an_over_long_line_is_dropped_in_bounded_memory():
    port = _EndlessLine(64 << 20, b"\n" + _record(1))
    tracemalloc.start()
    try:
        events = list(tof.StreamReader(port, idle_timeout=0.05).events())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert _kinds(events) == ["StreamError", 1]
    assert f"longer than {tof.MAX_LINE} bytes" in str(events[0])
    assert peak < 4 << 20, f"peak {peak / 2**20:.1f} MiB for a 64 MiB line"


def test_a_board_unplugged_after_5_frames_leaves_5_frames_on_disk(tmp_path):
    data = b"".join(_record(t) for t in range(5))
    log = tof.FrameLogger(tmp_path / "log.npz")
    with pytest.raises(ConnectionError, match="/dev/ttyACM0"):
        for event in tof.StreamReader(_Lines(data, fail=True)).events():
            log.add(event)
    saved = np.load(tmp_path / "log.npz")  # no flush called: the file on disk is already current
    assert saved["zone_data"].shape == (4, 64, 5) and saved["glob_data"].shape == (1, 5)
    assert np.array_equal(saved["zone_data"][3, :, 4], _zones(4)[3])

    with pytest.raises(ConnectionError):  # a logger that flushes rarely still writes everything on exit
        with tof.FrameLogger(tmp_path / "rare.npz", flush_every=100) as rare:
            for event in tof.StreamReader(_Lines(data, fail=True)).events():
                rare.add(event)
    assert np.load(tmp_path / "rare.npz")["zone_data"].shape == (4, 64, 5)


def test_the_log_on_disk_is_current_after_every_add_and_stays_cheap_for_60_frames(tmp_path):
    frames = _events(b"".join(_record(t) for t in range(60)))
    log = tof.FrameLogger(tmp_path / "log.npz")
    elapsed = 0.0
    for n, frame in enumerate(frames, 1):
        start = time.perf_counter()
        log.add(frame)
        elapsed += time.perf_counter() - start
        if n in (1, 7, 33, 60):
            assert np.load(tmp_path / "log.npz")["zone_data"].shape == (4, 64, n)
    assert elapsed < 1.0, f"60 adds took {elapsed:.2f} s"
