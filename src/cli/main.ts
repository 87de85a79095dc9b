/**
 * The operator CLI: `npm run cli -- <command>` or `rcp <command>`. Configuration comes from the
 * environment (parsed once here); `--json` prints exactly one JSON document on stdout; exit codes
 * are stable (see HELP and docs/cli.md). Secrets from the environment are never printed.
 */
import { InvalidPipelineSpecError, PipelineFailedError } from '../client/index.js';
import { parseClientConfig } from '../config.js';
import { COMMAND_OPTIONS, COMMON_OPTIONS, HELP, parseCommandLine, UsageError, type Values } from './arguments.js';
import { createContext, type Context } from './context.js';
import { deploymentsInspectCommand, deploymentsListCommand } from './deployment-commands.js';
import { CommandOutcome, errorDocument, EXIT_CODES, exitCodeFor } from './exit-codes.js';
import { cancelCommand, listCommand, resultCommand, startCommand, statusCommand, watchCommand } from './pipeline-commands.js';
import { printJson, writeErr } from './render.js';

const COMMANDS: Record<string, (ctx: Context, values: Values, positionals: readonly string[]) => Promise<number>> = {
  start: startCommand,
  status: statusCommand,
  watch: watchCommand,
  cancel: cancelCommand,
  result: resultCommand,
  list: listCommand,
  'deployments list': deploymentsListCommand,
  'deployments inspect': deploymentsInspectCommand,
};

async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    const json = argv.includes('--json');
    return report(new UsageError(`${(error as Error).message} (see rcp --help)`), json);
  }
  const { values, positionals } = parsed;
  const json = values.json === true;
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT_CODES.ok;
  }
  const [first, second, ...rest] = positionals;
  const name = first === 'deployments' ? `deployments ${second ?? ''}`.trim() : first;
  const args = first === 'deployments' ? rest : positionals.slice(1);
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command || name === undefined) {
    if (name === undefined) {
      process.stderr.write(HELP);
      return EXIT_CODES.usage;
    }
    return report(new UsageError(`unknown command "${name}" (see rcp --help)`), json);
  }
  const allowed = new Set([...COMMON_OPTIONS, ...(COMMAND_OPTIONS[name] ?? [])]);
  const misplaced = Object.keys(values).filter((option) => !allowed.has(option));
  if (misplaced.length > 0) return report(new UsageError(`${name} does not take ${misplaced.map((o) => `--${o}`).join(', ')} (see rcp --help)`), json);

  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let ctx: ReturnType<typeof createContext> | undefined;
  try {
    ctx = createContext(json, parseClientConfig(process.env), interrupt.signal);
    return await command(ctx, values, args);
  } catch (error) {
    return report(error, json);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await ctx?.close();
  }
}

function report(error: unknown, json: boolean): number {
  const exitCode = exitCodeFor(error);
  if (error instanceof CommandOutcome) return exitCode;
  const document = errorDocument(error);
  if (json) {
    printJson({ error: document });
  } else {
    writeErr(`rcp: ${String(document['message'])}`);
    if (error instanceof InvalidPipelineSpecError) for (const issue of error.issues) writeErr(`  ${issue.path || '(spec)'}: ${issue.message}`);
    if (error instanceof PipelineFailedError) {
      if (error.stepId) writeErr(`  step: ${error.stepId}`);
      if (error.requestId) writeErr(`  RunComfy request: ${error.requestId}`);
    }
    if (exitCode === EXIT_CODES.unexpected && error instanceof Error && error.cause instanceof Error && !error.message.includes(error.cause.message)) {
      writeErr(`  cause: ${error.cause.message}`);
    }
  }
  return exitCode;
}

const exitCode = await main(process.argv.slice(2));
// Pipes and files are written synchronously on Linux, but give stdout its callback anyway.
process.stdout.write('', () => process.exit(exitCode));