# Helper functions for the restore scripts (executed with globals()).

helpers_saw_scriptdir = scriptdir       # a variable of the calling script
helpers_version = 2


def count_rows(vis):
    """Number of rows of a MeasurementSet's main table."""
    from casacore import tables
    t = tables.table(vis, ack=False)
    try:
        return t.nrows()
    finally:
        t.close()


def flagged_fraction(vis):
    from casacore import tables
    t = tables.table(vis, ack=False)
    try:
        flags = t.getcol('FLAG')
    finally:
        t.close()
    return float(flags.sum()) / flags.size
