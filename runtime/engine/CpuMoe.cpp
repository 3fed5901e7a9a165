#include "runtime/engine/CpuMoe.h"

#include "runtime/formats/Dequantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace modelrt::engine {

Expected<PackedExperts> packExperts(const plan::Op &op, GemmActivations activations) {
  PackedExperts packed;
  const int64_t experts = op.moe.numExperts;
  std::vector<float> *biases[] = {&packed.gateBias, &packed.upBias, &packed.downBias,
                                  &packed.scoreBias};
  const plan::WeightEntry *entries[] = {op.moe.gateBias, op.moe.upBias, op.moe.downBias,
                                        op.moe.scoreBias};
  for (int which = 0; which < 4; ++which)
    if (const plan::WeightEntry *b = entries[which]) {
      // A plan keeps 16-bit sources' matrices as they are stored: biases too.
      const std::string what = (which == 3 ? "moe score_bias " : "moe bias ") + b->name;
      if (b->dtype != DType::F32 && b->dtype != DType::BF16 && b->dtype != DType::F16)
        return Error(ErrorCode::InvalidArgument,
                     what + " is " + dtypeName(b->dtype) + ", not F32, BF16 or F16");
      uint64_t count = 1;
      for (uint64_t d : b->shape)
        count *= d;
      biases[which]->resize(count);
      if (Status s = convert(b->dtype, b->data, b->size, count, DType::F32,
                             biases[which]->data(), count * sizeof(float));
          !s)
        return s.error().withContext(what);
    }
  const plan::WeightEntry &gate = *op.weights[0], &up = *op.weights[1];
  // Gate and up of one expert in one GEMM (each output column's chain is the same as in
  // two): their rows side by side, gate's first.
  const bool fused = gate.dtype == up.dtype && gate.size == up.size;
  if (fused) {
    const int64_t n = static_cast<int64_t>(gate.shape[0]) / experts,
                  k = static_cast<int64_t>(gate.shape[1]);
    const size_t part = static_cast<size_t>(n) * (gate.size / gate.shape[0]);
    std::vector<uint8_t> rows(2 * part);
    for (int64_t e = 0; e < experts; ++e) {
      std::memcpy(rows.data(), gate.data + e * part, part);
      std::memcpy(rows.data() + part, up.data + e * part, part);
      Expected<PackedWeight> p = PackedWeight::pack(gate.dtype, rows.data(), rows.size(), 2 * n, k, activations);
      if (!p)
        return p.error().withContext("weights " + gate.name + " and " + up.name + ", expert " +
                                     std::to_string(e));
      packed.gateUp.push_back(std::move(*p));
      if (!packed.gateBias.empty() || !packed.upBias.empty()) { // zeros where one has none
        std::vector<float> bias(static_cast<size_t>(2 * n), 0.0f);
        if (!packed.gateBias.empty())
          std::copy_n(packed.gateBias.data() + e * n, n, bias.begin());
        if (!packed.upBias.empty())
          std::copy_n(packed.upBias.data() + e * n, n, bias.begin() + n);
        packed.gateUpBias.push_back(std::move(bias));
      }
    }
  }
  std::vector<PackedWeight> *lists[] = {&packed.gate, &packed.up, &packed.down};
  for (int which = fused ? 2 : 0; which < 3; ++which) {
    const plan::WeightEntry &w = *op.weights[which];
    const int64_t n = static_cast<int64_t>(w.shape[0]) / experts,
                  k = static_cast<int64_t>(w.shape[1]);
    // Rows are whole (f32, halves or GGUF blocks along k): each expert's n rows are bytes
    // [e * n * rowBytes, (e + 1) * n * rowBytes) of the entry.
    const size_t rowBytes = w.size / w.shape[0];
    for (int64_t e = 0; e < experts; ++e) {
      Expected<PackedWeight> p =
          PackedWeight::pack(w.dtype, w.data + static_cast<size_t>(e * n) * rowBytes,
                             static_cast<size_t>(n) * rowBytes, n, k, activations);
      if (!p)
        return p.error().withContext("weight " + w.name + ", expert " + std::to_string(e));
      lists[which]->push_back(std::move(*p));
    }
  }
  return packed;
}

