"""Run ``.tflite`` (ai-edge-litert) and ``.onnx`` (onnxruntime) models behind one small API.

:func:`load_model` opens a model and exposes its input and output :class:`~zoo_helpers.runtime.tensors.TensorSpec`
(name, shape, dtype, layout, quantization scale and zero point, per-tensor or per-axis).
:meth:`Model.predict` takes a batch of uint8 RGB images already at the input size, maps
pixels into the model's real-valued input domain with ``rescale`` (``real = pixel * scale +
offset``), applies the input tensor's own quantization (round half away from zero, as
TFLite does: ``zero_point + round(real / scale)``, then clip), runs the model and returns
float outputs, dequantized with each output's own parameters, keyed by output name.

When ``rescale`` is not given for a quantized input, the default is the tensor's own
dequantization, i.e. the raw pixel *is* the quantized value (what the STM32 firmware feeds
from the camera). A float input has no such default: pass ``rescale`` explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo_helpers.registry import catalog
from zoo_helpers.runtime.tensors import TensorSpec, tensor_layout


class ModelFileError(ValueError):
    """The file is not a model this runtime can open."""


#: The most CPU threads a runtime is opened with (the chapters' ``num_threads`` rule says the same): a runtime
#: asked for far more (``10**6``) starts that many threads or crashes when the process exits.
MAX_THREADS = 64


def check_threads(num_threads: int) -> int:
    """``num_threads`` if it is a whole number from 1 to :data:`MAX_THREADS`, else a ``ValueError`` that says so.

    Examples
    --------
    >>> check_threads(2)
    2
    >>> check_threads(10**6)
    Traceback (most recent call last):
    ...
    ValueError: num_threads must be a whole number from 1 to 64 (MAX_THREADS), got 1000000
    """
    if not isinstance(num_threads, int) or isinstance(num_threads, bool) or not 1 <= num_threads <= MAX_THREADS:
        raise ValueError(f"num_threads must be a whole number from 1 to {MAX_THREADS} (MAX_THREADS), "
                         f"got {num_threads!r}")
    return num_threads


class Model:
    """A loaded model: specs, raw invocation and image prediction. Use :func:`load_model`."""

    path: Path
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    num_threads: int
    engine: str = ""

    def __init__(self, path: Path, num_threads: int, rescale: tuple[float, float] | None) -> None:
        self.path, self.num_threads, self.rescale = path, num_threads, rescale

    def __repr__(self) -> str:
        ins = ", ".join(f"{s.name}{list(s.shape)}:{s.dtype}" for s in self.inputs)
        outs = ", ".join(f"{s.name}{list(s.shape)}:{s.dtype}" for s in self.outputs)
        return f"<{type(self).__name__} {self.path.name} in=({ins}) out=({outs})>"

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the single image input."""
        spec = self.inputs[0]
        h, w = (spec.shape[2], spec.shape[3]) if spec.layout == "NCHW" else (spec.shape[1], spec.shape[2])
        return int(w), int(h)

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def invoke(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once on tensors already in the inputs' dtypes; return raw outputs by name."""
        for spec in self.inputs:
            if spec.name not in feed:
                raise ValueError(f"missing input {spec.name!r}; model inputs: {[s.name for s in self.inputs]}")
            arr = feed[spec.name]
            if arr.dtype != spec.dtype:
                raise TypeError(f"input {spec.name!r} must be {spec.dtype}, got {arr.dtype}")
        return self._run(feed)

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """Turn ``(N, H, W, 3)`` uint8 RGB images into the first input's dtype and layout."""
        spec = self.inputs[0]
        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise TypeError(f"predict() takes uint8 RGB images, got dtype {images.dtype}")
        w, h = self.input_size
        if images.ndim != 4 or images.shape[1:] != (h, w, 3):
            raise ValueError(f"expected images of shape (N, {h}, {w}, 3) for {self.path.name}, got {images.shape}")
        if spec.layout == "NCHW":
            images = images.transpose(0, 3, 1, 2)
        rescale = self.rescale
        if spec.dtype == np.uint8 and rescale is None:
            return images  # the raw pixel is the input value (quantized or not), as on the board
        if rescale is None:
            raise ValueError(f"{self.path.name} has a {spec.dtype} input: pass rescale=(scale, offset) to load_model")
        if spec.quantized:
            return spec.quantize(images.astype(np.float64) * rescale[0] + rescale[1])
        return (images.astype(np.float32) * np.float32(rescale[0]) + np.float32(rescale[1])).astype(spec.dtype)

    def predict(self, images: np.ndarray, progress: bool = False) -> dict[str, np.ndarray]:
        """Run a batch of uint8 RGB images and return float outputs keyed by output name.

        Parameters
        ----------
        images
            ``(N, H, W, 3)`` uint8 RGB at the model's input size (see :mod:`zoo_helpers.evaluation.preprocess`).
        progress
            Show a progress bar over the batch.

        Examples
        --------
        >>> from zoo_helpers.registry.assets import fetch
        >>> m = load_model(fetch("movenet_lightning_192_int8"))
        >>> out = m.predict(np.zeros((2, 192, 192, 3), np.uint8))
        >>> next(iter(out.values())).shape
        (2, 1, 17, 3)
        """
        return self._predict_all(self.inputs[0].name, self.prepare(images), progress)

    def predict_array(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Run float inputs (already in the model's real input domain, e.g. normalised ToF frames).

        The first input's own quantization is applied when it is an integer tensor; outputs are
        dequantized. Batched like :meth:`predict` where the model takes a batch.

        Examples
        --------
        >>> from zoo_helpers.registry.assets import fetch
        >>> m = load_model(fetch("movenet_heatmaps_192_int8_pc"))
        >>> next(iter(m.predict_array(np.zeros((1, 192, 192, 3))).values())).shape
        (1, 48, 48, 17)
        """
        spec = self.inputs[0]
        x = np.asarray(x, np.float64)
        if not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[:, 0]
            raise ValueError(f"inputs hold NaN or infinite values (samples {sorted(set(bad.tolist()))[:10]}); "
                             f"{self.path.name} cannot run on them")
        expected = tuple(d or 1 for d in spec.shape[1:])
        if x.shape[1:] != expected:
            raise ValueError(f"expected inputs of shape (N, {', '.join(map(str, expected))}), got {x.shape}")
        feed = spec.quantize(x) if spec.quantized else x.astype(spec.dtype)
        return self._predict_all(spec.name, feed)

    def predict_one(self, x: np.ndarray) -> np.ndarray:
        """The only output of a one-output model: :meth:`predict` for uint8 images, else :meth:`predict_array`."""
        if len(self.outputs) != 1:
            raise ValueError(f"{self.path.name} has {len(self.outputs)} outputs; use predict() and pick one by name")
        x = np.asarray(x)
        out = self.predict(x) if x.dtype == np.uint8 else self.predict_array(x)
        return out[self.outputs[0].name]

    def _predict_all(self, name: str, x: np.ndarray, progress: bool = False) -> dict[str, np.ndarray]:
        """Run every sample of ``x`` (fed as input ``name``): :attr:`batch_size` samples per invoke where the model
        takes a batch (checked once, see :meth:`batching`), else one; dequantized outputs in one array each."""
        from tqdm import tqdm

        step = self._step(name, x)
        results = {spec.name: np.zeros((0, *(d or 0 for d in spec.shape[1:])), np.float32) for spec in self.outputs}
        with tqdm(total=len(x), disable=not progress, desc=self.path.name, unit="img") as bar:
            for start in range(0, len(x), step):
                chunk = x[start:start + step]
                raw = self._run({name: chunk}) if step == 1 else self._run_batch(name, chunk, step)
                for spec in self.outputs:
                    value = spec.dequantize(raw[spec.name])
                    if start == 0:  # one batch array per output, filled in place (no list + concatenate)
                        if value.ndim == 0 or value.shape[0] != step:
                            raise ValueError(f"output {spec.name!r} of shape {value.shape} has no batch axis; "
                                             "use invoke()")
                        results[spec.name] = np.empty((len(x), *value.shape[1:]), np.float32)
                    results[spec.name][start:start + len(chunk)] = value[:len(chunk)]
                bar.update(len(chunk))
        return results

    #: Samples per invoke of :meth:`predict` for a model that takes a batch (1: one sample per invoke).
    batch_size: int = 16

    def batching(self) -> str:
        """How :meth:`predict` runs this model: ``batched (N per invoke)``, or why one sample per invoke.

        A model runs batched when its input's batch axis can be resized (LiteRT's ``resize_tensor_input``, or an
        ONNX graph whose batch axis is made symbolic) and the batched outputs of real samples equal their
        one-sample outputs row by row (within 1e-4 of the output's range, float kernels sum in another order, or
        one quantization step); checked on the first :meth:`predict` of two or more samples, on up to
        :attr:`batch_size` of them.
        """
        if self._batch_state is None:
            return "not checked yet (no predict of two or more samples)"
        return self._batch_state if isinstance(self._batch_state, str) else f"batched ({self.batch_size} per invoke)"

    _batch_state: object = None

    def _step(self, name: str, x: np.ndarray) -> int:
        if len(x) < 2 or self.batch_size < 2 or len(self.inputs) != 1:
            return 1
        if self._batch_state is None:
            self._batch_state = self._check_batch(name, x)
        return 1 if isinstance(self._batch_state, str) else self.batch_size

    def _check_batch(self, name: str, x: np.ndarray):
        rows = min(self.batch_size, len(x))  # every row of a first batch of real samples, each against its own run
        try:
            self._batch_runner = self._batched(self.batch_size)
            both = self._run_batch(name, x[:rows], self.batch_size)
        except Exception as exc:  # the runtimes raise their own types when a batch axis cannot be resized
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            return f"one sample per invoke (the batch axis cannot be resized: {why})"
        short = [s.name for s in self.outputs if np.ndim(both[s.name]) == 0 or len(both[s.name]) != self.batch_size]
        if short:
            return f"one sample per invoke (batched output {short[0]!r} has no batch of {self.batch_size})"
        for i in range(rows):
            one = self._run({name: x[i:i + 1]})
            for spec in self.outputs:
                a, b = spec.dequantize(one[spec.name])[0], spec.dequantize(both[spec.name])[i]
                step = float(np.max(spec.scale)) if spec.quantized else 0.0
                if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=max(step, 1e-4 * np.ptp(a) + 1e-7)):
                    return f"one sample per invoke (batched output {spec.name!r} differs from one-sample output)"
        return True

    def _run_batch(self, name: str, chunk: np.ndarray, step: int) -> dict[str, np.ndarray]:
        """Run ``chunk`` (at most ``step`` samples) in one invoke, padded to ``step`` with its last sample."""
        if len(chunk) < step:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - len(chunk), axis=0)])
        return self._batch_runner({name: np.ascontiguousarray(chunk)})

    def _batched(self, n: int):
        """A function running ``n`` samples per invoke (raises when the model cannot take them)."""
        raise NotImplementedError


#: LiteRT's op resolver of each ``litert_*`` engine (:mod:`zoo_helpers.runtime.engines`).
RESOLVERS = {"litert_xnnpack": "AUTO", "litert_builtin": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
             "litert_reference": "BUILTIN_REF"}


def _litert(path: Path, num_threads: int, engine: str):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    return Interpreter(model_path=str(path), num_threads=num_threads,
                       experimental_op_resolver_type=getattr(OpResolverType, RESOLVERS[engine]))


class TFLiteModel(Model):
    """A ``.tflite`` model run with ai-edge-litert (``engine``: which kernels, see :data:`RESOLVERS`)."""

    def __init__(self, path: Path, num_threads: int, rescale: tuple[float, float] | None,
                 engine: str = "litert_xnnpack") -> None:
        super().__init__(path, num_threads, rescale)
        self.engine = engine
        try:
            self._interp = _litert(path, num_threads, engine)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{path} could not be opened as a TFLite model: {exc}") from exc
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        self.inputs = [self._spec(d) for d in self._in]
        self.outputs = [self._spec(d) for d in self._out]

    @staticmethod
    def _spec(d: dict) -> TensorSpec:
        q = d["quantization_parameters"]
        scale = np.asarray(q["scales"], np.float64)
        shape = tuple(int(v) for v in d["shape"])
        return TensorSpec(d["name"], shape, np.dtype(d["dtype"]), tensor_layout(shape),
                          scale if scale.size else None,
                          np.asarray(q["zero_points"], np.int64) if scale.size else None,
                          int(q["quantized_dimension"]))

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for d in self._in:
            self._interp.set_tensor(d["index"], feed[d["name"]])
        self._interp.invoke()
        return {d["name"]: self._interp.get_tensor(d["index"]) for d in self._out}

    def _batched(self, n: int):
        interp = _litert(self.path, self.num_threads, self.engine)
        first = interp.get_input_details()[0]
        interp.resize_tensor_input(first["index"], [n, *first["shape"][1:]])
        interp.allocate_tensors()
        outs = interp.get_output_details()

        def run(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            interp.set_tensor(first["index"], feed[first["name"]])
            interp.invoke()
            return {d["name"]: interp.get_tensor(d["index"]) for d in outs}

        return run


class OnnxModel(Model):
    """An ``.onnx`` model run with onnxruntime on the CPU (``engine`` ``ort``: graph optimizations on, the
    default; ``ort_unoptimized``: off, so a QDQ graph runs as written, its integer steps simulated in float)."""

    _DTYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8,
               "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(float16)": np.float16}

    def __init__(self, path: Path, num_threads: int, rescale: tuple[float, float] | None,
                 engine: str = "ort") -> None:
        super().__init__(path, num_threads, rescale)
        self.engine = engine
        try:
            self._session = self._open(str(path), 3)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelFileError(f"{path} could not be opened as an ONNX model: {exc}") from exc
        self.inputs = [self._spec(a) for a in self._session.get_inputs()]
        self.outputs = [self._spec(a) for a in self._session.get_outputs()]

    def _open(self, graph, log_level: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.num_threads
        opts.log_severity_level = log_level
        if self.engine == "ort_unoptimized":
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

    def _spec(self, arg) -> TensorSpec:
        shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
        return TensorSpec(arg.name, shape, np.dtype(self._DTYPES.get(arg.type, np.float32)), tensor_layout(shape))

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [s.name for s in self.outputs]
        return dict(zip(names, self._session.run(names, feed), strict=True))

    def _batched(self, n: int):
        import onnx

        graph = onnx.load(str(self.path))
        for value in (graph.graph.input[0], *graph.graph.output):
            value.type.tensor_type.shape.dim[0].dim_param = "batch"
        del graph.graph.value_info[:]  # onnxruntime infers the shapes again, with the symbolic batch
        session = self._open(graph.SerializeToString(), 4)  # a graph that cannot take the batch fails quietly
        names = [s.name for s in self.outputs]
        return lambda feed: dict(zip(names, session.run(names, feed), strict=True))


def load_model(
    path: str | os.PathLike[str],
    num_threads: int = 2,
    rescale: tuple[float, float] | None = None,
    engine: str | None = None,
) -> Model:
    """Open a ``.tflite`` or ``.onnx`` model.

    Parameters
    ----------
    path
        Model file (e.g. from :func:`zoo_helpers.registry.assets.fetch`).
    num_threads
        CPU threads for the runtime, 1 to :data:`MAX_THREADS`.
    rescale
        ``(scale, offset)`` mapping uint8 pixels to the model's real input values; see the module docstring.
    engine
        Which kernels run it: ``litert_xnnpack`` (the default for ``.tflite``), ``litert_builtin`` or
        ``litert_reference``; ``ort`` (the default for ``.onnx``) or ``ort_unoptimized``. TFLM is
        :func:`zoo_helpers.runtime.engines.load`'s.

    Raises
    ------
    ModelFileError
        Unknown extension, or a file that is not a valid model of that format.

    Examples
    --------
    >>> from zoo_helpers.registry.assets import fetch
    >>> load_model(fetch("yolov8n_pose_256_int8_pt")).input_size
    (256, 256)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    check_threads(num_threads)
    suffix = path.suffix.lower()
    with open(path, "rb") as fh:
        head = fh.read(8)
    if suffix == ".tflite":
        if head[4:8] != b"TFL3":
            raise ModelFileError(f"{path} is not a TFLite flatbuffer (no 'TFL3' identifier)")
        return TFLiteModel(path, num_threads, rescale, _engine(engine or "litert_xnnpack", tuple(RESOLVERS), path))
    if suffix == ".onnx":
        return OnnxModel(path, num_threads, rescale, _engine(engine or "ort", ("ort", "ort_unoptimized"), path))
    raise ModelFileError(f"{path}: unsupported model format {suffix!r}; expected .tflite or .onnx")


def names_a_file(arg: str) -> bool:
    """Whether a command-line model argument names a file rather than a catalog key.

    It does when something is there, or when it has a suffix or a folder part (catalog keys have neither), so a
    mistyped path is reported as a missing file, never as an unknown catalog key.

    Examples
    --------
    >>> names_a_file("st_movenet_heatmaps_192"), names_a_file("no/such/model"), names_a_file("model.tflite")
    (False, True, True)
    """
    path = Path(arg)
    return path.exists() or bool(path.suffix) or len(path.parts) > 1


def check_file(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is a whole ``.tflite`` or ``.onnx`` model before a tool reads it; return it as a Path.

    The file must parse as a model of its suffix: a TFLite flatbuffer (``TFL3`` identifier, accepted by LiteRT's
    verifier) or an ONNX protobuf that holds a graph with operators and passes ``onnx.checker``.

    Raises
    ------
    FileNotFoundError
        Nothing is at ``path``.
    ModelFileError
        A folder, another suffix, an empty file, or a file that is not a model of its suffix (an image or text
        renamed, a truncated copy); the message names the file and what is wrong with it.

    Examples
    --------
    >>> from zoo_helpers.registry.assets import fetch
    >>> check_file(fetch("yolov8n_pose_256_int8_pt")).suffix
    '.tflite'
    """
    path = Path(path)
    again = "copy or download it again"
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file; give a .tflite or .onnx file")
    suffix = path.suffix.lower()
    if suffix not in (".tflite", ".onnx"):
        raise ModelFileError(f"{path}: unsupported model format {suffix or '(no suffix)'!r}; expected .tflite or .onnx")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path} is empty (0 bytes), not a model; {again}")
    if suffix == ".tflite":
        with open(path, "rb") as fh:  # the flatbuffer's file identifier: bytes 4 to 8
            head = fh.read(8)
        if head[4:8] != b"TFL3":
            raise ModelFileError(f"{path} is not a TFLite model (no 'TFL3' identifier): another kind of file "
                                 f"named .tflite?")
        from ai_edge_litert.interpreter import Interpreter

        try:
            Interpreter(model_path=str(path))
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{path} is not a whole TFLite model (truncated or damaged?): {_first_line(exc)}; "
                                 f"{again}") from exc
        return path
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except (DecodeError, onnx.checker.ValidationError, ValueError) as exc:
        raise ModelFileError(f"{path} is not a whole ONNX model (truncated, damaged, or another kind of file "
                             f"named .onnx?): {_first_line(exc)}; {again}") from exc
    if not model.graph.node:
        raise ModelFileError(f"{path} holds no ONNX operators (an empty or damaged file?); {again}")
    return path


def _first_line(exc: BaseException) -> str:  # a library's message, on the one line an error report gives it
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def _engine(engine: str, known: tuple[str, ...], path: Path) -> str:
    if engine not in known:
        raise ValueError(f"engine {engine!r} cannot run {path.name}; use one of {', '.join(known)}")
    return engine


def measure_latency(model: Model, runs: int = 20, warmup: int = 3) -> dict[str, float]:
    """Median and spread of single-image invoke time on this machine (host CPU), in ms.

    Examples
    --------
    >>> from zoo_helpers.registry.assets import fetch
    >>> stats = measure_latency(load_model(fetch("movenet_lightning_192_int8")), runs=3)
    >>> sorted(stats)
    ['median ms', 'p90 ms', 'runs', 'threads']
    """
    import time

    if runs < 1:
        raise ValueError("runs must be at least 1")
    spec = model.inputs[0]
    x = np.zeros(tuple(d or 1 for d in spec.shape), spec.dtype)
    for _ in range(warmup):
        model._run({spec.name: x})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model._run({spec.name: x})
        times.append((time.perf_counter() - start) * 1e3)
    return {"median ms": float(np.median(times)), "p90 ms": float(np.percentile(times, 90)),
            "runs": runs, "threads": model.num_threads}


def load(key: str, num_threads: int = 2) -> Any:
    """Open a catalog model (:mod:`zoo_helpers.registry.catalog`) with its input domain applied.

    Returns a :class:`Model` for ``.tflite`` and ``.onnx`` files, a Keras model for the hand-posture ``.h5``
    file. ``num_threads`` is checked first (1 to :data:`MAX_THREADS`), whichever the file.

    Examples
    --------
    >>> load("st_face_landmarks_192").rescale
    (0.00392156862745098, 0.0)
    """
    check_threads(num_threads)
    file = catalog.path(key)
    if file.suffix == ".h5":
        import keras

        return keras.models.load_model(file, compile=False)
    return load_model(file, num_threads=num_threads, rescale=catalog.entry(key).rescale)
