"""Reads shotgunEvents' eventIdFile and prints it as JSON (standard library only).

Accepted shapes, as shotgunEvents' Engine._loadEventIdData accepts them:
  - a pickle of {collection path: {plugin name: (lastEventId, {eventId: expiry})}}
    where expiry is a naive local datetime (what _saveEventIdData writes);
    a plugin state may also be a bare int, and a collection state a bare int;
    {'id': ..., 'backlog': ...} dicts and [id, backlog] lists are accepted too;
  - an old-style text file holding one integer (the last processed id).
Output: {"format": "pickle", "collections": {path: {"plugins": {name: {"lastEventId": int|null,
         "backlog": [[eventId, epochMs], ...]}}} | {"lastEventId": int}}}
     or {"format": "int", "lastEventId": int}
     or {"fatal": {"reason": "missing"|"empty"|"unreadable"|"unsupported", "message": str}} with exit 2.
Naive datetimes are read as local time (time.mktime), as shotgunEvents wrote them
with datetime.now(). Unpickling is restricted to plain containers and datetime
types: the file is data, never code.
"""
import datetime
import io
import json
import os
import pickle
import sys
import time

SAFE = {
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "timedelta"), ("datetime", "timezone"),
    ("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"), ("__builtin__", "frozenset"),
    ("collections", "OrderedDict"), ("builtins", "bytearray"),
    # Protocols 0 and 1 rebuild the datetime payload bytes with _codecs.encode (a pure function).
    ("_codecs", "encode"),
}


class SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in SAFE:
            return super().find_class(module, name)
        raise pickle.UnpicklingError("refusing to load %s.%s from an event id file" % (module, name))


class Unsupported(Exception):
    pass


def epoch_ms(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return int(round(value.timestamp() * 1000))
        return int(time.mktime(value.timetuple())) * 1000 + value.microsecond // 1000
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Not written by shotgunEvents; read as epoch seconds.
        return int(value * 1000)
    raise Unsupported("backlog expiry of type %s" % type(value).__name__)


def event_id(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unsupported("%s of type %s" % (what, type(value).__name__))
    return value


def text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def plugin_state(state):
    backlog = {}
    if isinstance(state, (tuple, list)) and len(state) == 2:
        last, backlog = state
    elif isinstance(state, dict) and "id" in state:
        last, backlog = state.get("id"), state.get("backlog") or {}
    else:
        last = state
    last = event_id(last, "last event id")
    if not isinstance(backlog, dict):
        raise Unsupported("backlog of type %s" % type(backlog).__name__)
    entries = sorted([event_id(k, "backlog event id"), epoch_ms(v)] for k, v in backlog.items())
    return {"lastEventId": last, "backlog": entries}


def convert(data):
    if isinstance(data, int) and not isinstance(data, bool):
        return {"format": "int", "lastEventId": data}
    if not isinstance(data, dict):
        raise Unsupported("top-level %s" % type(data).__name__)
    collections = {}
    for path, state in data.items():
        if isinstance(state, int) and not isinstance(state, bool):
            collections[text(path)] = {"lastEventId": state}
        elif isinstance(state, dict):
            collections[text(path)] = {"plugins": {text(name): plugin_state(s) for name, s in state.items()}}
        elif state is None or state == {}:
            collections[text(path)] = {"plugins": {}}
        else:
            raise Unsupported("state of collection %s of type %s" % (text(path), type(state).__name__))
    return {"format": "pickle", "collections": collections}


def fatal(reason, message):
    print(json.dumps({"fatal": {"reason": reason, "message": message}}))
    return 2


def main():
    path = sys.argv[1]
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return fatal("missing", "no event id file at %s" % path)
    except OSError as err:
        return fatal("unreadable", "cannot read %s: %s" % (path, err))
    if len(raw.strip()) == 0:
        return fatal("empty", "the event id file %s is empty (shotgunEvents left it half-written); there is no cursor to migrate" % path)
    try:
        # latin1: pickles written by Python 2 hold datetimes as byte strings.
        data = SafeUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as err:  # noqa: BLE001 - any failure means "not a pickle": try the old int format
        line = raw.splitlines()[0].strip() if raw.splitlines() else b""
        if line.isdigit():
            print(json.dumps({"format": "int", "lastEventId": int(line)}))
            return 0
        return fatal("unreadable", "%s is neither a pickle nor an old-style id file: %s: %s" % (path, type(err).__name__, err))
    try:
        print(json.dumps(convert(data)))
    except Unsupported as err:
        return fatal("unsupported", "%s holds an unexpected %s" % (path, err))
    return 0


if __name__ == "__main__":
    sys.exit(main())
