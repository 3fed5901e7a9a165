// The CPU executor's mixture-of-experts op (plan op "moe"): routing, each expert's
// SiLU-gated MLP over the rows that chose it, and the weighted sum.
#pragma once

#include "runtime/engine/CpuGemm.h"
#include "runtime/plan/Program.h"

#include <vector>

namespace modelrt::engine {

// One op's experts, packed at load: expert e's gate and up rows as one weight of 2I rows
// (gateUp[e]; gate then up) when both are stored alike, else gate[e] and up[e]; down[e].
struct PackedExperts {
  std::vector<PackedWeight> gateUp, gate, up, down;
  // Optional biases as f32, one row per expert (empty: none), and with gateUp each expert's
  // gate and up biases side by side (2I values; empty without biases).
  std::vector<float> gateBias, upBias, downBias;
  std::vector<std::vector<float>> gateUpBias;
  std::vector<float> scoreBias; // the routing's choice-only bias, [E] (empty: none)
};

// Packs each expert's rows of the op's weights (gate, up: I rows of D; down: D rows of I) and
// widens their biases (F32, BF16 or F16) to f32.
Expected<PackedExperts> packExperts(const plan::Op &op, GemmActivations activations);

// Scratch space reused across steps.
struct MoeScratch {
  std::vector<int32_t> experts;    // [rows, top_k]: chosen experts, in the order chosen
  std::vector<float> weights;      // [rows, top_k]: their weights
  std::vector<int64_t> offsets;    // per expert: first pair of its list
  std::vector<int64_t> pairs;      // (row * top_k + slot), grouped by expert
  std::vector<float> in, gate, up; // one expert's gathered rows and its activations
  std::vector<float> results;      // [rows * top_k, D]: each pair's expert output
};

// out[t] = sum over the top_k experts of softmax(logits[t]) (or of the sigmoid routing
// plan::MoeConfig describes) of weight * expert(x[t]), in the order chosen (score
// descending), f32 throughout. A pair's expert output is one row
// of that expert's GEMMs, whose rows never depend on one another (CpuGemm.h), so a token's result
// is the same whatever else is in the batch.
// A shared expert's rows (the op's optional third input) are added, each scaled by sigmoid of its
// row of sharedGate when that is given (row strides in floats; null: none).
struct SharedExpert {
  const float *shared = nullptr, *gate = nullptr;
  int64_t sharedStride = 0, gateStride = 0;
};
void moe(const plan::MoeConfig &config, const PackedExperts &packed, const float *x,
         int64_t xStride, const float *logits, int64_t logitsStride, int64_t rows, float *out,
         int64_t outStride, MoeScratch &scratch, const SharedExpert &shared = {});

} // namespace modelrt::engine
