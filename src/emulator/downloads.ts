import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorCore } from './emulator-core.js';
import { ERROR_CODES, errorBody } from './errors.js';
import { sendJson } from './http-io.js';
import { streamMedia } from './outputs.js';
import { applyRequestFault } from './request-faults.js';

/**
 * GET/HEAD /files/{key}/{filename}: an output file, without a token (like RunComfy's output URLs),
 * until it expires. Download faults (including truncation) apply here.
 */
export async function handleDownload(core: EmulatorCore, req: IncomingMessage, res: ServerResponse, path: string, sleep: (ms: number) => Promise<void>): Promise<void> {
  req.resume();
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, errorBody(ERROR_CODES.methodNotAllowed, 'Method Not Allowed', core.settings.errorMessageField), { allow: 'GET, HEAD' });
    return;
  }
  const key = path.split('/')[2] ?? '';
  const record = core.outputs.get(key, Date.now());
  if (record) core.counters.of(record.deploymentId).downloads++;
  const fault = core.faults.takeRequestFault('download', record?.deploymentId);
  if (fault) {
    core.counters.of(record?.deploymentId ?? '_global').faultsInjected++;
    if ((await applyRequestFault(fault, req, res, { messageField: core.settings.errorMessageField, sleep })) === 'answered') return;
  }
  // a delay fault may have outlasted the file
  if (!record || !core.outputs.get(key, Date.now())) {
    sendJson(res, 404, errorBody(ERROR_CODES.notFound, 'File not found or expired', core.settings.errorMessageField));
    return;
  }
  const media = core.outputs.media(record);
  res.writeHead(200, {
    'content-type': media.contentType,
    'content-length': media.sizeBytes,
    'content-disposition': `inline; filename="${record.filename}"`,
    'cache-control': 'private, max-age=0',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const truncateAfterBytes = fault?.kind === 'truncated_download' ? (fault.truncateAfterBytes ?? Math.floor(media.sizeBytes / 2)) : undefined;
  const bytesPerSecond = fault?.kind === 'delay' && fault.bytesPerSecond ? fault.bytesPerSecond : undefined;
  await streamMedia(res, media, truncateAfterBytes, bytesPerSecond === undefined ? undefined : { bytesPerSecond, sleep });
}
