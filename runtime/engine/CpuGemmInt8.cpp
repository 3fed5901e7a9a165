#include "runtime/engine/CpuGemmInt8.h"

#include "runtime/formats/Dequantize.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define MODELRT_HAVE_X86 1
#endif

namespace modelrt::engine::intdot {

namespace {

constexpr int64_t kPanel = PackedWeight::kPanel;
constexpr int64_t kQuant = PackedWeight::kQuantBlock;
constexpr int64_t kKBlock = 256; // a panel's k-block stays in L1 across the row tiles
constexpr int kMaxRows = 8; // rows per tile: 8 x 2 integer chains + 8 f32 accumulators
constexpr int64_t kParallelWork = 1 << 17;

// The quantized input, rows interleaved in groups of G = min(rows, 8) so that a tile's rows
// sit at fixed offsets from one pointer (one row stays contiguous): row r of group g holds its
// values kk..kk+3 (kk a multiple of 4) at q[(g (k / 4) + kk / 4) 4G + 4 (r % G)], its block b's
// scale at scales[(g blocks + b) G + r % G] and the block's two 16-value sums of codes at
// sums[2 ((g blocks + b) G + r % G)].
constexpr int64_t kGroupRows = 8;
struct Rows {
  const int8_t *q; // the tile's first row, at its place in its group
  const float *scales;
  const int32_t *sums;
  int64_t group; // G
  // Row r (of the tile): its values kk..kk + 3, block b's scale and sums.
  const int8_t *x(int r, int64_t kk) const { return q + kk * group + 4 * r; }
  float scale(int r, int64_t b) const { return scales[b * group + r]; }
  const int32_t *sum(int r, int64_t b) const { return sums + 2 * (b * group + r); }
};

// One tile: mr rows x np adjacent panels (16 columns each, panelBytes apart) continue their
// chains over k in [k0, k0 + kc) (multiples of 32); c holds panel p's columns at c + 16p,
// rows ldc apart; `first` starts the chains at zero.
using TileFn = void (*)(int mr, int np, const Rows &a, const uint8_t *panel, int64_t panelBytes,
                        int64_t k0, int64_t kc, float *c, int64_t ldc, bool first, int offset,
                        const uint8_t *table);

template <int Bits, int G, bool Mins, IntScales S>
constexpr IntLayout kLayout{Bits, false, G, Mins, S, 0, kQuant};

// Block b's scales and minimums of column j (m 0 without minimums), as the vector code forms
// them: f32 as stored, f16 widened, K d x sc and -(dmin x mn) in f32.
template <int Bits, int G, bool Mins, IntScales S>
void scalesAt(const uint8_t *panel, int64_t b, int64_t j, float d[2], float m[2]) {
  constexpr IntLayout l = kLayout<Bits, G, Mins, S>;
  const uint8_t *blk = panel + l.blockAt(b);
  for (int g = 0; g < G; ++g) {
    m[g] = 0.0f;
    if constexpr (S == IntScales::F32) {
      std::memcpy(&d[g], blk + (g * kPanel + j) * 4, 4);
      if constexpr (Mins)
        std::memcpy(&m[g], blk + ((G + g) * kPanel + j) * 4, 4);
    } else if constexpr (S == IntScales::F16) {
      uint16_t h;
      std::memcpy(&h, blk + (g * kPanel + j) * 2, 2);
      d[g] = f16ToF32(h);
      if constexpr (Mins) {
        std::memcpy(&h, blk + ((G + g) * kPanel + j) * 2, 2);
        m[g] = f16ToF32(h);
      }
    } else {
      const uint8_t *header = panel + l.headerAt(b);
      uint16_t h;
      std::memcpy(&h, header + j * 2, 2);
      d[g] = f16ToF32(h) * static_cast<float>(static_cast<int8_t>(blk[g * kPanel + j]));
      if constexpr (Mins) {
        std::memcpy(&h, header + (kPanel + j) * 2, 2);
        m[g] = -(f16ToF32(h) * static_cast<float>(blk[(G + g) * kPanel + j]));
      }
    }
  }
}

// The block's contribution to one output from its integer dot products (per group, codes still
// offset) and the row's 16-value sums of codes: the order of these float operations is the
// definition every path follows.
template <int G, bool Mins>
inline float blockTerm(const float d[2], const float m[2], const int32_t dot[2], int32_t xs0,
                       int32_t xs1, int offset) {
  if constexpr (G == 1) {
    const int32_t xs = xs0 + xs1;
    const float q = static_cast<float>(dot[0] - offset * xs);
    return Mins ? std::fma(d[0], q, m[0] * static_cast<float>(xs)) : d[0] * q;
  } else {
    const float q0 = static_cast<float>(dot[0] - offset * xs0);
    const float q1 = static_cast<float>(dot[1] - offset * xs1);
    if constexpr (Mins)
      return std::fma(d[1], q1,
                      std::fma(m[1], static_cast<float>(xs1),
                               std::fma(d[0], q0, m[0] * static_cast<float>(xs0))));
    else
      return std::fma(d[1], q1, d[0] * q0);
  }
}

// Lut: 4-bit codes index `table` (16 u8 values: a table type's values plus the offset).
template <int Bits, int G, bool Mins, IntScales S, bool Lut = false>
void tilePortable(int mr, int np, const Rows &a, const uint8_t *panel, int64_t panelBytes,
                  int64_t k0, int64_t kc, float *c, int64_t ldc, bool first, int offset,
                  const uint8_t *table) {
  constexpr IntLayout l = kLayout<Bits, G, Mins, S>;
  for (int p = 0; p < np; ++p)
    for (int r = 0; r < mr; ++r)
      for (int64_t j = 0; j < kPanel; ++j) {
        float &out = c[r * ldc + p * kPanel + j];
        float acc = first ? 0.0f : out;
        for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
          const int64_t b = kb / kQuant;
          const uint8_t *pan = panel + p * panelBytes;
          const uint8_t *codes = pan + l.blockAt(b) + l.scaleBytes();
          int32_t dot[2] = {0, 0};
          for (int64_t i = 0; i < kQuant; ++i) {
            int u = Bits == 8 ? codes[codeByte(i, j)] : (codes[nibbleByte(i, j)] >> nibbleShift(i)) & 15;
            if (Lut)
              u = table[u];
            if (Bits == 6)
              u |= ((codes[planeByte(i, j)] >> planeShift(i)) & 3) << 4;
            dot[G == 2 ? i / 16 : 0] += u * a.x(r, kb + i - i % 4)[i % 4];
          }
          float d[2], m[2];
          scalesAt<Bits, G, Mins, S>(pan, b, j, d, m);
          const int32_t *xs = a.sum(r, b);
          acc = std::fma(a.scale(r, b),
                         blockTerm<G, Mins>(d, m, dot, xs[0], xs[1], offset), acc);
        }
        out = acc;
      }
}

// An infinite or NaN input makes its blocks' outputs NaN: scale NaN, codes and sums 0.
void poisonBlocks(int64_t b0, int64_t count, int8_t *q, float *scales, int32_t *sums) {
  for (int64_t b = b0; b < b0 + count; ++b) {
    scales[b] = std::numeric_limits<float>::quiet_NaN();
    sums[2 * b] = sums[2 * b + 1] = 0;
  }
  std::memset(q + b0 * kQuant, 0, static_cast<size_t>(count * kQuant));
}

// The first of 256 values whose magnitude is `amax` (their largest), with its sign.
float firstOfMagnitude(const float *v, float amax) {
  for (int64_t i = 0; i < 256; ++i)
    if (std::fabs(v[i]) == amax)
      return v[i];
  return 0.0f;
}

// The inverse scales of Q8_0 (from the largest magnitude) and Q8_K (from that value, signed):
// 0 for a block of zeros, or of values so small that the inverse overflows; its codes are then
// 0 and its scale 0 (Q8_0's f16 scale underflows there), so it adds nothing on every path.
float q8Inverse(float amax) {
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  return std::isfinite(id) ? id : 0.0f;
}
float q8kInverse(float max) {
  const float iscale = max != 0.0f ? -127.0f / max : 0.0f;
  return std::isfinite(iscale) ? iscale : 0.0f;
}

// GGUF's Q8_K over 256 values whose largest magnitude is `amax`: m the first value of that
// magnitude, iscale = -127 / m, q = min(127, nearest-even(x iscale)), the scale 1 / iscale (0
// and zero codes where q8kInverse gives 0).
void quantizeSuper(const float *v, int64_t b0, float amax, int8_t *q, float *scales,
                   int32_t *sums) {
  const float iscale = q8kInverse(firstOfMagnitude(v, amax));
  for (int64_t b = b0; b < b0 + 8; ++b) {
    int32_t s[2] = {0, 0};
    for (int64_t i = 0; i < kQuant; ++i) {
      const int v8 = std::min(127, static_cast<int>(std::nearbyint(v[(b - b0) * kQuant + i] * iscale)));
      q[b * kQuant + i] = static_cast<int8_t>(v8);
      s[i / 16] += v8;
    }
    scales[b] = iscale != 0.0f ? 1.0f / iscale : 0.0f;
    sums[2 * b] = s[0];
    sums[2 * b + 1] = s[1];
  }
}

void quantizeSuperPortable(const float *x, int64_t k, int8_t *q, float *scales, int32_t *sums) {
  for (int64_t b0 = 0; b0 < k / kQuant; b0 += 8) {
    const float *v = x + b0 * kQuant;
    float amax = 0.0f;
    bool finite = true;
    for (int64_t i = 0; i < 256; ++i) {
      finite &= std::fabs(v[i]) <= FLT_MAX;
      amax = std::max(amax, std::fabs(v[i]));
    }
    if (!finite)
      poisonBlocks(b0, 8, q, scales, sums);
    else
      quantizeSuper(v, b0, amax, q, scales, sums);
  }
}

void quantizePortable(const float *x, int64_t k, int8_t *q, float *scales, int32_t *sums) {
  for (int64_t b = 0; b < k / kQuant; ++b) {
    const float *v = x + b * kQuant;
    float amax = 0.0f;
    bool finite = true;
    for (int64_t i = 0; i < kQuant; ++i) {
      finite &= std::fabs(v[i]) <= FLT_MAX;
      amax = std::max(amax, std::fabs(v[i]));
    }
    int32_t s[2] = {0, 0};
    if (!finite) {
      poisonBlocks(b, 1, q, scales, sums);
      continue;
    } else {
      scales[b] = f16ToF32(f32ToF16(amax / 127.0f));
      const float id = q8Inverse(amax);
      for (int64_t i = 0; i < kQuant; ++i) {
        const int v8 = static_cast<int>(std::nearbyint(v[i] * id));
        q[b * kQuant + i] = static_cast<int8_t>(v8);
        s[i / 16] += v8;
      }
    }
    sums[2 * b] = s[0];
    sums[2 * b + 1] = s[1];
  }
}

#ifdef MODELRT_HAVE_X86
#define MODELRT_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

MODELRT_VNNI inline __m512i broadcast4(const int8_t *x) {
  int32_t v;
  std::memcpy(&v, x, 4);
  return _mm512_set1_epi32(v);
}

// Block b's 16 scales (and minimums) of group g, as scalesAt forms them.
template <int Bits, int G, bool Mins, IntScales S>
MODELRT_VNNI inline void scalesVnni(const uint8_t *panel, int64_t b, int g, __m512 &d, __m512 &m) {
  constexpr IntLayout l = kLayout<Bits, G, Mins, S>;
  const uint8_t *blk = panel + l.blockAt(b);
  if constexpr (S == IntScales::F32) {
    d = _mm512_loadu_ps(blk + g * kPanel * 4);
    if constexpr (Mins)
      m = _mm512_loadu_ps(blk + (G + g) * kPanel * 4);
  } else if constexpr (S == IntScales::F16) {
    d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(blk + g * kPanel * 2)));
    if constexpr (Mins)
      m = _mm512_cvtph_ps(
          _mm256_loadu_si256(reinterpret_cast<const __m256i *>(blk + (G + g) * kPanel * 2)));
  } else {
    const uint8_t *header = panel + l.headerAt(b);
    const __m512 base = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(header)));
    const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i *>(blk + g * kPanel));
    d = _mm512_mul_ps(base, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc)));
    if constexpr (Mins) {
      const __m512 baseMin =
          _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(header + kPanel * 2)));
      const __m128i mn = _mm_loadu_si128(reinterpret_cast<const __m128i *>(blk + (G + g) * kPanel));
      const __m512 prod = _mm512_mul_ps(baseMin, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(mn)));
      m = _mm512_castsi512_ps(
          _mm512_xor_si512(_mm512_castps_si512(prod), _mm512_set1_epi32(INT32_MIN))); // -x
    }
  }
}

