// The CPU executor's attention: the one region of selective batching that runs per request.
// Query rows of one head attend to their own sequence's keys through its paged KV blocks.
#pragma once

#include "runtime/support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace modelrt::engine {

// How the CPU executor stores its KV cache (--kv-cache-dtype). Rows are written in this
// form as they enter the cache and widened to f32 exactly as they are read, so attention
// over a narrow cache is f32 attention over the stored (rounded) values:
//   F32     4 bytes per element (the default, "auto");
//   BF16    2: round to nearest even, as torch's .to(torch.bfloat16);
//   F16     2: round to nearest even (overflow is inf, as torch's .half());
//   F8E4M3  1: OCP E4M3 ("fn": no infinities) with round to nearest even, saturated at
//           +-448 (the fp8 / fp8_e4m3 cache dtype of --kv-cache-dtype, scale 1.0);
//   F8E5M2  1: E5M2, round to nearest even, saturated at +-57344 (fp8_e5m2);
//   Q8_0    34 bytes per 32 elements: GGUF's Q8_0 block (a q8_0 cache), an f16 scale
//           d = amax / 127 and 32 int8 values round(x * (1 / d)), half away from zero (a
//           block with a NaN gets a NaN scale, so that it reads back as NaN).
// A NaN stays NaN in every dtype.
enum class KvCacheDType { F32, BF16, F16, F8E4M3, F8E5M2, Q8_0 };

// auto, float32/f32, bfloat16/bf16, float16/f16/half, fp8/fp8_e4m3, fp8_e5m2, q8_0.
Expected<KvCacheDType> parseKvCacheDType(const std::string &name);
const char *kvCacheDTypeName(KvCacheDType dtype);
// Bytes of `elements` stored elements (a whole number of 32-element blocks for Q8_0).
int64_t kvBytes(KvCacheDType dtype, int64_t elements);
// Stores a row of `width` floats (a multiple of 32 for Q8_0) at dst.
void encodeKvRow(KvCacheDType dtype, const float *src, int64_t width, uint8_t *dst);
// Element i of a stored row, widened to f32 (what attention reads).
float decodeKvElement(KvCacheDType dtype, const uint8_t *row, int64_t i);

// How a block stores one KV head's keys.
//   Rows: slot r's key at k + r * kRowStride, kvBytes(dtype, kDim) bytes (the layout of the
//     values; a latent cache, whose values are its keys' first features, keeps it;
//     attention transposes a segment of them into scratch).
//   Transposed: feature-major, so that one vector holds a feature of eight positions: feature
//     c of slot r is element c * blockSize + r; for Q8_0, per 32 features, blockSize f16
//     scales (slot order), then each feature's blockSize int8 codes. blockSize % 8 == 0.
enum class KeyLayout { Rows, Transposed };

// Where a KV block's rows of one layer and KV head are: its keys at k (laid out as the
// KvLayout says), value row r at v + r * vRowStride bytes, each stored as the cache's dtype.
struct KvBlockView {
  const uint8_t *k, *v;
  int64_t kRowStride, vRowStride; // kRowStride: Rows keys only
};

// The cache's geometry and element type.
struct KvLayout {
  int64_t blockSize;
  KvCacheDType dtype = KvCacheDType::F32;
  KeyLayout keys = KeyLayout::Transposed;
};

// Stores one position's key (kDim floats; a multiple of 32 for Q8_0) into slot `slot` of a
// block's transposed keys of one head (KeyLayout::Transposed).
void storeKeyTransposed(KvCacheDType dtype, const float *src, int64_t kDim, int64_t blockSize,
                        int64_t slot, uint8_t *keys);
// Feature i of slot `slot` of a block's transposed keys, widened to f32 (what attention reads).
float loadKeyTransposed(KvCacheDType dtype, const uint8_t *keys, int64_t blockSize, int64_t slot,
                        int64_t i);

// A head's widths: keys of kDim features, values of vDim.
struct KvHead {
  int64_t kDim, vDim;
};

