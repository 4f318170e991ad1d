"""Where two runtimes part on one model file: every operator's output compared, in LSB of that tensor.

:func:`operator_outputs` runs one prepared input through a file with one engine
(:mod:`zoo_helpers.runtime.engines`) and keeps every operator's output as the runtime stored it:

- ``.tflite`` with ``litert_builtin`` or ``litert_reference``: LiteRT's interpreter with
  ``experimental_preserve_all_tensors`` (operators in execution order, index as in the file);
- ``.tflite`` with ``tflm``: TFLM's interpreter with ``kPreserveAllTensors``, the same operators and tensors;
- ``.onnx`` with ``ort`` or ``ort_unoptimized``: every ``QuantizeLinear`` output (the int8 activations a QDQ graph
  passes between operators) made a graph output. A graph output cannot be fused away, so for ``ort`` the graph is
  first optimized by onnxruntime and saved, and the taps are added to that graph (run with no further
  optimization): its fused kernels (``QLinearConv``...) write the same tensors under the same names, so both
  engines are compared on the tensors both keep (the optimizer fuses many away), and on the model's outputs
  (listed last, operator ``output``).

``litert_xnnpack`` computes inside its delegate and keeps no per-operator tensors, so it is compared at the
outputs only (:func:`output_steps` gives each output's LSB). :func:`compare` lines two runs up: per operator the
share of elements that differ and the largest difference in LSB (integer tensors differ in whole steps; a float
tensor's difference is divided by its quantization step where the file gives one), and :func:`first_parting`
the first operator where they part.

Examples
--------
>>> from zoo_helpers.registry import catalog
>>> path = catalog.path("st_movenet_heatmaps_192")
>>> x = np.full((1, 192, 192, 3), 128, np.uint8)
>>> rows = compare(operator_outputs(path, x, "litert_reference"), operator_outputs(path, x, "tflm"))
>>> first_parting(rows) is None, len(rows)
(True, 88)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo_helpers.runtime.models import RESOLVERS
from zoo_helpers.runtime.tflm import _guarded, interpreter


@dataclass
class OpTensor:
    """One operator's output as a runtime stored it: ``values`` raw (int8 for a quantized tensor), ``scale`` its
    quantization step in real units (the largest, per-axis), ``None`` for a float tensor without one."""

    index: int
    op: str
    name: str
    values: np.ndarray
    scale: float | None


def _tflite(path: Path, x: np.ndarray, engine: str) -> list[OpTensor]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = RESOLVERS["litert_reference" if engine == "tflm" else engine]
    interp = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=getattr(OpResolverType, resolver))
    interp.allocate_tensors()
    first = interp.get_input_details()[0]
    if engine == "tflm":
        m = interpreter(path, preserve=True)
        m.set_input(np.ascontiguousarray(x), 0)
        _guarded(path, m.invoke)
        read = lambda i: np.array(m.GetTensor(int(i), 0)["tensor_data"])  # noqa: E731
    else:
        interp.set_tensor(first["index"], np.ascontiguousarray(x))
        interp.invoke()
        read = lambda i: np.array(interp.get_tensor(int(i)))  # noqa: E731
    out = []
    for op in interp._get_ops_details():
        for t in op["outputs"]:
            d = interp._get_tensor_details(int(t), 0)
            scales = d["quantization_parameters"]["scales"]
            out.append(OpTensor(int(op["index"]), op["op_name"], d["name"], read(t),
                                float(np.max(scales)) if len(scales) else None))
    return out


def _onnx(path: Path, x: np.ndarray, engine: str) -> list[OpTensor]:
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    graph = onnx.load(str(path))
    consts = {t.name: numpy_helper.to_array(t) for t in graph.graph.initializer}
    producer = {o: n.op_type for n in graph.graph.node for o in n.output}
    taps = []
    for i, node in enumerate(graph.graph.node):
        if node.op_type == "QuantizeLinear" and node.input[1] in consts:
            zero = consts.get(node.input[2]) if len(node.input) > 2 else None
            elem = onnx.helper.np_dtype_to_tensor_dtype(zero.dtype if zero is not None else np.dtype(np.uint8))
            taps.append((i, producer.get(node.input[0], "input"), node.output[0], float(np.max(consts[node.input[1]])),
                         elem))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if engine == "ort":
        # a tensor made a graph output cannot be fused away, so tapping the graph as written would stop the fusions
        # being compared: let onnxruntime optimize it first, save that graph, and tap it with no further change
        with tempfile.TemporaryDirectory() as tmp:
            first = ort.SessionOptions()
            first.log_severity_level = 3
            first.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
            ort.InferenceSession(str(path), first, providers=["CPUExecutionProvider"])
            graph = onnx.load(first.optimized_model_filepath)
    made = {o for n in graph.graph.node for o in n.output}
    known = {o.name for o in graph.graph.output}
    taps = [t for t in taps if t[2] in made]  # a tensor folded away by the optimizer has nothing to compare
    for _, _, name, _, elem in taps:
        if name not in known:
            graph.graph.output.append(onnx.helper.make_tensor_value_info(name, elem, None))
    session = ort.InferenceSession(graph.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    # the model's own outputs come last (after every node), each with its LSB (output_steps)
    ends = [(len(graph.graph.node), "output", name, step, None) for name, step in output_steps(path).items()]
    taps = [t for t in taps if t[2] not in dict.fromkeys(e[2] for e in ends)] + ends
    names = [t[2] for t in taps]
    values = dict(zip(names, session.run(names, {session.get_inputs()[0].name: x}), strict=True))
    return [OpTensor(i, op, name, values[name], scale) for i, op, name, scale, _ in taps]


def operator_outputs(path: str | os.PathLike[str], x: np.ndarray, engine: str) -> list[OpTensor]:
    """Every operator's output of one run of ``x`` (one sample, already in the input's dtype and layout).

    Raises
    ------
    ValueError
        ``engine`` keeps no per-operator tensors (``litert_xnnpack``) or does not take this file.
    """
    path = Path(path)
    tflite = ("litert_builtin", "litert_reference", "tflm")
    if path.suffix == ".tflite" and engine in tflite:
        return _tflite(path, x, engine)
    if path.suffix == ".onnx" and engine in ("ort", "ort_unoptimized"):
        return _onnx(path, x, engine)
    kinds = tflite if path.suffix == ".tflite" else ("ort", "ort_unoptimized")
    why = " (XNNPACK computes inside its delegate: compare it at the outputs)" if engine == "litert_xnnpack" else ""
    raise ValueError(f"no per-operator tensors of {path.name} with {engine!r}; use one of {', '.join(kinds)}{why}")


def lsb(a: np.ndarray, b: np.ndarray, scale: float | None) -> np.ndarray:
    """``|a - b|`` in steps of the tensor: integer tensors as they are, float ones divided by ``scale`` (if any).

    Examples
    --------
    >>> lsb(np.array([3, -128], np.int8), np.array([4, 127], np.int8), 0.5).tolist()
    [1.0, 255.0]
    >>> lsb(np.array([0.5]), np.array([0.75]), 0.25).tolist()
    [1.0]
    """
    diff = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    integer = np.issubdtype(np.asarray(a).dtype, np.integer)
    return diff if integer or not scale else diff / scale


def compare(a: list[OpTensor], b: list[OpTensor]) -> list[dict]:
    """Operator by operator (tensors matched by name): elements, % that differ, largest difference in LSB."""
    theirs = {t.name: t for t in b}
    rows = []
    for t in a:
        if t.name not in theirs:
            continue
        other = theirs[t.name].values
        if other.shape != t.values.shape:
            raise ValueError(f"tensor {t.name!r}: shapes {t.values.shape} and {other.shape} differ")
        steps = lsb(t.values, other, t.scale)
        rows.append({"operator": t.index, "op": t.op, "tensor": t.name, "elements": int(steps.size),
                     "differ (%)": float(100.0 * np.mean(steps > 0.5 if t.scale or steps.dtype.kind == "f" else
                                                         steps > 0)),
                     "max diff (LSB)": float(steps.max()) if steps.size else 0.0, "scale": t.scale})
    return rows


def first_parting(rows: list[dict]) -> dict | None:
    """The first row of :func:`compare` whose tensors differ, or ``None`` when the runs are bit-identical."""
    return next((r for r in rows if r["differ (%)"] > 0), None)


def output_steps(path: str | os.PathLike[str]) -> dict[str, float | None]:
    """Each output's LSB in its own real units: its quantization step, or that of the int8 tensor a final
    Dequantize(Linear) reads; ``None`` for an output with neither (a float model).

    Examples
    --------
    >>> from zoo_helpers.registry import catalog
    >>> steps = output_steps(catalog.path("st_movenet_heatmaps_192"))
    >>> [round(v, 6) for v in steps.values()]
    [0.003906]
    """
    path = Path(path)
    if path.suffix == ".onnx":
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(path)).graph
        consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        made = {o: n for n in graph.node for o in n.output}
        out: dict[str, float | None] = {}
        for o in graph.output:
            node = made.get(o.name)
            ok = node is not None and node.op_type == "DequantizeLinear" and node.input[1] in consts
            out[o.name] = float(np.max(consts[node.input[1]])) if ok else None
        return out
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    made = {int(t): op for op in interp._get_ops_details() for t in op["outputs"]}
    out = {}
    for d in interp.get_output_details():
        scales = d["quantization_parameters"]["scales"]
        op = made.get(int(d["index"]))
        if not len(scales) and op is not None and op["op_name"] == "DEQUANTIZE":
            scales = interp._get_tensor_details(int(op["inputs"][0]), 0)["quantization_parameters"]["scales"]
        out[d["name"]] = float(np.max(scales)) if len(scales) else None
    return out
