"""Where each operator of a ``.tflite`` or QDQ ``.onnx`` model runs on the STM32N6 and the STM32MP2, and why.

Units: ``n6`` (ST Neural-ART) ``npu`` or ``mcu`` (Cortex-M55 software); ``mp2`` (GCNanoUltra31-VIP) ``npu``, ``gpu``
(shader) or ``cpu``. The rules are data (``data/placement_rules.yaml``, each with the sources it was ``built_from``
and an ``inferred`` flag); this code computes each operator's facts (float, weight granularity, kernel, resize
mode...) and takes each target's first matching rule, else ``unknown``; ``folded`` = Q/DQ and constants a compiler
removes. MACs are counted as in :mod:`zoo_helpers.runtime.footprint`; shares are of MACs, the MP2 cards' %NPU / %GPU
of time (:func:`published_mp2`). The same file's ``checks`` name the sources each check is ``checked_against``;
:func:`provenance` says, per check and file, whether that is agreement or only consistency (a rule behind the verdict
was built from the very source it is checked against). CLI: ``zoo-placement MODEL [--json]``
(:mod:`zoo_helpers.deploy.placement_report`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo_helpers.registry import catalog, published
from zoo_helpers.runtime import models

if TYPE_CHECKING:
    import pandas as pd

CASTS = ("QUANTIZE", "DEQUANTIZE", "QuantizeLinear", "DequantizeLinear")
CONV = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL", "Conv", "ConvTranspose",
        "Gemm", "MatMul")


@cache
def rules() -> dict[str, Any]:
    """The rules file ``zoo_helpers/data/placement_rules.yaml``, parsed."""
    import yaml
    return yaml.safe_load(resources.files("zoo_helpers").joinpath("data/placement_rules.yaml").read_text())


@dataclass(frozen=True)
class Verdict:
    """Where one operator runs on one target, and the rule (id, sources it was built from, inferred or not) that
    says so."""
    unit: str
    reason: str
    rule: str | None
    built_from: str
    inferred: bool


@dataclass(frozen=True)
class Operator:
    """One operator: position, type, name (its first output), MACs, facts and a verdict per target."""
    index: int
    op: str
    name: str
    macs: int
    facts: dict[str, Any]
    verdicts: dict[str, Verdict]


def _holds(want: Any, have: Any) -> bool:  # a value, a list of accepted values, or {min: n} / {max: n}
    return have is not None and (want.get("min", have) <= have <= want.get("max", have) if isinstance(want, dict)
                                 else have in want if isinstance(want, list) else have == want)


def decide(target: str, op: str, facts: dict[str, Any], flags: tuple[str, ...] = (),
           data: dict[str, Any] | None = None) -> Verdict:
    """The first rule of ``target`` matching an operator's facts, or unit ``unknown`` when none does.

    Examples
    --------
    >>> decide("n6", "RESIZE_BILINEAR", {"mode": "linear"}).unit, decide("mp2", "MYSTERY_OP", {}).unit
    ('mcu', 'unknown')
    """
    data = data or rules()
    for r in data["rules"][target]:
        ops = {o for g in r.get("ops", []) for o in (data["groups"][g[1:]] if g.startswith("@") else [g])}
        if ((not ops or op in ops) and ("flag" not in r or r["flag"] in flags)
                and all(_holds(want, facts.get(key)) for key, want in r.get("when", {}).items())):
            return Verdict(r["unit"], r["reason"], r["id"], ", ".join(r["built_from"]), bool(r["inferred"]))
    return Verdict("unknown", f"no rule for operator {op}", None, "", True)


def _base(dtypes_in: list, dtypes_out: list, **more: Any) -> dict[str, Any]:  # facts from data dtypes, both formats
    kinds_in, kinds_out = ([np.dtype(d).str[1:] for d in ds] for ds in (dtypes_in, dtypes_out))  # "f4", "i1"...
    f = {"float_in": any(k[0] == "f" for k in kinds_in), "float_out": any(k[0] == "f" for k in kinds_out),
         "const_only": not kinds_in, "int_wide": any(k in ("i4", "i8") for k in kinds_in + kinds_out),
         "custom": False, "absorbed": False, **more}
    f["float"] = f["float_in"] or f["float_out"]
    return f


def _tflite(path: Path) -> list[tuple[str, str, int, dict[str, Any]]]:
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))  # tensors and operators as zoo_helpers.runtime.footprint reads them
    det, ops = {d["index"]: d for d in interp.get_tensor_details()}, interp._get_ops_details()
    model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)  # for builtin options and constant data
    bufs, tensors = model.buffers, model.subgraphs[0].tensors
    g_in, g_out = ({d["index"] for d in ds} for ds in (interp.get_input_details(), interp.get_output_details()))
    produced = {int(t) for op in ops for t in op["outputs"]}
    out = []
    for k, op in enumerate(ops):
        name, opts = op["op_name"], model.subgraphs[0].operators[k].builtinOptions
        ins, outs = [int(t) for t in op["inputs"] if t >= 0], [int(t) for t in op["outputs"]]
        data = [t for t in ins if t in produced or t in g_in]
        f = _base([det[t]["dtype"] for t in data], [det[t]["dtype"] for t in outs], custom=name == "CUSTOM",
                  graph_input=bool(g_in & set(ins)), graph_output=bool(g_out & set(outs)))
        macs, out_elems = 0, int(np.prod(det[outs[0]]["shape"]))
        if name in CONV and len(ins) > 1:  # MACs as zoo_helpers.runtime.footprint counts them
            w, ws = ins[1], det[ins[1]]["shape"]
            f["weights"] = ("activation" if w in data else "float" if np.dtype(det[w]["dtype"]).kind == "f" else
                            "per-channel" if len(det[w]["quantization_parameters"]["scales"]) > 1 else "per-tensor")
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"):  # weights [cout|1, kh, kw, cin]
                f.update(kernel_h=int(ws[1]), kernel_w=int(ws[2]), stride_w=int(getattr(opts, "strideW", 1)))
                macs = out_elems * int(ws[1] * ws[2] * (1 if name == "DEPTHWISE_CONV_2D" else ws[3]))
            elif name == "FULLY_CONNECTED":
                macs = out_elems * int(ws[-1])
        if name in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            f.update(window_h=int(opts.filterHeight), window_w=int(opts.filterWidth))
        if name in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"):
            f.update(mode="nearest" if name.endswith("NEIGHBOR") else "linear",
                     coordinate="align_corners" if opts.alignCorners else "half_pixel" if opts.halfPixelCenters
                     else "asymmetric", nearest_mode="round" if opts.alignCorners else "floor")
        if name in ("MEAN", "REDUCE_MAX") and len(ins) > 1 and ins[1] not in data:  # axes from the constant
            axes = np.asarray(bufs[tensors[ins[1]].buffer].data, np.uint8).view(det[ins[1]]["dtype"])
            f["global_pool"] = len(det[ins[0]]["shape"]) == 4 and {int(a) % 4 for a in axes} == {1, 2}
        out.append((name, det[outs[0]]["name"], macs, f))
    return out


def _onnx(path: Path) -> list[tuple[str, str, int, dict[str, Any]]]:
    import onnx
    from onnx import helper, numpy_helper

    graph = onnx.shape_inference.infer_shapes(onnx.load(str(path))).graph
    nodes = [n for n in graph.node if n.op_type != "Constant"]
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consts |= {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node if n.op_type == "Constant"}
    wdq = {n.output[0]: n for n in nodes if n.op_type == "DequantizeLinear" and n.input[0] in consts}
    types = {v.name: v.type.tensor_type for v in [*graph.value_info, *graph.input, *graph.output]}
    dtype = {v: helper.tensor_dtype_to_np_dtype(t.elem_type) for v, t in types.items()}
    g_in, g_out = {i.name for i in graph.input if i.name not in consts}, {o.name for o in graph.output}
    made = {o: k for k, n in enumerate(nodes) for o in n.output}  # tensor -> producing node
    used: dict[str, list[int]] = {}  # tensor -> consuming nodes
    for k, i in ((k, i) for k, n in enumerate(nodes) for i in n.input):
        used.setdefault(i, []).append(k)
    data = [[i for i in n.input if i and i not in consts and i not in wdq] for n in nodes]
    ins_int = [all(i in made and nodes[made[i]].op_type == "DequantizeLinear" for i in d) for d in data]
    outs_int = [all(o not in g_out and used.get(o) and all(nodes[c].op_type == "QuantizeLinear" for c in used[o])
                    for o in n.output) for n in nodes]  # in a QDQ graph: computed in integer between DQ and Q
    integer = {k for k, n in enumerate(nodes) if n.op_type not in CASTS and ins_int[k] and outs_int[k]}
    out = []
    for k, n in enumerate(nodes):
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        f = _base([dtype.get(i, np.float32) for i in data[k]], [dtype.get(o, np.float32) for o in n.output],
                  graph_input=bool(g_in & set(n.input)), graph_output=bool(g_out & set(n.output)))
        if n.op_type == "QuantizeLinear":
            f.update(float_in=True, float_out=False, absorbed=made.get(n.input[0]) in integer)
        elif n.op_type == "DequantizeLinear":
            absorbed = not f["graph_output"] and set(used.get(n.output[0], ())) <= integer
            f.update(float_in=False, float_out=True, absorbed=absorbed)
        elif f["float_in"] or f["float_out"]:
            f.update(float_in=not ins_int[k], float_out=not outs_int[k])
        f["float"] = f["float_in"] or f["float_out"]
        tt, macs = types.get(n.output[0]), 0
        if n.op_type in CONV and len(n.input) > 1:
            w, out_elems = n.input[1], int(np.prod([d.dim_value or 1 for d in tt.shape.dim])) if tt else 0
            arr = consts[w] if w in consts else consts[wdq[w].input[0]] if w in wdq else None
            scale = consts.get(wdq[w].input[1]) if w in wdq else None
            f["weights"] = ("activation" if arr is None else "float" if w in consts and arr.dtype.kind == "f"
                            else "per-channel" if scale is not None and scale.size > 1 else "per-tensor")
            if arr is not None:  # MACs as zoo_helpers.runtime.footprint counts them
                macs = out_elems * int(np.prod(arr.shape[1:]) if n.op_type == "Conv" else arr.shape[0])
            if arr is not None and n.op_type == "Conv":
                ks = a.get("kernel_shape", arr.shape[2:])
                f.update(kernel_h=int(ks[0]), kernel_w=int(ks[-1]), stride_w=int(a.get("strides", [1])[-1]))
        if n.op_type in ("MaxPool", "AveragePool"):
            f.update(window_h=int(a["kernel_shape"][0]), window_w=int(a["kernel_shape"][-1]))
        if n.op_type == "Resize":
            coord = a.get("coordinate_transformation_mode", b"half_pixel").decode()
            f.update(mode=a.get("mode", b"nearest").decode(), nearest_mode="floor" if a.get("nearest_mode") == b"floor"
                     else "round", coordinate="half_pixel" if "half_pixel" in coord else coord)
        if n.op_type in ("ReduceMean", "ReduceMax"):
            axes, rank = a.get("axes", consts.get(n.input[-1])), len(types[n.input[0]].shape.dim)
            f["global_pool"] = axes is not None and rank == 4 and {int(x) % 4 for x in axes} == {2, 3}
        out.append((n.op_type, n.name or n.output[0], macs, f))
    return out


@dataclass
class Placement:
    """Per-operator placement of one model on every target; see :func:`place`."""
    path: Path
    operators: list[Operator]

    def frame(self):
        """Every operator: index, op, name, MACs and, per target, unit, reason, rule, built_from, inferred."""
        import pandas as pd
        return pd.DataFrame([{"index": o.index, "op": o.op, "name": o.name, "MACs": o.macs, **{
            f"{t} {k}": v for t, verdict in o.verdicts.items() for k, v in vars(verdict).items()}}
            for o in self.operators])

    def summary(self) -> dict[str, dict[str, float]]:
        """Share of the model's MACs (of its operators if it has none) per unit and target, ``unknown`` if any.

        Examples
        --------
        >>> {t: round(s.get("npu", 0.0), 3) for t, s in place(catalog.path("yolov8n_pose_256_pt")).summary().items()}
        {'n6': 1.0, 'mp2': 1.0, 'mp1': 0.0}
        """
        out, by_macs = {}, any(o.macs for o in self.operators)
        for target, spec in rules()["targets"].items():
            units = [o.verdicts[target].unit for o in self.operators]
            amount = dict.fromkeys([*spec["units"], *(["unknown"] if "unknown" in units else [])], 0.0)
            for o, unit in zip(self.operators, units, strict=True):
                amount[unit] = amount.get(unit, 0.0) + (o.macs if by_macs else unit != "folded")
            amount.pop("folded", None)
            out[target] = {u: v / (sum(amount.values()) or 1.0) for u, v in amount.items()}
        return out

    def units(self, target: str):
        """Per unit of ``target``: operator count, MACs and MAC share (``folded`` operators have none)."""
        frame, shares = self.frame().rename(columns={f"{target} unit": "unit"}), self.summary()[target]
        table = frame.groupby("unit").agg(operators=("op", "size"), MACs=("MACs", "sum")).reset_index()
        return table.assign(**{"MAC share": table["unit"].map(lambda u: shares.get(u, 0.0))})

    def table(self, target: str):
        """The operators that leave ``target``'s NPU (unit not ``npu`` nor ``folded``), with the reason."""
        frame = self.frame().rename(columns=lambda c: c.removeprefix(f"{target} "))
        keep = frame.loc[~frame["unit"].isin(("npu", "folded")), ["index", "op", "name", "MACs", "unit", "reason",
                                                                   "rule", "built_from", "inferred"]]
        return keep.reset_index(drop=True)


