"""One shotgunEvents-style Python plugin in its own process.

JSON lines on fd 3 (requests) and fd 4 (answers), as the project runtime;
stdout and stderr are the plugin's log. Methods: init, plugin_process, ping,
shutdown. Standard library only.
"""

import json
import logging
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sgeventd_plugins  # noqa: E402

IN_FD = 3
OUT_FD = 4


class RpcError(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


class PluginProcess(object):
    def __init__(self):
        self.plugin = None

    def m_init(self, params):
        # A plain handshake: the pool's runtime class counts the process ready after it.
        return {"pid": os.getpid(), "python": sys.version.split()[0], "mode": "plugin"}

    def m_plugin_load(self, params):
        path = params["file"]
        folder = os.path.dirname(path)
        # shotgunEvents imports plugins with their folder importable.
        if folder not in sys.path:
            sys.path.insert(0, folder)
        make = sgeventd_plugins.shotgun_factory(params["siteUrl"], params.get("proxy"))
        self.plugin = sgeventd_plugins.Plugin(path, params["name"], make, bool(params.get("useSessionUuid")))
        try:
            described = self.plugin.load()
        except sgeventd_plugins.PluginLoadError as e:
            raise RpcError(e.code, str(e))
        described["shotgunApi3Error"] = make.error
        return described

    def m_plugin_process(self, params):
        return self.plugin.process(params["event"], params.get("only"))

    def m_ping(self, params):
        return {"pid": os.getpid()}

    def m_shutdown(self, params):
        return True


def serve():
    # Below WARNING to stdout, the rest to stderr: the daemon logs stdout
    # lines as info and stderr lines as warnings, under the plugin's name.
    fmt = logging.Formatter("%(name)s: %(message)s")
    low = logging.StreamHandler(sys.stdout)
    low.setFormatter(fmt)
    low.addFilter(lambda r: r.levelno < logging.WARNING)
    high = logging.StreamHandler(sys.stderr)
    high.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    high.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(low)
    root.addHandler(high)
    handler = PluginProcess()
    inp = os.fdopen(IN_FD, "rb", buffering=1 << 16)
    out = os.fdopen(OUT_FD, "wb", buffering=0)

    def send(obj):
        data = memoryview((json.dumps(obj, separators=(",", ":"), default=repr) + "\n").encode("utf-8"))
        while data:
            data = data[out.write(data):]

    while True:
        line = inp.readline()
        if not line:
            return 0
        try:
            msg = json.loads(line.decode("utf-8"))
        except ValueError as e:
            send({"id": None, "error": {"code": "TK_PROTOCOL", "type": "ValueError", "message": str(e), "traceback": ""}})
            continue
        mid = msg.get("id")
        method = str(msg.get("method"))
        try:
            fn = getattr(handler, "m_" + method, None)
            if fn is None:
                raise RpcError("TK_NO_METHOD", "unknown method %r" % method)
            if method not in ("init", "shutdown", "ping", "plugin_load") and handler.plugin is None:
                raise RpcError("TK_NOT_INITIALIZED", "init first")
            send({"id": mid, "result": fn(msg.get("params") or {})})
        except Exception as e:  # noqa: BLE001 - everything goes back to the caller
            send({"id": mid, "error": {
                "code": getattr(e, "code", "TK_PYTHON_ERROR") if isinstance(e, RpcError) else "TK_PYTHON_ERROR",
                "type": type(e).__name__, "message": str(e), "traceback": traceback.format_exc(),
            }})
        if method == "shutdown":
            sys.stdout.flush()
            sys.stderr.flush()
            return 0


if __name__ == "__main__":
    sys.exit(serve())
