/**
 * Command-line entry point of the RunComfy emulator:
 *   npm run emulator -- --port 8787 --token secret --workflows test/fixtures/comfy
 * Flags and their RUNCOMFY_EMULATOR_* environment variables: `--help` or docs/emulator.md.
 */
import { cliHelp, parseCliOptions } from './cli-options.js';
import { startEmulator } from './index.js';

let parsed: ReturnType<typeof parseCliOptions>;
try {
  parsed = parseCliOptions(process.argv.slice(2), process.env);
} catch (error) {
  console.error(`emulator: ${(error as Error).message}\n\n${cliHelp()}`);
  process.exit(2);
}
if (parsed.help) {
  console.log(cliHelp());
  process.exit(0);
}

const emulator = await startEmulator({ ...parsed.options, log: parsed.quiet ? () => undefined : (line) => console.error(line) });
console.log(`RunComfy emulator listening on ${emulator.url} (admin API: ${emulator.url}/__admin)`);
for (const deployment of emulator.deployments) console.log(`  deployment ${deployment.id}  ${deployment.name}`);

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  console.log(`emulator: ${signal}, closing`);
  void emulator.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
