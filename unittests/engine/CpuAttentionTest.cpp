// The CPU executor's paged attention against a double-precision reference, and the property
// batch invariance rests on: a query row's output is bit for bit the same whatever rows
// share its tile.
#include "runtime/engine/CpuAttention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>
#include <random>

using namespace modelrt;
using namespace modelrt::engine;

namespace {

struct Case {
  int64_t hd, ctx, blockSize;
  KeyRange range; // a sliding window or chunks (Llama 4's chunked attention)
  int64_t vd; // value head features (DeepSeek's keys are wider than its values)
  std::vector<float> q, k, v; // q: ctx rows (every position can be a query); k, v: per position
  KvCacheDType dtype = KvCacheDType::F32; // how kBytes and vBytes store k and v
  KeyLayout keys = KeyLayout::Transposed;
  std::vector<uint8_t> kBytes, vBytes;
  std::vector<KvBlockView> blocks;
  float scale;
  float softcap = 0; // Gemma 2's logit soft-capping when > 0
  std::optional<float> sink; // gpt-oss's extra logit without a value
  KvLayout layout() const { return {blockSize, dtype, keys}; }
};

// Keys and values of position p live in a shuffled block, stored as `dtype`, as in the
// executor's cache: transposed keys one head's per block; key rows (and value rows always)
// two heads wide, the tested head the second. Transposed keys need blocks of a multiple of 8
// positions, so blockSize is rounded up for them. vd 0: values as wide as keys.
Case makeCase(std::mt19937 &rng, int64_t hd, int64_t ctx, int64_t blockSize, KeyRange range,
              int64_t vd = 0, KvCacheDType dtype = KvCacheDType::F32,
              KeyLayout keys = KeyLayout::Transposed) {
  vd = vd ? vd : hd;
  if (keys == KeyLayout::Transposed)
    blockSize = (blockSize + 7) / 8 * 8;
  Case c{hd,  ctx, blockSize, range, vd, {}, {}, {}, dtype, keys, {}, {}, {},
         1.0f / std::sqrt(float(hd))};
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t numBlocks = (ctx + blockSize - 1) / blockSize + 3, slots = numBlocks * blockSize;
  c.q.resize(size_t(ctx * hd));
  c.k.resize(size_t(slots * 2 * hd));
  c.v.resize(size_t(slots * 2 * vd));
  for (float &x : c.q)
    x = u(rng);
  for (float &x : c.k)
    x = u(rng);
  for (float &x : c.v)
    x = u(rng);
  // Slot s holds position (s / blockSize)'s block's row s % blockSize; both heads' features.
  const int64_t kRow = kvBytes(dtype, 2 * hd), vRow = kvBytes(dtype, 2 * vd);
  const int64_t kHead = kvBytes(dtype, hd), vHead = kvBytes(dtype, vd);
  c.kBytes.resize(size_t(slots * kRow));
  c.vBytes.resize(size_t(slots * vRow));
  for (int64_t r = 0; r < slots; ++r) {
    const float *key = c.k.data() + r * 2 * hd;
    if (keys == KeyLayout::Rows)
      encodeKvRow(dtype, key, 2 * hd, c.kBytes.data() + r * kRow);
    else // the second head's key into its block's transposed keys
      storeKeyTransposed(dtype, key + hd, hd, blockSize, r % blockSize,
                         c.kBytes.data() + r / blockSize * blockSize * kHead);
    encodeKvRow(dtype, c.v.data() + r * 2 * vd, 2 * vd, c.vBytes.data() + r * vRow);
  }
  std::vector<int64_t> order(static_cast<size_t>(numBlocks));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (int64_t b = 0; b * blockSize < ctx; ++b) {
    const int64_t first = order[size_t(b)] * blockSize;
    const uint8_t *k = keys == KeyLayout::Rows ? c.kBytes.data() + first * kRow + kHead
                                               : c.kBytes.data() + first * kHead;
    c.blocks.push_back({k, c.vBytes.data() + first * vRow + vHead, kRow, vRow});
  }
  return c;
}

// What the cache holds (after rounding) for the tested head's key feature d at position p,
// and value feature d.
double storedKey(const Case &c, int64_t p, int64_t d) {
  const KvBlockView &b = c.blocks[size_t(p / c.blockSize)];
  if (c.keys == KeyLayout::Transposed)
    return loadKeyTransposed(c.dtype, b.k, c.blockSize, p % c.blockSize, d);
  return decodeKvElement(c.dtype, b.k + (p % c.blockSize) * b.kRowStride, d);
}
double storedValue(const Case &c, int64_t p, int64_t d) {
  const KvBlockView &b = c.blocks[size_t(p / c.blockSize)];
  return decodeKvElement(c.dtype, b.v + (p % c.blockSize) * b.vRowStride, d);
}

// Row at position pos, in double precision.
std::vector<double> reference(const Case &c, int64_t pos) {
  const int64_t window = c.range.window, chunk = c.range.chunk;
  int64_t from = window > 0  ? std::max<int64_t>(0, pos - window + 1)
                 : chunk > 0 ? pos / chunk * chunk
                             : 0;
  std::vector<double> s;
  double mx = -INFINITY;
  for (int64_t p = from; p <= pos; ++p) {
    double dot = 0;
    for (int64_t d = 0; d < c.hd; ++d)
      dot += double(c.q[size_t(pos * c.hd + d)]) * storedKey(c, p, d);
    double score = dot * c.scale;
    if (c.softcap > 0)
      score = c.softcap * std::tanh(score / c.softcap);
    s.push_back(score);
    mx = std::max(mx, s.back());
  }
  double sum = 0;
  if (c.sink) { // softmax over the scores and the sink, whose share is dropped
    mx = std::max(mx, double(*c.sink));
    sum += std::exp(double(*c.sink) - mx);
  }
  for (double &x : s)
    sum += (x = std::exp(x - mx));
  std::vector<double> out(size_t(c.vd), 0.0);
  for (int64_t p = from; p <= pos; ++p)
    for (int64_t d = 0; d < c.vd; ++d)
      out[size_t(d)] += s[size_t(p - from)] / sum * storedValue(c, p, d);
  return out;
}

// The relative RMS error of want.size() outputs at got.
double relativeRms(const float *got, const std::vector<double> &want) {
  double num = 0, den = 0;
  for (size_t d = 0; d < want.size(); ++d) {
    const double e = double(got[d]) - want[d];
    num += e * e;
    den += want[d] * want[d];
  }
  return std::sqrt(num / den);
}

// Query rows [first, first + rows) through one attendTile call.
std::vector<float> attend(const Case &c, int64_t first, int64_t rows) {
  std::vector<float> out(size_t(rows * c.vd), NAN);
  AttentionScratch scratch;
  const QueryTile tile{c.q.data() + first * c.hd, c.hd, out.data(), c.vd, rows, first, 1,
                       c.sink ? &*c.sink : nullptr, 0};
  attendTile(tile, c.range, c.blocks.data(), c.layout(), {c.hd, c.vd}, c.scale, c.softcap,
             scratch);
  return out;
}

// Value heads narrower than key heads (DeepSeek's 192 and 128; 20 and 12 for the scalar
// tails) where vd is given.
TEST(CpuAttention, MatchesDoubleReference) {
  std::mt19937 rng(3);
  for (KeyLayout keys : {KeyLayout::Transposed, KeyLayout::Rows})
  for (auto [hd, vd] : {std::pair<int64_t, int64_t>{8, 8}, {12, 12}, {20, 20}, {64, 64}, {80, 80},
                        {128, 128}, {192, 128}, {20, 12}})
    for (KeyRange range : {KeyRange{}, KeyRange{7, 0}, KeyRange{0, 6}}) {
      Case c = makeCase(rng, hd, 45, hd == 12 ? 4 : 16, range, vd, KvCacheDType::F32, keys);
      if (hd == 64 || hd == 12) { // soft-capped: scores of a few units, which a cap of 1.5 bends
        c.scale *= 4;
        c.softcap = 1.5f;
      }
      // Sinks: one above every score (taking most of the probability), one among them.
      if (hd == 20 || hd == 80)
        c.sink = hd == 20 ? 3.0f : 0.1f;
      for (int64_t first : {0, 5, 37, 44}) { // 44: the last row alone (a decode step's path)
        int64_t rows = std::min<int64_t>(kAttentionQueryTile, c.ctx - first);
        std::vector<float> got = attend(c, first, rows);
        for (int64_t i = 0; i < rows; ++i) {
          ASSERT_LT(relativeRms(got.data() + i * vd, reference(c, first + i)), 2e-6)
              << (keys == KeyLayout::Rows ? "key rows" : "transposed keys") << " hd " << hd
              << " vd " << vd << " window " << range.window << " chunk "
              << range.chunk << " softcap " << c.softcap << " sink "
              << c.sink.value_or(NAN) << " position " << first + i;
        }
      }
    }
}

// A row alone (a decode step's) takes other passes than a tile's rows (eight position groups
// a pass for the keys; one row per pass over the values): it must give the tile's bits, and
// so must the rows of a shorter tile: head dims with and without a scalar tail, one and two
// 32-feature value passes, blocks of 4, 8 and 16 positions (passes crossing them), windows,
// chunks (a tile whose rows start in different chunks), both key layouts.
TEST(CpuAttention, ARowsOutputDoesNotDependOnItsTile) {
  std::mt19937 rng(4);
  for (KeyLayout keys : {KeyLayout::Transposed, KeyLayout::Rows})
  for (auto [hd, vd] : {std::pair<int64_t, int64_t>{12, 12}, {20, 20}, {64, 64}, {80, 80},
                        {128, 128}, {192, 128}, {20, 12}})
    for (KeyRange range : {KeyRange{}, KeyRange{9, 0}, KeyRange{0, 16}, KeyRange{0, 5}}) {
      Case c = makeCase(rng, hd, 70, hd == 20 ? 4 : 16, range, vd, KvCacheDType::F32, keys);
      c.softcap = hd == 20 || hd == 128 ? 0.3f : 0.0f;
      if (hd != 64)
        c.sink = hd == 80 ? 2.0f : -0.5f;
      for (int64_t first : {0, 21, 62}) {
        int64_t rows = std::min<int64_t>(kAttentionQueryTile, c.ctx - first);
        std::vector<float> tile = attend(c, first, rows);
        for (int64_t i = 0; i < rows; ++i) {
          std::vector<float> alone = attend(c, first + i, 1);
          EXPECT_EQ(std::memcmp(alone.data(), tile.data() + i * vd, size_t(vd) * sizeof(float)), 0)
              << (keys == KeyLayout::Rows ? "key rows" : "transposed keys") << " hd " << hd
              << " vd " << vd << " window " << range.window << " chunk " << range.chunk
              << " position " << first + i;
        }
        for (int64_t sub : {2, 3, 5}) // also as the rows of shorter tiles
          if (rows > sub) {
            std::vector<float> part = attend(c, first + 1, sub);
            EXPECT_EQ(
                std::memcmp(part.data(), tile.data() + vd, size_t(sub * vd) * sizeof(float)), 0)
                << "hd " << hd << " rows " << sub << " from position " << first + 1;
          }
      }
    }
}

// Contexts of several segments (kAttentionSegment positions each, merged in order): against
// the double reference, and a row's bits the same in any tile, alone (a decode step's) or
// with the tile's segments computed in any grouping and merged after (how a decode step
// splits a long context over threads); windows and chunks that start inside a segment,
// tiles that straddle a segment's end, sinks.
TEST(CpuAttention, SegmentsOfLongContexts) {
  std::mt19937 rng(10);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t ctx = 2 * kAttentionSegment + 190;
  for (KeyLayout keys : {KeyLayout::Transposed, KeyLayout::Rows})
    for (auto [hd, vd] : {std::pair<int64_t, int64_t>{64, 64}, {20, 12}})
      for (KeyRange range : {KeyRange{}, KeyRange{300, 0}, KeyRange{0, 320}}) {
        Case c = makeCase(rng, hd, ctx, 16, range, vd, KvCacheDType::F32, keys);
        if (hd == 20)
          c.sink = 0.7f;
        const std::string what = std::string(keys == KeyLayout::Rows ? "key rows" : "transposed") +
                                 " hd " + std::to_string(hd) + " window " +
                                 std::to_string(range.window) + " chunk " +
                                 std::to_string(range.chunk);
        for (int64_t first : {int64_t(0), kAttentionSegment - 3, ctx - 8}) {
          const int64_t rows = std::min(kAttentionQueryTile, ctx - first);
          std::vector<float> tile = attend(c, first, rows);
          for (int64_t i = 0; i < rows; ++i) {
            EXPECT_LT(relativeRms(tile.data() + i * vd, reference(c, first + i)), 5e-6)
                << what << " position " << first + i;
            std::vector<float> alone = attend(c, first + i, 1);
            EXPECT_EQ(std::memcmp(alone.data(), tile.data() + i * vd, size_t(vd) * sizeof(float)),
                      0)
                << what << " position " << first + i;
          }
        }
        // A decode step's heads (5 of one KV head) at the last position, their segments
        // computed whole, one at a time, and split unevenly.
        std::vector<float> heads(size_t(5 * hd)), sinks(5);
        for (float &x : heads)
          x = u(rng);
        for (float &x : sinks)
          x = u(rng);
        const QueryTile step{heads.data(), hd, nullptr, vd, 5, ctx - 1, 0,
                             c.sink ? sinks.data() : nullptr, 1};
        std::vector<float> whole(size_t(5 * vd), NAN);
        QueryTile wholeTile = step;
        wholeTile.out = whole.data();
        AttentionScratch scratch;
        attendTile(wholeTile, c.range, c.blocks.data(), c.layout(), {hd, vd}, c.scale, 0.0f,
                   scratch);
        int64_t segFirst, segEnd;
        attentionSegments(step, c.range, segFirst, segEnd);
        ASSERT_EQ(segEnd, ctx / kAttentionSegment + 1) << what;
        const int64_t rowStride = (segEnd - segFirst) * attentionStateFloats(vd);
        for (int64_t split : {segEnd - segFirst, int64_t(1), int64_t(2)}) {
          std::vector<float> states(size_t(5 * rowStride), NAN), out(size_t(5 * vd), NAN);
          for (int64_t j = segFirst; j < segEnd; j += split)
            attendSegments(step, c.range, c.blocks.data(), c.layout(), {hd, vd}, c.scale, 0.0f, j,
                           std::min(segEnd, j + split),
                           states.data() + (j - segFirst) * attentionStateFloats(vd), rowStride,
                           scratch);
          QueryTile finished = step;
          finished.out = out.data();
          finishAttention(finished, c.range, vd, segFirst, segEnd, states.data(), rowStride);
          EXPECT_EQ(std::memcmp(out.data(), whole.data(), out.size() * sizeof(float)), 0)
              << what << " segments in groups of " << split;
        }
      }
}

// Key rows are transposed into scratch and scored as feature-major keys: the two layouts give
// the same bits (so a plan's output does not depend on its block size or cache layout).
TEST(CpuAttention, KeyLayoutsGiveTheSameBits) {
  for (KvCacheDType dtype : {KvCacheDType::F32, KvCacheDType::BF16, KvCacheDType::Q8_0})
    for (auto [hd, vd] : {std::pair<int64_t, int64_t>{64, 64}, {20, 12}, {576, 512}})
      for (KeyRange range : {KeyRange{}, KeyRange{300, 0}}) {
        if (dtype == KvCacheDType::Q8_0 && (hd % 32 || vd % 32))
          continue;
        const int64_t ctx = kAttentionSegment + 90;
        std::mt19937 a(11), b(11);
        Case rows = makeCase(a, hd, ctx, 16, range, vd, dtype, KeyLayout::Rows);
        Case transposed = makeCase(b, hd, ctx, 16, range, vd, dtype, KeyLayout::Transposed);
        for (int64_t first : {int64_t(0), kAttentionSegment - 4, ctx - 1})
          for (int64_t n : {int64_t(1), kAttentionQueryTile}) {
            const int64_t count = std::min(n, ctx - first);
            std::vector<float> x = attend(rows, first, count), y = attend(transposed, first, count);
            EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0)
                << kvCacheDTypeName(dtype) << " hd " << hd << " window " << range.window
                << " rows from " << first;
          }
      }
}

