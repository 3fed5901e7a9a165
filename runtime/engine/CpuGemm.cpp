#include "runtime/engine/CpuGemm.h"

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

// Bytes of one panel's 32-value k-block.
constexpr int64_t kQ8Block = kPanel * 4 + kQuant * kPanel;          // scales, int8 values
constexpr int64_t kQ41Block = 2 * kPanel * 4 + kQuant / 2 * kPanel; // scales, minimums, nibbles

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
struct PortableQ8 {
  static void weights(const uint8_t *panel, int64_t k, float w[kPanel]) {
    const uint8_t *block = panel + (k / kQuant) * kQ8Block;
    const float *d = reinterpret_cast<const float *>(block);
    const int8_t *q = reinterpret_cast<const int8_t *>(block + kPanel * 4) + (k % kQuant) * kPanel;
    for (int j = 0; j < kPanel; ++j)
      w[j] = static_cast<float>(q[j]) * d[j];
  }
};
struct PortableQ41 {
  static void weights(const uint8_t *panel, int64_t k, float w[kPanel]) {
    const uint8_t *block = panel + (k / kQuant) * kQ41Block;
    const float *d = reinterpret_cast<const float *>(block), *m = d + kPanel;
    const uint8_t *q = block + 2 * kPanel * 4 + (k % kQuant) / 2 * kPanel;
    const int shift = (k % 2) * 4;
    for (int j = 0; j < kPanel; ++j)
      w[j] = std::fma(static_cast<float>((q[j] >> shift) & 15), d[j], m[j]);
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
#define MODELRT_AVX2 __attribute__((target("avx2,fma")))

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
// is exact so the FMA rounds once, as dequantization does).
struct Avx2Q8Block {
  __m256 d0, d1;
  const uint8_t *q;
  MODELRT_AVX2 void init(const uint8_t *panel, int64_t kb) {
    const uint8_t *block = panel + (kb / kQuant) * kQ8Block;
    d0 = _mm256_loadu_ps(reinterpret_cast<const float *>(block));
    d1 = _mm256_loadu_ps(reinterpret_cast<const float *>(block) + 8);
    q = block + kPanel * 4;
  }
  // The 16 weights of value i of the block.
  MODELRT_AVX2 void at(int64_t i, __m256 &w0, __m256 &w1) const {
    __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(q + i * kPanel));
    w0 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)), d0);
    w1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(bytes, 8))), d1);
  }
};

struct Avx2Q41Block {
  __m256 d0, d1, m0, m1;
  const uint8_t *q;
  MODELRT_AVX2 void init(const uint8_t *panel, int64_t kb) {
    const uint8_t *block = panel + (kb / kQuant) * kQ41Block;
    const float *f = reinterpret_cast<const float *>(block);
    d0 = _mm256_loadu_ps(f);
    d1 = _mm256_loadu_ps(f + 8);
    m0 = _mm256_loadu_ps(f + 16);
    m1 = _mm256_loadu_ps(f + 24);
    q = block + 2 * kPanel * 4;
  }
  // The 16 weights of values 2i (w[0]) and 2i + 1 (w[1]): one byte row holds both.
  MODELRT_AVX2 void pairAt(int64_t i, __m256 w[2][2]) const {
    const __m128i low4 = _mm_set1_epi8(15);
    __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(q + i * kPanel));
    __m128i nibbles[2] = {_mm_and_si128(bytes, low4),
                          _mm_and_si128(_mm_srli_epi16(bytes, 4), low4)};
    for (int half = 0; half < 2; ++half) {
      w[half][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(nibbles[half])), d0, m0);
      w[half][1] = _mm256_fmadd_ps(
          _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(nibbles[half], 8))), d1, m1);
    }
  }
};

template <int MR>
MODELRT_AVX2 void tileAvx2Q8(const float *a, int64_t lda, const uint8_t *panel, int64_t k0,
                             int64_t kc, float *c, int64_t ldc, bool first) {
  Avx2Acc<MR> acc;
  acc.load(c, ldc, first);
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    Avx2Q8Block block;
    block.init(panel, kb);
    for (int64_t i = 0; i < kQuant; ++i) {
      __m256 w0, w1;
      block.at(i, w0, w1);
      acc.step(a, lda, kb + i, w0, w1);
    }
  }
  acc.store(c, ldc);
}

