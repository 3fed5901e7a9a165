#include "runtime/engine/CpuGemm.h"
#include "runtime/engine/CpuGemmInt8.h"

#include "runtime/formats/Dequantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#define MODELRT_HAVE_X86 1
#endif

namespace modelrt::engine {

namespace {

constexpr int64_t kPanel = PackedWeight::kPanel;
constexpr int64_t kQuant = PackedWeight::kQuantBlock;
constexpr int kMaxRows = 6;      // rows per register tile: 12 accumulators + 2 weights + 1 input
constexpr int64_t kKBlock = 256; // a panel's k-block stays in L1 across the rows
// Smaller GEMMs (and packs) run on one thread: waking the others costs more.
constexpr int64_t kParallelFlops = 1 << 17;
constexpr int64_t kExpandRows = 4;

// Bytes of one panel's 32-value k-block: Q8 panels hold G scale rows (one per 32 / G values
// of k: G = 1 for Q8_0 and Q5_0, 2 for Q6_K's 16-value sub-blocks), with M as many minimum
// rows (Q5_1, Q5_K), and int8 values; nibble panels a scale row (and a minimum row), then
// 16 bytes per two values of k (low nibble the even one).
template <int G, bool M = false>
constexpr int64_t kQ8Block = (M ? 2 : 1) * G *kPanel * 4 + kQuant *kPanel;
// The nibble formats: Affine (Q4_1, Q4_0, Q4_K) weighs fma(q, d, m); Lut<T> (IQ4_NL,
// IQ4_XS with T = kGgufIq4Values, MXFP4 with kMxfp4Values) weighs T[q] x d, so 4-bit
// codes stay 4 bits in the panels (a Q8 panel would spend a byte on each).
struct Affine {
  static constexpr bool kAffine = true;
  static constexpr int kScaleRows = 2;
  static const int8_t *table() { return nullptr; }
};
template <const int8_t *T> struct Lut {
  static constexpr bool kAffine = false;
  static constexpr int kScaleRows = 1;
  static const int8_t *table() { return T; }
};
template <class F> constexpr int64_t kNibbleBlock = F::kScaleRows *kPanel * 4 + kQuant / 2 * kPanel;
using Iq4Lut = Lut<kGgufIq4Values>;
using Mxfp4Lut = Lut<kMxfp4Values>;

// The panel layout of each weight type.
// F8: Q8's layout holding E4M3 codes, and scales times 2^8 (the codes widen to their values
// times 2^-8 by shifts alone: e4m3ToF16Scaled).
enum class Panels { F32, BF16, F16, Q8, Q8x2, Q8m, Q8x2m, Q41, Q4Iq4, Q4Mx, F8, None };
Panels panelsOf(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return Panels::F32;
  case DType::BF16:
    return Panels::BF16;
  case DType::F16:
    return Panels::F16;
  case DType::Q8_0:
  case DType::Q5_0:
    return Panels::Q8;
  case DType::IQ4_NL:
  case DType::IQ4_XS:
    return Panels::Q4Iq4;
  case DType::MXFP4:
    return Panels::Q4Mx;
  case DType::F8E4M3_B32:
    return Panels::F8;
  case DType::Q6_K:
  case DType::Q3_K:
    return Panels::Q8x2;
  case DType::Q2_K:
    return Panels::Q8x2m;
  case DType::Q5_1:
  case DType::Q5_K:
    return Panels::Q8m;
  case DType::Q4_1:
  case DType::Q4_0:
  case DType::Q4_ZP:
  case DType::Q4_K:
    return Panels::Q41;
  default:
    return Panels::None;
  }
}

// One register tile: c[r, j] (r < MR, j < 16, rows ldc apart) continues its FMA chain over
// k in [k0, k0 + kc) of `panel`; `first` starts the chains at zero. For quantized panels,
// k0 and kc are multiples of 32.
using TileFn = void (*)(const float *a, int64_t lda, const uint8_t *panel, int64_t k0, int64_t kc,
                        float *c, int64_t ldc, bool first);

// The weights of one k for the 16 columns, as the portable tiles expand them.
struct PortableF32 {
  static void weights(const uint8_t *panel, int64_t k, float w[kPanel]) {
    std::memcpy(w, panel + k * kPanel * 4, kPanel * 4);
  }
};
// 16-bit plain panels: [k][16] halves.
struct PortableBF16 {
  static void weights(const uint8_t *panel, int64_t k, float w[kPanel]) {
    const uint16_t *h = reinterpret_cast<const uint16_t *>(panel) + k * kPanel;
    for (int j = 0; j < kPanel; ++j)
      w[j] = bf16ToF32(h[j]);
  }
};
struct PortableF16 {
  static void weights(const uint8_t *panel, int64_t k, float w[kPanel]) {
    const uint16_t *h = reinterpret_cast<const uint16_t *>(panel) + k * kPanel;
    for (int j = 0; j < kPanel; ++j)
      w[j] = f16ToF32(h[j]);
  }
};
template <int G, bool M = false, bool F8 = false> struct PortableQ8 {
  static void weights(const uint8_t *panel, int64_t k, float w[kPanel]) {
    const uint8_t *block = panel + (k / kQuant) * kQ8Block<G, M>;
    const float *d = reinterpret_cast<const float *>(block) + (k % kQuant) / (kQuant / G) * kPanel;
    const float *m = d + G * kPanel;
    const int8_t *q = reinterpret_cast<const int8_t *>(block + (M ? 2 : 1) * G * kPanel * 4) +
                      (k % kQuant) * kPanel;
    for (int j = 0; j < kPanel; ++j) {
      const float v = F8 ? f16ToF32(e4m3ToF16Scaled(static_cast<uint8_t>(q[j])))
                         : static_cast<float>(q[j]);
      w[j] = M ? std::fma(v, d[j], m[j]) : v * d[j];
    }
  }
};
template <class F> struct PortableNibble {
  static void weights(const uint8_t *panel, int64_t k, float w[kPanel]) {
    const uint8_t *block = panel + (k / kQuant) * kNibbleBlock<F>;
    const float *d = reinterpret_cast<const float *>(block), *m = d + kPanel;
    const uint8_t *q = block + F::kScaleRows * kPanel * 4 + (k % kQuant) / 2 * kPanel;
    const int shift = (k % 2) * 4;
    for (int j = 0; j < kPanel; ++j) {
      const int code = (q[j] >> shift) & 15;
      w[j] = F::kAffine ? std::fma(static_cast<float>(code), d[j], m[j])
                        : static_cast<float>(F::table()[code]) * d[j];
    }
  }
};

// A panel's weights for k in [k0, k0 + kc), expanded to f32 [kc][16]: for batches of
// several row tiles, quantized panels are expanded once per k-block and the f32 tiles run
// over the copy. The values are the ones the quantized tiles compute in registers.
using ExpandFn = void (*)(const uint8_t *panel, int64_t k0, int64_t kc, float *out);

template <class Format>
void expandPortable(const uint8_t *panel, int64_t k0, int64_t kc, float *out) {
  for (int64_t k = k0; k < k0 + kc; ++k)
    Format::weights(panel, k, out + (k - k0) * kPanel);
}

template <class Format, int MR>
void tilePortable(const float *a, int64_t lda, const uint8_t *panel, int64_t k0, int64_t kc,
                  float *c, int64_t ldc, bool first) {
  float acc[MR][kPanel], w[kPanel];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < kPanel; ++j)
      acc[r][j] = first ? 0.0f : c[r * ldc + j];
  for (int64_t k = k0; k < k0 + kc; ++k) {
    Format::weights(panel, k, w);
    for (int r = 0; r < MR; ++r) {
      float x = a[r * lda + k];
      for (int j = 0; j < kPanel; ++j)
        acc[r][j] = std::fma(x, w[j], acc[r][j]);
    }
  }
  for (int r = 0; r < MR; ++r)
    std::memcpy(c + r * ldc, acc[r], sizeof(acc[r]));
}