def place(path: str | os.PathLike[str], flags: tuple[str, ...] = (), data: dict[str, Any] | None = None) -> Placement:
    """Place every operator of a ``.tflite`` or QDQ ``.onnx`` model on the STM32N6 and the STM32MP2.

    ``flags``: ST Edge AI options rules depend on (``("--expand-softmax",)``); ``data``: other rules (same form).

    Raises
    ------
    FileNotFoundError
        Nothing is at ``path``.
    zoo_helpers.runtime.models.ModelFileError
        ``path`` is not a whole ``.tflite`` or ``.onnx`` model (a folder, an empty, truncated or renamed file);
        see :func:`zoo_helpers.runtime.models.check_file`.

    Examples
    --------
    >>> sorted(place(catalog.path("st_movenet_heatmaps_192")).table("n6")["op"].unique())
    ['DEQUANTIZE', 'RESIZE_BILINEAR']
    """
    path, data = models.check_file(path), data or rules()
    ops = _tflite(path) if path.suffix.lower() == ".tflite" else _onnx(path)
    verdicts = [{t: decide(t, op, f, tuple(flags), data) for t in data["targets"]} for op, _, _, f in ops]
    return Placement(path, [Operator(k, *o, verdicts[k]) for k, o in enumerate(ops)])


def rules_behind(p: Placement, target: str, decided_by: str = "macs") -> list[str]:
    """The ids of the rules that decided ``p``'s verdict on ``target``, in the rules file's order.

    ``decided_by``: ``"macs"``, the rules that placed the operators carrying MACs (they decide the majority unit;
    every operator not folded when the file has no MACs), or ``"operators"``, the rules of every operator.

    Examples
    --------
    >>> rules_behind(place(catalog.path("st_movenet_heatmaps_192")), "mp2")
    ['mp2.per-channel']
    """
    if decided_by not in ("macs", "operators"):
        raise ValueError(f"decided_by must be 'macs' or 'operators', got {decided_by!r}")
    by_macs = decided_by == "macs" and any(o.macs for o in p.operators)
    ops = [o for o in p.operators if (o.macs > 0 if by_macs else
                                      decided_by == "operators" or o.verdicts[target].unit != "folded")]
    order = [r["id"] for r in rules()["rules"][target]]
    used = {o.verdicts[target].rule for o in ops} - {None}
    return sorted(used, key=lambda r: order.index(r) if r in order else len(order))


