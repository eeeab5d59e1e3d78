"""shotgunEvents plugins, unchanged, inside an sgeventd Python process.

Mirrors shotgunEvents' Plugin / Registrar / Callback: a plugin module exposes
``registerCallbacks(reg)``; ``reg.registerCallback(sgScriptName, sgScriptKey,
callback, matchEvents=None, args=None, stopOnError=True)``; a callback is
called as ``callback(sg, logger, event, args)`` with ``sg`` a
``shotgun_api3.Shotgun`` for that callback's script. Standard library only.
"""

import datetime
import importlib.util
import logging
import os
import sys
import time
import traceback

_DT_LEN = 20  # shotgun_api3 converts exactly "YYYY-MM-DDTHH:MM:SSZ" strings


class PluginLoadError(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


# Exception classes (by name, so shotgun_api3 need not be importable) that mean
# the site could not be reached or answered with a server error.
_SITE_ERROR_NAMES = frozenset(["ProtocolError", "HTTPException", "RemoteDisconnected", "IncompleteRead", "URLError"])


def _is_site_error(e):
    """A load failed on the site, not on the plugin's code: worth another try.
    Classified by exception, whatever the phase (the official client connects
    when it is built, inside registerCallbacks)."""
    import socket
    import ssl

    if isinstance(e, (ConnectionError, TimeoutError, socket.timeout, socket.gaierror, ssl.SSLError)):
        return True
    return any(c.__name__ in _SITE_ERROR_NAMES for c in type(e).__mro__)


_UTC = datetime.timezone.utc
_DIGITS = frozenset("0123456789")


def _to_datetime(value):
    if isinstance(value, str) and len(value) == _DT_LEN and value[4] == "-" and value[10] == "T" and value[19] == "Z":
        # The common shape, read without strptime (several times slower per
        # event); anything else takes strptime's reading, as before.
        if value[7] == "-" and value[13] == ":" and value[16] == ":" and _DIGITS.issuperset(value[0:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19]):
            try:
                utc = datetime.datetime(int(value[0:4]), int(value[5:7]), int(value[8:10]), int(value[11:13]), int(value[14:16]), int(value[17:19]), tzinfo=_UTC)
            except ValueError:
                return value
        else:
            try:
                utc = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_UTC)
            except ValueError:
                return value
        # shotgun_api3 hands out aware datetimes in local time by default.
        return utc.astimezone()
    return value


# JSON scalars that inbound() hands back as they are.
_PLAIN = frozenset([int, float, bool, type(None)])


def inbound(value):
    """Decodes datetimes the way shotgun_api3 does, recursively (new dicts and
    lists). Scalars and strings of another length are kept without a call:
    this runs on every event before its callbacks."""
    t = type(value)
    if t is dict:
        return {k: v if type(v) in _PLAIN or (type(v) is str and len(v) != _DT_LEN) else inbound(v) for k, v in value.items()}
    if t is str:
        return _to_datetime(value) if len(value) == _DT_LEN else value
    if t is list:
        return [v if type(v) in _PLAIN or (type(v) is str and len(v) != _DT_LEN) else inbound(v) for v in value]
    if isinstance(value, dict):
        return dict((k, inbound(v)) for k, v in value.items())
    if isinstance(value, list):
        return [inbound(v) for v in value]
    return _to_datetime(value)


class _MissingShotgun(object):
    """Stands in for ``sg`` when shotgun_api3 cannot be imported; any use explains why."""

    def __init__(self, reason):
        self._reason = reason

    def __getattr__(self, name):
        raise ImportError(self._reason)

    def __bool__(self):
        return False

    __nonzero__ = __bool__


