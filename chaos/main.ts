/**
 * `npm run chaos -- --seed <n> --minutes <m> [...]`: a seeded fault campaign against the embedded
 * stack. Exit 0 only without violations; 2 for a usage error; 1 when the campaign itself failed.
 */
import { parseChaosArgs, USAGE, UsageError, type ChaosOptions } from './options.js';
import { runCampaign, type RunningCampaign } from './campaign.js';
import { renderSummary } from './report.js';

let options: ChaosOptions;
try {
  options = parseChaosArgs(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError) {
    if (error.message) process.stderr.write(`chaos: ${error.message}\n\n`);
    process.stderr.write(`${USAGE}\n`);
    process.exit(error.message ? 2 : 0);
  }
  throw error;
}

// Progress goes to stderr with --json, so stdout ends with exactly one JSON line.
const log = (line: string): void => {
  (options.json ? process.stderr : process.stdout).write(`${line}\n`);
};

let campaign: RunningCampaign | undefined = undefined;
let exiting = false;
const bail = (code: number, why: string): void => {
  if (exiting) return;
  exiting = true;
  process.stderr.write(`chaos: ${why}; stopping every process the campaign started…\n`);
  void (campaign?.abort() ?? Promise.resolve()).finally(() => process.exit(code));
  // Never hang on the way out: the devstack's exit hook kills what is left.
  setTimeout(() => process.exit(code), 30_000).unref();
};
process.on('SIGINT', () => bail(130, 'interrupted'));
process.on('SIGTERM', () => bail(143, 'terminated'));
process.on('uncaughtException', (error) => bail(1, `harness crash: ${error.stack ?? error.message}`));
process.on('unhandledRejection', (error) => bail(1, `harness crash: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`));

campaign = runCampaign(options, log);
try {
  const summary = await campaign.done;
  if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stdout.write(`${renderSummary(summary)}\n`);
  process.exit(summary.violations.length === 0 ? 0 : 1);
} catch (error) {
  if (!exiting) {
    process.stderr.write(`chaos: the campaign could not run: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  }
}
