import { Connection } from '@temporalio/client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FatalProbeError, getFreePorts, waitUntil } from './ports.js';
import { SupervisedProcess } from './supervised-process.js';
import { resolveTemporalCli } from './tool-paths.js';

export interface TemporalDevServerOptions {
  /** Defaults to `default`. */
  namespace?: string;
  /** Persist state in this SQLite file so the server can be restarted without losing workflows. */
  dbFilename?: string;
  /** Search attributes to register, name → type (Keyword, Text, Int, Double, Bool, Datetime, KeywordList). */
  searchAttributes?: Record<string, string>;
  /** Serve the Web UI (default true). */
  ui?: boolean;
  /** Fixed ports; free ones are picked when omitted. */
  grpcPort?: number;
  uiPort?: number;
  /** The Web UI's remote codec endpoint (`--ui-codec-endpoint`), to show encrypted payloads decoded. */
  uiCodecEndpoint?: string;
  /** Extra `--dynamic-config-value KEY=JSON` pairs. */
  dynamicConfig?: Record<string, unknown>;
  /** Folder for logs (and nothing else); a temporary one by default. */
  workDir?: string;
  /** Explicit binary; otherwise resolved by `resolveTemporalCli`. */
  executable?: string;
  startTimeoutMs?: number;
}

/** A running Temporal CLI dev server (frontend gRPC, Web UI, SQLite). */
export interface TemporalDevServer {
  /** host:port of the frontend gRPC service. */
  readonly address: string;
  readonly namespace: string;
  /** Base URL of the Web UI, or undefined when headless. */
  readonly uiUrl: string | undefined;
  readonly pid: number | undefined;
  readonly logFile: string;
  /** Web UI link to one workflow execution. */
  workflowUrl(workflowId: string, runId?: string): string | undefined;
  /** Stops the server. `kill: true` sends SIGKILL (a crash) instead of a graceful stop. */
  stop(opts?: { kill?: boolean }): Promise<void>;
  /** Stops and starts it again on the same ports and database file. */
  restart(opts?: { kill?: boolean }): Promise<void>;
}

/** In the server's work folder: its watchdog's pid, for a stack-wide cleanup that must wait for it. */
export const TEMPORAL_WATCHDOG_PID_FILE = 'temporal.watchdog.pid';

/** Starts the Temporal CLI dev server on free loopback ports and waits until it serves requests. */
export async function startTemporalDevServer(options: TemporalDevServerOptions = {}): Promise<TemporalDevServer> {
  const executable = options.executable ?? resolveTemporalCli();
  const namespace = options.namespace ?? 'default';
  const ui = options.ui ?? true;
  const ownsWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), 'rcp-temporal-'));
  const [grpcFree, uiFree, httpPort, metricsPort] = await getFreePorts(4);
  const grpcPort = options.grpcPort ?? grpcFree!;
  const uiPort = options.uiPort ?? uiFree!;
  const address = `127.0.0.1:${grpcPort}`;
  const uiUrl = ui ? `http://127.0.0.1:${uiPort}` : undefined;
  const logFile = join(workDir, 'temporal.log');

  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(grpcPort),
    '--http-port', String(httpPort),
    '--metrics-port', String(metricsPort),
    '--namespace', namespace,
    '--log-level', 'warn',
  ];
  if (ui) args.push('--ui-ip', '127.0.0.1', '--ui-port', String(uiPort));
  else args.push('--headless');
  if (ui && options.uiCodecEndpoint) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  if (options.dbFilename) args.push('--db-filename', options.dbFilename);
  for (const [name, type] of Object.entries(options.searchAttributes ?? {})) args.push('--search-attribute', `${name}=${type}`);
  // Eager activity dispatch: an activity scheduled by a workflow task goes back to the same worker in
  // the task's answer, saving the matching hop between one step's copy and the next submit.
  const dynamicConfig = { 'system.enableActivityEagerExecution': true, ...options.dynamicConfig };
  for (const [key, value] of Object.entries(dynamicConfig)) args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);

  let proc: SupervisedProcess;
  const startOnce = async (): Promise<void> => {
    proc = new SupervisedProcess({ name: 'temporal', command: executable, args, logFile, pidFile: join(workDir, TEMPORAL_WATCHDOG_PID_FILE), ...(ownsWorkDir ? { removeWhenOrphaned: workDir } : {}) });
    try {
      await waitUntil(
        async () => {
          if (proc.hasExited) throw new FatalProbeError('the dev server exited during start-up');
          const connection = await Connection.connect({ address, connectTimeout: 1_000 });
          try {
            await connection.workflowService.describeNamespace({ namespace });
            return true;
          } finally {
            await connection.close();
          }
        },
        { timeoutMs: options.startTimeoutMs ?? 60_000, intervalMs: 200, what: `Temporal dev server at ${address}` },
      );
      if (uiUrl) {
        await waitUntil(async () => (await fetch(uiUrl)).ok, { timeoutMs: 30_000, what: `Temporal Web UI at ${uiUrl}` });
      }
    } catch (error) {
      await proc.stop(1_000);
      throw new Error(`The Temporal dev server did not start (${executable}). Its log ends with:\n${proc.logTail()}`, { cause: error });
    }
  };
  // The dev server binds internal service ports of its own choosing; when two servers start at the
  // same moment one of them can lose that race and exit. A second try is enough.
  const start = async (): Promise<void> => {
    try {
      await startOnce();
    } catch (error) {
      if (!(error instanceof Error && error.cause instanceof FatalProbeError)) throw error;
      await startOnce();
    }
  };
  await start();

  const stopProcess = async (kill = false): Promise<void> => {
    if (kill) {
      proc.killGroup('SIGKILL');
      await proc.waitForExit();
    } else {
      await proc.stop();
    }
  };

  return {
    address,
    namespace,
    uiUrl,
    logFile,
    get pid() {
      return proc.pid;
    },
    workflowUrl(workflowId, runId) {
      if (!uiUrl) return undefined;
      const base = `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
      return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
    },
    async stop(opts) {
      await stopProcess(opts?.kill);
      if (ownsWorkDir) rmSync(workDir, { recursive: true, force: true });
    },
    async restart(opts) {
      await stopProcess(opts?.kill);
      await start();
    },
  };
}