template <int Bits, int G, bool Mins, IntScales S, int MR, int NP, bool Lut = false>
MODELRT_VNNI void tileVnni(int, int, const Rows &a, const uint8_t *panel, int64_t panelBytes,
                           int64_t k0, int64_t kc, float *c, int64_t ldc, bool first, int offset,
                           const uint8_t *table) {
  constexpr IntLayout l = kLayout<Bits, G, Mins, S>;
  __m512 acc[MR][NP];
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p)
      acc[r][p] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + r * ldc + p * kPanel);
  const __m512i low4 = _mm512_set1_epi8(15), bits45 = _mm512_set1_epi8(0x30);
  const __m512i lut =
      Lut ? _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i *>(table)))
          : _mm512_setzero_si512();
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    const int64_t b = kb / kQuant;
    // CH integer chains per row and panel (G = 2: half of them per 16-value group): four for
    // one or two rows, to hide the dot product's latency, else two.
    constexpr int CH = MR <= 2 ? 4 : 2;
    __m512i ch[MR][NP][CH];
    #pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p)
        #pragma GCC unroll 8
        for (int h = 0; h < CH; ++h)
          ch[r][p][h] = _mm512_setzero_si512();
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) {
      const uint8_t *q = panel + p * panelBytes + l.blockAt(b) + l.scaleBytes();
      // Values 4gi..4gi + 3 of the 16 columns (64 bytes) go to chain `h`: for G = 2 the first
      // two chains hold values 0-15, the other two 16-31.
      #pragma GCC unroll 8
      for (int gi = 0; gi < 8; ++gi) {
        __m512i v;
        if constexpr (Bits == 8) {
          v = _mm512_loadu_si512(q + 64 * gi);
        } else {
          const __m512i nib = _mm512_loadu_si512(q + 64 * (gi / 2));
          v = _mm512_and_si512(gi % 2 ? _mm512_srli_epi16(nib, 4) : nib, low4);
          if constexpr (Lut)
            v = _mm512_shuffle_epi8(lut, v);
          if constexpr (Bits == 6) { // bits 2s..2s+1 of the plane to bits 4-5
            const __m512i plane = _mm512_loadu_si512(q + 256 + 64 * (gi / 4));
            const int s2 = 2 * (gi % 4);
            const __m512i top = s2 < 4 ? _mm512_slli_epi16(plane, 4 - s2)
                                       : _mm512_srli_epi16(plane, s2 - 4);
            v = _mm512_or_si512(v, _mm512_and_si512(top, bits45));
          }
        }
        const int h = G == 2 ? (gi / 4) * (CH / 2) + gi % (CH / 2) : gi % CH;
        #pragma GCC unroll 8
        for (int r = 0; r < MR; ++r)
          ch[r][p][h] = _mm512_dpbusd_epi32(ch[r][p][h], v, broadcast4(a.x(r, kb + 4 * gi)));
      }
    }
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) {
      const uint8_t *pan = panel + p * panelBytes;
      __m512 d[2], m[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
      #pragma GCC unroll 8
      for (int g = 0; g < G; ++g)
        scalesVnni<Bits, G, Mins, S>(pan, b, g, d[g], m[g]);
      #pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const int32_t *xs = a.sum(r, b);
        __m512 t;
        if constexpr (G == 1) {
          const int32_t sum = xs[0] + xs[1];
          __m512i dot = _mm512_add_epi32(ch[r][p][0], ch[r][p][1]);
          if constexpr (CH == 4)
            dot = _mm512_add_epi32(dot, _mm512_add_epi32(ch[r][p][2], ch[r][p][3]));
          const __m512 q = _mm512_cvtepi32_ps(_mm512_sub_epi32(dot, _mm512_set1_epi32(offset * sum)));
          t = Mins ? _mm512_fmadd_ps(d[0], q, _mm512_mul_ps(m[0], _mm512_set1_ps(static_cast<float>(sum))))
                   : _mm512_mul_ps(d[0], q);
        } else {
          const __m512i dot0 = CH == 4 ? _mm512_add_epi32(ch[r][p][0], ch[r][p][1]) : ch[r][p][0];
          const __m512i dot1 =
              CH == 4 ? _mm512_add_epi32(ch[r][p][2], ch[r][p][3]) : ch[r][p][CH / 2];
          const __m512 q0 =
              _mm512_cvtepi32_ps(_mm512_sub_epi32(dot0, _mm512_set1_epi32(offset * xs[0])));
          const __m512 q1 =
              _mm512_cvtepi32_ps(_mm512_sub_epi32(dot1, _mm512_set1_epi32(offset * xs[1])));
          if constexpr (Mins)
            t = _mm512_fmadd_ps(
                d[1], q1,
                _mm512_fmadd_ps(m[1], _mm512_set1_ps(static_cast<float>(xs[1])),
                                _mm512_fmadd_ps(d[0], q0,
                                                _mm512_mul_ps(m[0], _mm512_set1_ps(static_cast<float>(xs[0]))))));
          else
            t = _mm512_fmadd_ps(d[1], q1, _mm512_mul_ps(d[0], q0));
        }
        acc[r][p] = _mm512_fmadd_ps(_mm512_set1_ps(a.scale(r, b)), t, acc[r][p]);
      }
    }
  }
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p)
      _mm512_storeu_ps(c + r * ldc + p * kPanel, acc[r][p]);
}

