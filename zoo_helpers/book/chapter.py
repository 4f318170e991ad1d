"""A chapter's papermill parameters, checked before the slow work starts.

Each card file (``zoo_helpers/data/cards/<card>.yaml``, ``parameters``) says what its chapter's parameters may be,
``zoo_helpers/data/parameters.yaml`` what the parameters every chapter shares may be: one of a list of
choices, a model of the card (a catalog key), an integer or a number within bounds, an existing folder,
free text. :func:`check` reads a notebook's parameters from its namespace (the public ``str``, ``int``,
``float`` and ``bool`` names defined so far, i.e. the parameters cell and papermill's injected cell) and
raises one :class:`ParameterError` naming every parameter that is wrong, with what it may be, before
any model is loaded. A parameter the file does not know is an error too (a typo in a papermill ``-p``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from zoo_helpers.board import ports
from zoo_helpers.cards import protocol
from zoo_helpers.deploy import validation
from zoo_helpers.evaluation import datasets
from zoo_helpers.quant import recipes
from zoo_helpers.registry import catalog, facts
from zoo_helpers.results import Recorder, from_namespace

#: Names IPython puts in a notebook's namespace (its input and output history).
IPYTHON_NAMES = frozenset({"In", "Out"})


class ParameterError(ValueError):
    """One or more parameters of a chapter are not allowed values."""


@cache
def specs() -> dict[str, Any]:
    """The parameter rules of each notebook: its own (its card file's) and the shared ones it takes (``takes`` in
    ``data/parameters.yaml``), by the rules under ``common``.

    Examples
    --------
    >>> sorted(specs()["notebooks"]["overview"])
    ['latency_runs', 'limit', 'num_threads', 'results_dir', 'sample_mode']
    """
    import yaml

    data = yaml.safe_load(resources.files("zoo_helpers").joinpath("data/parameters.yaml").read_text())
    own = {f["notebook"]: f["parameters"] or {} for f in facts.cards().values()}
    notebooks = {}
    for notebook, names in data["takes"].items():
        unknown = set(names) - set(data["common"])
        if unknown:
            raise ValueError(f"parameters.yaml: {notebook} takes {sorted(unknown)}, which have no rule under common")
        notebooks[notebook] = {**{n: data["common"][n] for n in names}, **own.get(notebook, {})}
    missing = set(own) - set(notebooks)
    if missing:
        raise ValueError(f"parameters.yaml: no 'takes' entry for {sorted(missing)}")
    return {"common": data["common"], "notebooks": notebooks}


def _problem(name: str, value: Any, rule: dict[str, Any]) -> str | None:
    """Why ``value`` breaks ``rule``, or ``None``."""
    if "choices" in rule:
        return None if value in rule["choices"] else f"{name}={value!r}: choose one of {rule['choices']}"
    if "catalog" in rule:
        if not isinstance(value, str):
            return f"{name}={value!r}: must be a model key of the card (text)"
        try:
            catalog.entry(value, card=rule["catalog"])
        except catalog.UnknownModelError as exc:
            return f"{name}: {exc}"
        return None
    for kind, types in (("int", (int,)), ("number", (int, float))):
        if kind in rule:
            bounds = rule[kind] or {}
            lo, hi = bounds.get("min"), bounds.get("max")
            if type(value) is bool or not isinstance(value, types):
                return f"{name}={value!r}: must be {'a whole number' if kind == 'int' else 'a number'}"
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                return f"{name}={value!r}: must be within [{lo if lo is not None else '-inf'}, " \
                       f"{hi if hi is not None else 'inf'}]"
            return None
    if rule.get("folder"):
        if not isinstance(value, str):
            return f"{name}={value!r}: must be a folder path or empty"
        return None if not value or Path(value).expanduser().is_dir() else f"{name}={value!r}: no such folder"
    if rule.get("text"):
        return None if isinstance(value, str) else f"{name}={value!r}: must be text"
    if rule.get("recipes"):
        if not isinstance(value, str):
            return f"{name}={value!r}: give text: 'default', 'all' or recipe keys separated by commas"
        try:  # recipes that fit the chapter's model: tflite for a Keras model, the ONNX engines for a file
            chosen = recipes.applicable(value, keras=rule["recipes"] == "tflite")
        except ValueError as exc:
            return f"{name}: {exc}"
        missing = {"per-channel", "per-tensor"} - {r.granularity for r in chosen}
        if missing:  # every chapter compares its best per-tensor recipe with its best per-channel one
            return (f"{name}={value!r}: the chapter compares per-channel with per-tensor int8; add a "
                    f"{' and a '.join(sorted(missing))} recipe")
        return None
    raise ValueError(f"parameters.yaml: no kind of rule for {name!r}: {rule}")


def check(notebook: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Check a notebook's parameters (read from ``namespace``) and return them.

    Examples
    --------
    >>> check("hand_landmarks", {"crop_mode": "gt", "palm_detector": "st", "n_calib": 8})
    {'crop_mode': 'gt', 'palm_detector': 'st', 'n_calib': 8}
    >>> check("hand_landmarks", {"crop_mode": "plam"})
    Traceback (most recent call last):
    ...
    zoo_helpers.book.chapter.ParameterError: hand_landmarks: crop_mode='plam': choose one of ['palm', 'gt']
    """
    data = specs()
    if notebook not in data["notebooks"]:
        raise ParameterError(f"no parameter rules for notebook {notebook!r}; known: {sorted(data['notebooks'])}")
    rules = data["notebooks"][notebook]
    # a parameter of any value papermill can inject is checked (-y gives lists, mappings and null too), and so is a
    # misspelled one; IPython's own names are not parameters
    given = {k: v for k, v in namespace.items() if not k.startswith("_") and k not in IPYTHON_NAMES
             and (v is None or type(v) in (list, dict, tuple))}
    params = {**from_namespace(namespace), **given}
    problems = [f"{name}={value!r}: not a parameter of this chapter (its parameters: {', '.join(sorted(rules))})"
                for name, value in params.items() if name not in rules]
    problems += [p for name, value in params.items() if name in rules if (p := _problem(name, value, rules[name]))]
    if problems:
        raise ParameterError(f"{notebook}: " + "; ".join(problems))
    return params


