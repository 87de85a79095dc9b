import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extractOutputFiles } from '../../src/runcomfy/outputs.js';

const CDN = 'https://cdn.example.test/outputs';

describe('extractOutputFiles', () => {
  it('lists a SaveImage file with its fields (fofr_flux_dev_fp8_t2i node 9)', () => {
    const files = extractOutputFiles({
      '9': { images: [{ url: `${CDN}/ComfyUI_00001_.png`, filename: 'ComfyUI_00001_.png', subfolder: '', type: 'output' }] },
    });
    assert.deepEqual(files, [
      {
        nodeId: '9',
        channel: 'images',
        index: 0,
        url: `${CDN}/ComfyUI_00001_.png`,
        filename: 'ComfyUI_00001_.png',
        subfolder: '',
        kind: 'image',
        isTemp: false,
        contentType: 'image/png',
      },
    ]);
  });

  it('skips PreviewImage temp files unless includeTemp (fofr_sdxl_turbo_t2i node 25)', () => {
    const outputs = {
      '25': { images: [{ url: `${CDN}/ComfyUI_temp_abc_00001_.png`, filename: 'ComfyUI_temp_abc_00001_.png', subfolder: '', type: 'temp' }] },
    };
    assert.deepEqual(extractOutputFiles(outputs), []);
    const withTemp = extractOutputFiles(outputs, { includeTemp: true });
    assert.equal(withTemp.length, 1);
    assert.equal(withTemp[0]?.isTemp, true);
    assert.equal(withTemp[0]?.kind, 'image');
  });

  it('classifies SaveAnimatedWEBP (images + animated:[true]) as video, a still webp as image', () => {
    const files = extractOutputFiles({
      '75': { images: [{ url: `${CDN}/ComfyUI_00001_.webp`, filename: 'ComfyUI_00001_.webp', subfolder: '', type: 'output' }], animated: [true] },
      '80': { images: [{ url: `${CDN}/still.webp`, filename: 'still.webp', subfolder: '', type: 'output' }], animated: [false] },
      '81': { images: [{ url: `${CDN}/plain.webp`, filename: 'plain.webp', subfolder: '', type: 'output' }] },
    });
    assert.deepEqual(
      files.map((file) => [file.nodeId, file.kind, file.animated, file.contentType]),
      [
        ['75', 'video', true, 'image/webp'],
        ['80', 'image', false, 'image/webp'],
        ['81', 'image', undefined, 'image/webp'],
      ],
    );
  });

  it('classifies an .mp4 listed under images (core SaveVideo) as video', () => {
    const [file] = extractOutputFiles({
      '12': { images: [{ url: `${CDN}/video/ComfyUI_00001_.mp4`, filename: 'ComfyUI_00001_.mp4', subfolder: 'video', type: 'output' }], animated: [true] },
    });
    assert.equal(file?.kind, 'video');
    assert.equal(file?.contentType, 'video/mp4');
    assert.equal(file?.subfolder, 'video');
  });

  it('reads VideoHelperSuite gifs: video/h264-mp4 is video with a real content type; a saved gif is animated', () => {
    const files = extractOutputFiles({
      '171': {
        gifs: [
          { url: `${CDN}/AnimateDiff_00001.mp4`, filename: 'AnimateDiff_00001.mp4', subfolder: '', type: 'output', format: 'video/h264-mp4', frame_rate: 16, workflow: 'AnimateDiff_00001.png', fullpath: '/x/AnimateDiff_00001.mp4' },
          { url: `${CDN}/AnimateDiff_00002.gif`, filename: 'AnimateDiff_00002.gif', subfolder: '', type: 'output', format: 'image/gif', frame_rate: 8 },
          { url: `${CDN}/noext`, filename: 'noext', subfolder: '', type: 'output', format: 'video/nvenc_h264-mp4', frame_rate: 24 },
        ],
      },
    });
    assert.deepEqual(
      files.map((file) => [file.filename, file.kind, file.format, file.contentType, file.animated]),
      [
        ['AnimateDiff_00001.mp4', 'video', 'video/h264-mp4', 'video/mp4', true],
        ['AnimateDiff_00002.gif', 'video', 'image/gif', 'image/gif', true],
        ['noext', 'video', 'video/nvenc_h264-mp4', undefined, true],
      ],
    );
  });

  it('skips VHS previews (save_output=false gives type temp)', () => {
    const outputs = { '5': { gifs: [{ url: `${CDN}/p.webm`, filename: 'p.webm', subfolder: '', type: 'temp', format: 'video/webm', frame_rate: 8 }] } };
    assert.deepEqual(extractOutputFiles(outputs), []);
    assert.equal(extractOutputFiles(outputs, { includeTemp: true })[0]?.kind, 'video');
  });

  it('keeps a gif that is not flagged animated as an image', () => {
    const [file] = extractOutputFiles({ '3': { images: [{ url: `${CDN}/a.gif`, filename: 'a.gif', subfolder: '', type: 'output' }] } });
    assert.equal(file?.kind, 'image');
    assert.equal(file?.animated, undefined);
  });

  it('classifies audio and unknown channels with a url, and ignores text channels', () => {
    const files = extractOutputFiles({
      '40': { audio: [{ url: `${CDN}/audio/ComfyUI_00001_.flac`, filename: 'ComfyUI_00001_.flac', subfolder: 'audio', type: 'output' }] },
      '41': { text: ['a caption', 'another'] },
      '42': { meshes: [{ url: `${CDN}/mesh.glb`, filename: 'mesh.glb', type: 'output' }, { url: `${CDN}/blob.bin`, filename: 'blob.bin', type: 'output' }] },
      '43': { audio: [{ url: `${CDN}/speech`, type: 'output' }] },
    });
    assert.deepEqual(
      files.map((file) => [file.nodeId, file.channel, file.index, file.kind, file.contentType]),
      [
        ['40', 'audio', 0, 'audio', 'audio/flac'],
        ['42', 'meshes', 0, 'other', 'model/gltf-binary'],
        ['42', 'meshes', 1, 'other', undefined],
        ['43', 'audio', 0, 'audio', undefined],
      ],
    );
  });

  it('orders nodes numerically, keeps compound ids, and derives a filename from the URL when absent', () => {
    const files = extractOutputFiles({
      '100': { images: [{ url: `${CDN}/c.png` }] },
      '68:8': { images: [{ url: `${CDN}/b%20x.jpg?sig=1`, type: 'output' }] },
      '9': { images: [{ url: `${CDN}/a.png`, filename: 'a.png', subfolder: 's', type: 'output' }, { url: `${CDN}/a2.png`, filename: 'a2.png', type: 'output' }] },
    });
    assert.deepEqual(
      files.map((file) => [file.nodeId, file.index, file.filename, file.subfolder, file.contentType]),
      [
        ['9', 0, 'a.png', 's', 'image/png'],
        ['9', 1, 'a2.png', '', 'image/png'],
        ['68:8', 0, 'b x.jpg', '', 'image/jpeg'],
        ['100', 0, 'c.png', '', 'image/png'],
      ],
    );
  });

  it('tolerates garbage without throwing', () => {
    assert.deepEqual(extractOutputFiles(undefined), []);
    assert.deepEqual(extractOutputFiles([1, 2]), []);
    assert.deepEqual(
      extractOutputFiles({ '1': 'x', '2': { images: 'nope' }, '3': { images: [null, 7, { filename: 'no-url.png' }, { url: '' }] } }),
      [],
    );
  });
});