// Q8_K: the magnitude found in vectors, the rest as quantizeSuper (the same bits: the codes
// are the same products rounded the same way).
MODELRT_VNNI void quantizeSuperVnni(const float *x, int64_t k, int8_t *q, float *scales,
                                    int32_t *sums) {
  const __m512 big = _mm512_set1_ps(FLT_MAX);
  for (int64_t b0 = 0; b0 < k / kQuant; b0 += 8) {
    const float *v = x + b0 * kQuant;
    __m512 amax = _mm512_setzero_ps();
    __mmask16 bad = 0;
    for (int i = 0; i < 256; i += 16) {
      const __m512 a = _mm512_abs_ps(_mm512_loadu_ps(v + i));
      bad |= _mm512_cmp_ps_mask(a, big, _CMP_NLE_UQ);
      amax = _mm512_max_ps(amax, a);
    }
    if (bad) {
      poisonBlocks(b0, 8, q, scales, sums);
      continue;
    }
    const float m = _mm512_reduce_max_ps(amax), iscale = q8kInverse(firstOfMagnitude(v, m));
    if (iscale == 0.0f) {
      quantizeSuper(v, b0, m, q, scales, sums);
      continue;
    }
    const __m512 s = _mm512_set1_ps(iscale);
    const __m512i top = _mm512_set1_epi32(127);
    for (int64_t b = b0; b < b0 + 8; ++b) {
      const float *vb = v + (b - b0) * kQuant;
      const __m512i q0 = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(vb), s)), top);
      const __m512i q1 =
          _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(vb + 16), s)), top);
      _mm_storeu_si128(reinterpret_cast<__m128i *>(q + b * kQuant), _mm512_cvtepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i *>(q + b * kQuant + 16), _mm512_cvtepi32_epi8(q1));
      sums[2 * b] = _mm512_reduce_add_epi32(q0);
      sums[2 * b + 1] = _mm512_reduce_add_epi32(q1);
      scales[b] = 1.0f / iscale;
    }
  }
}

