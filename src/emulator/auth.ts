import type { IncomingMessage } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { ApiError, ERROR_CODES } from './errors.js';

/** Accepts `Authorization: Bearer <token>` (scheme case-insensitive) or throws a 401 ApiError. */
export function requireBearer(req: IncomingMessage, expectedToken: Buffer): void {
  const header = req.headers.authorization;
  if (header === undefined) throw new ApiError(401, ERROR_CODES.unauthorized, 'Unauthorized: missing Authorization header');
  const match = /^bearer\s+(.+)$/i.exec(header.trim());
  const presented = match?.[1] ? Buffer.from(match[1]) : undefined;
  if (!presented || presented.length !== expectedToken.length || !timingSafeEqual(presented, expectedToken)) {
    throw new ApiError(401, ERROR_CODES.unauthorized, 'Unauthorized: invalid API token');
  }
}
