"""A project runtime: one Python process started directly on a project's
Toolkit core, answering JSON-RPC requests from sgeventd.

The pipes, the init handshake and the parent watch are sgeventd_protocol.py's
(shared with plugin processes); this file holds the Toolkit methods.
Standard library only; Python 3.7 or later.
"""
import importlib
import os
import sys

from sgeventd_protocol import RpcError, serve  # beside this file, shared with plugin_runner.py

# Top-level names a core may bring with it (vendored or from its pkgs.zip).
CORE_PREFIXES = ("tank", "sgtk", "tank_vendor")


def _rss_kb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    try:
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r // 1024 if sys.platform == "darwin" else r
    except Exception:  # noqa: BLE001 - no resource module on Windows
        return None


def to_json(value, depth=0):
    """Turns Toolkit objects into plain JSON."""
    if depth > 20:
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return dict((str(k), to_json(v, depth + 1)) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v, depth + 1) for v in value]
    if hasattr(value, "__fspath__"):
        return os.fspath(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    names = [c.__name__ for c in type(value).__mro__]
    if "Template" in names and hasattr(value, "definition"):
        return {"type": "Template", "name": getattr(value, "name", None), "definition": value.definition}
    if "Context" in names:
        out = {"type": "Context"}
        for key in ("project", "entity", "step", "task", "user"):
            out[key] = to_json(getattr(value, key, None), depth + 1)
        return out
    return repr(value)



def _with_timeout(user, seconds):
    """tk-core sets no timeout on the connections its user creates (shotgun_api3
    waits forever by default): each one gets ``site.timeoutMs``, as the
    daemon's own connections do. ``config.timeout_secs`` is read when the
    connection opens, and tk-core creates them with ``connect=False``."""
    create = user.create_sg_connection

    def create_sg_connection():
        sg = create()
        sg.config.timeout_secs = seconds
        return sg

    user.create_sg_connection = create_sg_connection

class Project(object):
    """One configuration served by this process: its tk, engine and context."""

    def __init__(self, config_path):
        self.config_path = config_path
        self.tk = None
        self.engine = None


class Runtime(object):
    def __init__(self):
        self.params = {}
        self.mode = None
        self.core_python = None
        self.sgtk = None
        self.projects = {}
        self.studio_paths = []
        self.user = None
        self.plugins = {}

    # -- core loading -------------------------------------------------------

    def _load_core(self, core_python, config_path):
        """The API proxy's job: core first on sys.path, TANK_CURRENT_PC set.
        Old proxies call Python 2's reload(), so the proxy itself is never used."""
        if config_path:
            os.environ["TANK_CURRENT_PC"] = config_path
        else:
            os.environ.pop("TANK_CURRENT_PC", None)
        if core_python in sys.path:
            sys.path.remove(core_python)
        sys.path.insert(0, core_python)
        importlib.invalidate_caches()
        import sgtk  # noqa: the core just put first on sys.path

        core_dir = os.path.normcase(os.path.abspath(core_python))
        got = os.path.normcase(os.path.abspath(os.path.dirname(os.path.dirname(sgtk.__file__))))
        if got != core_dir:
            raise RpcError("TK_WRONG_CORE", "import sgtk gave %s, expected the core at %s" % (sgtk.__file__, core_python))
        self.sgtk = sgtk
        self.core_python = core_python
        self._authenticate()

    def _authenticate(self):
        site = self.params.get("site") or {}
        if not site.get("url"):
            return
        sgtk = self.sgtk
        auth = getattr(sgtk, "authentication", None)
        if auth is None or not hasattr(sgtk, "set_authenticated_user"):
            return
        # tk-core's user builds every Shotgun connection of the core (tk.shotgun,
        # bootstrap, descriptors) with this proxy (ScriptUser.create_sg_connection).
        kwargs = {"http_proxy": site["proxy"]} if site.get("proxy") else {}
        user = auth.ShotgunAuthenticator().create_script_user(
            api_script=site.get("scriptName"), api_key=site.get("scriptKey"), host=site.get("url"), **kwargs
        )
        if site.get("timeoutMs"):
            _with_timeout(user, site["timeoutMs"] / 1000.0)
        sgtk.set_authenticated_user(user)

    def _unload_core(self):
        """Swap isolation: forget the current core completely before the next."""
        for project in list(self.projects.values()):
            self._destroy_engine(project)
        self.projects = {}
        if self.core_python is None:
            return
        core_root = os.path.dirname(self.core_python)
        # Cores find their dependency zips through realpath, studio roots are often symlinks.
        prefixes = tuple(set(
            os.path.normcase(f(core_root)) + os.sep for f in (os.path.abspath, os.path.realpath)
        ))

        def under(p):
            if not isinstance(p, str):
                return False
            return any(
                os.path.normcase(f(p)).startswith(prefixes) for f in (os.path.abspath, os.path.realpath)
            )

        studio = tuple(os.path.normcase(os.path.abspath(p)) + os.sep for p in self.studio_paths)

        def studio_module(f):
            return isinstance(f, str) and bool(studio) and os.path.normcase(os.path.abspath(f)).startswith(studio)

        # Studio modules go too: they hold references to the old core (`import sgtk` at module level).
        for name, mod in list(sys.modules.items()):
            top = name.split(".", 1)[0]
            f = getattr(mod, "__file__", None)
            if top in CORE_PREFIXES or under(f) or studio_module(f):
                del sys.modules[name]
        sys.path[:] = [p for p in sys.path if not under(p)]
        for key in list(sys.path_importer_cache.keys()):
            if under(key):
                del sys.path_importer_cache[key]
        importlib.invalidate_caches()
        os.environ.pop("TANK_CURRENT_PC", None)
        self.sgtk = None
        self.core_python = None

    def _destroy_engine(self, project):
        if project.engine is not None:
            try:
                project.engine.destroy()
            finally:
                project.engine = None

    def _project(self, params):
        """The project a request is for: switches core in swap mode, builds tk lazily."""
        config_path = params.get("configPath") or self.params.get("configPath")
        if self.mode == "swap":
            core_python = params.get("corePython")
            if not core_python or not config_path:
                raise RpcError("TK_BAD_REQUEST", "swap mode needs configPath and corePython in every request")
            if core_python != self.core_python or config_path not in self.projects:
                self._unload_core()
                self._load_core(core_python, config_path)
        if not config_path:
            raise RpcError("TK_BAD_REQUEST", "no configPath")
        project = self.projects.get(config_path)
        if project is None:
            project = Project(config_path)
            if self.mode == "distributed":
                # A prepared (bootstrapped) configuration: build it directly, as the bootstrap does.
                from tank import pipelineconfig

                project.tk = self.sgtk.sgtk_from_path(pipelineconfig.PipelineConfiguration(config_path))
            else:
                project.tk = self.sgtk.sgtk_from_path(config_path)
            self.projects[config_path] = project
        return project

    # -- methods ------------------------------------------------------------

    def m_init(self, params):
        self.params = params
        self.mode = params.get("mode", "centralized")
        self.studio_paths = list(params.get("pythonPath") or [])
        sys.path.extend(p for p in self.studio_paths if p not in sys.path)
        out = {"pid": os.getpid(), "python": sys.version.split()[0], "mode": self.mode}
        if self.mode == "swap":
            return out
        if self.mode not in ("centralized", "shared-core", "distributed", "bootstrap"):
            raise RpcError("TK_BAD_REQUEST", "unknown mode %r" % self.mode)
        config_path = params.get("configPath") if self.mode in ("centralized", "distributed") else None
        self._load_core(params["corePython"], config_path)
        if config_path:
            self._project(params)
        out.update(self._core_info())
        return out

    def _core_info(self):
        sgtk = self.sgtk
        version = getattr(sgtk, "__version__", None)
        try:
            from tank import pipelineconfig_utils

            running = pipelineconfig_utils.get_currently_running_api_version()
        except Exception:  # noqa: BLE001 - very old or fake cores
            running = None
        api3 = sys.modules.get("shotgun_api3") or sys.modules.get("tank_vendor.shotgun_api3")
        if api3 is None:
            try:  # cores up to v0.23.6 vendor it
                from tank_vendor import shotgun_api3 as api3
            except Exception:  # noqa: BLE001
                api3 = None
        return {
            "coreVersion": running if running and running != "HEAD" else version,
            "sgtkVersion": version,
            "corePath": os.path.dirname(sgtk.__file__),
            "corePython": self.core_python,
            "shotgunApi3": getattr(api3, "__version__", None) if api3 else None,
        }

    def m_ping(self, params):
        return "pong"

    def m_info(self, params):
        out = {
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "mode": self.mode,
            "configPath": self.params.get("configPath"),
            "configs": sorted(self.projects.keys()),
            "rssKb": _rss_kb(),
        }
        if self.mode == "swap" and params.get("corePython"):
            self._project(params)
        if self.sgtk is not None:
            out.update(self._core_info())
        return out

    def _target(self, project, name):
        if name == "tk":
            return project.tk
        if name == "sgtk":
            return self.sgtk
        if name == "engine":
            return self._engine(project, None)
        if name == "context":
            engine = project.engine
            if engine is not None:
                return engine.context
            return project.tk.context_empty()
        raise RpcError("TK_BAD_REQUEST", "unknown target %r" % name)

    def m_call(self, params):
        project = self._project(params)
        if self.params.get("syncPathCache") and params.get("path") in (
            "paths_from_template", "context_from_path", "entity_from_path", "abstract_paths_from_template",
        ):
            project.tk.synchronize_filesystem_structure()
        obj = self._target(project, params.get("target", "tk"))
        for part in (params.get("path") or "").split("."):
            if not part:
                continue
            if part.startswith("_") and part not in ("__version__", "__file__"):
                raise RpcError("TK_BAD_REQUEST", "private attribute %r" % part)
            if isinstance(obj, dict):
                obj = obj[part]
            else:
                obj = getattr(obj, part)
        args = [self._arg(project, a) for a in params.get("args") or []]
        kwargs = dict((k, self._arg(project, v)) for k, v in (params.get("kwargs") or {}).items())
        if callable(obj):
            obj = obj(*args, **kwargs)
        elif args or kwargs:
            raise RpcError("TK_BAD_REQUEST", "%s is not callable" % params.get("path"))
        return to_json(obj)

    def _arg(self, project, value):
        """{"$template": name} stands for tk.templates[name] in arguments."""
        if isinstance(value, dict) and len(value) == 1 and "$template" in value:
            return project.tk.templates[value["$template"]]
        return value

    def m_run(self, params):
        project = self._project(params)
        spec = params.get("fn") or ""
        module_name, _, func_name = spec.partition(":")
        if not module_name or not func_name:
            raise RpcError("TK_BAD_REQUEST", "run needs module:function, got %r" % spec)
        module = importlib.import_module(module_name)
        fn = getattr(module, func_name)
        ctx = RunContext(project, self, params.get("event"), params.get("args"))
        return to_json(fn(ctx))

    def _engine(self, project, name):
        if self.mode == "shared-core":
            # One engine per process in tk-core: engine work gets a per-configuration runtime.
            raise RpcError("TK_ENGINE_NEEDS_OWN_RUNTIME", "engines do not run in shared-core runtimes")
        if project.engine is None:
            name = name or self.params.get("engine") or "tk-shell"
            ctx = project.tk.context_empty()
            project.engine = self.sgtk.platform.start_engine(name, project.tk, ctx)
        return project.engine

    def m_command(self, params):
        project = self._project(params)
        engine = self._engine(project, params.get("engine"))
        name = params.get("name")
        commands = getattr(engine, "commands", {}) or {}
        if name not in commands:
            raise RpcError("TK_NO_COMMAND", "engine %s has no command %r" % (getattr(engine, "name", "?"), name))
        args = params.get("args") or []
        if hasattr(engine, "execute_command"):
            return to_json(engine.execute_command(name, args))
        return to_json(commands[name]["callback"](*args))

    # -- shotgunEvents plugins that declare SGEVENTD_TOOLKIT = True -----------

    def _plugin(self, spec):
        """The plugin module, imported in this runtime (so `import sgtk` is this
        project's core); imported again when its file, its generation (the
        daemon loaded it again: `sgeventd plugin reload`) or the core changes.
        Module-level state is per runtime."""
        import sgeventd_plugins  # beside this file

        stamp = (os.stat(spec["file"]).st_mtime, spec.get("generation"), id(self.sgtk))
        cached = self.plugins.get(spec["name"])
        if cached is not None and cached[0] == stamp:
            return cached[1]
        make = sgeventd_plugins.shotgun_factory(spec["siteUrl"], spec.get("proxy"), spec.get("timeoutMs"))
        plugin = sgeventd_plugins.Plugin(spec["file"], spec["name"], make, bool(spec.get("useSessionUuid")), spec.get("idleCloseMs"))
        folder = os.path.dirname(spec["file"])
        if folder not in sys.path:
            sys.path.append(folder)
        try:
            plugin.load()
        except sgeventd_plugins.PluginLoadError as e:
            raise RpcError(e.code, str(e))
        self.plugins[spec["name"]] = (stamp, plugin)
        return plugin

    def m_plugin_process_batch(self, params):
        """Events of this project in order, each reported as a step when done
        (see sgeventd_plugins.process_batch)."""
        import sgeventd_plugins  # beside this file

        self._project(params)  # the right core (and tk) for this project first
        plugin = self._plugin(params["plugin"])
        return {"events": sgeventd_plugins.process_batch(plugin, params["events"], params.get("budgetMs"), self.sgeventd_progress)}

    def m_prepare(self, params):
        """Bootstrap mode: ToolkitManager.prepare_engine, in a short-lived process on the bootstrap core."""
        if self.mode != "bootstrap":
            raise RpcError("TK_BAD_REQUEST", "prepare runs only in a bootstrap runtime")
        mgr = self.sgtk.bootstrap.ToolkitManager(self.sgtk.get_authenticated_user())
        if params.get("pluginId"):
            mgr.plugin_id = params["pluginId"]
        if params.get("baseConfiguration"):
            mgr.base_configuration = params["baseConfiguration"]
        if params.get("pipelineConfiguration") is not None:
            mgr.pipeline_configuration = params["pipelineConfiguration"]
        path, descriptor = mgr.prepare_engine(params.get("engine"), params.get("entity"))
        core_python = os.path.join(path, "install", "core", "python")
        if not os.path.isdir(core_python):
            raise RpcError("TK_PREPARE_FAILED", "prepared configuration %s has no core at %s" % (path, core_python))
        uri = descriptor.get_uri() if hasattr(descriptor, "get_uri") else (str(descriptor) if descriptor else None)
        return {"configPath": path, "corePython": core_python, "descriptor": uri}

    def m_shutdown(self, params):
        for project in list(self.projects.values()):
            self._destroy_engine(project)
        return "bye"


class RunContext(object):
    """What a `run` function receives: tk, sgtk, engine (started lazily), event, args."""

    def __init__(self, project, runtime, event, args):
        self._project = project
        self._runtime = runtime
        self.tk = project.tk
        self.sgtk = runtime.sgtk
        self.event = event
        self.args = args

    @property
    def engine(self):
        return self._runtime._engine(self._project, None)


if __name__ == "__main__":
    sys.exit(serve(Runtime()))
