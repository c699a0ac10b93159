"""The text ``inp`` prints for a task: every parameter, its value and help.

Layout (as CASA's): a header ``# NAME -- summary``, then one line per
parameter in effect::

    vis            = 'x.ms'                  # Name of input visibility file (MS)
    selectdata     = True                    # Data selection parameters
       spw         = ''                      # Selection based on spectral-window

The label column is as wide as the longest parameter name (subparameter
names count 3 more per level); subparameters are indented 3 spaces under
their parent; values are padded to 23 characters and the help text is
word-wrapped to the terminal width with every ``#`` in the same column.

With colours: a parameter that has subparameters is bold on a white
background, a subparameter green, a value that differs from its default
blue, and a value that is not valid red.
"""

from __future__ import annotations

import shutil
import textwrap

BOLD_BG = "\x1b[1m\x1b[47m"
GREEN = "\x1b[92m"
BLUE = "\x1b[34m"
RED = "\x1b[91m"
RESET = "\x1b[0m"

VALUE_WIDTH = 23


def value_text(value) -> str:
    """Strings as ``'text'`` (no escaping), everything else as ``str()``."""
    from .tasks._framework import plain_value
    if isinstance(value, str):
        return f"'{value}'"
    return str(plain_value(value))


def _static_depth(spec, name: str, _seen=()) -> int:
    parents = spec.parents.get(name)
    if not parents or name in _seen:
        return 0
    return 1 + max(_static_depth(spec, par, _seen + (name,)) for par, _, _ in parents)


def label_width(spec) -> int:
    """Width of the label column: longest name, subparameters counting 3 more
    per level of nesting."""
    return max([len(p.name) + 3 * _static_depth(spec, p.name) for p in spec.params] or [0])


def format_inp(spec, values: dict, color: bool = False, columns: int | None = None) -> str:
    """The ``inp`` text for task ``spec`` with the current ``values``
    (missing names take their context defaults)."""
    if columns is None:
        columns = shutil.get_terminal_size((80, 24)).columns
    values = spec.defaults({k: v for k, v in values.items() if k in spec.by_name})
    width = label_width(spec)
    help_col = width + 27            # column of the '#'
    wrap = max(columns - help_col - 2, 20)
    lines = [f"# {spec.name} -- {spec.summary}"]
    for param, depth in spec.display_order(values):
        value = values[param.name]
        label = param.name.ljust(width - 3 * depth) + " ="
        if color and param.sub:
            label = BOLD_BG + label + RESET
        elif color and depth:
            label = GREEN + label + RESET
        label = "   " * depth + label
        vtext = value_text(value).ljust(VALUE_WIDTH)
        if color:
            if param.problem(value) is not None:
                vtext = RED + vtext + RESET
            elif not _same(value, spec.default_for(param.name, values)):
                vtext = BLUE + vtext + RESET
        help_lines = textwrap.wrap(" ".join(param.help.split()), wrap, break_on_hyphens=False,
                                   break_long_words=False) or [""]
        first = f"{label} {vtext}"
        plain_len = width + 3 + max(len(value_text(value)), VALUE_WIDTH)
        if plain_len > help_col - 1:
            lines.append(first.rstrip())
            rest = help_lines
        else:
            lines.append(f"{first} # {help_lines[0]}".rstrip())
            rest = help_lines[1:]
        lines.extend(" " * help_col + "# " + h for h in rest)
    return "\n".join(lines)


def _same(a, b) -> bool:
    from .tasks._framework import plain_value
    a, b = plain_value(a), plain_value(b)
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return False
