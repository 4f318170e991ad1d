"""The placement report: which operators of a model ST Edge AI would keep on the N6 and MP2 NPUs, from the shell.

``zoo-placement MODEL [--json]`` (or ``python -m zoo_helpers.deploy.placement_report``) takes a ``.tflite`` or
``.onnx`` file or a catalog key and prints, per target, the share of MACs per unit and the operators that leave
the NPU with the rule's reason (:mod:`zoo_helpers.deploy.placement`), or only the summary as JSON. A missing,
empty, truncated or renamed file, a folder or an unknown key is one line on stderr naming it, and exit code 2.
"""

from __future__ import annotations

import zoo_helpers.deploy.placement as placement
from zoo_helpers.registry import catalog
from zoo_helpers.registry.hashing import AssetError
from zoo_helpers.runtime import models


def main(argv: list[str] | None = None) -> int:
    """``zoo-placement MODEL [--json]``: the summary as JSON, or readable tables."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="zoo-placement", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .tflite or .onnx file, or a catalog key")
    parser.add_argument("--json", action="store_true", help="print only the summary, as JSON")
    args = parser.parse_args(argv)
    try:
        p = placement.place(args.model if models.names_a_file(args.model) else catalog.path(args.model))
    except (OSError, models.ModelFileError, catalog.UnknownModelError, AssetError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    if args.json:
        print(json.dumps(p.summary()))
    for target, spec in [] if args.json else placement.rules()["targets"].items():
        print(f"\n{spec['name']}:\n{p.units(target).to_string(index=False)}\n")
        if "npu" not in spec["units"]:  # a CPU-only target (the MP1): nothing leaves an NPU it does not have
            print(f"no NPU: every operator runs on the {spec['cpu']}")
            continue
        leaving = p.table(target)[["index", "op", "unit", "reason", "inferred"]]
        print(leaving.to_string(index=False) if len(leaving) else "every operator stays on the NPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
