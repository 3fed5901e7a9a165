// The CPU executor's attention over paged KV (see CpuAttention.h).
#include "runtime/engine/CpuAttention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

// The 32-byte vectors below never cross a call (the helpers are always inlined), so the
// AVX / non-AVX calling conventions GCC warns about never meet. (Clang refuses them in the
// default clone outright; the runtime is built with GCC, Clang builds only the fuzzers.)
#pragma GCC diagnostic ignored "-Wpsabi"

namespace modelrt::engine {
namespace {

// Eight floats (GCC vector extension): AVX2 registers in the x86-64-v3 clones, SSE pairs in
// the default ones. The unaligned type reads and writes activations and cache rows.
// The helpers are always inlined into their callers' clones.
typedef float V8 __attribute__((vector_size(32)));
typedef float V8u __attribute__((vector_size(32), aligned(4)));
typedef int32_t I8 __attribute__((vector_size(32)));
#define MODELRT_INLINE inline __attribute__((always_inline))

MODELRT_INLINE V8 load8(const float *p) { return *reinterpret_cast<const V8u *>(p); }
MODELRT_INLINE void store8(float *p, V8 v) { *reinterpret_cast<V8u *>(p) = v; }
// The first n < 8 floats at p, zeros after them.
MODELRT_INLINE V8 loadPartial8(const float *p, int64_t n) {
  V8 v = {};
  __builtin_memcpy(&v, p, static_cast<size_t>(n) * sizeof(float));
  return v;
}

// Cache rows of every KvCacheDType, widened to f32 exactly. E4M3 goes through f16: its
// sign, exponent and mantissa bits moved into an f16's are the same value times 2^-8
// (subnormals included: f16's exponent range holds all of them as normals or subnormals of
// the same scale), and the f16 to f32 widening (F16C in the AVX2 clone) is exact.
typedef uint8_t U8x8 __attribute__((vector_size(8), aligned(1)));
typedef int8_t S8x8 __attribute__((vector_size(8), aligned(1)));
typedef uint16_t U16x8 __attribute__((vector_size(16)));
typedef uint16_t U16x8u __attribute__((vector_size(16), aligned(1)));
typedef _Float16 H8 __attribute__((vector_size(16)));
typedef uint32_t U32x8 __attribute__((vector_size(32)));

// Q8_0's 32-element blocks: an f16 scale, then 32 int8 values.
constexpr int64_t kQ8Elements = 32, kQ8Bytes = 34;

MODELRT_INLINE float halfAt(const uint8_t *p) {
  _Float16 h;
  __builtin_memcpy(&h, p, sizeof(h));
  return static_cast<float>(h);
}

MODELRT_INLINE V8 widenHalf(U16x8 bits) {
  H8 h;
  __builtin_memcpy(&h, &bits, sizeof(h));
  return __builtin_convertvector(h, V8);
}

// Elements c .. c + 7 of a stored row (c a multiple of 8).
template <KvCacheDType D> MODELRT_INLINE V8 loadKv8(const uint8_t *row, int64_t c) {
  if constexpr (D == KvCacheDType::F32) {
    return load8(reinterpret_cast<const float *>(row) + c);
  } else if constexpr (D == KvCacheDType::BF16) {
    const U32x8 w = __builtin_convertvector(*reinterpret_cast<const U16x8u *>(row + 2 * c), U32x8)
                    << 16;
    V8 v;
    __builtin_memcpy(&v, &w, sizeof(v));
    return v;
  } else if constexpr (D == KvCacheDType::F16) {
    return widenHalf(*reinterpret_cast<const U16x8u *>(row + 2 * c));
  } else if constexpr (D == KvCacheDType::F8E4M3) {
    const U16x8 b = __builtin_convertvector(*reinterpret_cast<const U8x8 *>(row + c), U16x8);
    return widenHalf(((b & 0x7F) << 7) | ((b & 0x80) << 8)) * 256.0f;
  } else if constexpr (D == KvCacheDType::F8E5M2) {
    return widenHalf(__builtin_convertvector(*reinterpret_cast<const U8x8 *>(row + c), U16x8)
                     << 8);
  } else {
    const uint8_t *block = row + c / kQ8Elements * kQ8Bytes;
    return __builtin_convertvector(
               *reinterpret_cast<const S8x8 *>(block + 2 + c % kQ8Elements), V8) *
           halfAt(block);
  }
}

// Element i of a stored row, as loadKv8 widens it.
template <KvCacheDType D> MODELRT_INLINE float loadKv1(const uint8_t *row, int64_t i) {
  if constexpr (D == KvCacheDType::F32) {
    float x;
    __builtin_memcpy(&x, row + 4 * i, sizeof(x));
    return x;
  } else if constexpr (D == KvCacheDType::BF16) {
    uint32_t w = uint32_t(row[2 * i]) << 16 | uint32_t(row[2 * i + 1]) << 24;
    float x;
    __builtin_memcpy(&x, &w, sizeof(x));
    return x;
  } else if constexpr (D == KvCacheDType::F16) {
    return halfAt(row + 2 * i);
  } else if constexpr (D == KvCacheDType::F8E4M3) {
    const uint16_t b = row[i], h = uint16_t(((b & 0x7F) << 7) | ((b & 0x80) << 8));
    uint8_t bytes[2];
    __builtin_memcpy(bytes, &h, 2);
    return halfAt(bytes) * 256.0f;
  } else if constexpr (D == KvCacheDType::F8E5M2) {
    const uint16_t h = uint16_t(row[i] << 8);
    uint8_t bytes[2];
    __builtin_memcpy(bytes, &h, 2);
    return halfAt(bytes);
  } else {
    const uint8_t *block = row + i / kQ8Elements * kQ8Bytes;
    return float(static_cast<int8_t>(block[2 + i % kQ8Elements])) * halfAt(block);
  }
}

// The first n < 8 of elements c .. c + 7, zeros after them.
template <KvCacheDType D> MODELRT_INLINE V8 loadKvPartial8(const uint8_t *row, int64_t c, int64_t n) {
  if constexpr (D == KvCacheDType::F32)
    return loadPartial8(reinterpret_cast<const float *>(row) + c, n);
  V8 v = {};
  for (int64_t t = 0; t < n; ++t)
    v[t] = loadKv1<D>(row, c + t);
  return v;
}

// Bytes of a row's first `elements` elements (for a Q8_0 row, a multiple of 32).
template <KvCacheDType D> constexpr int64_t rowBytes(int64_t elements) {
  if constexpr (D == KvCacheDType::F32)
    return 4 * elements;
  else if constexpr (D == KvCacheDType::BF16 || D == KvCacheDType::F16)
    return 2 * elements;
  else if constexpr (D == KvCacheDType::Q8_0)
    return elements / kQ8Elements * kQ8Bytes;
  else
    return elements;
}

// The sums of eight vectors' lanes, each in the order ((0+1)+(2+3))+((4+5)+(6+7)) whatever
// vector it is, so a score does not depend on which tile row it occupies.
// Per 128-bit half: x0+x1, x2+x3, y0+y1, y2+y3 (what vhaddps does).
MODELRT_INLINE V8 pairs(V8 x, V8 y) {
  return __builtin_shufflevector(x, y, 0, 2, 8, 10, 4, 6, 12, 14) +
         __builtin_shufflevector(x, y, 1, 3, 9, 11, 5, 7, 13, 15);
}

MODELRT_INLINE V8 sumLanes8(const V8 (&a)[8]) {
  V8 q0 = pairs(pairs(a[0], a[1]), pairs(a[2], a[3]));
  V8 q1 = pairs(pairs(a[4], a[5]), pairs(a[6], a[7]));
  // q0 = [A0123 B0123 C0123 D0123 | A4567 ...]: low half + high half.
  return __builtin_shufflevector(q0, q1, 0, 1, 2, 3, 8, 9, 10, 11) +
         __builtin_shufflevector(q0, q1, 4, 5, 6, 7, 12, 13, 14, 15);
}

// e^x lane by lane (Cephes' expf: range reduction by ln 2, degree-6 polynomial, 2^n through
// the exponent bits); about 1 ulp for the arguments softmax gives it (x <= 0).
MODELRT_INLINE V8 exp8(V8 x) {
  // Clamped by masks (GCC and Clang both take these; neither needs vector ?:).
  const V8 hi = V8{} + 88.3762626647949f, lo = V8{} - 87.3365447504f;
  I8 bitsX = reinterpret_cast<I8 &>(x);
  const I8 over = x > hi, under = x < lo;
  bitsX = (bitsX & ~over) | (reinterpret_cast<const I8 &>(hi) & over);
  bitsX = (bitsX & ~under) | (reinterpret_cast<const I8 &>(lo) & under);
  x = reinterpret_cast<V8 &>(bitsX);
  V8 fx = x * 1.44269504088896341f + 0.5f;
  I8 n = __builtin_convertvector(fx, I8);
  n += (__builtin_convertvector(n, V8) > fx); // truncation to floor (true is -1)
  V8 fn = __builtin_convertvector(n, V8);
  V8 r = x - fn * 0.693359375f + fn * 2.12194440e-4f;
  V8 y = V8{} + 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  I8 bits = (n + 127) << 23;
  V8 scale;
  __builtin_memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}

// Softmax weights of one row's n scores in place (e^(s - max), eight lanes at a time, the
// tail through a zero-padded vector), and their sum in a fixed lane order.
MODELRT_INLINE float softmaxRow(float *row, int64_t n, float maxScore) {
  V8 sum = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    V8 e = exp8(load8(row + j) - maxScore);
    store8(row + j, e);
    sum += e;
  }
  if (j < n) { // the tail through a padded vector: the same exp, zeros added
    float tail[8] = {};
    for (int64_t t = 0; t < n - j; ++t)
      tail[t] = row[j + t] - maxScore;
    V8 e = exp8(load8(tail));
    for (int64_t t = 0; t < 8; ++t)
      if (t < n - j)
        row[j + t] = e[t];
      else
        e[t] = 0.0f;
    sum += e;
  }
  return ((sum[0] + sum[1]) + (sum[2] + sum[3])) + ((sum[4] + sum[5]) + (sum[6] + sum[7]));
}

// Walks a sequence's K or V rows in position order through its blocks, without a division
// per row.
struct RowCursor {
  const KvBlockView *blocks;
  int64_t blockSize, block, row;
  RowCursor(const KvBlockView *b, int64_t bs, int64_t pos)
      : blocks(b), blockSize(bs), block(pos / bs), row(pos % bs) {}
  // The row's bytes from a head's first element (headOffset: its bytes into the row).
  MODELRT_INLINE const uint8_t *k(int64_t headOffset) const {
    return blocks[block].k + row * blocks[block].kRowStride + headOffset;
  }
  MODELRT_INLINE const uint8_t *v(int64_t headOffset) const {
    return blocks[block].v + row * blocks[block].vRowStride + headOffset;
  }
  MODELRT_INLINE void next() {
    if (++row == blockSize) {
      row = 0;
      ++block;
    }
  }
};

// Soft-capped scores (Gemma 2): softcap * tanh(s / softcap) lane by lane; softcap 0: none.
// Both paths below cap with this one function, so a row's scores stay the same bits.
MODELRT_INLINE V8 capScores(V8 s, float softcap) {
  if (softcap > 0.0f)
    for (int l = 0; l < 8; ++l)
      s[l] = softcap * std::tanh(s[l] / softcap);
  return s;
}

// A sink's share of a row's softmax denominator: e^(sink - max), through the same
// exp as the scores. Both paths below add it with this one function. max already includes
// the sink.
MODELRT_INLINE float sinkTerm(const float *sink, float maxScore) {
  if (!sink)
    return 0.0f;
  V8 x = {};
  x[0] = *sink - maxScore;
  return exp8(x)[0];
}

// One query row (a decode step's): the arithmetic of attendTile's tile rows, laid out for
// one row. Scores eight positions at a time (eight K rows' products in flight, summed by
// sumLanes8 as a tile's eight rows are: each vector in the same lane order whichever slot
// it is in); the output in blocks of 64 dims held in registers over every position, each
// element accumulated in position order with the same multiply-adds as the tile's
// load-add-store passes.
template <KvCacheDType D>
MODELRT_INLINE void attendOneRow(const float *q, float *out, int64_t pos, KeyRange range,
                                 const KvBlockView *blocks, int64_t blockSize, KvHead head,
                                 float scale, float softcap, const float *sink,
                                 std::vector<float> &scores) {
  const int64_t hd = head.kDim, vd = head.vDim;
  const int64_t kOffset = rowBytes<D>(head.kOffset), vOffset = rowBytes<D>(head.vOffset);
  const int64_t from = range.from(pos);
  const int64_t n = pos + 1 - from;
  scores.resize(static_cast<size_t>(n));
  float maxScore = -INFINITY;
  RowCursor kc(blocks, blockSize, from);
  for (int64_t j = 0; j < n; j += 8) {
    const int64_t m = std::min<int64_t>(8, n - j); // positions in this pass
    const uint8_t *k[8];
    for (int64_t t = 0; t < 8; ++t) {
      k[t] = kc.k(kOffset); // past m: the last row again, its score unused
      if (t < m - 1)
        kc.next();
    }
    kc.next();
    V8 part[8] = {};
    int64_t c = 0;
    for (; c + 8 <= hd; c += 8) {
      const V8 qc = load8(q + c);
      for (int64_t t = 0; t < 8; ++t)
        part[t] += qc * loadKv8<D>(k[t], c);
    }
    if (c < hd) { // a head_dim that is not a multiple of 8: zero-padded vectors
      const V8 qc = loadPartial8(q + c, hd - c);
      for (int64_t t = 0; t < 8; ++t)
        part[t] += qc * loadKvPartial8<D>(k[t], c, hd - c);
    }
    const V8 sc = capScores(sumLanes8(part) * scale, softcap);
    for (int64_t t = 0; t < m; ++t) {
      scores[static_cast<size_t>(j + t)] = sc[t];
      maxScore = std::max(maxScore, sc[t]);
    }
  }
  if (sink)
    maxScore = std::max(maxScore, *sink);
  const float inv = 1.0f / (softmaxRow(scores.data(), n, maxScore) + sinkTerm(sink, maxScore));
  constexpr int64_t kBlockDims = 64;
  int64_t c0 = 0;
  while (vd - c0 >= 8) {
    const int64_t vecs = std::min<int64_t>(kBlockDims, vd - c0) / 8;
    V8 x[kBlockDims / 8] = {};
    RowCursor vc(blocks, blockSize, from);
    for (int64_t j = 0; j < n; ++j, vc.next()) {
      const float w = scores[static_cast<size_t>(j)];
      const uint8_t *v = vc.v(vOffset);
      if (vecs == kBlockDims / 8) { // a constant trip count keeps x in registers
        for (int64_t u = 0; u < kBlockDims / 8; ++u)
          x[u] += w * loadKv8<D>(v, c0 + 8 * u);
      } else {
        for (int64_t u = 0; u < vecs; ++u)
          x[u] += w * loadKv8<D>(v, c0 + 8 * u);
      }
    }
    for (int64_t u = 0; u < vecs; ++u)
      for (int64_t l = 0; l < 8; ++l)
        out[c0 + 8 * u + l] = x[u][l] * inv;
    c0 += vecs * 8;
  }
  for (int64_t c = c0; c < vd; ++c) { // dims past the last multiple of 8, one at a time
    float a = 0;
    RowCursor vc(blocks, blockSize, from);
    for (int64_t j = 0; j < n; ++j, vc.next())
      a += scores[static_cast<size_t>(j)] * loadKv1<D>(vc.v(vOffset), c);
    out[c] = a * inv;
  }
}

// Eight rows' dot products with each K row at once (their lanes summed by sumLanes8), softmax
// with exp8 and an eight-lane sum in a fixed order, then V four rows per pass over each
// row's output, in position order.
template <KvCacheDType D>
MODELRT_INLINE void attendRows(const QueryTile &tile, KeyRange range, const KvBlockView *blocks,
                               int64_t blockSize, KvHead head, float scale, float softcap,
                               std::vector<float> &scores, std::vector<float> &acc) {
  const int64_t rows = tile.rows, outStride = tile.outStride;
  float *out = tile.out;
  if (rows == 1)
    return attendOneRow<D>(tile.q, out, tile.pos0, range, blocks, blockSize, head, scale,
                           softcap, tile.sink, scores);
  const int64_t hd = head.kDim, vd = head.vDim;
  const int64_t kOffset = rowBytes<D>(head.kOffset), vOffset = rowBytes<D>(head.vOffset);
  int64_t from[kAttentionQueryTile], pos[kAttentionQueryTile];
  float maxScore[kAttentionQueryTile], denom[kAttentionQueryTile];
  const float *qRow[kAttentionQueryTile], *sink[kAttentionQueryTile];
  for (int64_t i = 0; i < kAttentionQueryTile; ++i) {
    const int64_t row = std::min(i, rows - 1);
    qRow[i] = tile.q + row * tile.qStride;
    sink[i] = tile.sink ? tile.sink + row * tile.sinkStride : nullptr;
    pos[i] = tile.pos0 + row * tile.posStep;
    from[i] = range.from(pos[i]);
    maxScore[i] = -INFINITY;
    denom[i] = 0;
  }
  const int64_t lo = from[0], hi = pos[rows - 1], span = hi + 1 - lo;
  scores.resize(static_cast<size_t>(rows * span));
  acc.assign(static_cast<size_t>(rows * vd), 0.0f);
  for (int64_t p = lo; p <= hi; ++p) {
    const KvBlockView &b = blocks[p / blockSize];
    const uint8_t *k = b.k + (p % blockSize) * b.kRowStride + kOffset;
    // Lanes are summed row by row, so rows past `rows` (left zero) change nothing.
    V8 part[kAttentionQueryTile] = {};
    int64_t c = 0;
    if (rows == kAttentionQueryTile) {
      for (; c + 8 <= hd; c += 8) {
        const V8 kc = loadKv8<D>(k, c);
        for (int64_t i = 0; i < kAttentionQueryTile; ++i)
          part[i] += load8(qRow[i] + c) * kc;
      }
    } else {
      for (; c + 8 <= hd; c += 8) {
        const V8 kc = loadKv8<D>(k, c);
        for (int64_t i = 0; i < rows; ++i)
          part[i] += load8(qRow[i] + c) * kc;
      }
    }
    if (c < hd) { // a head_dim that is not a multiple of 8: zero-padded vectors
      const V8 kc = loadKvPartial8<D>(k, c, hd - c);
      for (int64_t i = 0; i < rows; ++i)
        part[i] += loadPartial8(qRow[i] + c, hd - c) * kc;
    }
    const V8 sc = capScores(sumLanes8(part) * scale, softcap);
    for (int64_t i = 0; i < rows; ++i)
      if (p >= from[i] && p <= pos[i]) {
        scores[i * span + (p - from[i])] = sc[i];
        maxScore[i] = std::max(maxScore[i], sc[i]);
      }
  }
  for (int64_t i = 0; i < rows; ++i) {
    if (sink[i])
      maxScore[i] = std::max(maxScore[i], *sink[i]);
    denom[i] = softmaxRow(scores.data() + i * span, pos[i] - from[i] + 1, maxScore[i]) +
               sinkTerm(sink[i], maxScore[i]);
  }
  for (int64_t p0 = lo; p0 <= hi; p0 += 4) {
    const int64_t n = std::min<int64_t>(4, hi + 1 - p0);
    const uint8_t *v[4];
    for (int64_t t = 0; t < n; ++t) {
      const KvBlockView &b = blocks[(p0 + t) / blockSize];
      v[t] = b.v + ((p0 + t) % blockSize) * b.vRowStride + vOffset;
    }
    for (int64_t i = 0; i < rows; ++i) {
      // This row's positions among p0 .. p0 + n - 1: a contiguous run, added in order.
      const int64_t t0 = std::max<int64_t>(0, from[i] - p0);
      const int64_t t1 = std::min<int64_t>(n, pos[i] + 1 - p0);
      if (t0 >= t1)
        continue;
      float w[4];
      for (int64_t t = t0; t < t1; ++t)
        w[t] = scores[i * span + (p0 + t - from[i])];
      float *a = acc.data() + i * vd;
      int64_t c = 0;
      for (; c + 8 <= vd; c += 8) {
        V8 x = load8(a + c);
        for (int64_t t = t0; t < t1; ++t)
          x += w[t] * loadKv8<D>(v[t], c);
        store8(a + c, x);
      }
      for (; c < vd; ++c)
        for (int64_t t = t0; t < t1; ++t)
          a[c] += w[t] * loadKv1<D>(v[t], c);
    }
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float inv = 1.0f / denom[i];
    for (int64_t d = 0; d < vd; ++d)
      out[i * outStride + d] = acc[i * vd + d] * inv;
  }
}

} // namespace