#ifdef MODELRT_HAVE_X86
// F16C too (detectAvx2 requires it): the 16-bit panels and E4M3 codes widen through it.
#define MODELRT_AVX2 __attribute__((target("avx2,fma,f16c")))

template <int MR> struct Avx2Acc {
  __m256 lo[MR], hi[MR];

  MODELRT_AVX2 void load(const float *c, int64_t ldc, bool first) {
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      lo[r] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + r * ldc);
      hi[r] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + r * ldc + 8);
    }
  }
  MODELRT_AVX2 void store(float *c, int64_t ldc) {
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      _mm256_storeu_ps(c + r * ldc, lo[r]);
      _mm256_storeu_ps(c + r * ldc + 8, hi[r]);
    }
  }
  // acc[r] = fma(a[r, k], w, acc[r]) for the 16 columns of one k.
  MODELRT_AVX2 void step(const float *a, int64_t lda, int64_t k, __m256 w0, __m256 w1) {
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      __m256 x = _mm256_broadcast_ss(a + r * lda + k);
      lo[r] = _mm256_fmadd_ps(x, w0, lo[r]);
      hi[r] = _mm256_fmadd_ps(x, w1, hi[r]);
    }
  }
};

template <int MR>
MODELRT_AVX2 void tileAvx2F32(const float *a, int64_t lda, const uint8_t *panel, int64_t k0,
                              int64_t kc, float *c, int64_t ldc, bool first) {
  Avx2Acc<MR> acc;
  acc.load(c, ldc, first);
  const float *w = reinterpret_cast<const float *>(panel);
  for (int64_t k = k0; k < k0 + kc; ++k)
    acc.step(a, lda, k, _mm256_load_ps(w + k * kPanel), _mm256_load_ps(w + k * kPanel + 8));
  acc.store(c, ldc);
}

// The 16 weights of one k of a 16-bit panel, widened exactly to f32.
#define MODELRT_AVX2_F16C __attribute__((target("avx2,fma,f16c")))
struct Avx2BF16 {
  MODELRT_AVX2_F16C static void at(const uint8_t *panel, int64_t k, __m256 &w0, __m256 &w1) {
    const __m128i *h = reinterpret_cast<const __m128i *>(panel + k * kPanel * 2);
    w0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_load_si128(h)), 16));
    w1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_load_si128(h + 1)), 16));
  }
};
struct Avx2F16 {
  MODELRT_AVX2_F16C static void at(const uint8_t *panel, int64_t k, __m256 &w0, __m256 &w1) {
    const __m128i *h = reinterpret_cast<const __m128i *>(panel + k * kPanel * 2);
    w0 = _mm256_cvtph_ps(_mm_load_si128(h));
    w1 = _mm256_cvtph_ps(_mm_load_si128(h + 1));
  }
};

template <class Loader, int MR>
MODELRT_AVX2_F16C void tileAvx2Half(const float *a, int64_t lda, const uint8_t *panel, int64_t k0,
                                    int64_t kc, float *c, int64_t ldc, bool first) {
  Avx2Acc<MR> acc;
  acc.load(c, ldc, first);
  for (int64_t k = k0; k < k0 + kc; ++k) {
    __m256 w0, w1;
    Loader::at(panel, k, w0, w1);
    acc.step(a, lda, k, w0, w1);
  }
  acc.store(c, ldc);
}

// One 32-value k-block of a quantized panel: its scales (and minimums) in registers, its
// values widened on demand to exactly GGUF's dequantized f32 (q x d; q x d + m, where q x d
// is exact so the FMA rounds once, as dequantization does). F8: E4M3 codes, widened to
// their values times 2^-8 through f16 (exact) and multiplied by 2^8 d: the one rounding of
// q x d.
template <int G, bool M = false, bool F8 = false> struct Avx2Q8Block {
  __m256 d[G][2], m[M ? G : 1][2];
  const uint8_t *q;
  MODELRT_AVX2 void init(const uint8_t *panel, int64_t kb) {
    const uint8_t *block = panel + (kb / kQuant) * kQ8Block<G, M>;
    const float *f = reinterpret_cast<const float *>(block);
    for (int g = 0; g < G; ++g) {
      d[g][0] = _mm256_loadu_ps(f + g * kPanel);
      d[g][1] = _mm256_loadu_ps(f + g * kPanel + 8);
      if constexpr (M) {
        m[g][0] = _mm256_loadu_ps(f + (G + g) * kPanel);
        m[g][1] = _mm256_loadu_ps(f + (G + g) * kPanel + 8);
      }
    }
    q = block + (M ? 2 : 1) * G * kPanel * 4;
  }
  // The 16 weights of value i of the block: q x d, or fma(q, d, m).
  MODELRT_AVX2 void at(int64_t i, __m256 &w0, __m256 &w1) const {
    const int g = static_cast<int>(i / (kQuant / G));
    __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(q + i * kPanel));
    __m256 q0, q1;
    if constexpr (F8) {
      // The code at the top of a 16-bit lane, shifted right once arithmetically: the sign
      // stays bit 15 and lands in bit 14 too (cleared), the other bits at 13..7 (as
      // e4m3ToF16Scaled places them).
      const __m256i v = _mm256_slli_epi16(_mm256_cvtepu8_epi16(bytes), 8);
      const __m256i h = _mm256_and_si256(_mm256_srai_epi16(v, 1),
                                         _mm256_set1_epi16(static_cast<short>(0xBF80)));
      q0 = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
      q1 = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
    } else {
      q0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
      q1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(bytes, 8)));
    }
    if constexpr (M) {
      w0 = _mm256_fmadd_ps(q0, d[g][0], m[g][0]);
      w1 = _mm256_fmadd_ps(q1, d[g][1], m[g][1]);
    } else {
      w0 = _mm256_mul_ps(q0, d[g][0]);
      w1 = _mm256_mul_ps(q1, d[g][1]);
    }
  }
};