// A decode step's tile: heads of one KV head at one position (each its own query and sink)
// read each K and V row once for all of them; each head's output must be the bits it gets
// alone, whatever heads share its tile (MQA's 16 heads, DeepSeek's latent: 576-wide keys
// whose first 512 features are the values).
TEST(CpuAttention, HeadsOfOneKvHeadShareATileBitForBit) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (KeyLayout keys : {KeyLayout::Transposed, KeyLayout::Rows})
  for (KvCacheDType dtype : {KvCacheDType::F32, KvCacheDType::BF16, KvCacheDType::F8E4M3,
                             KvCacheDType::Q8_0})
  for (auto [hd, vd] : {std::pair<int64_t, int64_t>{64, 64}, {20, 12}, {576, 512}, {80, 80}})
    for (KeyRange range : {KeyRange{}, KeyRange{9, 0}, KeyRange{0, 8}}) {
      if (dtype == KvCacheDType::Q8_0 && (hd % 32 || vd % 32))
        continue;
      // 75 positions: a run of 64 values and a partial one, passes of 24 to 64 keys
      Case c = makeCase(rng, hd, 75, 16, range, vd, dtype, keys);
      const float cap = hd == 80 ? 0.5f : 0.0f; // Gemma 2's soft-capping on one shape
      std::vector<float> heads(size_t(kAttentionQueryTile * hd)), sinks(kAttentionQueryTile);
      for (float &x : heads)
        x = u(rng);
      for (float &x : sinks)
        x = u(rng);
      for (bool withSinks : {false, true})
        for (int64_t pos : {0, 17, 39, 74})
          for (int64_t rows : {int64_t(2), int64_t(5), kAttentionQueryTile}) {
            std::vector<float> tileOut(size_t(rows * vd), NAN);
            AttentionScratch scratch;
            const QueryTile tile{heads.data(), hd, tileOut.data(), vd, rows, pos, 0,
                                 withSinks ? sinks.data() : nullptr, 1};
            attendTile(tile, c.range, c.blocks.data(), c.layout(), {hd, vd}, c.scale, cap,
                       scratch);
            for (int64_t i = 0; i < rows; ++i) {
              std::vector<float> alone(size_t(vd), NAN);
              const QueryTile one{heads.data() + i * hd, hd, alone.data(), vd, 1, pos, 0,
                                  withSinks ? sinks.data() + i : nullptr, 0};
              attendTile(one, c.range, c.blocks.data(), c.layout(), {hd, vd}, c.scale, cap,
                         scratch);
              EXPECT_EQ(std::memcmp(alone.data(), tileOut.data() + i * vd,
                                    size_t(vd) * sizeof(float)),
                        0)
                  << kvCacheDTypeName(dtype)
                  << (keys == KeyLayout::Rows ? " key rows" : " transposed keys") << " hd " << hd
                  << " vd " << vd << " window " << range.window << " chunk " << range.chunk
                  << " position " << pos << " head "
                  << i << " of " << rows << (withSinks ? " with sinks" : "");
            }
          }
    }
}