// Built for AVX2 too when the CPU has it; the same CPU always takes the same clone, so
// results stay batch-invariant.
__attribute__((target_clones("arch=x86-64-v3", "default"))) void
attendTile(const QueryTile &tile, KeyRange range, const KvBlockView *blocks, int64_t blockSize,
           KvHead head, float scale, float softcap, std::vector<float> &scores,
           std::vector<float> &acc, KvCacheDType dtype) {
  switch (dtype) {
  case KvCacheDType::F32:
    return attendRows<KvCacheDType::F32>(tile, range, blocks, blockSize, head, scale, softcap,
                                         scores, acc);
  case KvCacheDType::BF16:
    return attendRows<KvCacheDType::BF16>(tile, range, blocks, blockSize, head, scale, softcap,
                                          scores, acc);
  case KvCacheDType::F16:
    return attendRows<KvCacheDType::F16>(tile, range, blocks, blockSize, head, scale, softcap,
                                         scores, acc);
  case KvCacheDType::F8E4M3:
    return attendRows<KvCacheDType::F8E4M3>(tile, range, blocks, blockSize, head, scale,
                                            softcap, scores, acc);
  case KvCacheDType::F8E5M2:
    return attendRows<KvCacheDType::F8E5M2>(tile, range, blocks, blockSize, head, scale,
                                            softcap, scores, acc);
  case KvCacheDType::Q8_0:
    return attendRows<KvCacheDType::Q8_0>(tile, range, blocks, blockSize, head, scale, softcap,
                                          scores, acc);
  }
}

