"""One JSON config file in the granted directory: read, merge, replace.

The file is only ever replaced whole: the new content goes to a temporary
file beside it, is flushed to disk, and is renamed over the old one, so a
power cut leaves either the old or the new file, never half of one.
"""

import json
import os
import re

# The directory the operator grants (plugin.toml asks for it read-write).
CONFIG_DIR = "/config"

# Config files are small; a bigger one is not something to rewrite blindly,
# and reading it whole must not exhaust the plugin's memory.
MAX_FILE_BYTES = 1 << 20

# A file name directly in CONFIG_DIR: no directories, no hidden files (the
# temporary file is hidden), no `..`.
_FILE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,122}\.json$")

# The value of a setting the file does not have yet.
UNSET = object()


class Refused(Exception):
    """The document cannot be applied to this device as it is (REJECTED)."""


class Unavailable(Exception):
    """Reading or writing failed; running the job again may work (FAILED)."""


def file_problem(name):
    """Why `name` is not an acceptable `file`, or None."""
    if not isinstance(name, str):
        return f"file: must be a string, not {json.dumps(name)}"
    if not _FILE_NAME.match(name):
        return (
            f"file: {json.dumps(name)} must be a .json file name directly in {CONFIG_DIR} "
            "(letters, digits, '.', '_', '-'; not starting with '.')"
        )
    return None


def path_of(name):
    """The guest path of config file `name` (checked by file_problem)."""
    return f"{CONFIG_DIR}/{name}"


def require_dir():
    """Fails unless the operator granted the config directory."""
    if not os.path.isdir(CONFIG_DIR):
        raise Refused(
            f"{CONFIG_DIR} is not granted to this plugin: the device's operator grants it with "
            '[plugins.device-config] dirs = ["/etc/myapp:/config"]'
        )


def load(path):
    """The config in `path` as a dict; {} when the file does not exist yet."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise Unavailable(f"cannot read {path}: {e.strerror or e}") from e
    if len(data) > MAX_FILE_BYTES:
        raise Refused(f"{path} is larger than {MAX_FILE_BYTES} bytes; not rewriting it")
    try:
        config = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Refused(f"{path} is not valid JSON ({e}); fix or remove it first") from e
    if not isinstance(config, dict):
        raise Refused(f"{path} holds a JSON {type(config).__name__}, not an object")
    return config


def _same(a, b):
    # JSON equality: Python says True == 1 and 1 == 1.0, JSON does not.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def merge(config, settings, path):
    """Sets each dotted setting in `config` (in place) and returns the
    changes as (key, old, new) in document order; a setting whose value is
    already there is not a change. `old` is UNSET for a new setting."""
    changes = []
    for key, new in settings.items():
        *parents, leaf = key.split(".")
        node = config
        for depth, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parents[: depth + 1])
                raise Refused(
                    f"{path}: {where} is {json.dumps(child)}, not an object, so {key} cannot be set"
                )
            node = child
        old = node.get(leaf, UNSET)
        if old is UNSET or not _same(old, new):
            node[leaf] = new
            changes.append((key, old, new))
    return changes


def write_atomically(path, config):
    """Replaces `path` with `config` as indented JSON: temporary file,
    flush and fsync, rename."""
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f".{name}.tmp")
    text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except OSError as e:
        try:
            os.remove(temporary)
        except OSError:
            pass
        raise Unavailable(f"cannot write {path}: {e.strerror or e}") from e
