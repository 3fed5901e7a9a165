// A random paged-attention case on the host: queries, a KV cache whose blocks are handed out
// in shuffled order, block tables, and the f64 reference output computed through the same
// block tables. Shared by the GoogleTest cases and the PyTorch dump tool.
#pragma once

#include "unittests/device/DeviceTestUtil.h"

#include <algorithm>
#include <numeric>
#include <utility>

namespace modelrt::cuda::test {

struct PagedCase {
  AttentionShape shape;
  PagedKvLayout layout;
  std::vector<int32_t> queryStart, contextLen, blockTable;
  int32_t maxBlocksPerSeq = 0, numTokens = 0, maxQueryLen = 0, maxContextLen = 0;
  std::vector<uint16_t> q, kCache, vCache; // element bits
  std::vector<float> sinks;                 // [numHeads] attention sinks, or empty
};

// seqs: (query length, context length) per request, context >= query.
inline PagedCase makePagedCase(std::mt19937 &rng, int numHeads, int numKvHeads, int headDim,
                               int blockSize, ElementType type,
                               const std::vector<std::pair<int, int>> &seqs, int window = 0) {
  PagedCase c;
  c.shape = {numHeads, numKvHeads, headDim, 1.0f / std::sqrt(float(headDim)), window};
  int numSeqs = int(seqs.size());
  c.queryStart.push_back(0);
  int totalBlocks = 0;
  for (auto [qLen, ctx] : seqs) {
    c.queryStart.push_back(c.queryStart.back() + qLen);
    c.contextLen.push_back(ctx);
    c.maxQueryLen = std::max(c.maxQueryLen, qLen);
    c.maxContextLen = std::max(c.maxContextLen, ctx);
    int blocks = (ctx + blockSize - 1) / blockSize;
    c.maxBlocksPerSeq = std::max(c.maxBlocksPerSeq, blocks);
    totalBlocks += blocks;
  }
  c.maxBlocksPerSeq = std::max(c.maxBlocksPerSeq, 1);
  c.numTokens = c.queryStart.back();
  c.layout = {totalBlocks + 3, numKvHeads, blockSize, headDim, type};
  std::vector<int32_t> physical(c.layout.numBlocks);
  std::iota(physical.begin(), physical.end(), 0);
  std::shuffle(physical.begin(), physical.end(), rng);
  c.blockTable.assign(size_t(numSeqs) * c.maxBlocksPerSeq, 0);
  int next = 0;
  for (int s = 0; s < numSeqs; ++s)
    for (int b = 0; b < (c.contextLen[s] + blockSize - 1) / blockSize; ++b)
      c.blockTable[size_t(s) * c.maxBlocksPerSeq + b] = physical[next++];
  // Queries a little larger than keys so the softmax is not flat.
  c.q = randomBits(rng, size_t(c.numTokens) * numHeads * headDim, type, -2.0f, 2.0f);
  size_t cacheElems = size_t(c.layout.numBlocks) * numKvHeads * blockSize * headDim;
  c.kCache = randomBits(rng, cacheElems, type, -1.0f, 1.0f);
  c.vCache = randomBits(rng, cacheElems, type, -1.0f, 1.0f);
  return c;
}

inline size_t cacheIndex(const PagedCase &c, int seq, int pos, int kvh, int d) {
  int bs = c.layout.blockSize;
  size_t block = size_t(c.blockTable[size_t(seq) * c.maxBlocksPerSeq + pos / bs]);
  return ((block * c.layout.numKvHeads + kvh) * bs + pos % bs) * c.layout.headDim + d;
}

// [T][numHeads * headDim] in f64.
inline std::vector<double> referenceAttention(const PagedCase &c) {
  const int H = c.shape.numHeads, hd = c.shape.headDim, G = H / c.shape.numKvHeads;
  ElementType t = c.layout.type;
  std::vector<double> out(size_t(c.numTokens) * H * hd, 0.0);
  std::vector<double> scores, acc(hd);
  for (size_t s = 0; s + 1 < c.queryStart.size(); ++s) {
    int qLen = c.queryStart[s + 1] - c.queryStart[s], ctx = c.contextLen[s];
    for (int i = 0; i < qLen; ++i) {
      int pos = ctx - qLen + i;
      int lo = c.shape.slidingWindow > 0 ? std::max(0, pos - c.shape.slidingWindow + 1) : 0;
      size_t row = size_t(c.queryStart[s] + i);
      for (int h = 0; h < H; ++h) {
        int kvh = h / G;
        const uint16_t *q = &c.q[(row * H + h) * hd];
        scores.assign(pos - lo + 1, 0.0);
        double mx = -INFINITY;
        for (int k = lo; k <= pos; ++k) {
          double dot = 0;
          size_t base = cacheIndex(c, int(s), k, kvh, 0);
          for (int d = 0; d < hd; ++d)
            dot += double(fromBits(q[d], t)) * fromBits(c.kCache[base + d], t);
          scores[k - lo] = dot * c.shape.scale;
          mx = std::max(mx, scores[k - lo]);
        }
        double sum = 0;
        if (!c.sinks.empty()) { // one more logit, with no value
          mx = std::max(mx, double(c.sinks[size_t(h)]));
          sum += std::exp(double(c.sinks[size_t(h)]) - mx);
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int k = lo; k <= pos; ++k) {
          double p = std::exp(scores[k - lo] - mx);
          sum += p;
          size_t base = cacheIndex(c, int(s), k, kvh, 0);
          for (int d = 0; d < hd; ++d)
            acc[d] += p * fromBits(c.vCache[base + d], t);
        }
        for (int d = 0; d < hd; ++d)
          out[(row * H + h) * hd + d] = acc[d] / sum;
      }
    }
  }
  return out;
}

// Requests `keep` of `c` as a batch of their own: the same cache, block-table rows and
// queries (to compare a request's output alone and in a batch).
inline PagedCase subCase(const PagedCase &c, const std::vector<int> &keep) {
  PagedCase r = c;
  r.queryStart = {0};
  r.contextLen.clear();
  r.blockTable.clear();
  r.q.clear();
  r.maxQueryLen = r.maxContextLen = 0;
  const size_t width = size_t(c.shape.numHeads) * c.shape.headDim;
  for (int s : keep) {
    const int qLen = c.queryStart[s + 1] - c.queryStart[s];
    r.queryStart.push_back(r.queryStart.back() + qLen);
    r.contextLen.push_back(c.contextLen[s]);
    r.maxQueryLen = std::max(r.maxQueryLen, qLen);
    r.maxContextLen = std::max(r.maxContextLen, c.contextLen[s]);
    auto row = c.blockTable.begin() + ptrdiff_t(s) * c.maxBlocksPerSeq;
    r.blockTable.insert(r.blockTable.end(), row, row + c.maxBlocksPerSeq);
    auto q = c.q.begin() + ptrdiff_t(c.queryStart[s]) * ptrdiff_t(width);
    r.q.insert(r.q.end(), q, q + ptrdiff_t(qLen) * ptrdiff_t(width));
  }
  r.numTokens = r.queryStart.back();
  return r;
}

// Request `seq` of `c` cut into two chunks at its query row `cut` (as two requests of one
// batch on the same block-table row: the first with the context up to its last row).
inline PagedCase chunkedCase(const PagedCase &c, int seq, int cut) {
  PagedCase r = subCase(c, {seq, seq});
  const int qLen = r.queryStart[1];
  r.queryStart = {0, cut, qLen};
  r.contextLen[0] = c.contextLen[seq] - (qLen - cut);
  r.q.resize(size_t(qLen) * c.shape.numHeads * c.shape.headDim); // the rows once
  r.numTokens = qLen;
  r.maxQueryLen = std::max(cut, qLen - cut);
  return r;
}

// The case on the device, with the output poisoned.
struct DeviceCase {
  DeviceBuffer<uint16_t> q, kCache, vCache, out;
  DeviceBuffer<int32_t> queryStart, contextLen, blockTable;
  DeviceBuffer<float> sinks;
  explicit DeviceCase(const PagedCase &c)
      : q(c.q), kCache(c.kCache), vCache(c.vCache), out(c.q.size()), queryStart(c.queryStart),
        contextLen(c.contextLen), blockTable(c.blockTable), sinks(c.sinks) {
    out.poison();
  }
  bool ok() const {
    return q.ok() && kCache.ok() && vCache.ok() && out.ok() && queryStart.ok() && contextLen.ok() &&
           blockTable.ok() && sinks.ok();
  }
  AttentionBatch batch(const PagedCase &c) const {
    AttentionBatch b;
    b.queryStart = queryStart.get();
    b.contextLen = contextLen.get();
    b.blockTable = blockTable.get();
    b.maxBlocksPerSeq = c.maxBlocksPerSeq;
    setHostBounds(b, c.queryStart.data(), c.contextLen.data(), int32_t(c.contextLen.size()));
    return b;
  }
  AttentionArgs args(const PagedCase &c) const {
    AttentionArgs a;
    a.q = q.get();
    a.qRowStride = int64_t(c.shape.numHeads) * c.shape.headDim;
    a.out = out.get();
    a.outRowStride = a.qRowStride;
    a.kCache = kCache.get();
    a.vCache = vCache.get();
    a.sinks = sinks.size() ? sinks.get() : nullptr;
    return a;
  }
};

} // namespace modelrt::cuda::test