namespace {

uint32_t bitsOf(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof(b));
  return b;
}

// An f32 rounded to nearest even into an 8-bit float of 1 sign, E exponent and M mantissa
// bits (bias 2^(E-1) - 1), saturated at the largest finite code `maxCode` (sign apart);
// NaN stays NaN (`nanCode`).
template <int E, int M> uint8_t encodeFp8(float x, uint8_t maxCode, uint8_t nanCode) {
  const uint32_t bits = bitsOf(x);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80);
  const uint32_t mag = bits & 0x7FFFFFFF;
  if (mag > 0x7F800000)
    return sign | nanCode;
  constexpr int bias = (1 << (E - 1)) - 1;
  // The smallest normal is 2^(1 - bias); below it the quantum is 2^(1 - bias - M).
  const uint32_t minNormal = uint32_t(127 + 1 - bias) << 23;
  uint32_t code;
  if (mag < minNormal) {
    float a;
    std::memcpy(&a, &mag, sizeof(a));
    code = static_cast<uint32_t>(std::nearbyint(std::ldexp(a, bias - 1 + M))); // even ties
  } else {
    constexpr int shift = 23 - M;
    const uint32_t rounded = mag + ((uint32_t(1) << (shift - 1)) - 1) + ((mag >> shift) & 1);
    code = (std::min<uint32_t>(rounded, 0x7F800000) >> shift) - (uint32_t(127 - bias) << M);
  }
  return sign | static_cast<uint8_t>(code > maxCode ? maxCode : code);
}