MODELRT_VNNI void quantizeVnni(const float *x, int64_t k, int8_t *q, float *scales, int32_t *sums) {
  for (int64_t b = 0; b < k / kQuant; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + b * kQuant), v1 = _mm512_loadu_ps(x + b * kQuant + 16);
    const __m512 a0 = _mm512_abs_ps(v0), a1 = _mm512_abs_ps(v1);
    const __m512 big = _mm512_set1_ps(FLT_MAX);
    // Not (|x| <= FLT_MAX): infinite or NaN, as the portable test reads.
    if (_mm512_cmp_ps_mask(a0, big, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a1, big, _CMP_NLE_UQ)) {
      poisonBlocks(b, 1, q, scales, sums);
      continue;
    }
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
    scales[b] = f16ToF32(f32ToF16(amax / 127.0f));
    const __m512 id = _mm512_set1_ps(q8Inverse(amax));
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
    _mm_storeu_si128(reinterpret_cast<__m128i *>(q + b * kQuant), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i *>(q + b * kQuant + 16), _mm512_cvtepi32_epi8(q1));
    sums[2 * b] = _mm512_reduce_add_epi32(q0);
    sums[2 * b + 1] = _mm512_reduce_add_epi32(q1);
  }
}

bool detectVnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
}

// AVX2 (no VNNI): each 64-byte chunk as two halves of 8 columns; four products summed per
// 32-bit lane by maddubs (u8 x s8 pairs) and madd. Codes of 8 bits could overflow maddubs'
// 16-bit pairs (255 x 127 x 2), so they go signed (u - 128) with the sign moved onto x; that
// sum is already the offset one, so the epilogue leaves the offset out: the same integers.
#define MODELRT_AVX2_INT __attribute__((target("avx2,fma,f16c")))

MODELRT_AVX2_INT inline __m256i dotAvx2(__m256i w, __m256i x) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1));
}
MODELRT_AVX2_INT inline __m256i dotSignedAvx2(__m256i u, __m256i x) {
  const __m256i w = _mm256_xor_si256(u, _mm256_set1_epi8(static_cast<char>(0x80)));
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)),
                           _mm256_set1_epi16(1));
}

