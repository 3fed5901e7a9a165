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
//
// BF16 and F16 weights stay 16-bit in the panels and widen exactly to f32 in registers.
// GGUF-quantized weights (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL,
// IQ4_XS, MXFP4; and Q4_ZP, F8_E4M3_B32) stay quantized in the panels (per 32 values of k: int8 values
// (or E4M3 codes) with a scale per column, two for the 16-value sub-blocks of Q6_K, Q3_K and Q2_K, and minimums for Q5_1, Q5_K and
// Q2_K; nibbles with a scale and a minimum per column, which Q4_0 and Q4_K's sub-blocks are
// repacked into; or nibbles indexing a table of 16 int8 values with a scale per column: IQ4_NL,
// IQ4_XS, MXFP4) and are expanded in registers. The expansion (q * d, T[q] * d, or q * d + m with
// one rounding) gives
// exactly the values GGUF dequantization gives, so a quantized plan computes the same bits as the
// plan with those weights dequantized to f32, while reading 4-7x fewer weight bytes.
//
// GemmActivations::Int8 (GGUF runtimes' numerics, for GGUF integer-coded weights): each input
// row is quantized to int8 in the activation format GGUF pairs with the weight's type (per 32 values,
// scale amax / 127 rounded to f16: GGUF's Q8_0; per 256 values against K-quants and IQ4_XS,
// scale max / 127 in f32: GGUF's Q8_K; values rounded to nearest even), each 32-value block's
// dot product runs in integers,
// and the block enters the output's f32 chain through one FMA: out = fma(dx, fma(d, isum,
// m x xsum), out) with the weight block's scale d and minimum m. Still one chain per output in
// k order from the row alone, so still batch-invariant, and the portable path computes the
// same bits (integer sums are exact); not the dense plan's bits (docs/formats.md).
#pragma once

