#include "runtime/engine/CpuGemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#if defined(__x86_64__)
#include <immintrin.h>
#define MODELRT_HAVE_X86 1
#endif

namespace modelrt::engine {

namespace {

constexpr int64_t kPanel = PackedWeight::kPanel;
constexpr int kMaxRows = 6;      // rows per register tile: 12 accumulators + 2 weights + 1 input
constexpr int64_t kKBlock = 256; // a panel's k-block (16 KiB) stays in L1 across the rows

// c[r, j] (r < MR, j < 16, rows ldc apart) continues its FMA chain over the kc values of
// this k-block; `first` starts the chains at zero.
template <int MR>
void tilePortable(const float *a, int64_t lda, const float *panel, int64_t kc, float *c,
                  int64_t ldc, bool first) {
  float acc[MR][kPanel];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < kPanel; ++j)
      acc[r][j] = first ? 0.0f : c[r * ldc + j];
  for (int64_t k = 0; k < kc; ++k)
    for (int r = 0; r < MR; ++r) {
      float x = a[r * lda + k];
      for (int j = 0; j < kPanel; ++j)
        acc[r][j] = std::fma(x, panel[k * kPanel + j], acc[r][j]);
    }
  for (int r = 0; r < MR; ++r)
    std::memcpy(c + r * ldc, acc[r], sizeof(acc[r]));
}

#ifdef MODELRT_HAVE_X86
template <int MR>
__attribute__((target("avx2,fma"))) void tileAvx2(const float *a, int64_t lda, const float *panel,
                                                  int64_t kc, float *c, int64_t ldc, bool first) {
  __m256 lo[MR], hi[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    lo[r] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + r * ldc);
    hi[r] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + r * ldc + 8);
  }
  for (int64_t k = 0; k < kc; ++k) {
    __m256 w0 = _mm256_load_ps(panel + k * kPanel);
    __m256 w1 = _mm256_load_ps(panel + k * kPanel + 8);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      __m256 x = _mm256_broadcast_ss(a + r * lda + k);
      lo[r] = _mm256_fmadd_ps(x, w0, lo[r]);
      hi[r] = _mm256_fmadd_ps(x, w1, hi[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_ps(c + r * ldc, lo[r]);
    _mm256_storeu_ps(c + r * ldc + 8, hi[r]);
  }
}

bool detectAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

using TileFn = void (*)(const float *, int64_t, const float *, int64_t, float *, int64_t, bool);

template <template <int> class Pick> TileFn select(int rows) {
  switch (rows) {
  case 1:
    return Pick<1>::fn;
  case 2:
    return Pick<2>::fn;
  case 3:
    return Pick<3>::fn;
  case 4:
    return Pick<4>::fn;
  case 5:
    return Pick<5>::fn;
  default:
    return Pick<6>::fn;
  }
}
template <int MR> struct PortableTile { static constexpr TileFn fn = tilePortable<MR>; };
#ifdef MODELRT_HAVE_X86
template <int MR> struct Avx2Tile { static constexpr TileFn fn = tileAvx2<MR>; };
#endif

} // namespace

bool gemmUsesAvx2() {
#ifdef MODELRT_HAVE_X86
  static const bool avx2 = detectAvx2();
  return avx2;
#else
  return false;
#endif
}

PackedWeight PackedWeight::pack(const float *w, int64_t n, int64_t k) {
  PackedWeight p;
  p.n_ = n;
  p.k_ = k;
  size_t floats = static_cast<size_t>(p.numPanels() * k * kPanel);
  size_t bytes = std::max<size_t>(64, (floats * sizeof(float) + 63) / 64 * 64);
  float *data = static_cast<float *>(std::aligned_alloc(64, bytes));
  if (!data)
    throw std::bad_alloc();
  p.data_.reset(data);
  std::memset(data, 0, bytes); // columns past n stay zero
#pragma omp parallel for schedule(static)
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

void gemm(const float *in, int64_t inStride, int64_t rows, const PackedWeight &w, const float *bias,
          float *out, int64_t outStride, GemmPath path) {
  const int64_t n = w.n(), kTotal = w.k();
#ifdef MODELRT_HAVE_X86
  const bool avx2 = path == GemmPath::Best && gemmUsesAvx2();
#else
  const bool avx2 = false;
#endif
  TileFn tiles[kMaxRows + 1] = {};
  for (int r = 1; r <= kMaxRows; ++r)
#ifdef MODELRT_HAVE_X86
    tiles[r] = avx2 ? select<Avx2Tile>(r) : select<PortableTile>(r);
#else
    tiles[r] = select<PortableTile>(r);
#endif

#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < w.numPanels(); ++p) {
    const int64_t col = p * kPanel, valid = std::min(kPanel, n - col);
    float edge[kMaxRows * kPanel]; // the last panel's tile, when n is not a multiple of 16
    for (int64_t k0 = 0; k0 < kTotal; k0 += kKBlock) {
      const int64_t kc = std::min(kKBlock, kTotal - k0);
      const float *panel = w.panel(p) + k0 * kPanel;
      for (int64_t r0 = 0; r0 < rows; r0 += kMaxRows) {
        const int mr = static_cast<int>(std::min<int64_t>(kMaxRows, rows - r0));
        const float *a = in + r0 * inStride + k0;
        float *c = out + r0 * outStride + col;
        if (valid == kPanel) {
          tiles[mr](a, inStride, panel, kc, c, outStride, k0 == 0);
          continue;
        }
        for (int r = 0; r < mr; ++r)
          std::memcpy(edge + r * kPanel, c + r * outStride, valid * sizeof(float));
        tiles[mr](a, inStride, panel, kc, edge, kPanel, k0 == 0);
        for (int r = 0; r < mr; ++r)
          std::memcpy(c + r * outStride, edge + r * kPanel, valid * sizeof(float));
      }
    }
    if (bias || kTotal == 0)
      for (int64_t r = 0; r < rows; ++r) {
        float *c = out + r * outStride + col;
        for (int64_t j = 0; j < valid; ++j)
          c[j] = (kTotal == 0 ? 0.0f : c[j]) + (bias ? bias[col + j] : 0.0f);
      }
  }
}

} // namespace modelrt::engine