def relation(built_from: list[str], checked_against: list[str]) -> str:
    """``"consistent with"`` when a source the rules were built from is one they are checked against (the check
    only shows they were transcribed faithfully), ``"agrees with"`` when the sources are independent.

    Examples
    --------
    >>> relation(["S12", "S16", "S17"], ["S16"]), relation(["S15"], ["S17"])
    ('consistent with', 'agrees with')
    """
    return "consistent with" if set(built_from) & set(checked_against) else "agrees with"


def provenance(check: str, model: Placement | str | os.PathLike[str],
               against: list[str] | None = None) -> dict[str, Any]:
    """For one check of the rules file and one model (a file, or its :class:`Placement`): the rules behind the
    verdict, the sources they were built from, the sources the check compares them with (``against``, default all
    of the check's) and the :func:`relation` between the two.

    Examples
    --------
    >>> provenance("n6-st-movenet-epochs", catalog.path("st_movenet_heatmaps_192"))["relation"]
    'consistent with'
    """
    spec = rules()["checks"][check]
    placed = model if isinstance(model, Placement) else place(model)
    ids = rules_behind(placed, spec["target"], spec["decided_by"])
    by_id = {r["id"]: r for r in rules()["rules"][spec["target"]]}
    built = sorted({s for i in ids for s in by_id[i]["built_from"]}, key=list(rules()["sources"]).index)
    against = against or [c["source"] for c in spec["checked_against"]]
    return {"check": check, "rules": ids, "built from": built, "checked against": against,
            "relation": relation(built, against)}


