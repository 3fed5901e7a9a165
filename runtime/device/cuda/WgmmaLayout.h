// Shared-memory tiles for Hopper's wgmma (PrefillAttentionWgmma.cu), shared by the kernel and
// a host test (unittests/device/WgmmaLayoutTest.cpp) that decodes the descriptors by the
// canonical layouts of the PTX ISA and checks that they address the elements the tiles store.
//
// A tile of R rows x HD 16-bit columns (Q, K or V rows, HD a multiple of 64) is stored as
// HD / 64 column blocks of R rows x 128 bytes, each row's eight 16-byte chunks permuted by the
// 128-byte swizzle (chunk c of row r at position c ^ (r % 8)); tiles start 1024-byte aligned,
// so the swizzle, which the hardware applies to address bits, lines up with the rows.
//   - As a K-major operand (Q as A and K as B of S = Q K^T: rows are M or N, head dims K),
//     k-step s (16 dims) starts at column block s / 4, byte 32 (s % 4) of the row, the 8-row
//     groups 1024 bytes apart (stride byte offset).
//   - As an MN-major operand (V as B of O = P V: rows are K = keys, head dims N), k-step s
//     (16 keys) starts at row 16 s; 8-row groups 1024 bytes apart (stride byte offset), the
//     64-dim column blocks R * 128 bytes apart (leading byte offset).
#pragma once

#include "runtime/device/cuda/HostDevice.h"

#include <cstdint>

namespace modelrt::cuda::wgmma {

// Byte offset in the tile of 16-byte chunk `chunk` (0 .. HD/8 - 1) of row `row`.
MODELRT_HD constexpr uint32_t chunkOffset(int row, int chunk, int rows) {
  return uint32_t((chunk / 8) * rows * 128 + row * 128 + (((chunk % 8) ^ (row % 8)) << 4));
}

// The 64-bit shared-memory matrix descriptor: start address, leading and stride byte
// offsets (all in 16-byte units), 128-byte swizzle (layout type 1 in bits 62-63).
MODELRT_HD constexpr uint64_t descriptor(uint32_t startAddr, uint32_t lboBytes, uint32_t sboBytes) {
  return uint64_t((startAddr >> 4) & 0x3fff) | uint64_t((lboBytes >> 4) & 0x3fff) << 16 |
         uint64_t((sboBytes >> 4) & 0x3fff) << 32 | uint64_t(1) << 62;
}

// K-major operand: rows [row0, row0 + 8m) of a tile of `rows` rows at `tileAddr`, k-step s.
MODELRT_HD constexpr uint64_t kMajorDesc(uint32_t tileAddr, int rows, int row0, int s) {
  return descriptor(tileAddr + uint32_t((s / 4) * rows * 128 + row0 * 128 + (s % 4) * 32), 16,
                    1024);
}

// MN-major operand: keys [16 s, 16 s + 16) of a tile of `rows` keys at `tileAddr`, all dims.
MODELRT_HD constexpr uint64_t mnMajorDesc(uint32_t tileAddr, int rows, int s) {
  return descriptor(tileAddr + uint32_t(s * 16 * 128), uint32_t(rows * 128), 1024);
}

} // namespace modelrt::cuda::wgmma