// Columns 8 half .. 8 half + 7 of block b's scales (and minimums) of group g, as scalesAt.
template <int Bits, int G, bool Mins, IntScales S>
MODELRT_AVX2_INT inline void scalesAvx2(const uint8_t *panel, int64_t b, int g, int half,
                                        __m256 &d, __m256 &m) {
  constexpr IntLayout l = kLayout<Bits, G, Mins, S>;
  const uint8_t *blk = panel + l.blockAt(b);
  const int col = 8 * half;
  if constexpr (S == IntScales::F32) {
    d = _mm256_loadu_ps(reinterpret_cast<const float *>(blk) + g * kPanel + col);
    if constexpr (Mins)
      m = _mm256_loadu_ps(reinterpret_cast<const float *>(blk) + (G + g) * kPanel + col);
  } else if constexpr (S == IntScales::F16) {
    d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(blk + (g * kPanel + col) * 2)));
    if constexpr (Mins)
      m = _mm256_cvtph_ps(
          _mm_loadu_si128(reinterpret_cast<const __m128i *>(blk + ((G + g) * kPanel + col) * 2)));
  } else {
    const uint8_t *header = panel + l.headerAt(b);
    const __m256 base = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(header + col * 2)));
    const __m128i sc = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(blk + g * kPanel + col));
    d = _mm256_mul_ps(base, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)));
    if constexpr (Mins) {
      const __m256 baseMin = _mm256_cvtph_ps(
          _mm_loadu_si128(reinterpret_cast<const __m128i *>(header + (kPanel + col) * 2)));
      const __m128i mn =
          _mm_loadl_epi64(reinterpret_cast<const __m128i *>(blk + (G + g) * kPanel + col));
      const __m256 prod = _mm256_mul_ps(baseMin, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(mn)));
      m = _mm256_castsi256_ps(
          _mm256_xor_si256(_mm256_castps_si256(prod), _mm256_set1_epi32(INT32_MIN))); // -x
    }
  }
}

template <int Bits, int G, bool Mins, IntScales S, int MR, int NP, bool Lut = false>
MODELRT_AVX2_INT void tileAvx2(int, int, const Rows &a, const uint8_t *panel, int64_t panelBytes,
                               int64_t k0, int64_t kc, float *c, int64_t ldc, bool first,
                               int offset, const uint8_t *table) {
  constexpr IntLayout l = kLayout<Bits, G, Mins, S>;
  constexpr bool Signed = Bits == 8 || Lut; // codes up to 255: dotSignedAvx2
  if (Signed)
    offset = 0;
  __m256 acc[MR][NP][2];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int p = 0; p < NP; ++p)
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half)
        acc[r][p][half] = first ? _mm256_setzero_ps()
                                : _mm256_loadu_ps(c + r * ldc + p * kPanel + 8 * half);
  const __m256i low4 = _mm256_set1_epi8(15), bits45 = _mm256_set1_epi8(0x30);
  const __m256i lut =
      Lut ? _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i *>(table)))
          : _mm256_setzero_si256();
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    const int64_t b = kb / kQuant;
    __m256i ch[MR][NP][2][G];
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int p = 0; p < NP; ++p)
#pragma GCC unroll 2
        for (int half = 0; half < 2; ++half)
#pragma GCC unroll 2
          for (int g = 0; g < G; ++g)
            ch[r][p][half][g] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) {
      const uint8_t *q = panel + p * panelBytes + l.blockAt(b) + l.scaleBytes();
#pragma GCC unroll 8
      for (int gi = 0; gi < 8; ++gi) {
        __m256i x[MR];
#pragma GCC unroll 4
        for (int r = 0; r < MR; ++r) {
          int32_t v4;
          std::memcpy(&v4, a.x(r, kb + 4 * gi), 4);
          x[r] = _mm256_set1_epi32(v4);
        }
#pragma GCC unroll 2
        for (int half = 0; half < 2; ++half) {
          __m256i v;
          if constexpr (Bits == 8) {
            v = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(q + 64 * gi + 32 * half));
          } else {
            const __m256i nib =
                _mm256_loadu_si256(reinterpret_cast<const __m256i *>(q + 64 * (gi / 2) + 32 * half));
            v = _mm256_and_si256(gi % 2 ? _mm256_srli_epi16(nib, 4) : nib, low4);
            if constexpr (Lut)
              v = _mm256_shuffle_epi8(lut, v);
            if constexpr (Bits == 6) {
              const __m256i plane = _mm256_loadu_si256(
                  reinterpret_cast<const __m256i *>(q + 256 + 64 * (gi / 4) + 32 * half));
              const int s2 = 2 * (gi % 4);
              const __m256i top = s2 < 4 ? _mm256_slli_epi16(plane, 4 - s2)
                                         : _mm256_srli_epi16(plane, s2 - 4);
              v = _mm256_or_si256(v, _mm256_and_si256(top, bits45));
            }
          }
          const int g = G == 2 ? gi / 4 : 0;
#pragma GCC unroll 4
          for (int r = 0; r < MR; ++r)
            ch[r][p][half][g] = _mm256_add_epi32(
                ch[r][p][half][g], Signed ? dotSignedAvx2(v, x[r]) : dotAvx2(v, x[r]));
        }
      }
    }
