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

using namespace modelrt::engine;

namespace {

struct Case {
  int64_t hd, ctx, blockSize;
  KeyRange range; // a sliding window or chunks (Llama 4's chunked attention)
  int64_t vd; // value head features (DeepSeek's keys are wider than its values)
  std::vector<float> q, k, v; // q: ctx rows (every position can be a query); k, v: in blocks
  std::vector<KvBlockView> blocks;
  float scale;
  float softcap = 0; // Gemma 2's logit soft-capping when > 0
  std::optional<float> sink; // gpt-oss's extra logit without a value
};

// K and V rows of position p live in a shuffled block, two heads wide (the tested head is the
// second), as in the executor's cache. vd 0: values as wide as keys.
Case makeCase(std::mt19937 &rng, int64_t hd, int64_t ctx, int64_t blockSize, KeyRange range,
              int64_t vd = 0) {
  vd = vd ? vd : hd;
  Case c{hd, ctx, blockSize, range, vd, {}, {}, {}, {}, 1.0f / std::sqrt(float(hd))};
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  int64_t numBlocks = (ctx + blockSize - 1) / blockSize + 3, kStride = 2 * hd, vStride = 2 * vd;
  c.q.resize(size_t(ctx * hd));
  c.k.resize(size_t(numBlocks * blockSize * kStride));
  c.v.resize(size_t(numBlocks * blockSize * vStride));
  for (float &x : c.q)
    x = u(rng);
  for (float &x : c.k)
    x = u(rng);
  for (float &x : c.v)
    x = u(rng);
  std::vector<int64_t> order(static_cast<size_t>(numBlocks));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (int64_t b = 0; b * blockSize < ctx; ++b) {
    const int64_t first = order[size_t(b)] * blockSize;
    c.blocks.push_back(
        {c.k.data() + first * kStride, c.v.data() + first * vStride, kStride, vStride});
  }
  return c;
}

// Row at position pos, in double precision.
std::vector<double> reference(const Case &c, int64_t pos) {
  const int64_t window = c.range.window, chunk = c.range.chunk;
  int64_t from = window > 0  ? std::max<int64_t>(0, pos - window + 1)
                 : chunk > 0 ? pos / chunk * chunk
                             : 0;
  auto kv = [&](const std::vector<float> &base, int64_t p, int64_t d) {
    const KvBlockView &b = c.blocks[size_t(p / c.blockSize)];
    const bool key = &base == &c.k;
    const float *row = key ? b.k + (p % c.blockSize) * b.kRowStride + c.hd
                           : b.v + (p % c.blockSize) * b.vRowStride + c.vd;
    return double(row[d]);
  };
  std::vector<double> s;
  double mx = -INFINITY;
  for (int64_t p = from; p <= pos; ++p) {
    double dot = 0;
    for (int64_t d = 0; d < c.hd; ++d)
      dot += double(c.q[size_t(pos * c.hd + d)]) * kv(c.k, p, d);
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
      out[size_t(d)] += s[size_t(p - from)] / sum * kv(c.v, p, d);
  return out;
}

// Query rows [first, first + rows) through one attendTile call.
std::vector<float> attend(const Case &c, int64_t first, int64_t rows) {
  std::vector<float> out(size_t(rows * c.vd), NAN), scores, acc;
  const QueryTile tile{c.q.data() + first * c.hd, c.hd, out.data(), c.vd, rows, first, 1,
                       c.sink ? &*c.sink : nullptr, 0};
  attendTile(tile, c.range, c.blocks.data(), c.blockSize, {c.hd, c.hd, c.vd, c.vd}, c.scale,
             c.softcap, scores, acc);
  return out;
}

// Value heads narrower than key heads (DeepSeek's 192 and 128; 20 and 12 for the scalar
// tails) where vd is given.
TEST(CpuAttention, MatchesDoubleReference) {
  std::mt19937 rng(3);
  for (auto [hd, vd] : {std::pair<int64_t, int64_t>{8, 8}, {12, 12}, {20, 20}, {64, 64}, {80, 80},
                        {128, 128}, {192, 128}, {20, 12}})
    for (KeyRange range : {KeyRange{}, KeyRange{7, 0}, KeyRange{0, 6}}) {
      Case c = makeCase(rng, hd, 45, hd == 12 ? 4 : 16, range, vd);
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
          std::vector<double> want = reference(c, first + i);
          double num = 0, den = 0;
          for (int64_t d = 0; d < vd; ++d) {
            double e = double(got[size_t(i * vd + d)]) - want[size_t(d)];
            num += e * e;
            den += want[size_t(d)] * want[size_t(d)];
          }
          ASSERT_LT(std::sqrt(num / den), 2e-6)
              << "hd " << hd << " vd " << vd << " window " << range.window << " chunk "
              << range.chunk << " softcap " << c.softcap << " sink "
              << c.sink.value_or(NAN) << " position " << first + i;
        }
      }
    }
}

