"""A stand-in Toolkit core written by `sgeventd demo`.

NOT tk-core: a few dozen lines that look like it from the outside (a `tank`
package with `__version__`, `sgtk_from_path`, templates with `apply_fields`),
so the demo shows each project's events reaching its own core without a
Toolkit install. `sgeventd demo --tk-core PATH` uses a real tk-core instead.
"""

import os
import re

__version__ = "__STAND_IN_VERSION__"
STAND_IN = True


class TankError(Exception):
    pass


class Template(object):
    def __init__(self, name, definition):
        self.name = name
        self.definition = definition

    def apply_fields(self, fields):
        def sub(match):
            key = match.group(1)
            if key == "version":
                return "%03d" % int(fields[key])
            return str(fields[key])

        return re.sub(r"\{(\w+)\}", sub, self.definition)

    def __repr__(self):
        return "<Sgtk Template %s: %s>" % (self.name, self.definition)


class Context(object):
    project = entity = step = task = user = None


def _read_paths(config_root):
    """The `paths:` section of config/core/templates.yml (name: definition lines)."""
    templates = {}
    path = os.path.join(config_root, "config", "core", "templates.yml")
    section = None
    with open(path) as f:
        for line in f:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if not line.startswith(" "):
                section = line.split(":", 1)[0].strip()
                continue
            if section == "paths" and line.startswith("  ") and not line.startswith("    "):
                name, _, definition = line.strip().partition(":")
                definition = definition.strip().strip("'\"")
                if definition:
                    templates[name] = Template(name, definition)
    return templates


class Tank(object):
    def __init__(self, config_root):
        current = os.environ.get("TANK_CURRENT_PC")
        if current and os.path.realpath(current) != os.path.realpath(config_root):
            # Real cores refuse a configuration other than the one they were imported for.
            raise TankError("this core belongs to %s, not %s" % (current, config_root))
        self.pipeline_configuration = config_root
        self.roots = {"primary": os.path.join(config_root, "data")}
        self.templates = _read_paths(config_root)
        self.version = __version__

    def context_empty(self):
        return Context()

    def paths_from_template(self, template, fields, skip_keys=None):
        path = template.apply_fields(fields)
        return [path] if os.path.exists(path) else []


def sgtk_from_path(path):
    return Tank(os.path.abspath(path))


def get_authenticated_user():
    return None
