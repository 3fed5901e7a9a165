// The CPU executor's attention: the one region of selective batching that runs per request.
// Query rows of one head attend to their own sequence's keys through its paged KV blocks.
#pragma once

#include <cstdint>
#include <vector>

namespace modelrt::engine {

// Where a KV block's rows for one layer are: row r of K at k + r * kRowStride, of V at
// v + r * vRowStride.
struct KvBlockView {
  const float *k, *v;
  int64_t kRowStride, vRowStride;
};

// Which features of a K and a V row one head reads: kDim from kOffset, vDim from vOffset.
struct KvHead {
  int64_t kOffset, kDim, vOffset, vDim;
};

// Query rows one attendTile call takes (they share every K and V row it reads).
constexpr int64_t kAttentionQueryTile = 8;

// The query rows of one attendTile call: row i's query at q + i * qStride, its output at
// out + i * outStride, its position pos0 + i * posStep, its sink (if any) at
// sink + i * sinkStride. Consecutive positions of one head (posStep 1: a prompt's rows), or
// heads of one KV head at one position (posStep 0: a decode step's, which then read each K
// and V row once for all of them).
struct QueryTile {
  const float *q;
  int64_t qStride;
  float *out;
  int64_t outStride;
  int64_t rows, pos0, posStep;
  const float *sink;
  int64_t sinkStride;
};

// The earlier positions a query at `pos` sees, [from(pos), pos]: all of them, the last
// `window` (a sliding window > 0), or those of its own chunk of `chunk` positions (chunked
// attention > 0: from the last multiple of chunk).
struct KeyRange {
  int64_t window = 0, chunk = 0;
  int64_t from(int64_t pos) const {
    return window > 0 ? (pos - window + 1 > 0 ? pos - window + 1 : 0)
           : chunk > 0 ? pos - pos % chunk
                       : 0;
  }
};

// tile.rows (1 .. kAttentionQueryTile) query rows, each attending causally to its sequence's
// positions [range.from(pos), pos]: queries of
// head.kDim floats, outputs of head.vDim floats. Position p's K/V row is row
// p % blockSize of blocks[p / blockSize], the head's features from head.kOffset (K) and
// head.vOffset (V). f32 throughout: scores in a fixed order, softmax with a
// vectorized exp, V summed in position order. Every row's arithmetic is the same whatever
// rows share its tile (tested bit for bit), so tiling and batching never change a result.
// softcap > 0 caps each scaled score s at softcap * tanh(s / softcap) (Gemma 2). A sink
// (non-null: the row's head's) is one more logit in each row's softmax, with no value.
// scores and acc are scratch space, reused across calls.
void attendTile(const QueryTile &tile, KeyRange range, const KvBlockView *blocks,
                int64_t blockSize, KvHead head, float scale, float softcap,
                std::vector<float> &scores, std::vector<float> &acc);

} // namespace modelrt::engine