def checks(names: list[str] | None = None) -> pd.DataFrame:
    """Every check of the rules file (or those in ``names``), per file that is here: what it compares, the rules
    behind the verdict, the sources they were built from, the sources it is checked against, and whether that is
    agreement or consistency (:func:`relation`). The card-table check runs on the rows' own files, each against its
    card's source.

    Examples
    --------
    >>> checks(["n6-st-movenet-epochs"])[["file", "checked against", "relation"]].values.tolist()
    [['st_movenet_heatmaps_192', 'S21', 'consistent with']]
    """
    import pandas as pd

    out, placed = [], {}  # each file placed once, whatever the number of checks it is in
    for name, spec in rules()["checks"].items():
        if names is not None and name not in names:
            continue
        runs = [(key, [c["source"] for c in spec["checked_against"]]) for key in spec.get("files", [])]
        runs += [(row["catalog"], [c["source"]]) for c in spec["checked_against"] if "card" in c
                 for row in published.rows(c["card"], c["table"]) if row.get("catalog")]
        for key, against in dict(runs).items():
            if catalog.status(key) not in ("mirror", "cache"):
                continue
            if key not in placed:
                placed[key] = place(catalog.path(key))
            p = provenance(name, placed[key], against)
            out.append({"check": name, "what": spec["what"], "file": key, "rules": ", ".join(p["rules"]),
                        "built from": ", ".join(p["built from"]), "checked against": ", ".join(against),
                        "relation": p["relation"], "tested by": spec["tested_by"]})
    return pd.DataFrame(out)


