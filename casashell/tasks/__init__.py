"""The tasks, modular style: ``from casashell.tasks import listobs``.

Modular tasks raise ordinary Python exceptions.  Each task lives in its own
module, imported only when the task is first used, so ``import
casashell.tasks`` is cheap.

To add a task: write ``casashell/tasks/<name>.py`` declaring it with
``@task`` (see ``_framework``) and add its name to ``TASK_MODULES``.
"""

from __future__ import annotations

import importlib
import sys
import types

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

# ``__all__`` is computed on use (see ``__getattr__``): only the tasks whose
# module exists, so ``from casashell.tasks import *`` works in any checkout.


class _TaskPackage(types.ModuleType):
    """This package's module type.  Importing the submodule ``X`` (``import
    casashell.tasks.X``, ``from .tasks.X import helper``) makes Python set the
    package attribute ``X`` to that *module*, which would then shadow the
    task: ``from casashell.tasks import X`` must always give the task
    function.  (The module object stays in ``sys.modules``.)"""

    def __setattr__(self, name, value):
        if (isinstance(value, types.ModuleType) and name in TASK_MODULES
                and value.__name__ == f"{self.__name__}.{TASK_MODULES[name]}"):
            func = getattr(value, name, None)
            if callable(func):
                value = func
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _TaskPackage
for _name, _mod in list(globals().items()):     # submodules imported before this line
    if isinstance(_mod, types.ModuleType) and _name in TASK_MODULES:
        setattr(sys.modules[__name__], _name, _mod)


def available_tasks() -> list[str]:
    """Names of the tasks whose module exists in this installation."""
    import importlib.util
    out = []
    for name, mod in TASK_MODULES.items():
        if importlib.util.find_spec(f"{__name__}.{mod}") is not None:
            out.append(name)
    return sorted(out)


def __getattr__(name):
    if name == "__all__":
        return available_tasks() + ["tasklist", "taskhelp", "available_tasks", "get_spec"]
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


def _loaded_specs() -> tuple[dict, dict]:
    """({name: spec} of the tasks that load, {name: error text} of those that do not)."""
    specs, broken = {}, {}
    for name in available_tasks():
        try:
            specs[name] = get_spec(name)
        except Exception as exc:  # noqa: BLE001 - one broken task must not hide the others
            broken[name] = f"{type(exc).__name__}: {exc}"
    return specs, broken


def tasklist() -> dict:
    """Print the available tasks by category; return {category: [names]}."""
    specs, broken = _loaded_specs()
    cats: dict[str, list[str]] = {}
    for name, spec in specs.items():
        cats.setdefault(spec.category, []).append(name)
    for cat in sorted(cats):
        print(f"{cat}:")
        print("  " + "  ".join(sorted(cats[cat])))
    for name, err in sorted(broken.items()):
        print(f"(task {name} cannot be loaded: {err})")
    return {cat: sorted(names) for cat, names in cats.items()}


def taskhelp() -> dict:
    """Print each available task with its one-line summary; return {name: summary}."""
    specs, broken = _loaded_specs()
    out = {}
    print("Available tasks, with a one-line description:")
    for name in sorted(specs):
        out[name] = specs[name].summary
        print(f"{name:<15} : {specs[name].summary}")
    for name, err in sorted(broken.items()):
        print(f"{name:<15} : (cannot be loaded: {err})")
    return out