template <class F> struct Avx2NibbleBlock {
  __m256 d0, d1, m0, m1;
  __m128i table; // Lut formats: the 16 int8 values the codes index
  const uint8_t *q;
  MODELRT_AVX2 void init(const uint8_t *panel, int64_t kb) {
    const uint8_t *block = panel + (kb / kQuant) * kNibbleBlock<F>;
    const float *f = reinterpret_cast<const float *>(block);
    d0 = _mm256_loadu_ps(f);
    d1 = _mm256_loadu_ps(f + 8);
    if constexpr (F::kAffine) {
      m0 = _mm256_loadu_ps(f + 16);
      m1 = _mm256_loadu_ps(f + 24);
    } else {
      table = _mm_loadu_si128(reinterpret_cast<const __m128i *>(F::table()));
    }
    q = block + F::kScaleRows * kPanel * 4;
  }
  // The 16 weights of values 2i (w[0]) and 2i + 1 (w[1]): one byte row holds both.
  MODELRT_AVX2 void pairAt(int64_t i, __m256 w[2][2]) const {
    const __m128i low4 = _mm_set1_epi8(15);
    __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(q + i * kPanel));
    __m128i nibbles[2] = {_mm_and_si128(bytes, low4),
                          _mm_and_si128(_mm_srli_epi16(bytes, 4), low4)};
    for (int half = 0; half < 2; ++half) {
      if constexpr (F::kAffine) {
        w[half][0] =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(nibbles[half])), d0, m0);
        w[half][1] = _mm256_fmadd_ps(
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(nibbles[half], 8))), d1, m1);
      } else { // T[q] x d: the table lookup is one byte shuffle
        const __m128i v = _mm_shuffle_epi8(table, nibbles[half]);
        w[half][0] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), d0);
        w[half][1] =
            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v, 8))), d1);
      }
    }
  }
};

template <int G, bool M, bool F8, int MR>
MODELRT_AVX2 void tileAvx2Q8(const float *a, int64_t lda, const uint8_t *panel, int64_t k0,
                             int64_t kc, float *c, int64_t ldc, bool first) {
  Avx2Acc<MR> acc;
  acc.load(c, ldc, first);
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    Avx2Q8Block<G, M, F8> block;
    block.init(panel, kb);
    for (int64_t i = 0; i < kQuant; ++i) {
      __m256 w0, w1;
      block.at(i, w0, w1);
      acc.step(a, lda, kb + i, w0, w1);
    }
  }
  acc.store(c, ldc);
}

template <class F, int MR>
MODELRT_AVX2 void tileAvx2Nibble(const float *a, int64_t lda, const uint8_t *panel, int64_t k0,
                                 int64_t kc, float *c, int64_t ldc, bool first) {
  Avx2Acc<MR> acc;
  acc.load(c, ldc, first);
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    Avx2NibbleBlock<F> block;
    block.init(panel, kb);
    for (int64_t i = 0; i < kQuant / 2; ++i) {
      __m256 w[2][2];
      block.pairAt(i, w);
      acc.step(a, lda, kb + 2 * i, w[0][0], w[0][1]);
      acc.step(a, lda, kb + 2 * i + 1, w[1][0], w[1][1]);
    }
  }
  acc.store(c, ldc);
}

template <int G, bool M, bool F8 = false>
MODELRT_AVX2 void expandAvx2Q8(const uint8_t *panel, int64_t k0, int64_t kc, float *out) {
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    Avx2Q8Block<G, M, F8> block;
    block.init(panel, kb);
    for (int64_t i = 0; i < kQuant; ++i) {
      __m256 w0, w1;
      block.at(i, w0, w1);
      float *w = out + (kb - k0 + i) * kPanel;
      _mm256_storeu_ps(w, w0);
      _mm256_storeu_ps(w + 8, w1);
    }
  }
}

template <class F>
MODELRT_AVX2 void expandAvx2Nibble(const uint8_t *panel, int64_t k0, int64_t kc, float *out) {
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    Avx2NibbleBlock<F> block;
    block.init(panel, kb);
    for (int64_t i = 0; i < kQuant / 2; ++i) {
      __m256 w[2][2];
      block.pairAt(i, w);
      for (int half = 0; half < 2; ++half) {
        float *dst = out + (kb - k0 + 2 * i + half) * kPanel;
        _mm256_storeu_ps(dst, w[half][0]);
        _mm256_storeu_ps(dst + 8, w[half][1]);
      }
    }
  }
}

// One row against two adjacent panels (32 columns): four independent FMA chains instead
// of two, so a decode step is not bound by the FMA latency of one chain. Each output's
// chain is the same as in the tiles above.
using PairFn = void (*)(const float *a, const uint8_t *panel, int64_t panelBytes, int64_t k0,
                        int64_t kc, float *c, bool first);

struct Avx2Pair {
  __m256 acc[4];
  MODELRT_AVX2 void load(const float *c, bool first) {
    for (int i = 0; i < 4; ++i)
      acc[i] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + 8 * i);
  }
  MODELRT_AVX2 void store(float *c) {
    for (int i = 0; i < 4; ++i)
      _mm256_storeu_ps(c + 8 * i, acc[i]);
  }
};

MODELRT_AVX2 void pairAvx2F32(const float *a, const uint8_t *panel, int64_t panelBytes, int64_t k0,
                              int64_t kc, float *c, bool first) {
  Avx2Pair p;
  p.load(c, first);
  const float *w[2] = {reinterpret_cast<const float *>(panel),
                       reinterpret_cast<const float *>(panel + panelBytes)};
  for (int64_t k = k0; k < k0 + kc; ++k) {
    __m256 x = _mm256_broadcast_ss(a + k);
    for (int q = 0; q < 2; ++q) {
      p.acc[2 * q] = _mm256_fmadd_ps(x, _mm256_load_ps(w[q] + k * kPanel), p.acc[2 * q]);
      p.acc[2 * q + 1] =
          _mm256_fmadd_ps(x, _mm256_load_ps(w[q] + k * kPanel + 8), p.acc[2 * q + 1]);
    }
  }
  p.store(c);
}

template <class Loader>
MODELRT_AVX2_F16C void pairAvx2Half(const float *a, const uint8_t *panel, int64_t panelBytes,
                                    int64_t k0, int64_t kc, float *c, bool first) {
  Avx2Pair p;
  p.load(c, first);
  for (int64_t k = k0; k < k0 + kc; ++k) {
    __m256 x = _mm256_broadcast_ss(a + k);
    for (int q = 0; q < 2; ++q) {
      __m256 w0, w1;
      Loader::at(panel + q * panelBytes, k, w0, w1);
      p.acc[2 * q] = _mm256_fmadd_ps(x, w0, p.acc[2 * q]);
      p.acc[2 * q + 1] = _mm256_fmadd_ps(x, w1, p.acc[2 * q + 1]);
    }
  }
  p.store(c);
}

template <int G, bool M, bool F8 = false>
MODELRT_AVX2 void pairAvx2Q8(const float *a, const uint8_t *panel, int64_t panelBytes, int64_t k0,
                             int64_t kc, float *c, bool first) {
  Avx2Pair p;
  p.load(c, first);
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    Avx2Q8Block<G, M, F8> block[2];
    block[0].init(panel, kb);
    block[1].init(panel + panelBytes, kb);
    for (int64_t i = 0; i < kQuant; ++i) {
      __m256 x = _mm256_broadcast_ss(a + kb + i);
      for (int q = 0; q < 2; ++q) {
        __m256 w0, w1;
        block[q].at(i, w0, w1);
        p.acc[2 * q] = _mm256_fmadd_ps(x, w0, p.acc[2 * q]);
        p.acc[2 * q + 1] = _mm256_fmadd_ps(x, w1, p.acc[2 * q + 1]);
      }
    }
  }
  p.store(c);
}

