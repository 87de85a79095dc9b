import assert from 'node:assert/strict';
import { test } from 'node:test';
import { storageFailure, runComfyFailure } from '../../src/activities/failures.js';
import { stripUrlQueries, urlWithoutQuery } from '../../src/net/redact-urls.js';
import { OutputSourceRejectedError, OutputTooLargeError } from '../../src/storage/source-errors.js';

test('query strings, fragments and userinfo leave URLs and free text', () => {
  assert.equal(urlWithoutQuery('https://cdn.example.com/out/a.png?X-Amz-Signature=abc&X-Amz-Credential=k#frag'), 'https://cdn.example.com/out/a.png?…');
  assert.equal(urlWithoutQuery('https://user:pw@cdn.example.com/a.png'), 'https://cdn.example.com/a.png');
  assert.equal(urlWithoutQuery('https://cdn.example.com/a.png'), 'https://cdn.example.com/a.png');
  const remote = 'Failed to fetch https://bucket.s3.amazonaws.com/inputs/face.png?X-Amz-Signature=deadbeef&X-Amz-Expires=3600 (403); see "http://u:p@host/x?token=t1"';
  const cleaned = stripUrlQueries(remote);
  assert.equal(cleaned, 'Failed to fetch https://bucket.s3.amazonaws.com/inputs/face.png?… (403); see "http://host/x?…"');
});

test('untrusted-source failures are typed, non-retryable, name step, request and host, and carry no query', () => {
  const refused = storageFailure(
    new OutputSourceRejectedError({ message: 'output source for "k.png" refused: host "169.254.169.254": 169.254.169.254 is a link-local address', key: 'k.png', host: '169.254.169.254', reason: 'link-local' }),
    { stepId: 't2i', requestId: 'req-1' },
  );
  assert.equal(refused.type, 'OutputSourceRejected');
  assert.equal(refused.nonRetryable, true);
  assert.match(refused.message, /step "t2i" \(RunComfy request req-1\).*169\.254\.169\.254/);
  assert.deepEqual((refused.details?.[0] as Record<string, unknown>)['reason'], 'OUTPUT_SOURCE_REJECTED');

  const tooLarge = storageFailure(new OutputTooLargeError({ message: 'http://h/x.mp4 announced 11 bytes?sig=zzz', key: 'x.mp4', maxBytes: 10, bytes: 11 }), { stepId: 'i2v', requestId: 'req-2' });
  assert.equal(tooLarge.type, 'OutputTooLarge');
  assert.equal(tooLarge.nonRetryable, true);

  const remote = runComfyFailure(new Error('upstream said: see https://x.example/a?token=secret-token-value'));
  assert.doesNotMatch(remote.message, /secret-token-value/);
});
