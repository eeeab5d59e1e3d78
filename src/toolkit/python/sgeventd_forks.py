"""Forked workers of one concurrent Python plugin (``concurrency: { by, max }``).

The plugin's process has imported the plugin once (``shotgun_api3`` included);
each worker is an ``os.fork()`` of it, so a slot costs a fork and a connection,
not an interpreter start and an import. A worker:

- resets what a fork must not share: it gets its own ``sg`` for every
  callback (a ``shotgun_api3.Shotgun`` holds a keep-alive socket, which two
  processes must never use at once) and drops the daemon's pipes;
- connects to the Unix socket the daemon listens on for it and speaks the same
  JSON-lines protocol there (requests and answers on one socket; stdout and
  stderr stay the plugin process's, so its log lines keep their plugin name);
- exits when the socket closes, or when the plugin process is gone.

The fork happens from a single-threaded process: the parent-watch thread is
stopped first, and a plugin that started threads at import is refused
(PLUGIN_FORK_UNSAFE) rather than forked with locks held by threads that no
longer exist in the child. Standard library only.
"""

import os
import signal
import socket
import sys
import threading
import traceback

from sgeventd_protocol import Channel, RpcError, serve


def other_threads():
    me = threading.current_thread()
    return [t.name for t in threading.enumerate() if t is not me]


def close_quietly(sg):
    try:
        # getattr itself raises on the stand-in used when shotgun_api3 is missing.
        close = getattr(sg, "close", None)
        if callable(close):
            close()
    except Exception:  # noqa: BLE001 - a connection that will never be used again
        pass


class ForkServer(object):
    """Forks workers from the loaded plugin process; used by plugin_runner's m_fork."""

    def __init__(self, handler, plugin, scripts, make_shotgun):
        self._handler = handler
        self._plugin = plugin
        # (script name, script key) of each callback, in registration order: a worker opens its own sg with them.
        self._scripts = scripts
        self._make = make_shotgun
        self._ready = False

    def _prepare(self):
        """Once: stop the parent watch, check for threads, close the loaded sg connections."""
        stop = getattr(self._handler, "sgeventd_stop_parent_watch", None)
        if stop is not None:
            stop()
            self._handler.sgeventd_stop_parent_watch = None
        left = other_threads()
        if left:
            raise RpcError(
                "PLUGIN_FORK_UNSAFE",
                "plugin %s runs threads (%s) after its import: a process with threads cannot be forked safely; "
                "run it without concurrency (by: none)" % (self._plugin.name, ", ".join(left)),
            )
        # This process now only forks: its connections would be shared by every worker.
        for cb in self._plugin.callbacks:
            close_quietly(cb.sg)
        # Workers are reaped by the kernel; a worker restores the default for the plugin's own subprocesses.
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        self._ready = True

    def fork(self, socket_path):
        if not self._ready:
            self._prepare()
        left = other_threads()
        if left:
            raise RpcError("PLUGIN_FORK_UNSAFE", "plugin %s started threads (%s); it cannot be forked safely" % (self._plugin.name, ", ".join(left)))
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid != 0:
            return {"pid": pid}
        code = 70
        try:
            code = self._run_worker(socket_path)
        except BaseException:  # noqa: BLE001 - a worker never returns into the fork server's loop
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def _run_worker(self, socket_path):
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # The daemon's pipes belong to the fork server; /dev/null keeps fds 3 and 4 taken.
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 3)
        os.dup2(null, 4)
        os.close(null)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(socket_path)
        fd = sock.detach()
        for cb, (name, key) in zip(self._plugin.callbacks, self._scripts):
            old = cb.sg
            cb.renew_sg(self._make(name, key))
            close_quietly(old)
        self._handler.worker = True
        return serve(self._handler, Channel(fd, os.dup(fd)))