template <class F>
MODELRT_AVX2 void pairAvx2Nibble(const float *a, const uint8_t *panel, int64_t panelBytes,
                                 int64_t k0, int64_t kc, float *c, bool first) {
  Avx2Pair p;
  p.load(c, first);
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    Avx2NibbleBlock<F> block[2];
    block[0].init(panel, kb);
    block[1].init(panel + panelBytes, kb);
    for (int64_t i = 0; i < kQuant / 2; ++i) {
      __m256 w[2][2][2]; // [panel][half][8 columns]
      block[0].pairAt(i, w[0]);
      block[1].pairAt(i, w[1]);
      for (int half = 0; half < 2; ++half) {
        __m256 x = _mm256_broadcast_ss(a + kb + 2 * i + half);
        for (int q = 0; q < 2; ++q) {
          p.acc[2 * q] = _mm256_fmadd_ps(x, w[q][half][0], p.acc[2 * q]);
          p.acc[2 * q + 1] = _mm256_fmadd_ps(x, w[q][half][1], p.acc[2 * q + 1]);
        }
      }
    }
  }
  p.store(c);
}

bool detectAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}
#endif

template <template <int> class Tile> TileFn select(int rows) {
  switch (rows) {
  case 1:
    return Tile<1>::fn;
  case 2:
    return Tile<2>::fn;
  case 3:
    return Tile<3>::fn;
  case 4:
    return Tile<4>::fn;
  case 5:
    return Tile<5>::fn;
  default:
    return Tile<6>::fn;
  }
}
template <class Format> struct Portable {
  template <int MR> struct Tile { static constexpr TileFn fn = tilePortable<Format, MR>; };
};
#ifdef MODELRT_HAVE_X86
template <int MR> struct Avx2F32 { static constexpr TileFn fn = tileAvx2F32<MR>; };
template <int G, bool M = false, bool F8 = false> struct Avx2Q8 {
  template <int MR> struct Tile { static constexpr TileFn fn = tileAvx2Q8<G, M, F8, MR>; };
};
template <class F> struct Avx2Nibble {
  template <int MR> struct Tile { static constexpr TileFn fn = tileAvx2Nibble<F, MR>; };
};
template <class Loader> struct Avx2HalfTiles {
  template <int MR> struct Tile { static constexpr TileFn fn = tileAvx2Half<Loader, MR>; };
};
#endif

ExpandFn expandFor(DType dtype, bool avx2) {
  const Panels f = panelsOf(dtype);
#ifdef MODELRT_HAVE_X86
  if (avx2)
    switch (f) {
    case Panels::Q8:
      return expandAvx2Q8<1, false>;
    case Panels::Q8x2:
      return expandAvx2Q8<2, false>;
    case Panels::Q8m:
      return expandAvx2Q8<1, true>;
    case Panels::Q8x2m:
      return expandAvx2Q8<2, true>;
    case Panels::Q41:
      return expandAvx2Nibble<Affine>;
    case Panels::Q4Iq4:
      return expandAvx2Nibble<Iq4Lut>;
    case Panels::Q4Mx:
      return expandAvx2Nibble<Mxfp4Lut>;
    case Panels::F8:
      return expandAvx2Q8<1, false, true>;
    default:
      return nullptr;
    }
#else
  (void)avx2;
#endif
  switch (f) {
  case Panels::Q8:
    return expandPortable<PortableQ8<1>>;
  case Panels::Q8x2:
    return expandPortable<PortableQ8<2>>;
  case Panels::Q8m:
    return expandPortable<PortableQ8<1, true>>;
  case Panels::Q8x2m:
    return expandPortable<PortableQ8<2, true>>;
  case Panels::Q41:
    return expandPortable<PortableNibble<Affine>>;
  case Panels::Q4Iq4:
    return expandPortable<PortableNibble<Iq4Lut>>;
  case Panels::Q4Mx:
    return expandPortable<PortableNibble<Mxfp4Lut>>;
  case Panels::F8:
    return expandPortable<PortableQ8<1, false, true>>;
  default:
    return nullptr;
  }
}

PairFn pairFor(DType dtype, bool avx2) {
#ifdef MODELRT_HAVE_X86
  if (avx2)
    switch (panelsOf(dtype)) {
    case Panels::Q8:
      return pairAvx2Q8<1, false>;
    case Panels::Q8x2:
      return pairAvx2Q8<2, false>;
    case Panels::Q8m:
      return pairAvx2Q8<1, true>;
    case Panels::Q8x2m:
      return pairAvx2Q8<2, true>;
    case Panels::Q41:
      return pairAvx2Nibble<Affine>;
    case Panels::Q4Iq4:
      return pairAvx2Nibble<Iq4Lut>;
    case Panels::Q4Mx:
      return pairAvx2Nibble<Mxfp4Lut>;
    case Panels::F8:
      return pairAvx2Q8<1, false, true>;
    case Panels::BF16:
      return pairAvx2Half<Avx2BF16>;
    case Panels::F16:
      return pairAvx2Half<Avx2F16>;
    default:
      return pairAvx2F32;
    }
#else
  (void)dtype;
  (void)avx2;
#endif
  return nullptr;
}

TileFn tileFor(DType dtype, int rows, bool avx2) {
  const Panels f = panelsOf(dtype);
#ifdef MODELRT_HAVE_X86
  if (avx2)
    switch (f) {
    case Panels::Q8:
      return select<Avx2Q8<1>::Tile>(rows);
    case Panels::Q8x2:
      return select<Avx2Q8<2>::Tile>(rows);
    case Panels::Q8m:
      return select<Avx2Q8<1, true>::Tile>(rows);
    case Panels::Q8x2m:
      return select<Avx2Q8<2, true>::Tile>(rows);
    case Panels::Q41:
      return select<Avx2Nibble<Affine>::Tile>(rows);
    case Panels::Q4Iq4:
      return select<Avx2Nibble<Iq4Lut>::Tile>(rows);
    case Panels::Q4Mx:
      return select<Avx2Nibble<Mxfp4Lut>::Tile>(rows);
    case Panels::F8:
      return select<Avx2Q8<1, false, true>::Tile>(rows);
    case Panels::BF16:
      return select<Avx2HalfTiles<Avx2BF16>::Tile>(rows);
    case Panels::F16:
      return select<Avx2HalfTiles<Avx2F16>::Tile>(rows);
    default:
      return select<Avx2F32>(rows);
    }
#else
  (void)avx2;
#endif
  switch (f) {
  case Panels::Q8:
    return select<Portable<PortableQ8<1>>::Tile>(rows);
  case Panels::Q8x2:
    return select<Portable<PortableQ8<2>>::Tile>(rows);
  case Panels::Q8m:
    return select<Portable<PortableQ8<1, true>>::Tile>(rows);
  case Panels::Q8x2m:
    return select<Portable<PortableQ8<2, true>>::Tile>(rows);
  case Panels::Q41:
    return select<Portable<PortableNibble<Affine>>::Tile>(rows);
  case Panels::Q4Iq4:
    return select<Portable<PortableNibble<Iq4Lut>>::Tile>(rows);
  case Panels::Q4Mx:
    return select<Portable<PortableNibble<Mxfp4Lut>>::Tile>(rows);
  case Panels::F8:
    return select<Portable<PortableQ8<1, false, true>>::Tile>(rows);
  case Panels::BF16:
    return select<Portable<PortableBF16>::Tile>(rows);
  case Panels::F16:
    return select<Portable<PortableF16>::Tile>(rows);
  default:
    return select<Portable<PortableF32>::Tile>(rows);
  }
}

