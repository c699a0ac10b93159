# Restore script in the style of ALMA's scriptForPI.py for CASA 4/5: Python 2
# syntax (print statements, dict.has_key, except E, e).  Run it unchanged with
#     execfile('../script/py2/scriptForPI.py')

import os
import sys
import glob
from xml.etree import cElementTree as ET

applyonly = True

print '*** Restore script (Python 2 style) ***'
casalog.post('*** Restore script (Python 2 style) ***', 'INFO', 'scriptForPI')

savingslevel = 0
if globals().has_key("SPACESAVING"):
    print 'SPACESAVING =', SPACESAVING
    if (type(SPACESAVING) != int or SPACESAVING < 0):
        sys.exit('ERROR: SPACESAVING value "' + str(SPACESAVING) + '" not permitted')
    savingslevel = SPACESAVING

scriptdir = os.path.dirname(os.path.abspath(__file__))
rawdir = os.path.join(os.path.dirname(os.path.dirname(scriptdir)), 'raw')

calscripts = sorted(glob.glob(os.path.join(scriptdir, 'member.*.scriptForCalibration.py')))
print 'Found', len(calscripts), 'calibration script(s)'
for calscript in calscripts:
    try:
        execfile(calscript)
    except IOError, e:
        print >>sys.stderr, 'cannot run', calscript, e
        raise

for i in xrange(len(calscripts)):
    print 'done with script', i,
print
py2_restore_done = (savingslevel, `len(calscripts)`)
