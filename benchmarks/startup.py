"""Startup cost of ``casa --nologger --nogui -c pass``.

Runs the command 10 times (after one warm-up run) in a scratch directory
with a scratch HOME, and prints the median wall time and the median peak
RSS of the process, plus whether numpy, casacore, IPython or Qt were
imported.  Also times the interactive shell up to its first prompt (5 runs,
in a pseudo-terminal, when pexpect is installed).  Usage: ``python benchmarks/startup.py [runs]``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CASA = os.path.join(os.path.dirname(HERE), "bin", "casa")
COMMAND = ["--nologger", "--nogui", "-c", "pass"]
PROBE = ("import sys; heavy = [m for m in ('numpy', 'casacore', 'IPython', 'PyQt5', "
         "'matplotlib') if m in sys.modules]; print('heavy modules imported:', heavy or 'none')")


def run_once(workdir: str, env: dict, args: list[str]) -> float:
    """Wall time (s) of one run of the launcher."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, CASA] + args, cwd=workdir, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"casa failed ({proc.returncode}): {proc.stderr.decode()}")
    return wall


def peak_rss(workdir: str, env: dict) -> int:
    """Peak RSS (KiB) of one run, measured from a fresh parent process."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, sys.executable, CASA] + COMMAND,
                         cwd=workdir, env=env, stdout=subprocess.PIPE, check=True)
    return int(out.stdout.split()[-1])


def time_to_prompt(workdir: str, env: dict) -> float | None:
    """Seconds from starting the interactive shell to its first prompt
    (None when pexpect is not installed)."""
    try:
        import pexpect
    except ImportError:
        return None
    env = dict(env, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    t0 = time.perf_counter()
    child = pexpect.spawn(sys.executable, [CASA, "--nologger", "--nologfile"], cwd=workdir,
                          env=env, encoding="utf-8", timeout=60)
    child.expect("CASA <")
    wall = time.perf_counter() - t0
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    return wall


def main(runs: int = 10) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HOME=tmp)
        env.pop("PYTHONPATH", None)
        run_once(tmp, env, COMMAND)  # warm-up (file cache)
        walls = [run_once(tmp, env, COMMAND) for _ in range(runs)]
        rss = sorted(peak_rss(tmp, env) for _ in range(3))[1]
        prompts = [time_to_prompt(tmp, env) for _ in range(5)]
        probe = subprocess.run([sys.executable, CASA, "--nologger", "--nogui", "-c", PROBE],
                               cwd=tmp, env=env, stdout=subprocess.PIPE, text=True)
    median = statistics.median(walls)
    print(f"{'command':<48} {'runs':>4} {'median s':>9} {'min s':>7} {'max s':>7} "
          f"{'peak RSS MiB':>13}")
    print(f"{'casa ' + ' '.join(COMMAND):<48} {runs:>4} {median:>9.3f} {min(walls):>7.3f} "
          f"{max(walls):>7.3f} {rss / 1024:>13.1f}")
    if prompts[0] is not None:
        print(f"{'casa --nologger --nologfile (to first prompt)':<48} {len(prompts):>4} "
              f"{statistics.median(prompts):>9.3f} {min(prompts):>7.3f} {max(prompts):>7.3f}")
    print(probe.stdout.strip())
    return median


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
