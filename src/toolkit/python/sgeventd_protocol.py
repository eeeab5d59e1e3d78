"""The Python side of sgeventd's RPC pipes, shared by project runtimes
(runtime.py) and plugin processes (plugin_runner.py).

Requests arrive as JSON lines on fd 3 and answers leave on fd 4; stdout and
stderr are only logs, so a stray print can never corrupt the channel.

    request   {"id": n, "method": m, "params": {...}}
    answer    {"id": n, "result": ..., "rss": peak RSS in kB}
    error     {"id": n, "error": {"code", "type", "message", "traceback"}}
    progress  {"id": n, "progress": ...}   (a step of call n, before its answer)

The first request must be `init`: nothing else is served before it succeeded
(the daemon counts a child ready only then). A handler is any object with
`m_<method>(params)` methods; during a call, `handler.sgeventd_progress(step)`
reports a step of it. Standard library only; Python 3.7 or later.
"""
import json
import os
import sys
import threading
import traceback

IN_FD = 3
OUT_FD = 4


class RpcError(Exception):
    """An error with a stable code, answered as is."""

    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


def maxrss_kb():
    try:
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r // 1024 if sys.platform == "darwin" else r
    except Exception:  # noqa: BLE001 - no resource module on Windows
        return None


def exit_with_parent(interval=1.0):
    """Exits when the daemon that started this process is gone, even in the
    middle of a call that never returns (EOF on fd 3 is only read between calls).
    Returns a function that stops the watch and joins its thread (a process
    must be single-threaded before it forks)."""
    parent = os.getppid()
    stop = threading.Event()

    def watch():
        while not stop.wait(interval):
            if os.getppid() != parent:
                try:
                    sys.stderr.write("sgeventd: the daemon (pid %d) is gone, exiting\n" % parent)
                    sys.stderr.flush()
                except Exception:  # noqa: BLE001 - its stderr pipe may be gone with it
                    pass
                os._exit(70)

    thread = threading.Thread(target=watch, name="sgeventd-parent-watch", daemon=True)
    thread.start()

    def cancel():
        stop.set()
        thread.join()

    return cancel


class Channel(object):
    """The two pipes: requests in on fd 3, answers, errors and progress out on fd 4."""

    def __init__(self, in_fd=IN_FD, out_fd=OUT_FD):
        self._inp = os.fdopen(in_fd, "rb", buffering=1 << 16)
        self._out = os.fdopen(out_fd, "wb", buffering=0)

    def read(self):
        """The next request as (id, method, params), or None at EOF.
        A line that is not JSON raises ValueError."""
        line = self._inp.readline()
        if not line:
            return None
        msg = json.loads(line.decode("utf-8"))
        return msg.get("id"), msg.get("method"), msg.get("params") or {}

    def send(self, obj):
        data = (json.dumps(obj, separators=(",", ":"), default=repr) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            n = self._out.write(view)
            view = view[n:]

    def answer(self, mid, result):
        self.send({"id": mid, "result": result, "rss": maxrss_kb()})

    def progress(self, mid, step):
        self.send({"id": mid, "progress": step})

    def error(self, mid, code, exc, tb=""):
        t = type(exc)
        name = t.__name__ if t.__module__ == "builtins" else t.__module__ + "." + t.__name__
        self.send({"id": mid, "error": {"code": code, "type": name, "message": str(exc), "traceback": tb}})


def serve(handler, channel=None):
    """Answers requests with handler.m_<method>(params) until shutdown or EOF.
    ``handler.sgeventd_stop_parent_watch()`` ends the parent watch thread."""
    handler.sgeventd_stop_parent_watch = exit_with_parent()
    channel = channel if channel is not None else Channel()
    initialized = False
    while True:
        try:
            request = channel.read()
        except ValueError as e:
            channel.error(None, "TK_PROTOCOL", e)
            continue
        if request is None:
            return 0
        mid, method, params = request
        try:
            if method != "init" and not initialized and method != "shutdown":
                raise RpcError("TK_NOT_INITIALIZED", "init first")
            fn = getattr(handler, "m_" + str(method), None)
            if fn is None:
                raise RpcError("TK_NO_METHOD", "unknown method %r" % method)
            # A long method reports steps of its call (each re-arms the caller's timeout).
            handler.sgeventd_progress = lambda step, _mid=mid: channel.progress(_mid, step)
            result = fn(params)
            if method == "init":
                initialized = True
            channel.answer(mid, result)
        except KeyboardInterrupt:
            raise
        except SystemExit as e:
            channel.error(mid, "TK_PYTHON_ERROR", e)
            continue
        except BaseException as e:  # noqa: BLE001 - everything goes back to the caller
            code = e.code if isinstance(e, RpcError) else ("TK_INIT_FAILED" if method == "init" else "TK_PYTHON_ERROR")
            channel.error(mid, code, e, traceback.format_exc())
        if method == "shutdown":
            sys.stdout.flush()
            sys.stderr.flush()
            return 0