// Narrow caches: attention over a cache stored as bf16, f16, fp8 or q8_0 is f32 attention over
// the stored values (each widened exactly), through both paths (tiles and rows alone, which
// must agree bit for bit); the rounding is real (the output moves off the f32 cache's).
TEST(CpuAttention, NarrowCachesAttendToTheirStoredValues) {
  std::mt19937 rng(6);
  for (KeyLayout keys : {KeyLayout::Transposed, KeyLayout::Rows})
  for (KvCacheDType dtype : {KvCacheDType::BF16, KvCacheDType::F16, KvCacheDType::F8E4M3,
                             KvCacheDType::F8E5M2, KvCacheDType::Q8_0})
    for (auto [hd, vd] : {std::pair<int64_t, int64_t>{64, 64}, {128, 128}, {192, 128}, {20, 12}}) {
      if (dtype == KvCacheDType::Q8_0 && hd % 32 != 0)
        continue;
      for (KeyRange range : {KeyRange{}, KeyRange{9, 0}}) {
        std::mt19937 same = rng; // the f32 cache of the same values
        Case wide = makeCase(same, hd, 45, 16, range, vd, KvCacheDType::F32, keys);
        Case c = makeCase(rng, hd, 45, 16, range, vd, dtype, keys);
        double moved = 0;
        for (int64_t first : {0, 37, 44}) {
          const int64_t rows = std::min<int64_t>(kAttentionQueryTile, c.ctx - first);
          std::vector<float> got = attend(c, first, rows), f32 = attend(wide, first, rows);
          for (int64_t i = 0; i < rows; ++i) {
            for (int64_t d = 0; d < vd; ++d)
              moved = std::max(moved, std::fabs(double(got[size_t(i * vd + d)]) -
                                                double(f32[size_t(i * vd + d)])));
            ASSERT_LT(relativeRms(got.data() + i * vd, reference(c, first + i)), 2e-6)
                << kvCacheDTypeName(dtype) << " hd " << hd << " vd " << vd << " position "
                << first + i;
            std::vector<float> alone = attend(c, first + i, 1);
            EXPECT_EQ(std::memcmp(alone.data(), got.data() + i * vd, size_t(vd) * sizeof(float)),
                      0)
                << kvCacheDTypeName(dtype) << " hd " << hd << " position " << first + i;
          }
        }
        EXPECT_GT(moved, 1e-5) << kvCacheDTypeName(dtype) << " changed nothing";
      }
    }
}

