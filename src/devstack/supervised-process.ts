import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';

/*
 * Every server the local stack starts runs under a tiny shell watchdog in its own process group:
 * the watchdog ends the server within a few seconds of the owning Node process disappearing, even
 * after a SIGKILL of the owner or of its whole process group, so no stray servers, ports or state
 * folders outlive a run.
 *
 * - A server that ignores SIGTERM (radosgw waits forever for a RADOS cluster that is already gone)
 *   gets SIGKILL after a short grace period.
 * - Dependants go first: a watchdog whose server others need (the Ceph monitor, then the OSD) waits
 *   until the watchdogs named in its "after" pid files are gone, bounded by the grace period.
 * - The last watchdog of a stack removes the stack's state folder once its server is gone.
 * - `alive` treats a zombie as gone: an orphaned watchdog's parent may be an init that never reaps.
 */
const WATCHDOG_SCRIPT = [
  'owner=$1; grace=$2; after=$3; cleanup=$4; shift 4',
  'alive() { kill -0 "$1" 2>/dev/null || return 1; case "$(cat "/proc/$1/stat" 2>/dev/null)" in *") Z "*) return 1;; esac; return 0; }',
  '"$@" &',
  'child=$!',
  // SIGTERM, then SIGKILL once `grace` seconds have passed (polled every 0.2 s).
  'stop_child() {',
  '  kill -TERM "$child" 2>/dev/null; n=0',
  '  while alive "$child"; do',
  '    if [ "$n" -ge $((grace * 5)) ]; then kill -KILL "$child" 2>/dev/null; break; fi',
  '    sleep 0.2; n=$((n + 1))',
  '  done',
  '  wait "$child"',
  '}',
  "trap 'stop_child; exit 143' TERM INT",
  'while alive "$owner" && alive "$child"; do sleep 0.5 & wait $!; done',
  'if alive "$child"; then',
  '  n=0',
  '  for file in $after; do',
  '    pid=$(cat "$file" 2>/dev/null) || continue',
  '    while [ -n "$pid" ] && alive "$pid" && [ "$n" -lt $((grace * 10 + 10)) ]; do sleep 0.2; n=$((n + 1)); done',
  '  done',
  '  stop_child',
  'else',
  '  wait "$child"',
  'fi',
  'status=$?',
  'if ! alive "$owner" && [ -n "$cleanup" ]; then rm -rf "$cleanup"; fi',
  'exit $status',
].join('\n');

const running = new Set<SupervisedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: a group SIGKILL is the one thing that is.
  process.on('exit', () => {
    for (const child of running) child.killGroup('SIGKILL');
  });
}

export interface SupervisedProcessOptions {
  /** A short name for messages. */
  name: string;
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr are appended here, so a failed start can show the server's own words. */
  logFile: string;
  /** When the owner is gone: seconds between SIGTERM and SIGKILL (default 2). */
  orphanGraceSeconds?: number;
  /** When the owner is gone: stop only after the watchdogs whose pids these files hold are gone. */
  stopAfterPidFiles?: readonly string[];
  /** Written with this server's watchdog pid, for other watchdogs' `stopAfterPidFiles`. */
  pidFile?: string;
  /** When the owner is gone: removed once this server has stopped (the stack's state folder). */
  removeWhenOrphaned?: string;
}

/** A server process started by the local stack. */
export class SupervisedProcess {
  readonly name: string;
  readonly logFile: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(options: SupervisedProcessOptions) {
    installExitHook();
    this.name = options.name;
    this.logFile = options.logFile;
    const log = openSync(options.logFile, 'a');
    try {
      const watchdogArgs = [
        String(process.pid),
        String(options.orphanGraceSeconds ?? 2),
        (options.stopAfterPidFiles ?? []).join(' '),
        options.removeWhenOrphaned ?? '',
      ];
      this.child = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'watchdog', ...watchdogArgs, options.command, ...options.args], {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', log, log],
        detached: true,
      });
    } finally {
      closeSync(log);
    }
    if (options.pidFile && this.child.pid !== undefined) writeFileSync(options.pidFile, `${this.child.pid}\n`);
    // Servers must not keep the Node event loop alive on their own.
    this.child.unref();
    running.add(this);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        this.exitCode = code;
        running.delete(this);
        resolve(code);
      });
      this.child.once('error', () => {
        this.exitCode = -1;
        running.delete(this);
        resolve(-1);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.exitCode !== undefined;
  }

  /** Resolves with the exit code once the process is gone. */
  async waitForExit(): Promise<number | null> {
    // While someone waits for it, the process must keep the event loop alive.
    this.child.ref();
    try {
      return await this.exited;
    } finally {
      this.child.unref();
    }
  }

  killGroup(signal: NodeJS.Signals): void {
    if (this.hasExited || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.hasExited) return;
    this.killGroup('SIGTERM');
    const timer = setTimeout(() => this.killGroup('SIGKILL'), graceMs);
    try {
      await this.waitForExit();
    } finally {
      clearTimeout(timer);
    }
  }

  /** The last lines the server wrote, for error messages. */
  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}

/** Runs a short command to completion and returns its stdout; throws with its output on failure. */
export async function runToCompletion(
  command: string,
  args: readonly string[],
  { timeoutMs = 60_000, cwd }: { timeoutMs?: number; cwd?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${stderr || stdout}`));
    });
  });
}