// Query rows one attendTile call takes (they share every K and V row it reads, scored four
// rows a pass: a segment's keys come from L1 or L2 after the first pass). 32 against 8:
// prompts 10-15% faster in modelrt-attention-bench.
constexpr int64_t kAttentionQueryTile = 32;

// The query rows of one attendTile call: row i's query at q + i * qStride, its output at
// out + i * outStride, its position pos0 + i * posStep, its sink (if any) at
// sink + i * sinkStride. Consecutive positions of one head (posStep 1: a prompt's rows), or
// heads of one KV head at one position (posStep 0: a decode step's, which then read each K
// and V row once for all of them).
struct QueryTile {
  const float *q;
  int64_t qStride;
  float *out;
  int64_t outStride;
  int64_t rows, pos0, posStep;
  const float *sink;
  int64_t sinkStride;
};

// The earlier positions a query at `pos` sees, [from(pos), pos]: all of them, the last
// `window` (a sliding window > 0), or those of its own chunk of `chunk` positions (chunked
// attention > 0: from the last multiple of chunk).
struct KeyRange {
  int64_t window = 0, chunk = 0;
  int64_t from(int64_t pos) const {
    return window > 0 ? (pos - window + 1 > 0 ? pos - window + 1 : 0)
           : chunk > 0 ? pos - pos % chunk
                       : 0;
  }
};

// Scratch space of attendTile calls, reused from call to call.
struct AttentionScratch {
  std::vector<float> scores, acc, wide, states, keys;
};

// A row's positions are taken in segments of this many (absolute positions
// [j * kAttentionSegment, (j + 1) * kAttentionSegment)), each with its own maximum score, sum
// and weighted values, merged in order (each rescaled by e^(its maximum - the new maximum),
// the online softmax). Part of the
// arithmetic (so fixed): a segment's state is the row's alone, so a decode step may compute
// a long context's segments on several threads and merge them after.
constexpr int64_t kAttentionSegment = 256;

// Floats of one row's state of one segment: its maximum score, the sum of e^(s - max), then
// the vDim values weighted by e^(s - max).
constexpr int64_t attentionStateFloats(int64_t vDim) { return 2 + vDim; }

// The segments [first, end) a tile's rows span (first = the lowest position's segment).
void attentionSegments(const QueryTile &tile, KeyRange range, int64_t &first, int64_t &end);

// tile.rows (1 .. kAttentionQueryTile) query rows, each attending causally to its sequence's
// positions [range.from(pos), pos]: queries of head.kDim floats, outputs of head.vDim floats.
// Position p's keys and values are slot p % blockSize of blocks[p / blockSize]. f32
// throughout: each score one multiply-add chain over the features in order (key rows are
// transposed into scratch a segment at a time, so both layouts give the same bits), softmax
// with a vectorized exp, each output element one chain over the positions in order. Every row's arithmetic is the
// same whatever rows share its tile (tested bit for bit), so tiling and batching never change
// a result. softcap > 0 caps each scaled score s at softcap * tanh(s / softcap). A
// sink (non-null: the row's head's) is one more logit in each row's softmax, with no value.
// Every dtype's elements are widened to f32 exactly, then the same arithmetic runs.
void attendTile(const QueryTile &tile, KeyRange range, const KvBlockView *blocks,
                const KvLayout &layout, KvHead head, float scale, float softcap,
                AttentionScratch &scratch);

// attendTile in two steps: the states of segments [first, end) of the tile's rows (row i's
// of segment j at states + i * rowStride + (j - first) * attentionStateFloats(vDim); any
// part of the tile's segments), then, once every segment's state is there, the outputs
// (finishAttention over all of them). Together: attendTile's bits, however the segments
// were grouped.
void attendSegments(const QueryTile &tile, KeyRange range, const KvBlockView *blocks,
                    const KvLayout &layout, KvHead head, float scale, float softcap,
                    int64_t first, int64_t end, float *states, int64_t rowStride,
                    AttentionScratch &scratch);
void finishAttention(const QueryTile &tile, KeyRange range, int64_t vDim, int64_t first,
                     int64_t end, const float *states, int64_t rowStride);

} // namespace modelrt::engine