namespace {

// The top_k experts of one row of router logits, in the order chosen, with their weights:
// softmax in f32 (as transformers computes it), the largest probabilities (ties to the
// lower expert), optionally divided by their sum. Sigmoid routing: sigmoid scores. Either
// kind chosen by score plus `scoreBias` (if any: DeepSeek-V3's sigmoid ones, ERNIE 4.5's
// softmax ones), weighted by the unbiased scores, divided by their sum plus normalizeEpsilon
// (1e-20 for sigmoid scores unless the plan says otherwise, as transformers' DeepSeek-V3-style
// routers do; LFM2-MoE's 1e-6). Either kind of score may be
// chosen within the best topGroups of numGroups groups (a group's score: its groupTop
// largest scores summed, in descending order: two for DeepSeek-V3, one for DeepSeek-V2) and
// the weights multiplied by routedScale.
void route(const float *logits, const plan::MoeConfig &c, const float *scoreBias,
           int32_t *experts, float *weights) {
  const int64_t n = c.numExperts, k = c.topK;
  float probs[4096], choice[4096];
  bool taken[4096] = {}; // chosen, or in a group left out
  // The largest of score[0, count) not yet taken, ties to the lower index; marks it taken.
  auto takeBest = [](const float *score, bool *done, int64_t count) {
    int64_t best = -1;
    for (int64_t i = 0; i < count; ++i)
      if (!done[i] && (best < 0 || score[i] > score[best]))
        best = i;
    done[best] = true;
    return best;
  };
  if (c.sigmoidScores) {
    for (int64_t e = 0; e < n; ++e) {
      probs[e] = 1.0f / (1.0f + std::exp(-logits[e]));
      choice[e] = scoreBias ? probs[e] + scoreBias[e] : probs[e];
    }
  } else {
    float max = logits[0];
    for (int64_t e = 1; e < n; ++e)
      max = std::max(max, logits[e]);
    float sum = 0.0f;
    for (int64_t e = 0; e < n; ++e) {
      probs[e] = std::exp(logits[e] - max);
      sum += probs[e];
    }
    for (int64_t e = 0; e < n; ++e) {
      probs[e] /= sum;
      choice[e] = scoreBias ? probs[e] + scoreBias[e] : probs[e];
    }
  }
  if (const int64_t groups = c.numGroups; groups > 1) {
    const int64_t per = n / groups;
    float score[4096];
    bool kept[4096] = {}, used[4096] = {};
    for (int64_t g = 0; g < groups; ++g) {
      float sum = 0.0f;
      for (int64_t j = 0; j < c.groupTop; ++j)
        sum += choice[g * per + takeBest(choice + g * per, used + g * per, per)];
      score[g] = sum;
    }
    for (int64_t j = 0; j < c.topGroups; ++j)
      takeBest(score, kept, groups);
    for (int64_t e = 0; e < n; ++e)
      taken[e] = !kept[e / per];
  }
  // Selection in descending score (torch.topk's order, which the renormalizing sum follows).
  for (int64_t j = 0; j < k; ++j) {
    const int64_t best = takeBest(choice, taken, n);
    experts[j] = static_cast<int32_t>(best);
    weights[j] = probs[best];
  }
  if (c.normalizeTopK) {
    float total = 0.0f;
    for (int64_t j = 0; j < k; ++j)
      total += weights[j];
    total += static_cast<float>(c.normalizeEpsilon);
    for (int64_t j = 0; j < k; ++j)
      weights[j] /= total;
  }
  if (c.routedScale != 1.0)
    for (int64_t j = 0; j < k; ++j)
      weights[j] *= static_cast<float>(c.routedScale);
}

} // namespace

