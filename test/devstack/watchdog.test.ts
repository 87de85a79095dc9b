import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const ownerScript = fileURLToPath(new URL('../support/stack-owner.ts', import.meta.url));

/** A pid that still runs: a zombie has ended, whoever has yet to reap it. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('devstack watchdog', () => {
  it('leaves no server and no state folder 10 s after its owner process group is SIGKILLed while the S3 server is busy', { timeout: 240_000 }, async () => {
    const owner = spawn(process.execPath, ['--import', 'tsx', ownerScript], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve) => owner.once('exit', () => resolve()));
    let stack: { pids: number[]; dirs: string[] };
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: owner.stdout! }).once('line', resolve);
        owner.once('exit', (code) => reject(new Error(`the stack owner exited (${code}) before its stack was busy`)));
      });
      stack = JSON.parse(line) as { pids: number[]; dirs: string[] };
    } catch (error) {
      if (owner.pid) process.kill(-owner.pid, 'SIGKILL');
      throw error;
    }
    const killedAt = Date.now();
    process.kill(-owner.pid!, 'SIGKILL');
    await exited;
    // mon, osd and rgw with their watchdogs, the Temporal dev server with its watchdog.
    assert.equal(stack.pids.length, 8, `watchdog and server pids: ${stack.pids.join(' ')}`);
    assert.ok(stack.dirs.every((dir) => existsSync(dir)));
    let left: { pids: number[]; dirs: string[] } = stack;
    while (Date.now() - killedAt < 10_000) {
      left = { pids: stack.pids.filter(running), dirs: stack.dirs.filter((dir) => existsSync(dir)) };
      if (left.pids.length === 0 && left.dirs.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // Whatever the verdict, nothing of this test's stack may outlive it.
    for (const pid of left.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    assert.deepEqual(left, { pids: [], dirs: [] }, `left ${Date.now() - killedAt} ms after the kill`);
  });
});
