// The CPU GEMM of the executor: out[t, n] = sum_k in[t, k] * w[n, k] (+ bias[n]).
//
// Weights are packed once (at plan load) into panels of 16 columns, each panel [k][16],
// so a register tile of up to 6 rows x 16 columns streams one panel and broadcasts the
// input: every weight byte is read once per iteration for all rows of the batch, which is
// what selective batching buys.
//
// Batch invariance: every output element is one fused multiply-add chain over k in
// ascending order, starting from zero, with the bias added last. Tiling over rows, the
// k-blocking (partial sums go through memory as floats, unchanged) and the thread split
// over columns never change that chain, so a row's result is bit-identical whatever else
// is in the batch. The portable path (std::fma) computes the same chains as the AVX2 path.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace modelrt::engine {

class PackedWeight {
public:
  static constexpr int64_t kPanel = 16;

  // `w` is [n, k] row-major.
  static PackedWeight pack(const float *w, int64_t n, int64_t k);

  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  // Panel p holds columns [16p, 16p + 16): element (kk, c) at panel(p)[kk * 16 + c].
  const float *panel(int64_t p) const { return data_.get() + p * k_ * kPanel; }
  int64_t numPanels() const { return (n_ + kPanel - 1) / kPanel; }

private:
  struct Free {
    void operator()(float *p) const { std::free(p); }
  };
  int64_t n_ = 0, k_ = 0;
  std::unique_ptr<float, Free> data_;
};

enum class GemmPath { Best, Portable };

// Rows of `in` are `inStride` floats apart, rows of `out` `outStride`; `bias` may be null.
void gemm(const float *in, int64_t inStride, int64_t rows, const PackedWeight &w, const float *bias,
          float *out, int64_t outStride, GemmPath path = GemmPath::Best);

// Whether GemmPath::Best uses AVX2 + FMA on this CPU.
bool gemmUsesAvx2();

} // namespace modelrt::engine