def shotgun_factory(site_url, proxy, timeout_ms=None):
    """Returns a function (script_name, script_key) -> Shotgun, or a stand-in
    explaining the import failure. Every Shotgun goes through ``proxy`` (the
    daemon's ``site.proxy``, as shotgun_api3's ``http_proxy``) and waits at
    most ``timeout_ms`` for the site (``site.timeoutMs``, as ``config.timeout_secs``)."""
    try:
        import shotgun_api3  # noqa: F401 - from the daemon's environment (or a v0.23.7+ core's zip, in a runtime)
    except ImportError as e:
        shotgun_api3 = None
        first_error = str(e)
        try:  # cores up to v0.23.6 vendor it
            from tank_vendor import shotgun_api3  # noqa: F811
        except ImportError:
            pass
    if shotgun_api3 is None or getattr(shotgun_api3, "Shotgun", None) is None:
        why = first_error if shotgun_api3 is None else "%s has no Shotgun class" % getattr(shotgun_api3, "__file__", "shotgun_api3")
        reason = "shotgun_api3 is not importable by %s (%s); searched sys.path: %s" % (sys.executable, why, os.pathsep.join(sys.path))

        def missing(name, key):
            return _MissingShotgun(reason)

        missing.error = reason
        return missing

    def make(name, key):
        kwargs = {}
        if proxy:
            kwargs["http_proxy"] = proxy
        if not timeout_ms:
            return shotgun_api3.Shotgun(site_url, name, key, **kwargs)
        # The timeout is a config attribute: built without connecting, then
        # connected as connect=True would (server_caps asks for info).
        sg = shotgun_api3.Shotgun(site_url, name, key, connect=False, **kwargs)
        sg.config.timeout_secs = float(timeout_ms) / 1000.0
        sg.server_caps
        return sg

    make.error = None
    return make


class Callback(object):
    def __init__(self, plugin, callback, sg, match_events, args, stop_on_error, index):
        if not callable(callback):
            raise TypeError("The callback must be a callable object (function, method or callable class instance).")
        if hasattr(callback, "__name__"):
            self.name = callback.__name__
        elif hasattr(callback, "__class__") and hasattr(callback, "__call__"):
            self.name = "%s_%s" % (callback.__class__.__name__, hex(id(callback)))
        else:
            raise ValueError("registerCallback should be called with a function or a callable object instance as callback argument.")
        self.index = index
        self.callback = callback
        self.sg = sg
        self.match_events = match_events
        self.args = args
        self.stop_on_error = stop_on_error
        self.logger = logging.getLogger(plugin.logger.name + "." + self.name)
        self.last_used = time.monotonic()

    def renew_sg(self, sg):
        """A new connection (a forked worker's own)."""
        self.sg = sg
        self.last_used = time.monotonic()

    def close_if_idle(self, idle_close_secs):
        """A connection idle longer than the site keeps it open fails its next
        request (BrokenPipeError over plain http) and shotgun_api3 does not
        retry it: close it, so the next request opens a fresh one. Nothing is
        retried here either (a write may not be repeated)."""
        if not idle_close_secs or time.monotonic() - self.last_used <= idle_close_secs:
            return
        try:
            close = getattr(self.sg, "_close_connection", None)
            if callable(close):
                close()
        except Exception as e:  # noqa: BLE001 - the next request opens its own connection anyway
            self.logger.debug("closing an idle connection failed: %s", e)

    def can_process(self, event):
        # shotgunEvents Callback.canProcess, verbatim in meaning.
        if not self.match_events:
            return True
        if "*" in self.match_events:
            event_type = "*"
        else:
            event_type = event["event_type"]
            if event_type not in self.match_events:
                return False
        attributes = self.match_events[event_type]
        if attributes is None or "*" in attributes:
            return True
        if event["attribute_name"] and event["attribute_name"] in attributes:
            return True
        return False


class Registrar(object):
    """What registerCallbacks receives: logger, setEmails, registerCallback (and getLogger)."""

    def __init__(self, plugin):
        self._plugin = plugin

    @property
    def logger(self):
        return self._plugin.logger

    def getLogger(self):
        return self._plugin.logger

    def setEmails(self, *emails):
        self._plugin.set_emails(*emails)

    def registerCallback(self, sgScriptName, sgScriptKey, callback, matchEvents=None, args=None, stopOnError=True):
        self._plugin.register(sgScriptName, sgScriptKey, callback, matchEvents, args, stopOnError)