def published_mp2():
    """Every MP2 card row with %NPU / %GPU beside the shares of MACs predicted for its file, when it is here.

    The rows are those of the ``mp2-card-shares`` check's card tables (the rules file). Published: shares of
    inference time (the study's reading); predicted: shares of MACs. ``same majority`` compares the majority units
    (empty without a file); ``built from`` / ``checked against`` are the sources of the rules that placed the
    file's MACs and the row's card, and ``relation`` says whether a match is agreement or only consistency
    (:func:`relation`); ``note`` flags a row that links a file of another granularity.
    """
    import pandas as pd

    spec = rules()["checks"]["mp2-card-shares"]
    rows = [{"card": c["card"], "against": c["source"], **r} for c in spec["checked_against"]
            for r in published.rows(c["card"], c["table"])]
    out, placements = [], {}  # a file that several rows link is placed once
    for r in rows:
        key = r.get("catalog")
        status = catalog.status(key) if key else "no catalog model"
        if status in ("mirror", "cache") and key not in placements:
            placements[key] = place(catalog.path(key))
        placed = placements.get(key) if status in ("mirror", "cache") else None
        share = None if placed is None else placed.summary()["mp2"]
        said, linked = "mostly NPU" if r["npu_pct"] > 50 else "mostly GPU", key and catalog.entry(key).granularity
        ours = None if share is None else "mostly NPU" if share["npu"] > 0.5 else "mostly GPU"
        p = None if placed is None else provenance("mp2-card-shares", placed, [r["against"]])
        out.append({"card": r["card"], "model": r["model"], "resolution": r["resolution"],
                    "card quantization": r["quantization"], "catalog": key, "file": status,
                    "predicted %NPU (share of MACs)": None if share is None else 100 * share["npu"],
                    "predicted %GPU (share of MACs)": None if share is None else 100 * share["gpu"],
                    "published %NPU (share of time)": r["npu_pct"], "published %GPU (share of time)": r["gpu_pct"],
                    "predicted": ours, "published": said, "same majority": None if ours is None else ours == said,
                    "rules": None if p is None else ", ".join(p["rules"]),
                    "built from": None if p is None else ", ".join(p["built from"]),
                    "checked against": r["against"], "relation": None if p is None else p["relation"],
                    "note": f"the row links a {linked} file" if linked not in (None, r["quantization"]) else ""})
    return pd.DataFrame(out)


def mp2_check():
    """The cards' STM32MP2 rows with %NPU beside the placement rules' prediction for the same file, where it is here.

    The published figure is a share of inference time (the placement study's reading of the cards), the
    prediction a share of MACs: they are compared by their majority unit, not by value. ``built from``: the sources
    of the rules that placed the file's MACs; ``beside the card`` says "consistent with" the card where one of them
    is the card itself (the per-channel rule was written from these rows), "agrees with" only where none is,
    "differs from" where the units differ.
    """
    full = published_mp2()
    table = full[["model", "resolution", "card quantization", "predicted %NPU (share of MACs)",
                  "published %NPU (share of time)", "built from", "note"]].copy()
    table.insert(6, "beside the card", [
        "—" if same is None else f"{rel} the card ({src})" if same else f"differs from the card ({src}), see the text"
        for same, rel, src in zip(full["same majority"], full["relation"], full["checked against"], strict=True)])
    table["built from"] = table["built from"].fillna("—")
    table.attrs["caption"] = ("STM32MP2: predicted MAC share on the NPU beside the cards' time share (published); "
                              "'consistent with' a card whose rows built the rule, 'agrees with' one that did not")
    return table
