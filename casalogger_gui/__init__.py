"""casalogger: the Qt window that shows a CASA log file live.

``casalogger [LOGFILE]`` (or ``python -m casalogger_gui``); see
``docs/casalogger.md``.  ``casalogger_gui.logindex`` needs only numpy; the
other modules need PyQt5.
"""