// The value of an 8-bit float code (1 sign, E exponent, M mantissa bits), by its definition.
double fp8Value(uint8_t code, int e, int m) {
  const int bias = (1 << (e - 1)) - 1, exponent = (code >> m) & ((1 << e) - 1);
  const int mantissa = code & ((1 << m) - 1);
  const double magnitude = exponent == 0
                               ? std::ldexp(mantissa, 1 - bias - m)
                               : std::ldexp((1 << m) + mantissa, exponent - bias - m);
  return code & 0x80 ? -magnitude : magnitude;
}

// Every stored fp8 value is the finite code nearest the input (ties to the even code), inputs
// past the largest finite code are saturated to it (vLLM's cache conversion), and codes widen
// to the values their definition gives.
TEST(KvCacheDType, Fp8RoundsToNearestEvenAndSaturates) {
  struct Format {
    KvCacheDType dtype;
    int e, m;
    uint8_t maxCode; // the largest finite magnitude
  };
  std::mt19937 rng(7);
  for (Format f : {Format{KvCacheDType::F8E4M3, 4, 3, 0x7E}, Format{KvCacheDType::F8E5M2, 5, 2, 0x7B}}) {
    std::vector<float> inputs;
    for (int code = 0; code <= f.maxCode; ++code) { // each code, and the midpoints around it
      const double v = fp8Value(uint8_t(code), f.e, f.m);
      inputs.push_back(float(v));
      if (code < f.maxCode) {
        const double next = fp8Value(uint8_t(code + 1), f.e, f.m);
        inputs.push_back(float((v + next) / 2));
        inputs.push_back(std::nextafter(float((v + next) / 2), 0.0f));
        inputs.push_back(std::nextafter(float((v + next) / 2), INFINITY));
      }
    }
    std::uniform_real_distribution<float> expo(-20.0f, 18.0f);
    for (int i = 0; i < 20000; ++i)
      inputs.push_back(std::exp2(expo(rng)) * (i % 3 ? 1.0f : 0.37f));
    inputs.push_back(1e30f);
    inputs.push_back(INFINITY);
    for (float x : inputs)
      for (float signedX : {x, -x}) {
        uint8_t code;
        encodeKvRow(f.dtype, &signedX, 1, &code);
        const double got = decodeKvElement(f.dtype, &code, 0);
        ASSERT_EQ(got, fp8Value(code, f.e, f.m)) << "code " << int(code);
        ASSERT_LE(code & 0x7F, f.maxCode) << signedX;
        double best = INFINITY;
        // Past the largest finite value: saturated (and distances in double would tie).
        const bool past = std::fabs(double(signedX)) >= fp8Value(f.maxCode, f.e, f.m);
        int bestCode = past ? f.maxCode : -1;
        for (int c = 0; c <= f.maxCode && !past; ++c) {
          const double d = std::fabs(std::fabs(double(signedX)) - fp8Value(uint8_t(c), f.e, f.m));
          if (d < best || (d == best && c % 2 == 0))
            best = d, bestCode = c;
        }
        ASSERT_EQ(code & 0x7F, bestCode) << kvCacheDTypeName(f.dtype) << " " << signedX;
        ASSERT_EQ(code >> 7, std::signbit(signedX) ? 1 : 0);
      }
  }
}

