"""MeasurementSet access: opening and validating, metadata, CASA's data
selection syntax, and chunked column I/O.

This layer knows nothing about the shell; it raises ordinary exceptions and
logs through ``casashell.logsink.casalog`` only where a task would.
"""
