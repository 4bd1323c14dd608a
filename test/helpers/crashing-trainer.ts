// A trainer stand-in for executor tests: the trial named by FOLDSWEEP_TEST_CRASH_TRIAL dies
// with SIGKILL before writing anything (like an OOM kill); every other trial runs the real trainer.
if (process.env.FOLDSWEEP_TRIAL_INDEX === process.env.FOLDSWEEP_TEST_CRASH_TRIAL) {
  process.stderr.write('about to be killed\n');
  process.kill(process.pid, 'SIGKILL');
} else {
  await import('../../trainer/main.js');
}
