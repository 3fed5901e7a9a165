// How decode attention cuts a request's context into splits (thread blocks whose partial
// results a second kernel merges), shared by the host launcher and the kernels.
//
// The number of splits a request takes is a function of its own context length and of
// constants of the layer and the device, never of the rest of the batch: the splits'
// boundaries set the order of the floating-point sums, so a count that followed the batch
// size or the batch's longest context would make a request's output change with what it
// is batched with (DESIGN.md: a request's output must not change with the batch). The
// grid is sized for the request that takes the most; the others' surplus blocks exit.
#pragma once

#include "runtime/device/cuda/HostDevice.h"

namespace modelrt::cuda {

// Tokens per split at the least: shorter splits would spend more on the merge and on each
// block's start and end than they gain in parallelism.
constexpr int kDecodeSplitMinTokens = 512;
// Splits per request at the most.
constexpr int kDecodeMaxSplits = 128;

struct DecodeSplits {
  int count = 1;     // the grid's splits: the most any request of the batch takes
  int fill = 1;      // the splits that let one request alone fill the device
  int minTokens = 1; // tokens per split at the least
};

// The splits a request whose window holds `tokens` tokens takes: one per `minTokens`, at
// most `fill` and the grid's `count`, at least one.
MODELRT_HD int decodeSplitsOf(int tokens, const DecodeSplits &s) {
  int n = tokens / (s.minTokens > 0 ? s.minTokens : 1);
  n = n < s.fill ? n : s.fill;
  n = n < s.count ? n : s.count;
  return n < 1 ? 1 : n;
}

} // namespace modelrt::cuda
