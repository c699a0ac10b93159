"""CASA 6 names that casashell does not provide, made to fail clearly.

A CASA user types ``tclean`` or ``tb.open(...)``, and a CASA 6 script starts
with ``from casatasks import split, gaincal``.  Without help these end in a
bare ``NameError``, a ``SyntaxError`` (autocall needs a defined name:
``statwt 'x.ms'``) or ``ModuleNotFoundError: casatasks`` on the first line of
a script that may only use tasks casashell has.  This module gives:

- placeholders for every CASA 6.7 task and shell tool instance casashell does
  not have: calling one (or using a tool's method) raises
  :class:`NotInCasashell` with a one-line message naming it;
- in a casa session, the modules ``casatasks`` (the tasks of
  ``casashell.tasks``, placeholders for the others) and ``casatools`` (every
  tool a placeholder), used only when the real CASA packages are not
  importable, so ``from casatasks import split`` runs in casashell.

Nothing heavy is imported here.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

#: CASA 6.7's tasks (casatasks 6.7.0), by name
CASA_TASKS = tuple("""
accor apparentsens applycal asdmsummary bandpass blcal calstat clearcal clearstat concat
conjugatevis cvel cvel2 deconvolve defintent delmod exportasdm exportfits exportuvfits feather
fixplanets fixvis flagcmd flagdata flagmanager fluxscale fringefit ft gaincal gencal
getantposalma getcalmodvla getephemtable hanningsmooth imbaseline imcollapse imcontsub imdev
imfit imhead imhistory immath immoments impbcor importasap importasdm importatca importfits
importfitsidi importgmrt importmiriad importnro importuvfits importvla impv imrebin imreframe
imregrid imsmooth imstat imsubimage imtrans imval initweights listcal listfits listhistory
listobs listpartition listsdm listvis makemask mstransform msuvbin nrobeamaverage partition
phaseshift plotants plotbandpass plotprofilemap plotweather polcal polfromgain predictcomp
rerefant rmfit rmtables sdatmcor sdbaseline sdcal sdfit sdfixscan sdgaincal sdimaging
sdintimaging sdpolaverage sdsidebandsplit sdsmooth sdtimeaverage setjy simalma simanalyze
simobserve slsearch smoothcal specfit specflux specsmooth splattotable split spxfit statwt
tclean testconcat tsdimaging uvcontsub uvcontsub_old uvmodelfit uvsub virtualconcat vishead
visstat widebandpbcor wvrgcal plotms
""".split())

#: the tool instances CASA 6.7's shell defines -> their casatools class
CASA_TOOLS = {
    "im": "imager", "cb": "calibrater", "ms": "ms", "qa": "quanta", "tb": "table",
    "af": "agentflagger", "me": "measures", "ia": "image", "po": "imagepol",
    "sm": "simulator", "cl": "componentlist", "cs": "coordsys", "rg": "regionmanager",
    "sl": "spectralline", "vp": "vpmanager", "msmd": "msmetadata", "fn": "functional",
    "imd": "imagemetadata", "vf": "vlafiller", "at": "atmosphere", "ca": "calanalysis",
    "mt": "mstransformer", "sdms": "singledishms", "lm": "linearmosaic",
}

_CASACORE_HINT = {
    "table": "python-casacore's casacore.tables.table",
    "ms": "casashell's tasks or casacore.tables.table",
    "msmetadata": "casashell.ms.metadata.MSMetadata, or listobs",
    "quanta": "casacore.quanta",
    "measures": "casacore.measures",
    "image": "casacore.images.image",
}


class NotInCasashell(NotImplementedError):
    """A CASA task, tool or module that casashell does not provide."""


class MissingTask:
    """Stands for a CASA task casashell does not have."""

    def __init__(self, name: str):
        self.__name__ = self.name = name
        self.__doc__ = (f"{name} is a CASA task that casashell does not provide "
                        f"(tasklist shows the tasks it has).")

    def __call__(self, *args, **kwargs):
        raise NotInCasashell(f"{self.name} is a CASA task that casashell does not provide; "
                             f"tasklist shows the tasks it has")

    def __repr__(self):
        return f"<CASA task {self.name}: not provided by casashell>"


class MissingTool:
    """Stands for a CASA tool (an instance like ``tb`` or a class like
    ``casatools.table``) that casashell does not have."""

    def __init__(self, label: str, cls: str):
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_cls", cls)

    def _fail(self):
        hint = _CASACORE_HINT.get(self._cls)
        more = f"; for similar work use {hint}" if hint else ""
        raise NotInCasashell(f"{self._label} (casatools.{self._cls}) is a CASA tool that "
                             f"casashell does not provide{more}")

    def __call__(self, *args, **kwargs):
        self._fail()

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        self._fail()

    def __repr__(self):
        return f"<CASA tool {self._label}: not provided by casashell>"


def missing_names(provided) -> dict:
    """Placeholders for the CASA task and tool names not in ``provided``."""
    out = {}
    for name in CASA_TASKS:
        if name not in provided:
            out[name] = MissingTask(name)
    for inst, cls in CASA_TOOLS.items():
        if inst not in provided:
            out[inst] = MissingTool(inst, cls)
    return out


# -- the casatasks / casatools modules of a casa session ------------------------------------

def _casatasks_getattr(name):
    from . import tasks
    if name in tasks.TASK_MODULES:
        return getattr(tasks, name)
    if name in ("casalog",):
        from .logsink import casalog
        return casalog
    if name in CASA_TASKS:
        return MissingTask(name)
    raise AttributeError(f"module 'casatasks' (casashell) has no attribute {name!r}")


def _casatools_getattr(name):
    if name in ("logsink",):
        from .logsink import casalog
        return lambda *a, **k: casalog
    if name.startswith("__"):
        raise AttributeError(name)
    return MissingTool(f"casatools.{name}", name)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``casatasks`` and ``casatools`` when nothing before it on
    ``sys.meta_path`` (the real CASA packages) does."""

    names = {"casatasks": _casatasks_getattr, "casatools": _casatools_getattr}

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.names:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        mod = types.ModuleType(spec.name, f"casashell's stand-in for CASA's {spec.name}")
        mod.__getattr__ = self.names[spec.name]
        mod.__casashell__ = True
        if spec.name == "casatasks":          # from casatasks import *: the tasks casashell has
            from .tasks import TASK_MODULES
            mod.__all__ = sorted(TASK_MODULES)
        return mod

    def exec_module(self, module):
        pass


def install_modules() -> None:
    """Make ``import casatasks`` / ``casatools`` work in this process, unless
    the real packages can be imported (this finder comes after all others)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
