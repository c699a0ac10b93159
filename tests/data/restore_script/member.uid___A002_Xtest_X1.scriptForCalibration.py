# Calibration script in the style of ALMA's scriptForCalibration.py (CASA 5 era).

import re
import os
import shutil

thesteps = []
step_title = {0: 'Import of the data',
              1: 'Listobs',
              2: 'A priori flagging',
              3: 'Split out the calibrated data'}

try:
    print('List of steps to be executed ...', mysteps)
    thesteps = mysteps
except:
    print('global variable mysteps not set.')
if (thesteps == []):
    thesteps = range(0, len(step_title))
    print('Executing all steps: ', thesteps)

msname = 'uid___A002_Xtest_X1.ms'
steps_done = []

# Import of the data
mystep = 0
if (mystep in thesteps):
    casalog.post('Step ' + str(mystep) + ' ' + step_title[mystep], 'INFO')
    print('Step ', mystep, step_title[mystep])
    if os.path.exists(msname):
        shutil.rmtree(msname)
    shutil.copytree(os.path.join(rawdir, re.sub(r'\.ms$', '', msname) + '.ms'), msname)
    steps_done.append(mystep)

# Listobs
mystep = 1
if (mystep in thesteps):
    casalog.post('Step ' + str(mystep) + ' ' + step_title[mystep], 'INFO')
    print('Step ', mystep, step_title[mystep])
    os.system('rm -rf ' + msname + '.listobs')
    listobs(vis=msname, listfile=msname + '.listobs')
    steps_done.append(mystep)

# A priori flagging: the inp/go style
mystep = 2
if (mystep in thesteps):
    casalog.post('Step ' + str(mystep) + ' ' + step_title[mystep], 'INFO')
    print('Step ', mystep, step_title[mystep])
    default(flagdata)
    vis = msname
    mode = 'manual'
    autocorr = True
    flagbackup = False
    inp(flagdata)
    flag_result = go(flagdata)
    flagged_after_step2 = flagged_fraction(msname)
    steps_done.append(mystep)

# Split out the calibrated data
mystep = 3
if (mystep in thesteps):
    casalog.post('Step ' + str(mystep) + ' ' + step_title[mystep], 'INFO')
    print('Step ', mystep, step_title[mystep])

    def split_target(name):
        os.system('rm -rf ' + name + '.split.cal')
        return split(vis=name, outputvis=name + '.split.cal', datacolumn='data', field='0')

    split_ok = split_target(msname)
    steps_done.append(mystep)