void moe(const plan::MoeConfig &c, const PackedExperts &packed, const float *x, int64_t xStride,
         const float *logits, int64_t logitsStride, int64_t rows, float *out, int64_t outStride,
         MoeScratch &s, const SharedExpert &shared) {
  const int64_t k = c.topK, n = c.numExperts, inter = c.intermediate,
                d = packed.down.empty() ? 0 : packed.down[0].n();
  s.experts.resize(static_cast<size_t>(rows * k));
  s.weights.resize(static_cast<size_t>(rows * k));
  for (int64_t t = 0; t < rows; ++t)
    route(logits + t * logitsStride, c, packed.scoreBias.empty() ? nullptr : packed.scoreBias.data(),
          s.experts.data() + t * k, s.weights.data() + t * k);

  // Pairs grouped by expert (a counting sort, pairs in row order within an expert).
  s.offsets.assign(static_cast<size_t>(n + 1), 0);
  for (int32_t e : s.experts)
    ++s.offsets[e + 1];
  for (int64_t e = 0; e < n; ++e)
    s.offsets[e + 1] += s.offsets[e];
  s.pairs.resize(static_cast<size_t>(rows * k));
  {
    std::vector<int64_t> next(s.offsets.begin(), s.offsets.end() - 1);
    for (int64_t p = 0; p < rows * k; ++p)
      s.pairs[next[s.experts[p]]++] = p;
  }

  s.results.resize(static_cast<size_t>(rows * k * d));
  for (int64_t e = 0; e < n; ++e) {
    const int64_t first = s.offsets[e], count = s.offsets[e + 1] - first;
    if (count == 0)
      continue;
    s.in.resize(static_cast<size_t>(count * d));
    s.gate.resize(static_cast<size_t>(count * 2 * inter));
    s.up.resize(static_cast<size_t>(count * inter));
    for (int64_t i = 0; i < count; ++i) {
      const int64_t pair = s.pairs[first + i];
      float *row = s.in.data() + i * d;
      std::memcpy(row, x + (pair / k) * xStride, d * sizeof(float));
      if (c.scaleInputs) // the expert sees its input row times its weight
        for (int64_t col = 0; col < d; ++col)
          row[col] *= s.weights[pair];
    }
    // gate (row i at g + i * gStride) and up (at u + i * gStride) of each pair's row, then
    // the SiLU gate into s.up, row i at i * inter.
    const float *g = s.gate.data(), *u;
    int64_t gStride;
    auto row = [](const std::vector<float> &bias, int64_t e, int64_t width) {
      return bias.empty() ? nullptr : bias.data() + e * width;
    };
    if (!packed.gateUp.empty()) {
      gemm(s.in.data(), d, count, packed.gateUp[e],
           packed.gateUpBias.empty() ? nullptr : packed.gateUpBias[e].data(), s.gate.data(),
           2 * inter);
      u = g + inter;
      gStride = 2 * inter;
    } else {
      gemm(s.in.data(), d, count, packed.gate[e], row(packed.gateBias, e, inter), s.gate.data(),
           inter);
      gemm(s.in.data(), d, count, packed.up[e], row(packed.upBias, e, inter),
           s.gate.data() + count * inter, inter);
      u = g + count * inter;
      gStride = inter;
    }
    float *act = s.up.data();
    const float limit = static_cast<float>(c.swigluLimit), alpha = static_cast<float>(c.swigluAlpha);
#pragma omp parallel for schedule(static) if (count * inter >= (1 << 16))
    for (int64_t i = 0; i < count; ++i)
      for (int64_t col = 0; col < inter; ++col) {
        const float gv = g[i * gStride + col], uv = u[i * gStride + col];
        if (limit > 0.0f) { // the clamped SwiGLU: (clamp(u) + 1) * g * sigmoid(alpha * g)
          const float gc = std::min(gv, limit), uc = std::clamp(uv, -limit, limit);
          act[i * inter + col] = (uc + 1.0f) * (gc * (1.0f / (1.0f + std::exp(-(gc * alpha)))));
        } else {
          act[i * inter + col] = gv / (1.0f + std::exp(-gv)) * uv;
        }
      }
    // The down projection lands in s.in's place, then goes to each pair's row.
    gemm(act, inter, count, packed.down[e], row(packed.downBias, e, d), s.in.data(), d);
    for (int64_t i = 0; i < count; ++i)
      std::memcpy(s.results.data() + s.pairs[first + i] * d, s.in.data() + i * d,
                  d * sizeof(float));
  }

  for (int64_t t = 0; t < rows; ++t) {
    float *o = out + t * outStride;
    std::fill_n(o, d, 0.0f);
    for (int64_t j = 0; j < k; ++j) {
      const float w = c.scaleInputs ? 1.0f : s.weights[t * k + j];
      const float *y = s.results.data() + (t * k + j) * d;
      for (int64_t col = 0; col < d; ++col) {
        const float term = w * y[col];
        o[col] += term;
      }
    }
    if (shared.shared) {
      const float *sh = shared.shared + t * shared.sharedStride;
      const float scale =
          shared.gate ? 1.0f / (1.0f + std::exp(-shared.gate[t * shared.gateStride])) : 1.0f;
      for (int64_t col = 0; col < d; ++col) {
        const float term = scale * sh[col];
        o[col] += term;
      }
    }
  }
}

} // namespace modelrt::engine
