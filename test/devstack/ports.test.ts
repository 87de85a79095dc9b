import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { getFreePorts } from '../../src/devstack/ports.js';

test('a free port stays reserved (TIME_WAIT on its own side) and can still be bound by the server it is for', async () => {
  const ports = await getFreePorts(3);
  assert.equal(new Set(ports).size, 3);
  // The kernel hands the port to no bind(0)/connect() while a TIME_WAIT entry holds it.
  // /proc/net/tcp: local address 127.0.0.1 is 0100007F, state 06 is TIME_WAIT.
  const timeWait = readFileSync('/proc/net/tcp', 'utf8').split('\n').map((line) => line.trim().split(/\s+/)).filter((fields) => fields[3] === '06').map((fields) => fields[1]);
  for (const port of ports) assert.ok(timeWait.includes(`0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`), `port ${port} is held in TIME_WAIT`);
  // A server binding it explicitly (SO_REUSEADDR, as Node, Go, Ceph and Boost.Asio all set) still can.
  for (const port of ports) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