// bf16: round to nearest even on the top 16 bits; f16: the compiler's own conversion.
TEST(KvCacheDType, HalfWidthsRoundToNearestEven) {
  std::mt19937 rng(8);
  std::uniform_int_distribution<uint32_t> bits(0, 0x7F000000); // below bf16's overflow
  for (int i = 0; i < 100000; ++i) {
    uint32_t b = bits(rng);
    if (i % 4 == 0)
      b = (b & 0xFFFF0000u) | 0x8000u; // an exact tie
    float x;
    std::memcpy(&x, &b, sizeof(x));
    uint8_t stored[4];
    encodeKvRow(KvCacheDType::BF16, &x, 1, stored);
    const float down = decodeKvElement(KvCacheDType::BF16, stored, 0);
    uint32_t lower = b & 0xFFFF0000u, upper = lower + 0x10000u;
    float lo, hi;
    std::memcpy(&lo, &lower, 4);
    std::memcpy(&hi, &upper, 4);
    const double dl = double(x) - lo, dh = double(hi) - x;
    const float want = dl < dh ? lo : dh < dl ? hi : ((lower >> 16) & 1 ? hi : lo);
    ASSERT_EQ(down, want) << x;
    encodeKvRow(KvCacheDType::F16, &x, 1, stored);
    ASSERT_EQ(decodeKvElement(KvCacheDType::F16, stored, 0), float(static_cast<_Float16>(x)));
  }
}