#: What a parameter's value points at, checked after the rules and before any slow work, cheapest first: the board's
#: device, the ToF port, every image of a COCO folder, the calibration images against the evaluation sets. Each
#: raises its own error type naming the parameter.
DEEP_CHECKS: dict[str, Callable[[dict[str, Any]], object]] = {
    "board": lambda p: validation.check_board(p["board"]),
    "port": lambda p: ports.check_port(p["port"]),
    "coco_dir": lambda p: datasets.check_coco_dir(p["coco_dir"]),
    "calib_dir": lambda p: protocol.check_calibration(p["calib_dir"], p.get("n_calib", 1), p.get("coco_dir", "")),
}


def deep_check(params: dict[str, Any]) -> None:
    """Run :data:`DEEP_CHECKS` on the parameters a chapter was given (those it has).

    Examples
    --------
    >>> deep_check({"board": "", "coco_dir": "", "n_test": 3})  # the emulator, the registered set: nothing to open
    >>> deep_check({"board": "serial:/dev/ttyNOPE0:921600"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    zoo_helpers.board.ports.DescriptorError: board='serial:/dev/ttyNOPE0:921600': no such serial device. Accepted ...
    """
    for name, run in DEEP_CHECKS.items():
        if name in params:
            run(params)


def recorder(notebook: str, card: str, namespace: dict[str, Any], results_dir: str | os.PathLike[str] = "",
             measured_on: str = "host CPU") -> Recorder:
    """A chapter's :class:`~zoo_helpers.results.Recorder`, its parameters checked first (:func:`check`).

    A chapter passes its namespace (``globals()``) in its Setup cell: a wrong parameter fails there, before
    any slow work, and so does a value that points at something missing or unusable (:func:`deep_check`). A
    notebook without rules (a reader's own) keeps its public parameters unchecked.

    Examples
    --------
    >>> import tempfile
    >>> recorder("movenet", "movenet", {"n_test": 0, "np": object()}, tempfile.mkdtemp()).parameters
    {'n_test': 0}
    """
    known = notebook in specs()["notebooks"]
    params = check(notebook, namespace) if known else from_namespace(namespace)
    if known:
        deep_check(params)
    return Recorder(notebook, card, params, results_dir, measured_on)
