# Calibration script in the style of ALMA's scriptForCalibration.py for CASA 4/5
# (Python 2 syntax).

thesteps = []
step_title = {0: 'Import of the data',
              1: 'Listobs',
              2: 'A priori flagging'}

if 'applyonly' not in globals(): applyonly = False
try:
  print 'List of steps to be executed ...', mysteps
  thesteps = mysteps
except:
  print 'global variable mysteps not set.'
if (thesteps==[]):
  thesteps = range(0,len(step_title))
  print 'Executing all steps: ', thesteps

import os
import shutil

msname = 'uid___A002_Xtest_X1.ms'
py2_steps_done = []

mystep = 0
if(mystep in thesteps):
  casalog.post('Step '+str(mystep)+' '+step_title[mystep],'INFO')
  print 'Step ', mystep, step_title[mystep]
  os.system('rm -rf ' + msname)
  shutil.copytree(os.path.join(rawdir, msname), msname)
  py2_steps_done.append(mystep)

mystep = 1
if(mystep in thesteps):
  casalog.post('Step '+str(mystep)+' '+step_title[mystep],'INFO')
  print 'Step ', mystep, step_title[mystep]
  listobs(vis=msname, listfile=msname+'.listobs', overwrite=True)
  py2_steps_done.append(mystep)

mystep = 2
if(mystep in thesteps):
  casalog.post('Step '+str(mystep)+' '+step_title[mystep],'INFO')
  print 'Step ', mystep, step_title[mystep]
  flagdata(vis=msname, mode='manual', autocorr=True, flagbackup=False)
  py2_steps_done.append(mystep)
