import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envNameOf, parseCliOptions, parseDurationMs, parseSizeBytes } from '../../src/emulator/cli-options.js';

describe('emulator command line', () => {
  it('parses durations and sizes with units', () => {
    assert.deepEqual(['1500', '500ms', '1.5s', '3m', '1h', '7d'].map(parseDurationMs), [1500, 500, 1500, 180_000, 3_600_000, 604_800_000]);
    assert.deepEqual(['1024', '10KiB', '2MiB', '1GiB', '1GB'].map(parseSizeBytes), [1024, 10_240, 2_097_152, 1_073_741_824, 1e9]);
    assert.throws(() => parseDurationMs('soon'));
    assert.throws(() => parseSizeBytes('big'));
  });

  it('takes flags over environment variables and maps them to emulator options', () => {
    const env = { [envNameOf('token')]: 'from-env', [envNameOf('duration')]: '2m', [envNameOf('webhook-reorder')]: 'true', [envNameOf('port')]: '9000' };
    const { options } = parseCliOptions(['--port', '0', '--workflows', '/tmp/w', '--output-size', '1GiB', '--allow-http', '--cancelled-spelling', 'canceled', '--max-instances', '4'], env);
    assert.equal(options.port, 0);
    assert.equal(options.token, 'from-env');
    assert.equal(options.workflowsDir, '/tmp/w');
    assert.equal(options.timing?.durationMs, 120_000);
    assert.equal(options.outputSizeBytes, 1024 ** 3);
    assert.equal(options.allowHttpWebhooks, true);
    assert.equal(options.cancelledSpelling, 'canceled');
    assert.equal(options.scaling?.maxInstances, 4);
    assert.equal(options.webhook?.reorder, true);
  });

  it('reads webhook loss and forged calls, refusing a loss rate outside 0..1', () => {
    const { options } = parseCliOptions(['--webhook-loss', '0.25', '--webhook-forged', '2'], {});
    assert.equal(options.webhook?.lossRate, 0.25);
    assert.equal(options.webhook?.forged, 2);
    assert.throws(() => parseCliOptions(['--webhook-loss', '2'], {}), /--webhook-loss must be a number from 0 to 1/);
    assert.throws(() => parseCliOptions(['--webhook-forged', '-1'], {}), /--webhook-forged/);
  });

  it('rejects unknown flags and bad enum values', () => {
    assert.throws(() => parseCliOptions(['--nope'], {}));
    assert.throws(() => parseCliOptions(['--error-shape', 'xml'], {}), /error-shape/);
  });
});
