import { connect, createServer, type Socket } from 'node:net';

/**
 * Asks the kernel for a free loopback TCP port and keeps it from being handed out again for a
 * while. The servers bind their ports seconds later (radosgw only after the monitor and OSD are
 * up); on Linux a port that was merely listened on and closed goes straight back to the ephemeral
 * pool, where any outgoing connection of a busy machine (a parallel test suite makes thousands) can
 * take it first, and the server then fails to bind or, worse, a readiness probe reaches someone
 * else's server. A connection accepted and closed by the listening side leaves the port in
 * TIME_WAIT (60 s), during which the kernel gives it to no bind(0) or connect(), while a server
 * that binds it explicitly with SO_REUSEADDR (Go, Ceph and Boost.Asio all do) still can.
 */
export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  server.unref();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  if (!address || typeof address !== 'object') {
    server.close();
    throw new Error('could not read the port of a probe socket');
  }
  const port = address.port;
  const client = connect(port, host);
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    const serverSide = await accepted;
    // The side that closes first enters TIME_WAIT: it must be the one holding the listening port.
    await new Promise<void>((resolve) => {
      client.once('close', () => resolve());
      serverSide.destroySoon();
      serverSide.once('close', () => client.destroy());
    });
  } finally {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return port;
}

/** Several distinct free ports. */
export async function getFreePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await getFreePort(host));
  return [...ports];
}

/** Thrown by a probe to end the wait at once (e.g. the server process exited): no retry can help. */
export class FatalProbeError extends Error {
  override readonly name = 'FatalProbeError';
}

/** Polls until `probe` resolves true, or throws after `timeoutMs`; a {@link FatalProbeError} ends it at once. */
export async function waitUntil(
  probe: () => Promise<boolean>,
  { timeoutMs, intervalMs = 100, what }: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      if (error instanceof FatalProbeError) throw error;
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${what} was not ready after ${timeoutMs} ms`, { cause: lastError });
}
