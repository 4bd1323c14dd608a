#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx foldsweep` works without a build step.
import { register } from 'tsx/esm/api';

register();
const { main, internalError } = await import('../functions/cli/main.ts');
// A fault outside a command's own error handling is an internal error (exit 3), never the
// exit 1 of a failed sweep; the stack only with FOLDSWEEP_DEBUG=1.
const crash = (error) => process.exit(internalError(error));
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);
process.exitCode = await main(process.argv.slice(2));