// llama.cpp's q8_0: per 32 elements an f16 scale amax / 127 and int8 values, the largest
// magnitude at +-127, an all-zero block all zeros; a short row's last block padded.
TEST(KvCacheDType, Q8_0BlocksAsLlamaCpp) {
  std::vector<float> row(40);
  for (size_t i = 0; i < row.size(); ++i)
    row[i] = float(i) * 0.25f - 3.0f; // block 0: -3 .. 4.75, block 1 (8 elements): 5 .. 6.75
  row[3] = -9.5f;
  std::vector<uint8_t> stored(size_t(kvBytes(KvCacheDType::Q8_0, 40)));
  ASSERT_EQ(stored.size(), 68u);
  encodeKvRow(KvCacheDType::Q8_0, row.data(), 40, stored.data());
  EXPECT_EQ(int8_t(stored[2 + 3]), -127);
  EXPECT_EQ(int8_t(stored[34 + 2 + 7]), 127);
  EXPECT_EQ(int8_t(stored[34 + 2 + 8]), 0); // padding
  const float d0 = float(static_cast<_Float16>(9.5f / 127.0f));
  for (int i = 0; i < 32; ++i)
    EXPECT_EQ(decodeKvElement(KvCacheDType::Q8_0, stored.data(), i),
              float(std::round(row[size_t(i)] * (127.0f / 9.5f))) * d0)
        << i;
  std::vector<float> zeros(32, 0.0f);
  encodeKvRow(KvCacheDType::Q8_0, zeros.data(), 32, stored.data());
  for (int i = 0; i < 34; ++i)
    EXPECT_EQ(stored[size_t(i)], 0);
}