float ggufHalf(const uint8_t *p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16ToF32(h);
}

uint8_t *allocatePanels(size_t bytes) {
  bytes = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  auto *data = static_cast<uint8_t *>(std::aligned_alloc(64, bytes));
  if (!data)
    throw std::bad_alloc();
  std::memset(data, 0, bytes); // columns past n stay zero
  return data;
}

} // namespace

bool gemmUsesAvx2() {
#ifdef MODELRT_HAVE_X86
  static const bool avx2 = detectAvx2();
  return avx2;
#else
  return false;
#endif
}

int64_t PackedWeight::quantBlockBytes(DType dtype) {
  switch (panelsOf(dtype)) {
  case Panels::Q8:
  case Panels::F8:
    return kQ8Block<1>;
  case Panels::Q8x2:
    return kQ8Block<2>;
  case Panels::Q8m:
    return kQ8Block<1, true>;
  case Panels::Q8x2m:
    return kQ8Block<2, true>;
  case Panels::Q41:
    return kNibbleBlock<Affine>;
  case Panels::Q4Iq4:
  case Panels::Q4Mx:
    return kNibbleBlock<Iq4Lut>;
  default:
    return 0;
  }
}

bool PackedWeight::keepsQuantized(DType dtype) { return quantBlockBytes(dtype) > 0; }

PackedWeight PackedWeight::pack(const float *w, int64_t n, int64_t k) {
  PackedWeight p;
  p.n_ = n;
  p.k_ = k;
  p.panelBytes_ = k * kPanel * static_cast<int64_t>(sizeof(float));
  p.data_.reset(allocatePanels(static_cast<size_t>(p.numPanels() * p.panelBytes_)));
  float *data = reinterpret_cast<float *>(p.data_.get());
#pragma omp parallel for schedule(static) if (n * k >= kParallelFlops)
  for (int64_t panel = 0; panel < p.numPanels(); ++panel) {
    float *dst = data + panel * k * kPanel;
    for (int64_t j = 0; j < kPanel && panel * kPanel + j < n; ++j) {
      const float *src = w + (panel * kPanel + j) * k;
      for (int64_t kk = 0; kk < k; ++kk)
        dst[kk * kPanel + j] = src[kk];
    }
  }
  return p;
}

