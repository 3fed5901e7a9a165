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

// rows (1 .. kAttentionQueryTile) consecutive query rows of one head, at positions pos0,
// pos0 + 1, ..., each attend causally to their sequence's positions [from, pos] (from = 0, or
// pos - window + 1 with a sliding window > 0): q row i at q + i * qStride (head.kDim floats),
// its output (head.vDim floats) at out + i * outStride. Position p's K/V row is row
// p % blockSize of blocks[p / blockSize], the head's features from head.kOffset (K) and
// head.vOffset (V). f32 throughout: scores in a fixed order, softmax with a
// vectorized exp, V summed in position order. Every row's arithmetic is the same whatever
// rows share its tile (tested bit for bit), so tiling and batching never change a result.
// softcap > 0 caps each scaled score s at softcap * tanh(s / softcap) (Gemma 2). A sink
// (non-null: this head's) is one more logit in each row's softmax, with no value.
// scores and acc are scratch space, reused across calls.
void attendTile(const float *q, int64_t qStride, float *out, int64_t outStride, int64_t rows,
                int64_t pos0, int64_t window, const KvBlockView *blocks, int64_t blockSize,
                KvHead head, float scale, float softcap, const float *sink,
                std::vector<float> &scores, std::vector<float> &acc);

} // namespace modelrt::engine
