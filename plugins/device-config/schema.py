"""The settings `set-config` may change, and how each is checked.

Pure Python with no WIT import, so it reads (and can be tried) like any
module. A setting is named by a dotted path into the JSON config file:
`telemetry.interval_secs` is `{"telemetry": {"interval_secs": ...}}`.

Adding a setting is one entry in `SCHEMA` and a row in the README.
"""

import difflib
import json
import re

# RFC 1123 host names: labels of letters, digits and inner hyphens, at most
# 63 characters each and 253 in all. Dotted-quad IPv4 addresses match too.
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
# A daily maintenance window, local time: "HH:MM-HH:MM" (may wrap midnight).
_WINDOW = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$")


def _show(value):
    """A value as it appears in messages: the JSON text, cut short."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value):
    # bool is a subclass of int in Python; JSON true is not an integer.
    return isinstance(value, int) and not isinstance(value, bool)


def integer(low, high):
    """An integer in low..high (inclusive)."""

    def check(value):
        if not _is_int(value):
            return f"must be an integer, not {_show(value)}"
        if not low <= value <= high:
            return f"{value} is out of range {low}..{high}"
        return None

    check.describe = f"integer {low}..{high}"
    return check


def boolean():
    """true or false."""

    def check(value):
        if not isinstance(value, bool):
            return f"must be true or false, not {_show(value)}"
        return None

    check.describe = "true or false"
    return check


def one_of(*choices):
    """One of the given strings."""

    def check(value):
        if not isinstance(value, str) or value not in choices:
            return f"must be one of {', '.join(choices)}, not {_show(value)}"
        return None

    check.describe = "one of " + ", ".join(choices)
    return check


def text(max_chars):
    """A non-empty string of printable characters."""

    def check(value):
        if not isinstance(value, str):
            return f"must be a string, not {_show(value)}"
        if not value or len(value) > max_chars:
            return f"must be 1-{max_chars} characters, not {len(value)}"
        if not value.isprintable():
            return "must not contain control characters"
        return None

    check.describe = f"text, 1-{max_chars} characters"
    return check


def _hostname_problem(name):
    if not isinstance(name, str):
        return f"{_show(name)} is not a string"
    if not name or len(name) > 253:
        return f"{_show(name)} is not 1-253 characters"
    if not all(_LABEL.match(label) for label in name.rstrip(".").split(".")):
        return f"{_show(name)} is not a valid host name"
    return None


def hostnames(max_items):
    """A list of 1..max_items distinct host names (or IPv4 addresses)."""

    def check(value):
        if not isinstance(value, list):
            return f"must be a list of host names, not {_show(value)}"
        if not 1 <= len(value) <= max_items:
            return f"must list 1-{max_items} host names, not {len(value)}"
        problems = [p for p in map(_hostname_problem, value) if p]
        if problems:
            return "; ".join(problems)
        if len(set(value)) != len(value):
            return "lists a host name twice"
        return None

    check.describe = f"list of 1-{max_items} host names"
    return check


def window():
    """A daily window "HH:MM-HH:MM" (24-hour, may wrap past midnight)."""

    def check(value):
        if not isinstance(value, str) or not _WINDOW.match(value):
            return f'must be "HH:MM-HH:MM" (24-hour), not {_show(value)}'
        if value[:5] == value[6:]:
            return "start and end must differ"
        return None

    check.describe = '"HH:MM-HH:MM"'
    return check


# The settings this plugin manages. Keep README.md's table in step.
SCHEMA = {
    "device.name": text(64),
    "device.location": text(128),
    "telemetry.enabled": boolean(),
    "telemetry.interval_secs": integer(5, 3600),
    "log.level": one_of("trace", "debug", "info", "warn", "error"),
    "log.max_file_mib": integer(1, 1024),
    "ntp.servers": hostnames(4),
    "network.mtu": integer(576, 9000),
    "update.window": window(),
    "watchdog.timeout_secs": integer(10, 600),
}


def validate(settings):
    """Every problem with `settings` (a dict from the job document), in
    document order; an empty list means all of them may be applied."""
    problems = []
    for key, value in settings.items():
        check = SCHEMA.get(key)
        if check is None:
            near = difflib.get_close_matches(key, SCHEMA, n=1)
            hint = f'did you mean "{near[0]}"?' if near else "see the plugin's README"
            problems.append(f'unknown setting "{key}" ({hint})')
            continue
        problem = check(value)
        if problem:
            problems.append(f"{key}: {problem}")
    return problems
