// The CPU GEMM's integer-dot path (GemmActivations::Int8, CpuGemm.h): the panel layout's
// code positions, and the GEMM itself. Internal to runtime/engine.
#pragma once

#include "runtime/engine/CpuGemm.h"

#include <cstdint>

namespace modelrt::engine::intdot {

// Value i (< 32) of column j (< 16) among a block's codes: its byte, and (nibbles) its shift.
constexpr int64_t nibbleByte(int64_t i, int64_t j) { return (i / 8) * 64 + j * 4 + i % 4; }
constexpr int nibbleShift(int64_t i) { return static_cast<int>((i % 8) / 4) * 4; }
constexpr int64_t codeByte(int64_t i, int64_t j) { return (i / 4) * 64 + j * 4 + i % 4; }
// 6-bit codes: the top 2 bits' byte (after the nibbles) and shift.
constexpr int64_t planeByte(int64_t i, int64_t j) { return 256 + (i / 16) * 64 + j * 4 + i % 4; }
constexpr int planeShift(int64_t i) { return static_cast<int>((i / 4) % 4) * 2; }

// Both GEMMs' last pass over columns [c0, c1) of `rows` output rows: the bias added, or with
// `noChains` (k = 0 and no accumulation) the bias or zeros written.
void finishColumns(float *out, int64_t outStride, int64_t rows, int64_t c0, int64_t c1,
                   const float *bias, bool noChains);

// gemm() for a weight packed with intDot().
void gemm(const float *in, int64_t inStride, int64_t rows, const PackedWeight &w, const float *bias,
          float *out, int64_t outStride, GemmPath path, bool accumulate);

} // namespace modelrt::engine::intdot
