# Restore script in the style of ALMA's scriptForPI.py (CASA 5 era).
#
# Run it from the 'calibrated' directory with
#     execfile('../script/scriptForPI.py')
# Optional globals: mysteps (steps of the calibration scripts to run),
# applyonly.  Written for casashell's tests: it must run unchanged.

import os
import sys
import glob
import shutil

casalog.post('*** Restore script started ***')

if 'applyonly' not in globals():
    applyonly = False

scriptdir = os.path.dirname(os.path.abspath(__file__))
rawdir = os.path.join(os.path.dirname(scriptdir), 'raw')
script_argv0 = sys.argv[0]

# helper functions, shared both ways with this script
execfile(os.path.join(scriptdir, 'restore_helpers.py'), globals())
assert helpers_saw_scriptdir == scriptdir

calscripts = sorted(glob.glob(os.path.join(scriptdir, 'member.*.scriptForCalibration.py')))
print('Calibration scripts found: ' + str([os.path.basename(s) for s in calscripts]))

calibrated = []
for calscript in calscripts:
    casalog.post('Running ' + os.path.basename(calscript))
    execfile(calscript)          # CASA 5 style: no globals argument
    calibrated.append(msname + '.split.cal')

file_inside_script = __file__

if os.path.isdir(calibrated[0]):
    listobs(vis=calibrated[0], listfile=calibrated[0] + '.listobs', overwrite=True)
    restored_rows = count_rows(calibrated[0])
    casalog.post('*** Restore finished: %d rows in %s ***' % (restored_rows, calibrated[0]))