class Plugin(object):
    def __init__(self, path, name, make_shotgun, use_session_uuid, idle_close_ms=None):
        self.path = path
        self.name = name
        self.logger = logging.getLogger("plugin." + name)
        self.callbacks = []
        self.emails = True
        self.module = None
        self.uses_toolkit = False
        self._make_shotgun = make_shotgun
        self._use_session_uuid = use_session_uuid
        self._idle_close_secs = float(idle_close_ms) / 1000.0 if idle_close_ms else None

    def set_emails(self, *emails):
        if len(emails) == 1 and isinstance(emails[0], (bool, list, tuple)):
            emails = emails[0]
        self.emails = list(emails) if isinstance(emails, (list, tuple)) else emails

    def register(self, script_name, script_key, callback, match_events, args, stop_on_error):
        sg = self._make_shotgun(script_name, script_key)
        self.callbacks.append(Callback(self, callback, sg, match_events, args, stop_on_error, len(self.callbacks)))
        self.callbacks[-1].script_name = script_name

    def load(self):
        spec = importlib.util.spec_from_file_location(self.name, self.path)
        if spec is None or spec.loader is None:
            raise PluginLoadError("PLUGIN_IMPORT_FAILED", "cannot import %s" % self.path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except BaseException as e:  # noqa: BLE001 - a plugin's import error is reported, not raised
            code = "PLUGIN_LOAD_SITE_ERROR" if _is_site_error(e) else "PLUGIN_IMPORT_FAILED"
            raise PluginLoadError(code, "%s: %s" % (type(e).__name__, e))
        register = getattr(module, "registerCallbacks", None)
        if not callable(register):
            raise PluginLoadError("PLUGIN_NO_REGISTER", "%s has no registerCallbacks(reg) function" % self.path)
        try:
            register(Registrar(self))
        except BaseException as e:  # noqa: BLE001
            code = "PLUGIN_LOAD_SITE_ERROR" if _is_site_error(e) else "PLUGIN_REGISTER_FAILED"
            raise PluginLoadError(code, "registerCallbacks failed: %s: %s" % (type(e).__name__, e))
        self.module = module
        self.uses_toolkit = bool(getattr(module, "SGEVENTD_TOOLKIT", False))
        return self.describe()

    def describe(self):
        return {
            "callbacks": [
                {
                    "index": c.index,
                    "name": c.name,
                    "scriptName": c.script_name,
                    "matchEvents": c.match_events,
                    "stopOnError": bool(c.stop_on_error),
                }
                for c in self.callbacks
            ],
            "emails": self.emails,
            "usesToolkit": self.uses_toolkit,
        }

    def process(self, raw_event, only=None):
        """Plugin._process: callbacks in order; a stopOnError failure stops the rest and deactivates."""
        event = inbound(raw_event)
        results = []
        failures = []
        for cb in self.callbacks:
            if only is not None and cb.name not in only:
                continue
            if not cb.can_process(event):
                continue
            cb.close_if_idle(self._idle_close_secs)
            if self._use_session_uuid and hasattr(cb.sg, "set_session_uuid"):
                cb.sg.set_session_uuid(event.get("session_uuid"))
            started = time.time()
            error = None
            try:
                cb.callback(cb.sg, cb.logger, event, cb.args)
            except Exception as e:  # noqa: BLE001 - reported as shotgunEvents logs it
                error = {
                    "name": type(e).__name__,
                    "message": "%s: %s" % (type(e).__name__, e),
                    "stack": traceback.format_exc(),
                    "code": getattr(e, "code", None) if isinstance(getattr(e, "code", None), str) else "PLUGIN_CALLBACK_ERROR",
                }
                cb.logger.critical("An error occured processing an event.\n\n%s", error["stack"])
            cb.last_used = time.monotonic()
            result = {
                "callback": cb.name,
                "index": cb.index,
                "startedAt": started * 1000.0,
                "durationMs": (time.time() - started) * 1000.0,
            }
            if error is not None:
                result["error"] = error
            results.append(result)
            if error is not None:
                if cb.stop_on_error:
                    return {"outcome": "deactivate", "callback": cb.name, "error": error, "results": results, "failures": failures}
                failures.append({"callback": cb.name, "error": error})
        return {"outcome": "ok", "results": results, "failures": failures}


def process_batch(plugin, events, budget_ms, progress):
    """Events in order through plugin.process, each result reported with
    progress() as soon as it is done (so a killed process loses nothing that
    finished). Stops after an event that is not a clean ok, or once budget_ms
    has passed. Returns how many events were processed."""
    deadline = time.time() + float(budget_ms or 50) / 1000.0
    done = 0
    for raw in events:
        result = plugin.process(raw)
        progress(result)
        done += 1
        if result["outcome"] != "ok" or result["failures"] or time.time() >= deadline:
            break
    return done