#include "runtime/formats/DType.h"
#include "runtime/support/Error.h"

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace modelrt::engine {

// How the GEMM treats input rows against integer-coded (GGUF) weights; other weights (F32,
// BF16, F16, F8_E4M3_B32) always take f32 rows.
enum class GemmActivations {
  F32,  // weights widened exactly to f32: the dense plan's bits
  Int8, // rows quantized to int8 per 32 values, integer dot products per block
};

// How integer-dot panels hold each 32-value k-block's scale d and minimum m per column (the
// weight of code u being d x (u - offset) + m).
enum class IntScales : uint8_t {
  F32, // G rows of 16 f32 scales, then (with minimums) G rows of 16 f32 minimums
  F16, // the same in f16: the type's own scales (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL)
  K,   // per 256 values a header of 16 f16 d (then 16 f16 dmin); per block G rows of 16 int8
       // sub-block scales sc (then u8 minimums mn): d = d x sc, m = -(dmin x mn), as the
       // K-quants (and IQ4_XS) dequantize
};

struct IntLayout {
  int bits = 8;         // bits of a code: 4, 6 (a nibble and a 2-bit plane) or 8
  bool lut = false;     // 4-bit codes index PackedWeight::intTable()
  int groups = 1;       // G: scales per column and block (2: 16-value sub-blocks)
  bool mins = false;
  IntScales scales = IntScales::F32;
  int offset = 0;               // subtracted from every code
  int64_t activationBlock = 32; // values of k per activation scale (256: GGUF's Q8_K)

  constexpr int64_t superBlocks() const { return scales == IntScales::K ? 8 : 1; }
  constexpr int64_t headerBytes() const {
    return scales == IntScales::K ? 16 * 2 * (mins ? 2 : 1) : 0;
  }
  constexpr int64_t scaleBytes() const { // a block's scale (and minimum) rows
    return groups * 16 * (scales == IntScales::F32 ? 4 : scales == IntScales::F16 ? 2 : 1) *
           (mins ? 2 : 1);
  }
  constexpr int64_t codeBytes() const { return bits * 32 * 16 / 8; }
  constexpr int64_t blockBytes() const { return scaleBytes() + codeBytes(); }
  constexpr int64_t superBytes() const { return headerBytes() + superBlocks() * blockBytes(); }
  // Block b (of 32 values) of a panel, and the header of its 256 values (K).
  constexpr int64_t blockAt(int64_t b) const {
    return b / superBlocks() * superBytes() + headerBytes() + b % superBlocks() * blockBytes();
  }
  constexpr int64_t headerAt(int64_t b) const { return b / superBlocks() * superBytes(); }
};

class PackedWeight {
public:
  static constexpr int64_t kPanel = 16;

  static constexpr int64_t kQuantBlock = 32;

  // `w` is [n, k] row-major f32.
  static PackedWeight pack(const float *w, int64_t n, int64_t k);
  // `data` is [n, k] row-major in `dtype`: F32, BF16, F16, or GGUF blocks along k of a type
  // keepsQuantized() names.
  // With GemmActivations::Int8 a type intDot() would name is packed for integer dot products.
  static Expected<PackedWeight> pack(DType dtype, const uint8_t *data, size_t bytes, int64_t n,
                                     int64_t k, GemmActivations activations = GemmActivations::F32);

  DType dtype() const { return dtype_; }
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  int64_t numPanels() const { return (n_ + kPanel - 1) / kPanel; }
  // Panel p holds columns [16p, 16p + 16). F32, BF16, F16: element (kk, c) at kk * 16 + c
  // (floats, or halves widened exactly when used).
  // Q8_0 and Q5_0, per 32 values of k: 16 float scales, then int8 q[32][16] (F8_E4M3_B32: 2^8
  // times the scales, then the E4M3 codes); Q6_K
  // the same and Q3_K with 2 x 16 scales (values 0-15, then 16-31); Q5_1 and Q5_K with 16 scales
  // and 16 minimums (fma(q, d, m)); Q2_K with 2 x 16 of each. Q4_1, Q4_0, Q4_ZP and Q4_K, per 32 values:
  // 16 float scales, 16 float minimums, then bytes [16][16], byte (i, c) holding q[2i][c] | q[2i +
  // 1][c] << 4. IQ4_NL, IQ4_XS and MXFP4: 16 float scales, then those bytes of 4-bit codes
  // (T[q] x d, T the type's table of 16 values).
  //
  // Integer-dot panels (intDot(); IntLayout), per 32 values of k: the scales (IntScales; G = 2
  // for Q6_K, Q3_K and Q2_K's 16-value sub-blocks, else 1), then the codes u >= 0 whose weight
  // is d x (u - offset) + m:
  //   4 bits (Q4_0 offset 8, Q4_1, Q4_K, Q4_ZP, Q3_K offset 4, Q2_K): four 64-byte chunks,
  //     chunk c's byte 4j + t holding value 8c + t of column j in its low nibble and value
  //     8c + 4 + t in its high one;
  //   6 bits (Q6_K offset 32, Q5_0 offset 16, Q5_1, Q5_K): those nibbles, then two 64-byte
  //     chunks of the top 2 bits, chunk h's byte 4j + t holding those of value 16h + 4s + t
  //     at bits 2s;
  //   4-bit indices (IQ4_NL, IQ4_XS, MXFP4: intTable(), offset 128) as the 4-bit codes;
  //   8 bits (Q8_0, offset 128): eight 64-byte chunks, chunk g's byte 4j + t holding value
  //     4g + t of column j.
  // So four consecutive values of each of the 16 columns make 64 bytes, as a 4-way integer dot
  // product takes them.
  const uint8_t *panel(int64_t p) const { return data_.get() + p * panelBytes_; }
  int64_t panelBytes() const { return panelBytes_; }
  bool intDot() const { return intDot_; }
  // activationBlock: 32 (GGUF's Q8_0 activations), or 256 against the K-quants and IQ4_XS
  // (GGUF's Q8_K: one f32 scale per 256), as GGUF's dot-product pairs define.
  const IntLayout &intLayout() const { return intLayout_; }
  // IntLayout::lut: the 16 code values (IQ4_NL and IQ4_XS's table, MXFP4's doubled E2M1 values,
  // plus the offset 128).
  const uint8_t *intTable() const { return intTable_; }
  static int64_t quantBlockBytes(DType dtype);
  // Whether `dtype` stays quantized in the panels (GGUF Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
  // Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, MXFP4; Q4_ZP, F8_E4M3_B32).
  static bool keepsQuantized(DType dtype);

private:
  struct Free {
    void operator()(uint8_t *p) const { std::free(p); }
  };
  DType dtype_ = DType::F32;
  int64_t n_ = 0, k_ = 0, panelBytes_ = 0;
  bool intDot_ = false;
  IntLayout intLayout_;
  uint8_t intTable_[16] = {};
  std::unique_ptr<uint8_t, Free> data_;
};

// Best: the widest vector code this CPU has; Avx2: AVX2 even where AVX-512 exists (the
// integer-dot path has both; tests compare them); Portable: scalar std::fma. All give the
// same bits.
enum class GemmPath { Best, Portable, Avx2 };

// Rows of `in` are `inStride` floats apart, rows of `out` `outStride`; `bias` may be null.
// With `accumulate` each output's chain starts from what `out` holds instead of zero (out +=
// in w^T, still one chain per output in the same order).
void gemm(const float *in, int64_t inStride, int64_t rows, const PackedWeight &w, const float *bias,
          float *out, int64_t outStride, GemmPath path = GemmPath::Best, bool accumulate = false);

// Whether GemmPath::Best uses AVX2 + FMA on this CPU.
bool gemmUsesAvx2();
// The instructions GemmPath::Best's integer dot products use here: "AVX-512 VNNI", "AVX2" or
// "portable".
const char *intDotInstructions();

} // namespace modelrt::engine