// A NaN key reads back as NaN in every dtype (E4M3's 0x7F is not 480; a q8_0 block with a
// NaN gets a NaN scale), through the scalar and the vector loads: every output it reaches is
// NaN, on the prompt-rows, single-row and decode-heads paths.
TEST(KvCacheDType, NanStaysNan) {
  for (KvCacheDType dtype : {KvCacheDType::F32, KvCacheDType::BF16, KvCacheDType::F16,
                             KvCacheDType::F8E4M3, KvCacheDType::F8E5M2, KvCacheDType::Q8_0}) {
    std::vector<float> row(128, 0.25f);
    row[64 + 5] = NAN; // the tested (second) head's feature 5
    std::vector<uint8_t> stored(size_t(kvBytes(dtype, 128)));
    encodeKvRow(dtype, row.data(), 128, stored.data());
    EXPECT_TRUE(std::isnan(decodeKvElement(dtype, stored.data(), 64 + 5)))
        << kvCacheDTypeName(dtype);
    EXPECT_NEAR(decodeKvElement(dtype, stored.data(), 3), 0.25f, 1e-3) << kvCacheDTypeName(dtype);
    for (KeyLayout keys : {KeyLayout::Transposed, KeyLayout::Rows}) {
      std::mt19937 rng(9);
      Case c = makeCase(rng, 64, 20, 16, KeyRange{}, 0, dtype, keys);
      const KvBlockView &b = c.blocks[0];
      uint8_t *k = const_cast<uint8_t *>(b.k);
      if (keys == KeyLayout::Rows)
        std::memcpy(k + 3 * b.kRowStride, stored.data() + kvBytes(dtype, 64),
                    size_t(kvBytes(dtype, 64))); // the tested head's part
      else
        storeKeyTransposed(dtype, row.data() + 64, 64, c.blockSize, 3, k);
      for (int64_t rows : {int64_t(1), int64_t(4)})
        for (float x : attend(c, 10, rows))
          EXPECT_TRUE(std::isnan(x)) << kvCacheDTypeName(dtype) << " rows " << rows;
      std::vector<float> heads(2 * 64, 0.5f), out(2 * 64, 0.0f);
      AttentionScratch scratch;
      const QueryTile tile{heads.data(), 64, out.data(), 64, 2, 10, 0, nullptr, 0};
      attendTile(tile, {}, c.blocks.data(), c.layout(), {64, 64}, c.scale, 0.0f, scratch);
      for (float x : out)
        EXPECT_TRUE(std::isnan(x)) << kvCacheDTypeName(dtype) << " heads";
    }
  }
}

TEST(KvCacheDType, NamesAsVllmAndLlamaCpp) {
  EXPECT_EQ(*parseKvCacheDType("auto"), KvCacheDType::F32);
  EXPECT_EQ(*parseKvCacheDType("fp8"), KvCacheDType::F8E4M3);
  EXPECT_EQ(*parseKvCacheDType("bfloat16"), KvCacheDType::BF16);
  EXPECT_EQ(*parseKvCacheDType("q8_0"), KvCacheDType::Q8_0);
  Expected<KvCacheDType> bad = parseKvCacheDType("int4");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("'int4' is not one of"), std::string::npos);
}

} // namespace
