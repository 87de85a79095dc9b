import { BitWriter } from './bit-writer.js';

const MACROBLOCK_PX = 16;
const I_PCM_MB_TYPE = 25;

/** Inserts emulation-prevention bytes (00 00 0x with x <= 3 becomes 00 00 03 0x) into a NAL unit payload. */
export function escapeNalPayload(payload: Buffer): Buffer {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of payload) {
    if (zeros >= 2 && byte <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return Buffer.from(out);
}

function nalUnit(headerByte: number, rbsp: Buffer): Buffer {
  return Buffer.concat([Buffer.from([headerByte]), escapeNalPayload(rbsp)]);
}

function finishRbsp(bits: BitWriter): Buffer {
  bits.write(1, 1); // rbsp_stop_one_bit; toBuffer() adds the alignment zero bits
  return bits.toBuffer();
}

/** Profile, constraint flags and level written into the SPS and the avcC box (Constrained Baseline, level 3.0). */
export const H264_PROFILE = { profileIdc: 66, constraintFlags: 0xc0, levelIdc: 30 } as const;

/** Sequence parameter set for a progressive 4:2:0 stream of `width` x `height` pixels (multiples of 16). */
export function buildSequenceParameterSet(width: number, height: number): Buffer {
  const bits = new BitWriter('msb-first');
  bits.write(H264_PROFILE.profileIdc, 8);
  bits.write(H264_PROFILE.constraintFlags, 8);
  bits.write(H264_PROFILE.levelIdc, 8);
  bits.writeUnsignedExpGolomb(0); // seq_parameter_set_id
  bits.writeUnsignedExpGolomb(0); // log2_max_frame_num_minus4
  bits.writeUnsignedExpGolomb(2); // pic_order_cnt_type: derived from frame_num, no extra syntax
  bits.writeUnsignedExpGolomb(1); // max_num_ref_frames
  bits.write(0, 1); // gaps_in_frame_num_value_allowed_flag
  bits.writeUnsignedExpGolomb(width / MACROBLOCK_PX - 1);
  bits.writeUnsignedExpGolomb(height / MACROBLOCK_PX - 1);
  bits.write(1, 1); // frame_mbs_only_flag
  bits.write(1, 1); // direct_8x8_inference_flag
  bits.write(0, 1); // frame_cropping_flag
  bits.write(0, 1); // vui_parameters_present_flag
  return nalUnit(0x67, finishRbsp(bits));
}

/** Picture parameter set matching {@link buildSequenceParameterSet}: CAVLC, deblocking control present. */
export function buildPictureParameterSet(): Buffer {
  const bits = new BitWriter('msb-first');
  bits.writeUnsignedExpGolomb(0); // pic_parameter_set_id
  bits.writeUnsignedExpGolomb(0); // seq_parameter_set_id
  bits.write(0, 1); // entropy_coding_mode_flag: CAVLC
  bits.write(0, 1); // bottom_field_pic_order_in_frame_present_flag
  bits.writeUnsignedExpGolomb(0); // num_slice_groups_minus1
  bits.writeUnsignedExpGolomb(0); // num_ref_idx_l0_default_active_minus1
  bits.writeUnsignedExpGolomb(0); // num_ref_idx_l1_default_active_minus1
  bits.write(0, 1); // weighted_pred_flag
  bits.write(0, 2); // weighted_bipred_idc
  bits.writeSignedExpGolomb(0); // pic_init_qp_minus26
  bits.writeSignedExpGolomb(0); // pic_init_qs_minus26
  bits.writeSignedExpGolomb(0); // chroma_qp_index_offset
  bits.write(1, 1); // deblocking_filter_control_present_flag
  bits.write(0, 1); // constrained_intra_pred_flag
  bits.write(0, 1); // redundant_pic_cnt_present_flag
  return nalUnit(0x68, finishRbsp(bits));
}

/** Planar 4:2:0 picture: Y is width*height bytes, Cb and Cr are a quarter of that each. */
export interface YuvPicture {
  readonly width: number;
  readonly height: number;
  readonly luma: Uint8Array;
  readonly chromaBlue: Uint8Array;
  readonly chromaRed: Uint8Array;
}

/**
 * An IDR picture whose every macroblock is I_PCM: raw samples, no prediction or transform, so a
 * standard decoder reproduces the samples exactly without this encoder needing any real coding tools.
 */
export function buildPcmIdrSlice(picture: YuvPicture, idrPictureId: number): Buffer {
  const bits = new BitWriter('msb-first');
  bits.writeUnsignedExpGolomb(0); // first_mb_in_slice
  bits.writeUnsignedExpGolomb(7); // slice_type: I, and every slice of the picture is I
  bits.writeUnsignedExpGolomb(0); // pic_parameter_set_id
  bits.write(0, 4); // frame_num (log2_max_frame_num = 4)
  bits.writeUnsignedExpGolomb(idrPictureId);
  bits.write(0, 1); // no_output_of_prior_pics_flag
  bits.write(0, 1); // long_term_reference_flag
  bits.writeSignedExpGolomb(0); // slice_qp_delta
  bits.writeUnsignedExpGolomb(1); // disable_deblocking_filter_idc: off, keeps PCM samples untouched
  const mbColumns = picture.width / MACROBLOCK_PX;
  const mbRows = picture.height / MACROBLOCK_PX;
  const chromaWidth = picture.width / 2;
  const lumaBlock = new Uint8Array(MACROBLOCK_PX * MACROBLOCK_PX);
  const chromaBlock = new Uint8Array(8 * 8);
  for (let mbY = 0; mbY < mbRows; mbY++) {
    for (let mbX = 0; mbX < mbColumns; mbX++) {
      bits.writeUnsignedExpGolomb(I_PCM_MB_TYPE);
      while (!bits.isByteAligned) bits.write(0, 1); // pcm_alignment_zero_bit
      for (let y = 0; y < MACROBLOCK_PX; y++) {
        for (let x = 0; x < MACROBLOCK_PX; x++) lumaBlock[y * MACROBLOCK_PX + x] = picture.luma[(mbY * MACROBLOCK_PX + y) * picture.width + mbX * MACROBLOCK_PX + x]!;
      }
      bits.writeAlignedBytes(lumaBlock);
      for (const plane of [picture.chromaBlue, picture.chromaRed]) {
        for (let y = 0; y < 8; y++) {
          for (let x = 0; x < 8; x++) chromaBlock[y * 8 + x] = plane[(mbY * 8 + y) * chromaWidth + mbX * 8 + x]!;
        }
        bits.writeAlignedBytes(chromaBlock);
      }
    }
  }
  return nalUnit(0x65, finishRbsp(bits));
}