#pragma GCC unroll 4
    for (int p = 0; p < NP; ++p)
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        const uint8_t *pan = panel + p * panelBytes;
        __m256 d[2], m[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
#pragma GCC unroll 2
        for (int g = 0; g < G; ++g)
          scalesAvx2<Bits, G, Mins, S>(pan, b, g, half, d[g], m[g]);
#pragma GCC unroll 4
        for (int r = 0; r < MR; ++r) {
          const int32_t *xs = a.sum(r, b);
          __m256 t;
          if constexpr (G == 1) {
            const int32_t sum = xs[0] + xs[1];
            const __m256 qf = _mm256_cvtepi32_ps(
                _mm256_sub_epi32(ch[r][p][half][0], _mm256_set1_epi32(offset * sum)));
            t = Mins ? _mm256_fmadd_ps(d[0], qf, _mm256_mul_ps(m[0], _mm256_set1_ps(static_cast<float>(sum))))
                     : _mm256_mul_ps(d[0], qf);
          } else {
            const __m256 q0 = _mm256_cvtepi32_ps(
                _mm256_sub_epi32(ch[r][p][half][0], _mm256_set1_epi32(offset * xs[0])));
            const __m256 q1 = _mm256_cvtepi32_ps(
                _mm256_sub_epi32(ch[r][p][half][G - 1], _mm256_set1_epi32(offset * xs[1])));
            if constexpr (Mins)
              t = _mm256_fmadd_ps(
                  d[1], q1,
                  _mm256_fmadd_ps(m[1], _mm256_set1_ps(static_cast<float>(xs[1])),
                                  _mm256_fmadd_ps(d[0], q0,
                                                  _mm256_mul_ps(m[0], _mm256_set1_ps(static_cast<float>(xs[0]))))));
            else
              t = _mm256_fmadd_ps(d[1], q1, _mm256_mul_ps(d[0], q0));
          }
          acc[r][p][half] =
              _mm256_fmadd_ps(_mm256_set1_ps(a.scale(r, b)), t, acc[r][p][half]);
        }
      }
  }
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int p = 0; p < NP; ++p)
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half)
        _mm256_storeu_ps(c + r * ldc + p * kPanel + 8 * half, acc[r][p][half]);
}

// 32 values' codes nearest-even(x x iscale) (at most 127 with `top`), stored in order, and
// their two 16-value sums: the portable quantizers' arithmetic in vectors.
MODELRT_AVX2_INT inline void codesAvx2(const float *v, float iscale, bool top, int8_t *q,
                                       int32_t *sums) {
  const __m256 s = _mm256_set1_ps(iscale);
  __m256i i[4];
  for (int h = 0; h < 4; ++h) {
    i[h] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v + 8 * h), s));
    if (top)
      i[h] = _mm256_min_epi32(i[h], _mm256_set1_epi32(127));
  }
  // packs interleave 128-bit lanes: dwords a0-3 b0-3 c0-3 d0-3 a4-7 b4-7 c4-7 d4-7 back in order
  const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i *>(q),
                      _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  for (int h = 0; h < 2; ++h) {
    const __m256i sum8 = _mm256_add_epi32(i[2 * h], i[2 * h + 1]);
    __m128i sum4 = _mm_add_epi32(_mm256_castsi256_si128(sum8), _mm256_extracti128_si256(sum8, 1));
    sum4 = _mm_add_epi32(sum4, _mm_shuffle_epi32(sum4, 0x4E));
    sum4 = _mm_add_epi32(sum4, _mm_shuffle_epi32(sum4, 0xB1));
    sums[h] = _mm_cvtsi128_si32(sum4);
  }
}

MODELRT_AVX2_INT float absMaxAvx2(const float *v, int64_t n, bool &finite) {
  const __m256 mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256 big = _mm256_set1_ps(FLT_MAX);
  __m256 amax = _mm256_setzero_ps();
  int bad = 0;
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 a = _mm256_and_ps(_mm256_loadu_ps(v + i), mask);
    bad |= _mm256_movemask_ps(_mm256_cmp_ps(a, big, _CMP_NLE_UQ));
    amax = _mm256_max_ps(amax, a);
  }
  finite = !bad;
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
  return _mm_cvtss_f32(m4);
}

MODELRT_AVX2_INT void quantizeAvx2(const float *x, int64_t k, int8_t *q, float *scales,
                                   int32_t *sums) {
  for (int64_t b = 0; b < k / kQuant; ++b) {
    bool finite;
    const float amax = absMaxAvx2(x + b * kQuant, kQuant, finite);
    if (!finite) {
      poisonBlocks(b, 1, q, scales, sums);
      continue;
    }
    scales[b] = f16ToF32(f32ToF16(amax / 127.0f));
    codesAvx2(x + b * kQuant, q8Inverse(amax), false, q + b * kQuant,
              sums + 2 * b);
  }
}

MODELRT_AVX2_INT void quantizeSuperAvx2(const float *x, int64_t k, int8_t *q, float *scales,
                                        int32_t *sums) {
  for (int64_t b0 = 0; b0 < k / kQuant; b0 += 8) {
    const float *v = x + b0 * kQuant;
    bool finite;
    const float amax = absMaxAvx2(v, 256, finite);
    if (!finite) {
      poisonBlocks(b0, 8, q, scales, sums);
      continue;
    }
    const float iscale = q8kInverse(firstOfMagnitude(v, amax));
    if (iscale == 0.0f) {
      quantizeSuper(v, b0, amax, q, scales, sums);
      continue;
    }
    for (int64_t b = b0; b < b0 + 8; ++b) {
      codesAvx2(v + (b - b0) * kQuant, iscale, true, q + b * kQuant, sums + 2 * b);
      scales[b] = 1.0f / iscale;
    }
  }
}

template <int Bits, int G, bool Mins, IntScales S, bool Lut = false>
TileFn avx2Tile(int mr, int np) {
  if (np == 2)
    return tileAvx2<Bits, G, Mins, S, 1, 2, Lut>;
  return mr == 1 ? tileAvx2<Bits, G, Mins, S, 1, 1, Lut> : tileAvx2<Bits, G, Mins, S, 2, 1, Lut>;
}

