"""The launcher behind ``make run``: every app of ``dapr.yaml`` with its own local runtime,
the web page, and a proxy from ``/api/<function>/`` to the functions (``python -m launcher``).

Modules: ``runfile`` parses and checks the run file, ``plan`` turns it into processes,
``supervisor`` runs, restarts and stops them (``restart`` holds the back-off policy), ``web``
serves the page and the proxy.
"""

from .plan import AppPlan, ProcessSpec, build_plan
from .restart import CrashHistory, RestartPolicy
from .runfile import AppSpec, RunFile, RunFileError, load_run_file
from .supervisor import CrashLoop, StartupError, Supervisor
from .web import WebServer

__all__ = ["AppPlan", "AppSpec", "CrashHistory", "CrashLoop", "ProcessSpec", "RestartPolicy",
           "RunFile", "RunFileError", "StartupError", "Supervisor", "WebServer", "build_plan",
           "load_run_file"]
