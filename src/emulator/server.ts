import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleAdmin } from './admin-routes.js';
import { matchApiRoute } from './api-routes.js';
import { requireBearer } from './auth.js';
import { handleDownload } from './downloads.js';
import type { EmulatorCore } from './emulator-core.js';
import { ApiError, ERROR_CODES, errorBody } from './errors.js';
import { sendJson } from './http-io.js';
import { applyRequestFault } from './request-faults.js';

/** The HTTP side of a running emulator. */
export interface EmulatorServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

function sendError(core: EmulatorCore, res: ServerResponse, error: unknown): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  if (error instanceof ApiError) {
    sendJson(res, error.httpStatus, errorBody(error.errorCode, error.message, core.settings.errorMessageField, error.detail), error.headers);
    return;
  }
  core.config.log(`emulator: internal error: ${(error as Error).stack ?? String(error)}`);
  sendJson(res, 500, errorBody(ERROR_CODES.internal, 'Internal Server Error', core.settings.errorMessageField));
}

function countRequest(core: EmulatorCore, operation: string, deploymentId: string | undefined): void {
  if (deploymentId === undefined || !core.deployments.get(deploymentId)) return;
  const counters = core.counters.of(deploymentId);
  switch (operation) {
    case 'submit':
      counters.submits++;
      break;
    case 'status':
      counters.statusReads++;
      break;
    case 'result':
      counters.resultReads++;
      break;
    case 'cancel':
      counters.cancels++;
      break;
    case 'deployments':
      counters.deploymentCalls++;
      break;
  }
}

/** Starts the HTTP server: RunComfy API, output files, object_info and the admin API. */
export async function startHttpServer(core: EmulatorCore, host: string, port: number, publicBaseUrl: string | undefined): Promise<EmulatorServer> {
  const sleepTimers = new Set<NodeJS.Timeout>();
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        sleepTimers.delete(timer);
        resolve();
      }, ms);
      sleepTimers.add(timer);
    });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const queryStart = rawUrl.indexOf('?');
    let path = queryStart < 0 ? rawUrl : rawUrl.slice(0, queryStart);
    const query = queryStart < 0 ? '' : rawUrl.slice(queryStart + 1);
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const method = req.method ?? 'GET';

    const route = matchApiRoute(method, path);
    if (route) {
      countRequest(core, route.operation, route.deploymentId);
      const fault = core.faults.takeRequestFault(route.operation, route.deploymentId);
      if (fault) {
        const counted = route.deploymentId !== undefined && core.deployments.get(route.deploymentId) ? route.deploymentId : '_global';
        core.counters.of(counted).faultsInjected++;
        if (route.operation === 'submit' && counted !== '_global' && fault.kind !== 'delay' && fault.kind !== 'lost_response') core.counters.of(counted).rejectedSubmits++;
        if ((await applyRequestFault(fault, req, res, { messageField: core.settings.errorMessageField, sleep })) === 'answered') return;
      }
      try {
        requireBearer(req, core.tokenBytes);
      } catch (error) {
        if (route.operation === 'submit' && route.deploymentId !== undefined && core.deployments.get(route.deploymentId)) core.counters.of(route.deploymentId).rejectedSubmits++;
        throw error;
      }
      await route.handle(core, req, res, query, fault);
      return;
    }
    if (path.startsWith('/files/')) return handleDownload(core, req, res, path, sleep);
    if (path.startsWith('/__admin')) return handleAdmin(core, req, res, path, query);
    req.resume();
    if (path === '/object_info.json' && method === 'GET') {
      sendJson(res, 200, core.config.objectInfo);
      return;
    }
    if (path === '/' && method === 'GET') {
      sendJson(res, 200, { name: 'runcomfy-emulator', api: `${core.baseUrl}/prod/v1`, admin: `${core.baseUrl}/__admin` });
      return;
    }
    throw new ApiError(404, ERROR_CODES.notFound, `No route for ${method} ${path}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      req.resume();
      sendError(core, res, error);
    });
  });
  // comfortably above common client idle timeouts, so pooled connections are closed by clients, not mid-request by us
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const reachableHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  core.baseUrl = (publicBaseUrl ?? `http://${reachableHost.includes(':') ? `[${reachableHost}]` : reachableHost}:${address.port}`).replace(/\/$/, '');

  return {
    server,
    port: address.port,
    close: async () => {
      for (const timer of sleepTimers) clearTimeout(timer);
      sleepTimers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // hanging responses and idle keep-alive sockets would otherwise hold close() open
      server.closeAllConnections();
      await closed;
    },
  };
}