template <int Bits, int G, bool Mins, IntScales S, bool Lut = false>
TileFn vnniTile(int mr, int np) {
  if (np == 2)
    return tileVnni<Bits, G, Mins, S, 1, 2, Lut>;
  switch (mr) {
  case 1:
    return tileVnni<Bits, G, Mins, S, 1, 1, Lut>;
  case 2:
    return tileVnni<Bits, G, Mins, S, 2, 1, Lut>;
  case 3:
    return tileVnni<Bits, G, Mins, S, 3, 1, Lut>;
  case 4:
    return tileVnni<Bits, G, Mins, S, 4, 1, Lut>;
  case 5:
    return tileVnni<Bits, G, Mins, S, 5, 1, Lut>;
  case 6:
    return tileVnni<Bits, G, Mins, S, 6, 1, Lut>;
  case 7:
    return tileVnni<Bits, G, Mins, S, 7, 1, Lut>;
  default:
    return tileVnni<Bits, G, Mins, S, 8, 1, Lut>;
  }
}
#endif

// The integer instructions the vector paths use, best first.
enum class Isa { Vnni, Avx2, Portable };
Isa bestIsa() {
#ifdef MODELRT_HAVE_X86
  static const Isa isa = detectVnni() ? Isa::Vnni : gemmUsesAvx2() ? Isa::Avx2 : Isa::Portable;
  return isa;
#else
  return Isa::Portable;
#endif
}
Isa isaFor(GemmPath path) {
  const Isa best = bestIsa();
  return path == GemmPath::Portable                         ? Isa::Portable
         : path == GemmPath::Avx2 && best != Isa::Portable ? Isa::Avx2
                                                            : best;
}
// Rows per tile: the AVX2 tiles keep their chains in 16 registers.
int maxRowsOf(Isa isa) { return isa == Isa::Avx2 ? 2 : kMaxRows; }

template <int Bits, int G, bool Mins, IntScales S, bool Lut = false>
TileFn pick(int mr, int np, Isa isa) {
#ifdef MODELRT_HAVE_X86
  if (isa == Isa::Vnni)
    return vnniTile<Bits, G, Mins, S, Lut>(mr, np);
  if (isa == Isa::Avx2)
    return avx2Tile<Bits, G, Mins, S, Lut>(mr, np);
#else
  (void)mr;
  (void)np;
  (void)isa;
#endif
  return tilePortable<Bits, G, Mins, S, Lut>;
}

// The tile for mr rows x np panels (np 2 only with mr 1) of a layout pack() makes.
TileFn tileFor(const IntLayout &l, int mr, int np, Isa isa) {
  struct Kind {
    int bits;
    int groups;
    bool mins;
    IntScales scales;
    bool lut;
    TileFn (*pick)(int, int, Isa);
  };
  static constexpr Kind kinds[] = {
      {4, 1, false, IntScales::F16, false, pick<4, 1, false, IntScales::F16>},  // Q4_0
      {4, 1, true, IntScales::F16, false, pick<4, 1, true, IntScales::F16>},    // Q4_1
      {4, 1, true, IntScales::K, false, pick<4, 1, true, IntScales::K>},        // Q4_K
      {4, 1, true, IntScales::F32, false, pick<4, 1, true, IntScales::F32>},    // Q4_ZP
      {4, 2, false, IntScales::K, false, pick<4, 2, false, IntScales::K>},      // Q3_K
      {4, 2, true, IntScales::K, false, pick<4, 2, true, IntScales::K>},        // Q2_K
      {6, 2, false, IntScales::K, false, pick<6, 2, false, IntScales::K>},      // Q6_K
      {6, 1, false, IntScales::F16, false, pick<6, 1, false, IntScales::F16>},  // Q5_0
      {6, 1, true, IntScales::F16, false, pick<6, 1, true, IntScales::F16>},    // Q5_1
      {6, 1, true, IntScales::K, false, pick<6, 1, true, IntScales::K>},        // Q5_K
      {8, 1, false, IntScales::F16, false, pick<8, 1, false, IntScales::F16>},  // Q8_0
      {4, 1, false, IntScales::F16, true, pick<4, 1, false, IntScales::F16, true>}, // IQ4_NL
      {4, 1, false, IntScales::K, true, pick<4, 1, false, IntScales::K, true>},     // IQ4_XS
      {4, 1, false, IntScales::F32, true, pick<4, 1, false, IntScales::F32, true>}, // MXFP4
  };
  for (const Kind &k : kinds)
    if (k.bits == l.bits && k.groups == l.groups && k.mins == l.mins && k.scales == l.scales &&
        k.lut == l.lut)
      return k.pick(mr, np, isa);
  return nullptr; // pack() makes no other layout
}

struct Buffers {
  std::vector<int8_t> q;
  std::vector<float> scales;
  std::vector<int32_t> sums;
};

} // namespace

} // namespace modelrt::engine::intdot

namespace modelrt::engine {

const char *intDotInstructions() {
  switch (intdot::bestIsa()) {
  case intdot::Isa::Vnni:
    return "AVX-512 VNNI";
  case intdot::Isa::Avx2:
    return "AVX2";
  default:
    return "portable";
  }
}

} // namespace modelrt::engine

