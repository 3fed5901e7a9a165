// The Hopper prefill kernel's shared-memory tiles and wgmma descriptors
// (runtime/device/cuda/WgmmaLayout.h), checked on the host: tiles are filled the way the
// kernel stores rows, each descriptor is decoded by the canonical layouts the PTX ISA (and
// CUTLASS's make_gmma_desc) define for 128-byte swizzled operands, and every element the
// tensor cores would read must be the one the operand means. Runs without a GPU.
#include "runtime/device/cuda/WgmmaLayout.h"

#include <gtest/gtest.h>

#include <vector>

namespace modelrt::cuda::wgmma {
namespace {

struct Decoded {
  uint32_t start, lbo, sbo;
  int layout;
};
Decoded decode(uint64_t d) {
  return {uint32_t(d & 0x3fff) << 4, uint32_t((d >> 16) & 0x3fff) << 4,
          uint32_t((d >> 32) & 0x3fff) << 4, int(d >> 62)};
}
// The 128-byte swizzle on a shared-memory byte address: bits 4-6 ^= bits 7-9.
uint32_t swizzle(uint32_t addr) { return addr ^ (((addr >> 7) & 7) << 4); }

// Element (mn, k) of a K-major 128B-swizzled operand: ((8,m),(8,2)) : ((128 B, SBO), (2 B, 16 B))
uint32_t kMajorAddr(const Decoded &d, int mn, int k) {
  return swizzle(d.start + (mn % 8) * 128 + (mn / 8) * d.sbo + (k / 8) * 16 + (k % 8) * 2);
}
// Element (k, mn) of an MN-major 128B-swizzled operand:
// ((8,8,m),(8,k)) : ((2 B, 16 B, LBO), (128 B, SBO))
uint32_t mnMajorAddr(const Decoded &d, int k, int mn) {
  return swizzle(d.start + (mn % 8) * 2 + ((mn / 8) % 8) * 16 + (mn / 64) * d.lbo + (k % 8) * 128 +
                 (k / 8) * d.sbo);
}

struct Tile {
  uint32_t addr; // 1024-byte aligned, as in the kernel
  int rows, cols;
  std::vector<uint16_t> smem;
  static uint16_t id(int r, int c) { return uint16_t(r * 256 + c); }
  Tile(uint32_t a, int r, int c) : addr(a), rows(r), cols(c), smem((a + r * c * 2) / 2, 0xffff) {
    for (int row = 0; row < rows; ++row)
      for (int col = 0; col < cols; ++col) // the kernel's 16-byte copies, element by element
        smem[(addr + chunkOffset(row, col / 8, rows) + (col % 8) * 2) / 2] = id(row, col);
  }
  uint16_t at(uint32_t byteAddr) const { return smem.at(byteAddr / 2); }
};

TEST(WgmmaLayout, KMajorDescriptorsAddressQAndKRows) {
  for (int hd : {64, 128})
    for (int rows : {64, 128}) {
      Tile t(2048, rows, hd);
      for (int row0 = 0; row0 < rows; row0 += 64) // A: one warpgroup's 64 rows
        for (int s = 0; s < hd / 16; ++s) {
          Decoded d = decode(kMajorDesc(t.addr, rows, row0, s));
          ASSERT_EQ(d.layout, 1);
          const int mnSize = row0 == 0 ? rows : 64; // B reads all rows, A 64 of them
          for (int mn = 0; mn < mnSize; ++mn)
            for (int k = 0; k < 16; ++k)
              ASSERT_EQ(t.at(kMajorAddr(d, mn, k)), Tile::id(row0 + mn, 16 * s + k))
                  << "hd " << hd << " rows " << rows << " row0 " << row0 << " s " << s << " mn "
                  << mn << " k " << k;
        }
    }
}

TEST(WgmmaLayout, MnMajorDescriptorsAddressVColumns) {
  for (int hd : {64, 128})
    for (int keys : {64, 128}) {
      Tile t(4096, keys, hd);
      for (int s = 0; s < keys / 16; ++s) {
        Decoded d = decode(mnMajorDesc(t.addr, keys, s));
        ASSERT_EQ(d.layout, 1);
        for (int k = 0; k < 16; ++k)
          for (int n = 0; n < hd; ++n)
            ASSERT_EQ(t.at(mnMajorAddr(d, k, n)), Tile::id(16 * s + k, n))
                << "hd " << hd << " keys " << keys << " s " << s << " k " << k << " n " << n;
      }
    }
}

TEST(WgmmaLayout, SwizzleSpreadsEightRowsOverAllBanks) {
  // The 16-byte chunk c of rows 0..7 lands in eight different 16-byte bank groups.
  for (int c = 0; c < 8; ++c) {
    uint32_t seen = 0;
    for (int r = 0; r < 8; ++r)
      seen |= 1u << ((chunkOffset(r, c, 64) % 128) / 16);
    EXPECT_EQ(seen, 0xffu) << "chunk " << c;
  }
}

} // namespace
} // namespace modelrt::cuda::wgmma
