# casashell configuration file.
#
# Copy this file to ~/.casa/config.py (or pass it with `casa --configfile FILE`)
# and change what you need.  It is plain Python, executed in its own namespace
# before the shell starts; afterwards every name below that you assigned is
# type-checked and used.  Command-line options override these values.
#
# The same format serves as a site configuration file for all users of an
# installation: $CASASITECONFIG (an absolute path), else
# /opt/casa/casasiteconfig.py, else /home/casa/casasiteconfig.py, else a
# module casasiteconfig on sys.path.  It runs before this file (`casa
# --nositeconfig` skips it), so here every variable already holds the site
# value.
#
# * Every line below shows the built-in default: a file that only contains
#   what is here changes nothing.
# * A name that is not a casashell variable is reported with a WARN line in
#   the log (imports, functions and names starting with "_" are yours and
#   are left alone).  A value of the wrong type is reported with a WARN and
#   the default is kept.
# * If this file raises an exception, the whole file is ignored, the
#   traceback is logged as SEVERE, and casashell starts with the values from
#   before it (the site configuration's, or the defaults).
# * "~" is expanded and relative paths are taken from the directory casa is
#   started in.
# * Each variable already holds its current value when the file runs (the
#   site configuration's, or the default), so you can extend a list:
#   datapath.append("/data/more")

# --- log --------------------------------------------------------------------
# Log file.  The default is casa-YYYYMMDD-HHMMSS.log (UTC start time) in the
# current directory; an existing file is appended to.
#logfile = "casa-YYYYMMDD-HHMMSS.log"

# True: write no log file at all (logfile becomes /dev/null).   --nologfile
#nologfile = False

# True: print every log line on the terminal (stderr) as well.  WARN and
# SEVERE lines are always printed there.                          --log2term
#log2term = False

# True: do not start the casalogger window beside the shell.      --nologger
#nologger = False

# --- display ----------------------------------------------------------------
# True: no graphical windows at all: implies nologger = True and agg = True.
#nogui = False                                                    # --nogui

# True: matplotlib uses its non-interactive "agg" backend (plots are only
# written to files).                                              # --agg
#agg = False

# IPython colour scheme: "Neutral", "NoColor", "Linux" or "LightBG". --colors
#colors = "Neutral"

# True: record the typed input in iplogfile (IPython's input log). --iplog
#iplog = False
# Default: ipython-YYYYMMDD-HHMMSS.log (UTC start time) in the current directory.
#iplogfile = "ipython-YYYYMMDD-HHMMSS.log"

# --- files ------------------------------------------------------------------
# Working files.  The IPython directory is cachedir/ipython and the command
# history cachedir/ipython/history.sqlite.                       --cachedir
#cachedir = "~/.casa"

# Directories searched for data files (entries that are not directories are
# left out with a WARN).                                          --datapath A:B
#datapath = []

# Python file run in the shell's namespace (tasks, casalog...) before the
# first prompt, if it exists.                --startupfile FILE / --nostartupfile
#startupfile = "~/.casa/startup.py"

# False: the user site-packages (~/.local/lib/pythonX.Y/site-packages) is taken
# off sys.path, so a stray package there cannot shadow casashell's own
# dependencies.  True: keep it.                                   --user-site
#user_site = False

# --- telemetry and crash reports ----------------------------------------------
# Usage statistics, only ever written locally to telemetry_log_directory;
# casashell never sends anything anywhere.                        --notelemetry
#telemetry_enabled = False
# Default: cachedir/telemetry.
#telemetry_log_directory = "~/.casa/telemetry"
# Maximum total size of the telemetry files, in KiB.
#telemetry_log_limit = 20480
# Seconds between checks of the telemetry files' size.
#telemetry_log_size_interval = 60
# Seconds between two bundlings of the records (one week).
#telemetry_submit_interval = 604800
# Where the bundles are sent (HTTP POST); None: nothing leaves the machine.
#telemetry_submit_url = None

# Write a crash report when the shell dies of a fatal error (a supervising
# process watches the shell; see docs).                         --nocrashreport
#crashreporter_enabled = True
# Where crash reports are written.  Default: cachedir/crashreports.
#crashreporter_directory = "~/.casa/crashreports"
# Include the native (C/C++) stack of every thread, taken with gdb (or
# eu-stack) when one is installed.
#crashreporter_native_stack = True

# --- parallel processing of Multi-MSs (docs/multims.md) ------------------------
# Address of a dask scheduler that runs the tasks given a Multi-MS, e.g.
# "tcp://cluster-head:8786" (its workers must see the data at the same paths).
# None: a local cluster of 'cores' worker processes on 127.0.0.1, started on
# first use.  casa --dask-scheduler ADDR sets it too.
#dask_scheduler = None
# Worker processes of that local cluster; 0: one per CPU (casa --cores N).
#cores = 0

# --- accepted from CASA config files, without effect in casashell -----------------
# casashell reads no CASA measures/runtime data and downloads nothing, so
# these CASA variables are accepted (no WARN) and otherwise ignored:
#measurespath = "~/.casa/data"
#measures_auto_update = True
#data_auto_update = True
#measures_update_interval = 1
#data_update_interval = 1
#measures_site = []
#measures_site_interval = 2
#casaconfig_verbose = 1
#skipnetworkcheck = False
#pipeline = False