uint16_t encodeHalf(float x) {
  const _Float16 h = static_cast<_Float16>(x);
  uint16_t b;
  std::memcpy(&b, &h, sizeof(b));
  return b;
}

} // namespace

Expected<KvCacheDType> parseKvCacheDType(const std::string &name) {
  if (name == "auto" || name == "float32" || name == "f32")
    return KvCacheDType::F32;
  if (name == "bfloat16" || name == "bf16")
    return KvCacheDType::BF16;
  if (name == "float16" || name == "f16" || name == "half")
    return KvCacheDType::F16;
  if (name == "fp8" || name == "fp8_e4m3")
    return KvCacheDType::F8E4M3;
  if (name == "fp8_e5m2")
    return KvCacheDType::F8E5M2;
  if (name == "q8_0")
    return KvCacheDType::Q8_0;
  return Error(ErrorCode::InvalidArgument,
               "KV cache dtype '" + name +
                   "' is not one of auto, float32, bfloat16, float16, fp8, fp8_e4m3, fp8_e5m2, "
                   "q8_0");
}

const char *kvCacheDTypeName(KvCacheDType dtype) {
  switch (dtype) {
  case KvCacheDType::F32:
    return "float32";
  case KvCacheDType::BF16:
    return "bfloat16";
  case KvCacheDType::F16:
    return "float16";
  case KvCacheDType::F8E4M3:
    return "fp8_e4m3";
  case KvCacheDType::F8E5M2:
    return "fp8_e5m2";
  case KvCacheDType::Q8_0:
    return "q8_0";
  }
  return "?";
}

