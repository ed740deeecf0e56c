#!/usr/bin/env python3
# Runs boto3 conformance cases against jobhost-fleet, for
# fleet/tests/all/aws_control.rs:
#
#   run.py AREA CASE...
#
# AREA is a module beside this file (jobs.py, auth.py, ...), CASE the name
# of a function in it marked @case (harness.py). The cases run in the order
# given. Output, one JSON object per line on stdout: first
# {"sdk": {"boto3": ..., "botocore": ...}}, then per case
# {"case": NAME, "ok": true, "detail": {...}} or
# {"case": NAME, "ok": false, "error": TRACEBACK}. Exit status 0 when every
# case passed, 1 otherwise, 2 for an unknown area or case.

import importlib
import json
import os
import sys
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402 (after the path is set)


def main(argv):
    if len(argv) < 2:
        print(__doc__ or "usage: run.py AREA CASE...", file=sys.stderr)
        return 2
    area, names = argv[0], argv[1:]
    try:
        module = importlib.import_module(area)
    except ModuleNotFoundError as e:
        print(json.dumps({"error": f"no area {area!r}: {e}"}), flush=True)
        return 2
    cases = {n: f for n, f in vars(module).items() if getattr(f, "is_case", False)}
    unknown = [n for n in names if n not in cases]
    if unknown:
        print(json.dumps({"error": f"{area} has no case {unknown}; it has {sorted(cases)}"}),
              flush=True)
        return 2
    print(json.dumps({"sdk": harness.sdk_versions()}), flush=True)
    failed = False
    for name in names:
        try:
            detail = cases[name]() or {}
            line = {"case": name, "ok": True, "detail": detail}
        except Exception:  # noqa: BLE001 (every failure is reported)
            failed = True
            line = {"case": name, "ok": False, "error": traceback.format_exc()}
        print(json.dumps(line, default=str, sort_keys=True), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