namespace modelrt::engine::intdot {

// One row of k values (k a multiple of `block`) quantized as the integer-dot GEMM quantizes its
// input, each 32-value block getting its scale and its two 16-value sums of q:
//   block 32 (GGUF's Q8_0): q = nearest-even(x x 127 / amax), the scale amax / 127 rounded to
//     f16 (and widened back);
//   block 256 (GGUF's Q8_K): m the first value of the largest magnitude, q = min(127,
//     nearest-even(x x (-127 / m))), the scale 1 / (-127 / m), one for the 8 blocks.
// `path`: as gemm() takes it (every path gives the same bits).
static void quantizeRow(const float *x, int64_t k, int64_t block, int8_t *q, float *scales,
                        int32_t *sums, GemmPath path) {
#ifdef MODELRT_HAVE_X86
  const Isa isa = isaFor(path);
  if (isa == Isa::Vnni)
    return block == 256 ? quantizeSuperVnni(x, k, q, scales, sums)
                        : quantizeVnni(x, k, q, scales, sums);
  if (isa == Isa::Avx2)
    return block == 256 ? quantizeSuperAvx2(x, k, q, scales, sums)
                        : quantizeAvx2(x, k, q, scales, sums);
#else
  (void)path;
#endif
  if (block == 256)
    return quantizeSuperPortable(x, k, q, scales, sums);
  quantizePortable(x, k, q, scales, sums);
}

void gemm(const float *in, int64_t inStride, int64_t rows, const PackedWeight &w, const float *bias,
          float *out, int64_t outStride, GemmPath path, bool accumulate) {
  const int64_t n = w.n(), kTotal = w.k(), blocks = kTotal / kQuant;
  const Isa isa = isaFor(path);
  const int64_t maxRows = maxRowsOf(isa);
  // The calling thread's buffers (ranks running as threads call at once).
  // Each row quantized into `row` (its thread's), then placed in its group (Rows).
  thread_local Buffers buffers;
  const int64_t group = std::clamp<int64_t>(rows, 1, kGroupRows), groups = (rows + group - 1) / group;
  buffers.q.resize(static_cast<size_t>(groups * group * kTotal));
  buffers.scales.resize(static_cast<size_t>(groups * group * blocks));
  buffers.sums.resize(static_cast<size_t>(2 * groups * group * blocks));
  int8_t *q = buffers.q.data();
  float *scales = buffers.scales.data();
  int32_t *sums = buffers.sums.data();
#pragma omp parallel if (rows * kTotal >= kParallelWork)
  {
    thread_local Buffers row;
    row.q.resize(static_cast<size_t>(kTotal));
    row.scales.resize(static_cast<size_t>(blocks));
    row.sums.resize(static_cast<size_t>(2 * blocks));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      quantizeRow(in + r * inStride, kTotal, w.intLayout().activationBlock, row.q.data(),
                  row.scales.data(), row.sums.data(), path);
      const int64_t g = r / group, lane = r % group;
      int8_t *gq = q + g * group * kTotal + 4 * lane;
      for (int64_t kk = 0; kk < kTotal; kk += 4)
        std::memcpy(gq + kk * group, row.q.data() + kk, 4);
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t at = (g * blocks + b) * group + lane;
        scales[at] = row.scales[b];
        sums[2 * at] = row.sums[2 * b];
        sums[2 * at + 1] = row.sums[2 * b + 1];
      }
    }
  }
  // The tile of rows [r0, r0 + mr): within one group (r0 a multiple of maxRows, which divides
  // 8, and mr <= maxRows, as the tiling keeps).
  auto tileRows = [&](int64_t r0) {
    const int64_t g = r0 / group, lane = r0 % group;
    return Rows{q + g * group * kTotal + 4 * lane, scales + g * group * blocks + lane,
                sums + 2 * (g * group * blocks + lane), group};
  };

  TileFn tiles[kMaxRows + 1] = {};
  for (int r = 1; r <= kMaxRows; ++r)
    tiles[r] = tileFor(w.intLayout(), std::min<int>(r, static_cast<int>(maxRows)), 1, isa);
  const TileFn pair = tileFor(w.intLayout(), 1, 2, isa);
  const int64_t panels = w.numPanels(), fullPanels = n / kPanel, panelBytes = w.panelBytes();
  const int offset = w.intLayout().offset;
  const uint8_t *table = w.intTable();
  auto fresh = [accumulate](int64_t k0) { return k0 == 0 && !accumulate; };

  // Threads take pairs of adjacent panels (32 columns).
#pragma omp parallel for schedule(static) if (rows * n * kTotal >= kParallelWork)
  for (int64_t p0 = 0; p0 < panels; p0 += 2) {
    const int64_t pairEnd = std::min(panels, p0 + 2);
    float edge[kMaxRows * kPanel] = {}; // the last panel's tile, when n is not a multiple of 16
    for (int64_t k0 = 0; k0 < kTotal; k0 += kKBlock) {
      const int64_t kc = std::min(kKBlock, kTotal - k0);
      for (int64_t r0 = 0; r0 < rows; r0 += maxRows) {
        const int mr = static_cast<int>(std::min<int64_t>(maxRows, rows - r0));
        const Rows a = tileRows(r0);
        float *c = out + r0 * outStride;
        if (mr == 1 && pairEnd - p0 == 2 && pairEnd <= fullPanels) {
          pair(1, 2, a, w.panel(p0), panelBytes, k0, kc, c + p0 * kPanel, outStride, fresh(k0),
               offset, table);
          continue;
        }
        for (int64_t p = p0; p < pairEnd; ++p) {
          const int64_t col = p * kPanel, valid = std::min(kPanel, n - col);
          if (valid == kPanel) {
            tiles[mr](mr, 1, a, w.panel(p), panelBytes, k0, kc, c + col, outStride, fresh(k0),
                      offset, table);
            continue;
          }
          for (int r = 0; r < mr; ++r)
            std::memcpy(edge + r * kPanel, c + r * outStride + col, valid * sizeof(float));
          tiles[mr](mr, 1, a, w.panel(p), panelBytes, k0, kc, edge, kPanel, fresh(k0), offset,
                    table);
          for (int r = 0; r < mr; ++r)
            std::memcpy(c + r * outStride + col, edge + r * kPanel, valid * sizeof(float));
        }
      }
    }
    finishColumns(out, outStride, rows, p0 * kPanel, std::min(n, pairEnd * kPanel), bias,
                  kTotal == 0 && !accumulate);
  }
}

} // namespace modelrt::engine::intdot
