"""device-config: `set-config`, a validated device-config setter.

Document:
    {"operation": "set-config", "file": "agent.json",
     "settings": {"telemetry.interval_secs": 30, "log.level": "info"}}

Every setting is checked against the schema in schema.py; a document with
any problem is REJECTED with all of them in the reason, and the file is not
touched. Otherwise the settings are merged into /config/<file> (created if
missing) and the file is replaced atomically; statusDetails say what
changed. Applying the same settings again changes nothing (`changed` = []).

This module is the glue between the WIT world and the logic:
componentize-py generates `wit_world` from wit/operation.wit, and the
component's `operation.run` export calls `Operation().run(job)`.
"""

import json
import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

import config_file
import schema
from config_file import Refused, Unavailable

OPERATION = "set-config"
FIELDS = ("operation", "file", "settings")


def _refuse(problems):
    count = len(problems)
    noun = "problem" if count == 1 else "problems"
    return Refused(f"invalid document ({count} {noun}): " + "; ".join(problems))


def parse(document):
    """(file name, settings) from the job document, or Refused naming
    every problem at once, so one round trip fixes the job."""
    try:
        doc = json.loads(document)
    except ValueError as e:
        raise Refused(f"the document is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise Refused("the document must be a JSON object")
    problems = [f'unknown field "{k}"' for k in doc if k not in FIELDS]
    name = doc.get("file")
    if name is None:
        problems.append('file: missing (the config file to change, e.g. "agent.json")')
    else:
        problem = config_file.file_problem(name)
        if problem:
            problems.append(problem)
    settings = doc.get("settings")
    if settings is None:
        problems.append("settings: missing")
    elif not isinstance(settings, dict):
        problems.append("settings: must be an object of setting name -> value")
    elif not settings:
        problems.append("settings: is empty; name at least one setting")
    else:
        problems.extend(schema.validate(settings))
    if problems:
        raise _refuse(problems)
    return name, settings


def _show(value):
    return "unset" if value is config_file.UNSET else json.dumps(value, ensure_ascii=False)


def set_config(job):
    """The operation itself; raises Refused or Unavailable."""
    if job.operation != OPERATION:
        raise Refused(f"unsupported operation {job.operation!r}; this plugin handles {OPERATION}")
    name, settings = parse(job.document)
    config_file.require_dir()
    path = config_file.path_of(name)
    config = config_file.load(path)
    changes = config_file.merge(config, settings, path)
    if changes:
        config_file.write_atomically(path, config)
    changes.sort(key=lambda change: change[0])
    changed = [key for key, _, _ in changes]
    host.log(host.Level.INFO, f"{path}: {len(changed)} of {len(settings)} setting(s) changed")
    # statusDetails keys allow [a-zA-Z0-9:_-]: `telemetry.interval_secs`
    # is reported as `telemetry:interval_secs`.
    details = [("file", name), ("changed", json.dumps(changed, separators=(",", ":")))]
    details += [(key.replace(".", ":"), f"{_show(old)} → {_show(new)}") for key, old, new in changes]
    return types.Outcome(status_details=details)


def _failure(reason, retryable):
    return Err(types.Failure(reason=reason, status_details=[], retryable=retryable))


class Operation(exports.Operation):
    """The `operation` export: `run` is called once per attempt."""

    def run(self, job: types.Job) -> types.Outcome:
        try:
            return set_config(job)
        except Refused as e:
            raise _failure(str(e), retryable=False) from None
        except Unavailable as e:
            raise _failure(str(e), retryable=True) from None
        except Exception as e:  # a bug: say what it was instead of trapping
            host.log(host.Level.ERROR, traceback.format_exc())
            raise _failure(f"device-config failed unexpectedly: {e!r}", retryable=True) from None