// Rows alone take their own path (attendOneRow: eight positions per pass, the output held in
// registers); it must give the tile's bits: head dims with and without a scalar tail, one
// and two 64-dim blocks, blocks of 4 and 16 positions (passes crossing them), windows, chunks
// (a tile whose rows start in different chunks).
TEST(CpuAttention, ARowsOutputDoesNotDependOnItsTile) {
  std::mt19937 rng(4);
  for (auto [hd, vd] : {std::pair<int64_t, int64_t>{12, 12}, {20, 20}, {64, 64}, {80, 80},
                        {128, 128}, {192, 128}, {20, 12}})
    for (KeyRange range : {KeyRange{}, KeyRange{9, 0}, KeyRange{0, 16}, KeyRange{0, 5}}) {
      Case c = makeCase(rng, hd, 70, hd == 20 ? 4 : 16, range, vd);
      c.softcap = hd == 20 || hd == 128 ? 0.3f : 0.0f;
      if (hd != 64)
        c.sink = hd == 80 ? 2.0f : -0.5f;
      for (int64_t first : {0, 21, 62}) {
        int64_t rows = std::min<int64_t>(kAttentionQueryTile, c.ctx - first);
        std::vector<float> tile = attend(c, first, rows);
        for (int64_t i = 0; i < rows; ++i) {
          std::vector<float> alone = attend(c, first + i, 1);
          EXPECT_EQ(std::memcmp(alone.data(), tile.data() + i * vd, size_t(vd) * sizeof(float)), 0)
              << "hd " << hd << " vd " << vd << " window " << range.window << " chunk "
              << range.chunk << " position " << first + i;
        }
        if (rows > 2) { // also as the first row of a shorter tile
          std::vector<float> pair = attend(c, first + 1, 2);
          EXPECT_EQ(std::memcmp(pair.data(), tile.data() + vd, size_t(2 * vd) * sizeof(float)), 0);
        }
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
  for (auto [hd, vd] : {std::pair<int64_t, int64_t>{64, 64}, {20, 12}, {576, 512}})
    for (KeyRange range : {KeyRange{}, KeyRange{9, 0}, KeyRange{0, 8}}) {
      Case c = makeCase(rng, hd, 40, 16, range, vd);
      std::vector<float> heads(size_t(kAttentionQueryTile * hd)), sinks(kAttentionQueryTile);
      for (float &x : heads)
        x = u(rng);
      for (float &x : sinks)
        x = u(rng);
      for (bool withSinks : {false, true})
        for (int64_t pos : {0, 17, 39})
          for (int64_t rows : {int64_t(2), int64_t(5), kAttentionQueryTile}) {
            std::vector<float> tileOut(size_t(rows * vd), NAN), scores, acc;
            const QueryTile tile{heads.data(), hd, tileOut.data(), vd, rows, pos, 0,
                                 withSinks ? sinks.data() : nullptr, 1};
            attendTile(tile, c.range, c.blocks.data(), c.blockSize, {hd, hd, vd, vd}, c.scale,
                       0.0f, scores, acc);
            for (int64_t i = 0; i < rows; ++i) {
              std::vector<float> alone(size_t(vd), NAN);
              const QueryTile one{heads.data() + i * hd, hd, alone.data(), vd, 1, pos, 0,
                                  withSinks ? sinks.data() + i : nullptr, 0};
              attendTile(one, c.range, c.blocks.data(), c.blockSize, {hd, hd, vd, vd}, c.scale,
                         0.0f, scores, acc);
              EXPECT_EQ(std::memcmp(alone.data(), tileOut.data() + i * vd,
                                    size_t(vd) * sizeof(float)),
                        0)
                  << "hd " << hd << " vd " << vd << " window " << range.window << " chunk "
                  << range.chunk << " position " << pos
                  << " head " << i << " of " << rows << (withSinks ? " with sinks" : "");
            }
          }
    }
}

} // namespace
