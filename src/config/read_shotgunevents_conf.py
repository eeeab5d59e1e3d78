"""Reads a shotgunEvents conf exactly as shotgunEvents' Config class does.

configparser.ConfigParser(os.environ), so `%(VAR)s` interpolates environment
variables (and other keys of the same section). Prints one JSON object:
  {"sections": {section: {key: value}}, "raw": {section: {key: raw_value}},
   "errors": [{"section", "key", "type", "message"}]}
Keys are as ConfigParser reports them (lower-cased). Only the keys written in
the file are listed (not the environment defaults). Exit 2 when the file
cannot be read or parsed at all.
Standard library only.
"""
import configparser
import json
import os
import sys


def main():
    path = sys.argv[1]
    if not os.path.isfile(path):
        print(json.dumps({"fatal": {"type": "FileNotFoundError", "message": "no such file: %s" % path}}))
        return 2
    config = configparser.ConfigParser(os.environ)
    raw = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        config.read_string(text, source=path)
        raw.read_string(text, source=path)
    except (configparser.Error, OSError, UnicodeDecodeError) as err:
        print(json.dumps({"fatal": {"type": type(err).__name__, "message": str(err)}}))
        return 2
    sections = {}
    raw_sections = {}
    errors = []
    for section in raw.sections():
        sections[section] = {}
        raw_sections[section] = {}
        for key in raw.options(section):
            raw_sections[section][key] = raw.get(section, key)
            try:
                sections[section][key] = config.get(section, key)
            except configparser.Error as err:
                errors.append({"section": section, "key": key, "type": type(err).__name__, "message": str(err)})
    print(json.dumps({"sections": sections, "raw": raw_sections, "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
