"""One shotgunEvents-style Python plugin in its own process.

The pipes and the init handshake are sgeventd_protocol.py's, as for project runtimes;
stdout and stderr are the plugin's log. Methods: init, plugin_load,
plugin_process_batch, plugin_fork, ping, shutdown. Standard library only.

A plugin that runs events concurrently (``concurrency: { by, max }``, or its
module's ``SGEVENTD_CONCURRENCY``) is loaded here once; the daemon then asks
this process to fork workers (``plugin_fork``, see sgeventd_forks.py), which
run its events, and this process only forks.
"""

import json
import logging
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sgeventd_plugins  # noqa: E402

from sgeventd_protocol import RpcError, serve  # noqa: E402 - the same loop as project runtimes


class PluginProcess(object):
    def __init__(self):
        self.plugin = None
        self.worker = False
        self._forks = None
        self.sgeventd_progress = lambda step: None  # set by serve() for each call

    def m_init(self, params):
        # A plain handshake: the pool's runtime class counts the process ready after it.
        folder = params.get("preloadFrom") if isinstance(params, dict) else None
        if folder and not self.worker:
            preload_shotgun_api3(folder)
        return {"pid": os.getpid(), "python": sys.version.split()[0], "mode": "worker" if self.worker else "plugin"}

    def m_plugin_load(self, params):
        # The preload's thread must be gone before the plugin loads: a process
        # that forks workers for concurrency must have no other thread.
        join_preload()
        path = params["file"]
        folder = os.path.dirname(path)
        # shotgunEvents imports plugins with their folder importable.
        if folder not in sys.path:
            sys.path.insert(0, folder)
        make = sgeventd_plugins.shotgun_factory(params["siteUrl"], params.get("proxy"), params.get("timeoutMs"))
        scripts = []

        def make_recorded(name, key):
            scripts.append((name, key))  # a forked worker opens its own sg with them
            return make(name, key)

        self.plugin = sgeventd_plugins.Plugin(path, params["name"], make_recorded, bool(params.get("useSessionUuid")), params.get("idleCloseMs"))
        try:
            described = self.plugin.load()
        except sgeventd_plugins.PluginLoadError as e:
            raise RpcError(e.code, str(e))
        described["shotgunApi3Error"] = make.error
        # Checked by the daemon (the config wins over it); absent: None.
        described["concurrency"] = getattr(self.plugin.module, "SGEVENTD_CONCURRENCY", None)
        import sgeventd_forks  # only loaded plugins fork; keep init's import short

        self._forks = sgeventd_forks.ForkServer(self, self.plugin, scripts, make)
        return described

    def m_plugin_fork(self, params):
        """Forks a worker that connects to params["socket"]; answers its pid."""
        if self.worker:
            raise RpcError("TK_NO_METHOD", "a forked worker does not fork")
        if self._forks is None:
            raise RpcError("TK_NOT_INITIALIZED", "plugin_load first")
        return self._forks.fork(params["socket"])

    def m_plugin_process_batch(self, params):
        """Events in order, each reported as a step when done; see sgeventd_plugins.process_batch."""
        if self.plugin is None:
            raise RpcError("TK_NOT_INITIALIZED", "plugin_load first")
        return {"events": sgeventd_plugins.process_batch(self.plugin, params["events"], params.get("budgetMs"), self.sgeventd_progress)}

    def m_ping(self, params):
        return {"pid": os.getpid()}

    def m_shutdown(self, params):
        return True


def preload_shotgun_api3(folder):
    """Imports shotgun_api3 in a background thread while the process waits
    for ``plugin_load`` (it may start well before its plugin is loaded): its
    import is the slowest part of a plugin's load. The plugin's folder goes
    first on sys.path as ``plugin_load`` puts it, so the same shotgun_api3 is
    found; ``plugin_load``'s own import waits for this one, and a failure is
    left for it to find again and report."""
    if folder not in sys.path:
        sys.path.insert(0, folder)

    def run():
        try:
            import shotgun_api3  # noqa: F401
        except BaseException:  # noqa: BLE001 - plugin_load imports it again and explains
            pass

    global _preload
    _preload = threading.Thread(target=run, name="sgeventd-preload", daemon=True)
    _preload.start()


_preload = None


def join_preload():
    """Waits for the shotgun_api3 preload's thread to end, if one ran."""
    global _preload
    if _preload is not None:
        _preload.join()
        _preload = None


class RecordLine(logging.Formatter):
    """One line per record: a record separator, then JSON with the level name
    and the formatted text (traceback included), so the daemon logs an ERROR
    as an error and keeps a traceback with its message (pyrpc/log-record.ts)."""

    def format(self, record):
        text = logging.Formatter.format(self, record)
        return "\x1e" + json.dumps({"level": record.levelname, "text": text})


def main():
    # Below WARNING to stdout, logged as info; the rest to stderr as records
    # that keep their level. Lines are logged under the plugin's name.
    fmt = logging.Formatter("%(name)s: %(message)s")
    low = logging.StreamHandler(sys.stdout)
    low.setFormatter(fmt)
    low.addFilter(lambda r: r.levelno < logging.WARNING)
    high = logging.StreamHandler(sys.stderr)
    high.setFormatter(RecordLine("%(name)s: %(message)s"))
    high.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(low)
    root.addHandler(high)
    return serve(PluginProcess())


if __name__ == "__main__":
    sys.exit(main())