int64_t kvBytes(KvCacheDType dtype, int64_t elements) {
  switch (dtype) {
  case KvCacheDType::F32:
    return 4 * elements;
  case KvCacheDType::BF16:
  case KvCacheDType::F16:
    return 2 * elements;
  case KvCacheDType::F8E4M3:
  case KvCacheDType::F8E5M2:
    return elements;
  case KvCacheDType::Q8_0:
    return (elements + kQ8Elements - 1) / kQ8Elements * kQ8Bytes;
  }
  return 0;
}

void encodeKvRow(KvCacheDType dtype, const float *src, int64_t width, uint8_t *dst) {
  switch (dtype) {
  case KvCacheDType::F32:
    std::memcpy(dst, src, static_cast<size_t>(width) * sizeof(float));
    return;
  case KvCacheDType::BF16:
    for (int64_t i = 0; i < width; ++i) {
      const uint32_t b = bitsOf(src[i]);
      const uint16_t h = (b & 0x7FFFFFFF) > 0x7F800000
                             ? static_cast<uint16_t>((b >> 16) | 0x40) // NaN stays NaN
                             : static_cast<uint16_t>((b + 0x7FFF + ((b >> 16) & 1)) >> 16);
      std::memcpy(dst + 2 * i, &h, sizeof(h));
    }
    return;
  case KvCacheDType::F16:
    for (int64_t i = 0; i < width; ++i) {
      const uint16_t h = encodeHalf(src[i]);
      std::memcpy(dst + 2 * i, &h, sizeof(h));
    }
    return;
  case KvCacheDType::F8E4M3:
    for (int64_t i = 0; i < width; ++i)
      dst[i] = encodeFp8<4, 3>(src[i], 0x7E, 0x7F);
    return;
  case KvCacheDType::F8E5M2:
    for (int64_t i = 0; i < width; ++i)
      dst[i] = encodeFp8<5, 2>(src[i], 0x7B, 0x7E);
    return;
  case KvCacheDType::Q8_0:
    // llama.cpp's quantize_row_q8_0_ref: d = amax / 127, q = roundf(x * (1 / d)) (half away
    // from zero), the scale stored as f16. A short last block is padded with zeros.
    for (int64_t b = 0; b * kQ8Elements < width; ++b) {
      const float *x = src + b * kQ8Elements;
      uint8_t *block = dst + b * kQ8Bytes;
      const int64_t n = std::min<int64_t>(kQ8Elements, width - b * kQ8Elements);
      float amax = 0.0f;
      for (int64_t i = 0; i < n; ++i)
        amax = std::max(amax, std::fabs(x[i]));
      const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      const uint16_t h = encodeHalf(d);
      std::memcpy(block, &h, sizeof(h));
      for (int64_t i = 0; i < kQ8Elements; ++i)
        block[2 + i] = static_cast<uint8_t>(
            static_cast<int8_t>(i < n ? std::round(x[i] * id) : 0.0f));
    }
    return;
  }
}

float decodeKvElement(KvCacheDType dtype, const uint8_t *row, int64_t i) {
  switch (dtype) {
  case KvCacheDType::F32:
    return loadKv1<KvCacheDType::F32>(row, i);
  case KvCacheDType::BF16:
    return loadKv1<KvCacheDType::BF16>(row, i);
  case KvCacheDType::F16:
    return loadKv1<KvCacheDType::F16>(row, i);
  case KvCacheDType::F8E4M3:
    return loadKv1<KvCacheDType::F8E4M3>(row, i);
  case KvCacheDType::F8E5M2:
    return loadKv1<KvCacheDType::F8E5M2>(row, i);
  case KvCacheDType::Q8_0:
    return loadKv1<KvCacheDType::Q8_0>(row, i);
  }
  return 0.0f;
}

#undef MODELRT_INLINE

} // namespace modelrt::engine
