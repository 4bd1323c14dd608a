// A trainer stand-in for the emulator's fault tests: the trials listed in
// FOLDSWEEP_TEST_CRASH_TRIALS (comma-separated) exit with code 1 at once on every attempt, without
// writing a result (a crash that no retry fixes); every other trial runs the real trainer.
const crash = (process.env.FOLDSWEEP_TEST_CRASH_TRIALS ?? '').split(',').filter(Boolean);
const trial =
  Number(process.env.FOLDSWEEP_TRIAL_OFFSET ?? 0) + Number(process.env.AWS_BATCH_JOB_ARRAY_INDEX);
if (crash.includes(String(trial))) {
  process.stderr.write(`injected crash of trial ${trial}\n`);
  process.exit(1);
} else {
  await import('../../trainer/main.js');
}