template <int MR>
MODELRT_AVX2 void tileAvx2Q41(const float *a, int64_t lda, const uint8_t *panel, int64_t k0,
                              int64_t kc, float *c, int64_t ldc, bool first) {
  Avx2Acc<MR> acc;
  acc.load(c, ldc, first);
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    Avx2Q41Block block;
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

MODELRT_AVX2 void expandAvx2Q8(const uint8_t *panel, int64_t k0, int64_t kc, float *out) {
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    Avx2Q8Block block;
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

MODELRT_AVX2 void expandAvx2Q41(const uint8_t *panel, int64_t k0, int64_t kc, float *out) {
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    Avx2Q41Block block;
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

MODELRT_AVX2 void pairAvx2Q8(const float *a, const uint8_t *panel, int64_t panelBytes, int64_t k0,
                             int64_t kc, float *c, bool first) {
  Avx2Pair p;
  p.load(c, first);
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    Avx2Q8Block block[2];
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

MODELRT_AVX2 void pairAvx2Q41(const float *a, const uint8_t *panel, int64_t panelBytes, int64_t k0,
                              int64_t kc, float *c, bool first) {
  Avx2Pair p;
  p.load(c, first);
  for (int64_t kb = k0; kb < k0 + kc; kb += kQuant) {
    Avx2Q41Block block[2];
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
template <int MR> struct Avx2Q8 { static constexpr TileFn fn = tileAvx2Q8<MR>; };
template <int MR> struct Avx2Q41 { static constexpr TileFn fn = tileAvx2Q41<MR>; };
template <class Loader> struct Avx2HalfTiles {
  template <int MR> struct Tile { static constexpr TileFn fn = tileAvx2Half<Loader, MR>; };
};
#endif

ExpandFn expandFor(DType dtype, bool avx2) {
#ifdef MODELRT_HAVE_X86
  if (avx2 && (dtype == DType::Q8_0 || dtype == DType::Q4_1))
    return dtype == DType::Q8_0 ? expandAvx2Q8 : expandAvx2Q41;
#else
  (void)avx2;
#endif
  if (dtype == DType::Q8_0)
    return expandPortable<PortableQ8>;
  if (dtype == DType::Q4_1)
    return expandPortable<PortableQ41>;
  return nullptr;
}

PairFn pairFor(DType dtype, bool avx2) {
#ifdef MODELRT_HAVE_X86
  if (avx2)
    switch (dtype) {
    case DType::Q8_0:
      return pairAvx2Q8;
    case DType::Q4_1:
      return pairAvx2Q41;
    case DType::BF16:
      return pairAvx2Half<Avx2BF16>;
    case DType::F16:
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
#ifdef MODELRT_HAVE_X86
  if (avx2)
    switch (dtype) {
    case DType::Q8_0:
      return select<Avx2Q8>(rows);
    case DType::Q4_1:
      return select<Avx2Q41>(rows);
    case DType::BF16:
      return select<Avx2HalfTiles<Avx2BF16>::Tile>(rows);
    case DType::F16:
      return select<Avx2HalfTiles<Avx2F16>::Tile>(rows);
    default:
      return select<Avx2F32>(rows);
    }
#else
  (void)avx2;
#endif
  switch (dtype) {
  case DType::Q8_0:
    return select<Portable<PortableQ8>::Tile>(rows);
  case DType::Q4_1:
    return select<Portable<PortableQ41>::Tile>(rows);
  case DType::BF16:
    return select<Portable<PortableBF16>::Tile>(rows);
  case DType::F16:
    return select<Portable<PortableF16>::Tile>(rows);
  default:
    return select<Portable<PortableF32>::Tile>(rows);
  }
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
  return dtype == DType::Q8_0 ? kQ8Block : dtype == DType::Q4_1 ? kQ41Block : 0;
}

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
                                          int64_t k) {
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
  if (dtype != DType::Q8_0 && dtype != DType::Q4_1)
    return Error(ErrorCode::Unsupported,
                 std::string("the CPU GEMM takes F32, BF16, F16, Q8_0 or Q4_1 weights, not ") +
                     dtypeName(dtype));
  PackedWeight p;
  p.dtype_ = dtype;
  p.n_ = n;
  p.k_ = k;
  const int64_t blocks = k / kQuant, outBlock = quantBlockBytes(dtype);
  const int64_t inBlock = dtypeInfo(dtype).blockBytes, rowBytes = blocks * inBlock;
  p.panelBytes_ = blocks * outBlock;
  p.data_.reset(allocatePanels(static_cast<size_t>(p.numPanels() * p.panelBytes_)));
  uint8_t *out = p.data_.get();
  // GGUF blocks: Q8_0 = f16 d, int8 q[32]; Q4_1 = f16 d, f16 m, bytes[16] with value i in
  // the low nibble of byte i and value i + 16 in its high nibble.
#pragma omp parallel for schedule(static) if (n * k >= kParallelFlops)
  for (int64_t panel = 0; panel < p.numPanels(); ++panel)
    for (int64_t j = 0; j < kPanel && panel * kPanel + j < n; ++j) {
      const uint8_t *row = data + (panel * kPanel + j) * rowBytes;
      for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t *src = row + b * inBlock;
        uint8_t *dst = out + panel * p.panelBytes_ + b * outBlock;
        uint16_t half;
        std::memcpy(&half, src, 2);
        float d = f16ToF32(half);
        std::memcpy(dst + j * 4, &d, 4);
        if (dtype == DType::Q8_0) {
          for (int64_t i = 0; i < kQuant; ++i)
            dst[kPanel * 4 + i * kPanel + j] = src[2 + i];
          continue;
        }
        std::memcpy(&half, src + 2, 2);
        float m = f16ToF32(half);
        std::memcpy(dst + (kPanel + j) * 4, &m, 4);
        uint8_t values[kQuant];
        for (int64_t i = 0; i < kQuant / 2; ++i) {
          values[i] = src[4 + i] & 15;
          values[i + kQuant / 2] = src[4 + i] >> 4;
        }
        for (int64_t i = 0; i < kQuant / 2; ++i)
          dst[2 * kPanel * 4 + i * kPanel + j] =
              static_cast<uint8_t>(values[2 * i] | values[2 * i + 1] << 4);
      }
    }
  return p;
}

void gemm(const float *in, int64_t inStride, int64_t rows, const PackedWeight &w, const float *bias,
          float *out, int64_t outStride, GemmPath path) {
  const int64_t n = w.n(), kTotal = w.k();
  const bool avx2 = path == GemmPath::Best && gemmUsesAvx2();
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
              denseTiles[mr](a, inStride, dense, 0, kc, c, outStride, k0 == 0);
              continue;
            }
            for (int r = 0; r < mr; ++r)
              std::memcpy(edge + r * kPanel, c + r * outStride, valid * sizeof(float));
            denseTiles[mr](a, inStride, dense, 0, kc, edge, kPanel, k0 == 0);
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
          pair(a, w.panel(p0), panelBytes, k0, kc, out + r0 * outStride + p0 * kPanel, k0 == 0);
          continue;
        }
        for (int64_t p = p0; p < pairEnd; ++p) {
          const int64_t col = p * kPanel, valid = std::min(kPanel, n - col);
          float *c = out + r0 * outStride + col;
          if (valid == kPanel) {
            tiles[mr](a, inStride, w.panel(p), k0, kc, c, outStride, k0 == 0);
            continue;
          }
          for (int r = 0; r < mr; ++r)
            std::memcpy(edge + r * kPanel, c + r * outStride, valid * sizeof(float));
          tiles[mr](a, inStride, w.panel(p), k0, kc, edge, kPanel, k0 == 0);
          for (int r = 0; r < mr; ++r)
            std::memcpy(c + r * outStride, edge + r * kPanel, valid * sizeof(float));
        }
      }
    }
    if (bias || kTotal == 0)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t col = p0 * kPanel; col < std::min(n, pairEnd * kPanel); ++col) {
          float &c = out[r * outStride + col];
          c = (kTotal == 0 ? 0.0f : c) + (bias ? bias[col] : 0.0f);
        }
  }
}

} // namespace modelrt::engine
