// The CPU executor's attention over paged KV (see CpuAttention.h).
#include "runtime/engine/CpuAttention.h"

#include <algorithm>
#include <cmath>

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
  MODELRT_INLINE const float *k(int64_t headOffset) const {
    return blocks[block].k + row * blocks[block].kRowStride + headOffset;
  }
  MODELRT_INLINE const float *v(int64_t headOffset) const {
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
MODELRT_INLINE void attendOneRow(const float *q, float *out, int64_t pos, KeyRange range,
                                 const KvBlockView *blocks, int64_t blockSize, KvHead head,
                                 float scale, float softcap, const float *sink,
                                 std::vector<float> &scores) {
  const int64_t hd = head.kDim, vd = head.vDim;
  const int64_t from = range.from(pos);
  const int64_t n = pos + 1 - from;
  scores.resize(static_cast<size_t>(n));
  float maxScore = -INFINITY;
  RowCursor kc(blocks, blockSize, from);
  for (int64_t j = 0; j < n; j += 8) {
    const int64_t m = std::min<int64_t>(8, n - j); // positions in this pass
    const float *k[8];
    for (int64_t t = 0; t < 8; ++t) {
      k[t] = kc.k(head.kOffset); // past m: the last row again, its score unused
      if (t < m - 1)
        kc.next();
    }
    kc.next();
    V8 part[8] = {};
    int64_t c = 0;
    for (; c + 8 <= hd; c += 8) {
      const V8 qc = load8(q + c);
      for (int64_t t = 0; t < 8; ++t)
        part[t] += qc * load8(k[t] + c);
    }
    if (c < hd) { // a head_dim that is not a multiple of 8: zero-padded vectors
      const V8 qc = loadPartial8(q + c, hd - c);
      for (int64_t t = 0; t < 8; ++t)
        part[t] += qc * loadPartial8(k[t] + c, hd - c);
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
      const float *v = vc.v(head.vOffset) + c0;
      if (vecs == kBlockDims / 8) { // a constant trip count keeps x in registers
        for (int64_t u = 0; u < kBlockDims / 8; ++u)
          x[u] += w * load8(v + 8 * u);
      } else {
        for (int64_t u = 0; u < vecs; ++u)
          x[u] += w * load8(v + 8 * u);
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
      a += scores[static_cast<size_t>(j)] * vc.v(head.vOffset)[c];
    out[c] = a * inv;
  }
}

} // namespace

// Eight rows' dot products with each K row at once (their lanes summed by sumLanes8), softmax
// with exp8 and an eight-lane sum in a fixed order, then V four rows per pass over each
// row's output, in position order. Built for AVX2 too when the CPU has it; the same CPU
// always takes the same clone, so results stay batch-invariant.
__attribute__((target_clones("arch=x86-64-v3", "default"))) void
attendTile(const QueryTile &tile, KeyRange range, const KvBlockView *blocks, int64_t blockSize,
           KvHead head, float scale, float softcap, std::vector<float> &scores,
           std::vector<float> &acc) {
  const int64_t rows = tile.rows, outStride = tile.outStride;
  float *out = tile.out;
  if (rows == 1)
    return attendOneRow(tile.q, out, tile.pos0, range, blocks, blockSize, head, scale, softcap,
                        tile.sink, scores);
  const int64_t hd = head.kDim, vd = head.vDim;
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
    const float *k = b.k + (p % blockSize) * b.kRowStride + head.kOffset;
    // Lanes are summed row by row, so rows past `rows` (left zero) change nothing.
    V8 part[kAttentionQueryTile] = {};
    int64_t c = 0;
    if (rows == kAttentionQueryTile) {
      for (; c + 8 <= hd; c += 8) {
        const V8 kc = load8(k + c);
        for (int64_t i = 0; i < kAttentionQueryTile; ++i)
          part[i] += load8(qRow[i] + c) * kc;
      }
    } else {
      for (; c + 8 <= hd; c += 8) {
        const V8 kc = load8(k + c);
        for (int64_t i = 0; i < rows; ++i)
          part[i] += load8(qRow[i] + c) * kc;
      }
    }
    if (c < hd) { // a head_dim that is not a multiple of 8: zero-padded vectors
      const V8 kc = loadPartial8(k + c, hd - c);
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
    const float *v[4];
    for (int64_t t = 0; t < n; ++t) {
      const KvBlockView &b = blocks[(p0 + t) / blockSize];
      v[t] = b.v + ((p0 + t) % blockSize) * b.vRowStride + head.vOffset;
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
          x += w[t] * load8(v[t] + c);
        store8(a + c, x);
      }
      for (; c < vd; ++c)
        for (int64_t t = t0; t < t1; ++t)
          a[c] += w[t] * v[t][c];
    }
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float inv = 1.0f / denom[i];
    for (int64_t d = 0; d < vd; ++d)
      out[i * outStride + d] = acc[i * vd + d] * inv;
  }
}

#undef MODELRT_INLINE

} // namespace modelrt::engine
