"""The tasks, modular style: ``from casashell.tasks import listobs``.

Modular tasks raise ordinary Python exceptions.  Each task lives in its own
module, imported only when the task is first used, so ``import
casashell.tasks`` is cheap.

To add a task: write ``casashell/tasks/<name>.py`` declaring it with
``@task`` (see ``_framework``) and add its name to ``TASK_MODULES``.
"""

from __future__ import annotations

import importlib

#: task name -> module (inside this package) that defines it
TASK_MODULES = {
    # inspection
    "listobs": "listobs",
    "vishead": "vishead",
    "listhistory": "listhistory",
    "listvis": "listvis",
    # flagging
    "flagdata": "flagdata",
    "flagmanager": "flagmanager",
    # transforming
    "split": "split",
    "mstransform": "mstransform",
    "hanningsmooth": "hanningsmooth",
    "clearcal": "clearcal",
    "initweights": "initweights",
    "delmod": "delmod",
    "concat": "concat",
    # plots and files
    "plotants": "plotants",
    "plotms": "plotms",
    "importuvfits": "importuvfits",
    "exportuvfits": "exportuvfits",
    "listfits": "listfits",
    "imhead": "imhead",
    # multi-MS
    "partition": "partition",
    "listpartition": "listpartition",
}

__all__ = sorted(TASK_MODULES) + ["tasklist", "taskhelp", "available_tasks", "get_spec"]


def available_tasks() -> list[str]:
    """Names of the tasks whose module exists in this installation."""
    import importlib.util
    out = []
    for name, mod in TASK_MODULES.items():
        if importlib.util.find_spec(f"{__name__}.{mod}") is not None:
            out.append(name)
    return sorted(out)


def __getattr__(name):
    mod = TASK_MODULES.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{mod}")
    func = getattr(module, name)
    globals()[name] = func
    return func


def get_spec(name: str):
    """The declaration (TaskSpec) of task ``name``."""
    return __getattr__(name).spec


def tasklist() -> dict:
    """Print the available tasks by category; return {category: [names]}."""
    cats: dict[str, list[str]] = {}
    for name in available_tasks():
        cats.setdefault(get_spec(name).category, []).append(name)
    for cat in sorted(cats):
        print(f"{cat}:")
        print("  " + "  ".join(sorted(cats[cat])))
    return cats


def taskhelp() -> None:
    """Print each available task with its one-line summary."""
    for name in available_tasks():
        print(f"{name:<15} : {get_spec(name).summary}")