Expected<PackedWeight> PackedWeight::pack(DType dtype, const uint8_t *data, size_t bytes, int64_t n,
                                          int64_t k, GemmActivations activations) {
  Expected<uint64_t> expected =
      checkedByteSize(dtype, {static_cast<uint64_t>(n), static_cast<uint64_t>(k)});
  if (!expected)
    return expected.error();
  if (*expected != bytes)
    return Error(ErrorCode::InvalidFormat, "a [" + std::to_string(n) + ", " + std::to_string(k) +
                                               "] " + dtypeName(dtype) + " matrix needs " +
                                               std::to_string(*expected) + " bytes, not " +
                                               std::to_string(bytes));
  if (dtype == DType::F32)
    return pack(reinterpret_cast<const float *>(data), n, k);
  if (dtype == DType::BF16 || dtype == DType::F16) { // [k][16] halves per panel
    PackedWeight p;
    p.dtype_ = dtype;
    p.n_ = n;
    p.k_ = k;
    p.panelBytes_ = k * kPanel * 2;
    p.data_.reset(allocatePanels(static_cast<size_t>(p.numPanels() * p.panelBytes_)));
    uint16_t *out = reinterpret_cast<uint16_t *>(p.data_.get());
    const uint16_t *in = reinterpret_cast<const uint16_t *>(data);
#pragma omp parallel for schedule(static) if (n * k >= kParallelFlops)
    for (int64_t panel = 0; panel < p.numPanels(); ++panel)
      for (int64_t j = 0; j < kPanel && panel * kPanel + j < n; ++j)
        for (int64_t kk = 0; kk < k; ++kk)
          out[panel * k * kPanel + kk * kPanel + j] = in[(panel * kPanel + j) * k + kk];
    return p;
  }
  if (!keepsQuantized(dtype))
    return Error(ErrorCode::Unsupported,
                 std::string("the CPU GEMM takes F32, BF16, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
                             "Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, MXFP4, Q4_ZP or "
                             "F8_E4M3_B32 weights, "
                             "not ") +
                     dtypeName(dtype));
  // The panels widen E4M3 codes through f16 and hold 2^8 x the scale: exact for the blocks
  // modelc writes (finite scales below 2^120, no NaN codes); others are refused, not widened
  // to other values than dequantization gives.
  if (dtype == DType::F8E4M3_B32)
    for (size_t at = 0; at < bytes; at += 36) {
      float d;
      std::memcpy(&d, data + at, 4);
      bool finite = std::isfinite(d * 256.0f);
      for (size_t j = 4; j < 36 && finite; ++j)
        finite = (data[at + j] & 0x7F) != 0x7F;
      if (!finite)
        return Error(ErrorCode::InvalidFormat,
                     "an F8_E4M3_B32 block with a scale of 2^120 or more, or a NaN code");
    }
  PackedWeight p;
  p.dtype_ = dtype;
  p.n_ = n;
  p.k_ = k;
  const Panels format = panelsOf(dtype);
  const DTypeInfo &info = dtypeInfo(dtype);
  // Integer-dot panels: the same scales, minimums and values, laid out for 4-way integer dot
  // products (CpuGemm.h); E4M3 codes are not integers and keep the f32 path.
  p.intDot_ = activations == GemmActivations::Int8 && format != Panels::F8;
  if (p.intDot_) {
    IntLayout &l = p.intLayout_;
    l.lut = format == Panels::Q4Iq4 || format == Panels::Q4Mx;
    l.bits = format == Panels::Q41 || l.lut || dtype == DType::Q3_K || dtype == DType::Q2_K ? 4
             : dtype == DType::Q6_K || dtype == DType::Q5_0 || dtype == DType::Q5_1 ||
                     dtype == DType::Q5_K
                 ? 6
                 : 8;
    l.groups = format == Panels::Q8x2 || format == Panels::Q8x2m ? 2 : 1;
    l.mins = dtype == DType::Q4_1 || dtype == DType::Q5_1 || dtype == DType::Q4_K ||
             dtype == DType::Q5_K || dtype == DType::Q2_K || dtype == DType::Q4_ZP;
    l.scales = info.blockElements == 256                              ? IntScales::K
               : dtype == DType::MXFP4 || dtype == DType::Q4_ZP ? IntScales::F32
                                                                      : IntScales::F16;
    l.offset = dtype == DType::Q4_0       ? 8
               : dtype == DType::Q3_K     ? 4
               : dtype == DType::Q6_K     ? 32
               : dtype == DType::Q5_0     ? 16
               : l.bits == 8 || l.lut ? 128
                                          : 0;
    l.activationBlock = info.blockElements == 256 ? 256 : kQuant;
    if (l.lut) {
      const int8_t *values = format == Panels::Q4Mx ? kMxfp4Values : kGgufIq4Values;
      for (int i = 0; i < 16; ++i)
        p.intTable_[i] = static_cast<uint8_t>(values[i] + l.offset);
    }
  }
  const int64_t groups = info.blockElements / kQuant;
  const int64_t outBlock = quantBlockBytes(dtype);
  const int64_t rowBytes = k / info.blockElements * info.blockBytes;
  p.panelBytes_ = p.intDot_ ? k / kQuant / p.intLayout_.superBlocks() * p.intLayout_.superBytes()
                           : k / kQuant * outBlock;
  p.data_.reset(allocatePanels(static_cast<size_t>(p.numPanels() * p.panelBytes_)));
  uint8_t *out = p.data_.get();
  // Every 32 values of k of column j become: Q8 panels, G scales and int8 values (q x d is
  // the weight); Q4_1 panels, a scale, a minimum and 4-bit values (fma(q, d, m) is the
  // weight). The scales are GGUF's own products (d x sub-block scale, as dequantization
  // forms them), so the weights are bit for bit the dequantized ones (docs/formats.md).
  const bool twoGroups = format == Panels::Q8x2 || format == Panels::Q8x2m;
  const bool withMins = format == Panels::Q8m || format == Panels::Q8x2m;
  const int64_t groups8 = twoGroups ? 2 : 1;          // scale rows of a Q8 block
  const int64_t rows8 = groups8 * (withMins ? 2 : 1); // with the minimum rows
  // Integer-dot panels (IntLayout): block `at` of the panel at `base`, column j: its scales
  // and minimums as the layout holds them (K: the f16 d and dmin, the sub-block's integer
  // scales and minimums, whose products are `scales` and `mins`), then its codes.
  struct KParts {
    uint16_t d = 0, dmin = 0; // f16 bits
    int8_t sc[2] = {};
    uint8_t mn[2] = {};
  };
  auto putInt = [&](uint8_t *base, int64_t at, int64_t j, const float *scales, const float *mins,
                    const KParts *kp, auto &&code) {
    const IntLayout &l = p.intLayout_;
    uint8_t *dst = base + l.blockAt(at);
    const int64_t g2 = l.groups;
    for (int64_t g = 0; g < g2; ++g)
      switch (l.scales) {
      case IntScales::F32:
        std::memcpy(dst + (g * kPanel + j) * 4, &scales[g], 4);
        if (l.mins)
          std::memcpy(dst + ((g2 + g) * kPanel + j) * 4, &mins[g], 4);
        break;
      case IntScales::F16: { // the type's own f16 values
        const uint16_t d = f32ToF16(scales[g]), m = l.mins ? f32ToF16(mins[g]) : 0;
        std::memcpy(dst + (g * kPanel + j) * 2, &d, 2);
        if (l.mins)
          std::memcpy(dst + ((g2 + g) * kPanel + j) * 2, &m, 2);
        break;
      }
      case IntScales::K: {
        dst[g * kPanel + j] = static_cast<uint8_t>(kp->sc[g]);
        if (l.mins)
          dst[(g2 + g) * kPanel + j] = kp->mn[g];
        uint8_t *header = base + l.headerAt(at);
        std::memcpy(header + j * 2, &kp->d, 2);
        if (l.mins)
          std::memcpy(header + (kPanel + j) * 2, &kp->dmin, 2);
        break;
      }
      }
    uint8_t *codes = dst + l.scaleBytes();
    for (int64_t i = 0; i < kQuant; ++i) {
      const uint8_t u = code(i);
      if (l.bits == 8) {
        codes[intdot::codeByte(i, j)] = u;
        continue;
      }
      codes[intdot::nibbleByte(i, j)] |= static_cast<uint8_t>((u & 15) << intdot::nibbleShift(i));
      if (l.bits == 6)
        codes[intdot::planeByte(i, j)] |= static_cast<uint8_t>((u >> 4) << intdot::planeShift(i));
    }
  };
  auto putQ8 = [&](uint8_t *base, int64_t at, int64_t j, const float *scales, const int8_t *q,
                   const float *mins = nullptr, const KParts *kp = nullptr) {
    if (p.intDot_)
      return putInt(base, at, j, scales, mins, kp, [&](int64_t i) {
        return static_cast<uint8_t>(q[i] + p.intLayout_.offset);
      });
    uint8_t *dst = base + at * outBlock;
    for (int64_t g = 0; g < groups8; ++g) {
      std::memcpy(dst + (g * kPanel + j) * 4, &scales[g], 4);
      if (mins)
        std::memcpy(dst + ((groups8 + g) * kPanel + j) * 4, &mins[g], 4);
    }
    for (int64_t i = 0; i < kQuant; ++i)
      dst[rows8 * kPanel * 4 + i * kPanel + j] = static_cast<uint8_t>(q[i]);
  };
  // Lut panels: the scale, then the codes two per byte as Q4_1 panels hold them.
  auto putLut = [&](uint8_t *base, int64_t at, int64_t j, float scale, const uint8_t *q,
                    const KParts *kp = nullptr) {
    if (p.intDot_) // the 4-bit indices; the kernels look the values up (intTable())
      return putInt(base, at, j, &scale, nullptr, kp, [&](int64_t i) { return q[i]; });
    uint8_t *dst = base + at * outBlock;
    std::memcpy(dst + j * 4, &scale, 4);
    for (int64_t i = 0; i < kQuant / 2; ++i)
      dst[kPanel * 4 + i * kPanel + j] = static_cast<uint8_t>(q[2 * i] | q[2 * i + 1] << 4);
  };
  auto putQ41 = [&](uint8_t *base, int64_t at, int64_t j, float scale, float min, const uint8_t *q,
                    const KParts *kp = nullptr) {
    if (p.intDot_) // Q4_0: no minimum row, the offset 8 instead
      return putInt(base, at, j, &scale, &min, kp, [&](int64_t i) { return q[i]; });
    uint8_t *dst = base + at * outBlock;
    std::memcpy(dst + j * 4, &scale, 4);
    std::memcpy(dst + (kPanel + j) * 4, &min, 4);
    for (int64_t i = 0; i < kQuant / 2; ++i)
      dst[2 * kPanel * 4 + i * kPanel + j] = static_cast<uint8_t>(q[2 * i] | q[2 * i + 1] << 4);
  };
#pragma omp parallel for schedule(static) if (n * k >= kParallelFlops)
  for (int64_t panel = 0; panel < p.numPanels(); ++panel)
    for (int64_t j = 0; j < kPanel && panel * kPanel + j < n; ++j) {
      const uint8_t *row = data + (panel * kPanel + j) * rowBytes;
      for (int64_t b = 0; b < k / info.blockElements; ++b) {
        const uint8_t *src = row + b * info.blockBytes;
        uint8_t *base = out + panel * p.panelBytes_;
        const int64_t at = b * groups; // the first 32-value block
        int8_t q8[kQuant];
        uint8_t q4[kQuant];
        KParts kp; // the K-quants' parts of their scales, for integer-dot panels
        switch (dtype) {
        case DType::Q8_0: { // f16 d, int8 q[32]
          const float d = ggufHalf(src);
          std::memcpy(q8, src + 2, kQuant);
          putQ8(base, at, j, &d, q8);
          break;
        }
        case DType::F8E4M3_B32: { // f32 d, E4M3 q[32]: q x d (the panel holds 2^8 d)
          float d;
          std::memcpy(&d, src, 4);
          d *= 256.0f;
          std::memcpy(q8, src + 4, kQuant);
          putQ8(base, at, j, &d, q8);
          break;
        }
        case DType::Q5_0: { // f16 d, 32 high bits, nibbles: d x (q - 16)
          const float d = ggufHalf(src);
          uint32_t qh;
          std::memcpy(&qh, src + 2, 4);
          for (int64_t i = 0; i < kQuant / 2; ++i) {
            q8[i] = static_cast<int8_t>(((src[6 + i] & 15) | ((qh >> i) & 1) << 4) - 16);
            q8[i + 16] =
                static_cast<int8_t>(((src[6 + i] >> 4) | ((qh >> (i + 16)) & 1) << 4) - 16);
          }
          putQ8(base, at, j, &d, q8);
          break;
        }
        case DType::IQ4_NL:   // f16 d, nibbles indexing a table: d x table[q]
        case DType::IQ4_XS: { // 8 sub-blocks of 32: (d x (sc - 32)) x table[q]
          const bool xs = dtype == DType::IQ4_XS;
          const float d = ggufHalf(src);
          std::memcpy(&kp.d, src, 2);
          for (int64_t s = 0; s < groups; ++s) {
            const uint8_t *qs = src + (xs ? 8 + 16 * s : 2);
            for (int64_t i = 0; i < kQuant / 2; ++i) {
              q4[i] = qs[i] & 15;
              q4[i + 16] = qs[i] >> 4;
            }
            float scale = d;
            if (xs) {
              uint16_t high;
              std::memcpy(&high, src + 2, 2);
              const int sc = ((src[4 + s / 2] >> (4 * (s % 2))) & 15) | ((high >> (2 * s)) & 3)
                                                                            << 4;
              scale = d * static_cast<float>(sc - 32);
              kp.sc[0] = static_cast<int8_t>(sc - 32);
            }
            putLut(base, at + s, j, scale, q4, &kp);
          }
          break;
        }
        case DType::MXFP4: { // E8M0 e, nibbles indexing doubled E2M1 values: half 2^e x q
          const float d = mxfp4HalfScale(src[0]);
          for (int64_t i = 0; i < kQuant / 2; ++i) {
            q4[i] = src[1 + i] & 15;
            q4[i + 16] = src[1 + i] >> 4;
          }
          putLut(base, at, j, d, q4);
          break;
        }
        case DType::Q5_1: { // f16 d, f16 m, 32 high bits, nibbles: d x q + m
          const float d = ggufHalf(src), m = ggufHalf(src + 2);
          uint32_t qh;
          std::memcpy(&qh, src + 4, 4);
          for (int64_t i = 0; i < kQuant / 2; ++i) {
            q8[i] = static_cast<int8_t>((src[8 + i] & 15) | ((qh >> i) & 1) << 4);
            q8[i + 16] = static_cast<int8_t>((src[8 + i] >> 4) | ((qh >> (i + 16)) & 1) << 4);
          }
          putQ8(base, at, j, &d, q8, &m);
          break;
        }
        case DType::Q5_K: { // as Q4_K with a fifth bit per value from qh[32]
          const float d = ggufHalf(src), dmin = ggufHalf(src + 2);
          std::memcpy(&kp.d, src, 2);
          std::memcpy(&kp.dmin, src + 2, 2);
          uint8_t sc[8], mn[8];
          ggufKScaleMin(src + 4, sc, mn);
          const uint8_t *qh = src + 16;
          for (int64_t s = 0; s < 8; ++s) {
            const uint8_t *qs = src + 48 + 32 * (s / 2);
            for (int64_t i = 0; i < kQuant; ++i)
              q8[i] =
                  static_cast<int8_t>(((qs[i] >> (4 * (s % 2))) & 15) | ((qh[i] >> s) & 1) << 4);
            const float scale = d * static_cast<float>(sc[s]);
            const float min = -(dmin * static_cast<float>(mn[s]));
            kp.sc[0] = static_cast<int8_t>(sc[s]);
            kp.mn[0] = mn[s];
            putQ8(base, at + s, j, &scale, q8, &min, &kp);
          }
          break;
        }
        case DType::Q2_K:   // 16 sub-blocks of 16: (d x sc) x q - dmin x m, q of 2 bits
        case DType::Q3_K: { // 16 sub-blocks of 16: (d x sc) x q, q of 3 bits minus 4
          const bool k2 = dtype == DType::Q2_K;
          const uint8_t *qs = src + (k2 ? 16 : 32);
          const float d = ggufHalf(src + (k2 ? 80 : 108)), dmin = k2 ? ggufHalf(src + 82) : 0.0f;
          std::memcpy(&kp.d, src + (k2 ? 80 : 108), 2);
          if (k2)
            std::memcpy(&kp.dmin, src + 82, 2);
          for (int64_t s = 0; s < 8; ++s) {
            float scales[2], mins[2];
            for (int64_t h = 0; h < 2; ++h) {
              const int64_t sub = 2 * s + h;
              if (k2) {
                scales[h] = d * static_cast<float>(src[sub] & 15);
                mins[h] = -(dmin * static_cast<float>(src[sub] >> 4));
                kp.sc[h] = static_cast<int8_t>(src[sub] & 15);
                kp.mn[h] = static_cast<uint8_t>(src[sub] >> 4);
              } else {
                const int sc = ggufQ3KScale(src + 96, static_cast<int>(sub));
                scales[h] = d * static_cast<float>(sc);
                kp.sc[h] = static_cast<int8_t>(sc);
              }
            }
            for (int64_t i = 0; i < kQuant; ++i) {
              const int64_t e = 32 * s + i;
              int q = (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
              if (!k2 && !((src[e % 32] >> (e / 32)) & 1)) // Q3_K's hmask: clear means -4
                q -= 4;
              q8[i] = static_cast<int8_t>(q);
            }
            putQ8(base, at + s, j, scales, q8, k2 ? mins : nullptr, &kp);
          }
          break;
        }
        case DType::Q4_1:  // f16 d, f16 m, nibbles: d x q + m
        case DType::Q4_ZP: // f16 d, u8 z, nibbles: d x (q - z), which fma(q, d, -z d) gives
        case DType::Q4_0: { // f16 d, nibbles: d x (q - 8), which fma(q, d, -8d) gives exactly
          const float d = ggufHalf(src);
          const float m = dtype == DType::Q4_1    ? ggufHalf(src + 2)
                          : dtype == DType::Q4_ZP ? -static_cast<float>(src[2]) * d
                                                  : -8.0f * d;
          const uint8_t *qs = src + (dtype == DType::Q4_1 ? 4 : dtype == DType::Q4_ZP ? 3 : 2);
          for (int64_t i = 0; i < kQuant / 2; ++i) {
            q4[i] = qs[i] & 15;
            q4[i + 16] = qs[i] >> 4;
          }
          putQ41(base, at, j, d, m, q4);
          break;
        }
        case DType::Q4_K: { // 8 sub-blocks of 32: (d x sc) x q - dmin x m
          const float d = ggufHalf(src), dmin = ggufHalf(src + 2);
          std::memcpy(&kp.d, src, 2);
          std::memcpy(&kp.dmin, src + 2, 2);
          uint8_t sc[8], mn[8];
          ggufKScaleMin(src + 4, sc, mn);
          for (int64_t s = 0; s < 8; ++s) {
            const uint8_t *qs = src + 16 + 32 * (s / 2);
            for (int64_t i = 0; i < kQuant; ++i)
              q4[i] = (qs[i] >> (4 * (s % 2))) & 15;
            kp.sc[0] = static_cast<int8_t>(sc[s]);
            kp.mn[0] = mn[s];
            putQ41(base, at + s, j, d * static_cast<float>(sc[s]),
                   -(dmin * static_cast<float>(mn[s])), q4, &kp);
          }
          break;
        }
        default: { // Q6_K: 16 sub-blocks of 16: (d x sc) x (q - 32), q of 6 bits
          const uint8_t *ql = src, *qh = src + 128;
          const int8_t *sc = reinterpret_cast<const int8_t *>(src + 192);
          const float d = ggufHalf(src + 208);
          std::memcpy(&kp.d, src + 208, 2);
          for (int64_t s = 0; s < 8; ++s) {
            for (int64_t i = 0; i < kQuant; ++i) {
              const int64_t e = 32 * s + i, h = e / 128, r = e % 128;
              const int lo = (ql[h * 64 + r % 64] >> (4 * (r / 64))) & 15;
              const int hi = (qh[h * 32 + r % 32] >> (2 * (r / 32))) & 3;
              q8[i] = static_cast<int8_t>((lo | hi << 4) - 32);
            }
            const float scales[2] = {d * static_cast<float>(sc[2 * s]),
                                     d * static_cast<float>(sc[2 * s + 1])};
            kp.sc[0] = sc[2 * s];
            kp.sc[1] = sc[2 * s + 1];
            putQ8(base, at + s, j, scales, q8, nullptr, &kp);
          }
          break;
        }
        }
      }
    }
  return p;
}

void gemm(const float *in, int64_t inStride, int64_t rows, const PackedWeight &w, const float *bias,
          float *out, int64_t outStride, GemmPath path, bool accumulate) {
  if (w.intDot())
    return intdot::gemm(in, inStride, rows, w, bias, out, outStride, path, accumulate);
  const int64_t n = w.n(), kTotal = w.k();
  // Whether a tile at k0 starts its chains from zero (or continues what `out` holds).
  auto fresh = [accumulate](int64_t k0) { return k0 == 0 && !accumulate; };
  const bool avx2 = path != GemmPath::Portable && gemmUsesAvx2();
  TileFn tiles[kMaxRows + 1] = {};
  for (int r = 1; r <= kMaxRows; ++r)
    tiles[r] = tileFor(w.dtype(), r, avx2);

  const PairFn pair = pairFor(w.dtype(), avx2);
  // Several row tiles share each quantized k-block: expand it once (kExpandRows rows and up).
  const ExpandFn expand = rows >= kExpandRows ? expandFor(w.dtype(), avx2) : nullptr;
  TileFn denseTiles[kMaxRows + 1] = {};
  for (int r = 1; r <= kMaxRows; ++r)
    denseTiles[r] = tileFor(DType::F32, r, avx2);
  const int64_t panels = w.numPanels(), fullPanels = n / kPanel;
  const int64_t panelBytes = panels > 1 ? w.panel(1) - w.panel(0) : 0;

  // Threads take pairs of adjacent panels (32 columns).
#pragma omp parallel for schedule(static) if (rows * n * kTotal >= kParallelFlops)
  for (int64_t p0 = 0; p0 < panels; p0 += 2) {
    const int64_t pairEnd = std::min(panels, p0 + 2);
    float edge[kMaxRows * kPanel] = {}; // the last panel's tile, when n is not a multiple of 16
    alignas(64) float expanded[kKBlock * kPanel];
    for (int64_t k0 = 0; k0 < kTotal; k0 += kKBlock) {
      const int64_t kc = std::min(kKBlock, kTotal - k0);
      if (expand) {
        for (int64_t p = p0; p < pairEnd; ++p) {
          const int64_t col = p * kPanel, valid = std::min(kPanel, n - col);
          expand(w.panel(p), k0, kc, expanded);
          const uint8_t *dense = reinterpret_cast<const uint8_t *>(expanded);
          for (int64_t r0 = 0; r0 < rows; r0 += kMaxRows) {
            const int mr = static_cast<int>(std::min<int64_t>(kMaxRows, rows - r0));
            const float *a = in + r0 * inStride + k0;
            float *c = out + r0 * outStride + col;
            if (valid == kPanel) {
              denseTiles[mr](a, inStride, dense, 0, kc, c, outStride, fresh(k0));
              continue;
            }
            for (int r = 0; r < mr; ++r)
              std::memcpy(edge + r * kPanel, c + r * outStride, valid * sizeof(float));
            denseTiles[mr](a, inStride, dense, 0, kc, edge, kPanel, fresh(k0));
            for (int r = 0; r < mr; ++r)
              std::memcpy(c + r * outStride, edge + r * kPanel, valid * sizeof(float));
          }
        }
        continue;
      }
      for (int64_t r0 = 0; r0 < rows; r0 += kMaxRows) {
        const int mr = static_cast<int>(std::min<int64_t>(kMaxRows, rows - r0));
        const float *a = in + r0 * inStride;
        if (mr == 1 && pair && pairEnd - p0 == 2 && pairEnd <= fullPanels) {
          pair(a, w.panel(p0), panelBytes, k0, kc, out + r0 * outStride + p0 * kPanel, fresh(k0));
          continue;
        }
        for (int64_t p = p0; p < pairEnd; ++p) {
          const int64_t col = p * kPanel, valid = std::min(kPanel, n - col);
          float *c = out + r0 * outStride + col;
          if (valid == kPanel) {
            tiles[mr](a, inStride, w.panel(p), k0, kc, c, outStride, fresh(k0));
            continue;
          }
          for (int r = 0; r < mr; ++r)
            std::memcpy(edge + r * kPanel, c + r * outStride, valid * sizeof(float));
          tiles[mr](a, inStride, w.panel(p), k0, kc, edge, kPanel, fresh(k0));
          for (int r = 0; r < mr; ++r)
            std::memcpy(c + r * outStride, edge + r * kPanel, valid * sizeof(float));
        }
      }
    }
    intdot::finishColumns(out, outStride, rows, p0 * kPanel, std::min(n, pairEnd * kPanel), bias,
                          kTotal == 0 && !accumulate);
  }
}

void intdot::finishColumns(float *out, int64_t outStride, int64_t rows, int64_t c0, int64_t c1,
                           const float *bias, bool noChains) {
  // A branch-free loop per row, so that it vectorizes.
  if (noChains)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t col = c0; col < c1; ++col)
        out[r * outStride + col] = 0.0f + (bias ? bias[col] : 0.0f);
  else if (bias)
    for (int64_t r = 0; r < rows; ++r) {
      float *row = out + r * outStride;
      for (int64_t col = c0; col < c1; ++col)
        row[col] += bias[col];
    }
}

} // namespace modelrt::engine
