#include "runtime/sample/Sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace modelrt::sample {

Status validate(const SamplingParams &p, int64_t vocab) {
  auto bad = [](const std::string &what) { return Error(ErrorCode::InvalidArgument, what); };
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature))
    return bad("temperature must be a finite number >= 0");
  if (p.topK < 0)
    return bad("top_k must be >= 0 (0 means no limit)");
  if (!(p.topP > 0.0f && p.topP <= 1.0f))
    return bad("top_p must be in (0, 1]");
  if (!(p.minP >= 0.0f && p.minP < 1.0f))
    return bad("min_p must be in [0, 1)");
  if (!(p.presencePenalty >= -2.0f && p.presencePenalty <= 2.0f))
    return bad("presence_penalty must be in [-2, 2]");
  if (!(p.frequencyPenalty >= -2.0f && p.frequencyPenalty <= 2.0f))
    return bad("frequency_penalty must be in [-2, 2]");
  if (!(p.repetitionPenalty > 0.0f) || !std::isfinite(p.repetitionPenalty))
    return bad("repetition_penalty must be a finite number > 0");
  for (const auto &[token, bias] : p.logitBias) {
    if (token < 0 || (vocab > 0 && token >= vocab))
      return bad("logit_bias names token " + std::to_string(token) + ", outside the vocabulary");
    if (!(bias >= -100.0f && bias <= 100.0f))
      return bad("logit_bias values must be in [-100, 100]");
  }
  return Status::success();
}

Sampler::Sampler(const SamplingParams &params, const std::vector<int32_t> &prompt)
    : params_(params), rng_(params.seed) {
  adjusts_ = params.presencePenalty != 0.0f || params.frequencyPenalty != 0.0f ||
             params.repetitionPenalty != 1.0f || !params.logitBias.empty() ||
             params.constraint != nullptr;
  if (params.repetitionPenalty != 1.0f)
    seen_.insert(prompt.begin(), prompt.end());
}

void Sampler::accept(int32_t token) {
  if (params_.constraint)
    params_.constraint->accept(token);
  if (params_.presencePenalty != 0.0f || params_.frequencyPenalty != 0.0f)
    ++generated_[token];
  if (params_.repetitionPenalty != 1.0f)
    seen_.insert(token);
}

int32_t Sampler::next(const float *logits, int64_t vocab) {
  if (!adjusts_)
    return choose(logits, vocab);
  scratch_.assign(logits, logits + vocab);
  auto inVocab = [&](int32_t t) { return t >= 0 && t < vocab; };
  for (int32_t t : seen_)
    if (inVocab(t)) {
      float &x = scratch_[size_t(t)];
      x = x > 0.0f ? x / params_.repetitionPenalty : x * params_.repetitionPenalty;
    }
  for (const auto &[t, count] : generated_)
    if (inVocab(t))
      scratch_[size_t(t)] -= params_.presencePenalty + params_.frequencyPenalty * float(count);
  for (const auto &[t, bias] : params_.logitBias)
    if (inVocab(t))
      scratch_[size_t(t)] += bias;
  if (params_.constraint) {
    // Greedy: the best token, if allowed, is the best allowed one. Sampled without filters:
    // a draw from all tokens kept where allowed, else drawn again from the allowed ones, is a
    // draw from the allowed ones (p(t) + (1 - Z) p(t) / Z = p(t) / Z, Z the allowed mass).
    if (params_.temperature == 0.0f ||
        (params_.topK == 0 && params_.topP >= 1.0f && params_.minP == 0.0f)) {
      const int32_t t = choose(scratch_.data(), vocab);
      if (t >= 0 && t < vocab && !std::isnan(scratch_[size_t(t)]) &&
          params_.constraint->allows(t))
        return t;
    }
    // Tokens the constraint rules out become NaN (never chosen); if it allows none of this
    // vocabulary (it always allows some of its own), the logits are left as they are.
    const std::vector<uint8_t> &allowed = params_.constraint->allowedTokens();
    const int64_t n = std::min<int64_t>(vocab, int64_t(allowed.size()));
    bool any = false;
    for (int64_t i = 0; i < n && !any; ++i)
      any = allowed[size_t(i)] && !std::isnan(scratch_[size_t(i)]);
    if (any)
      for (int64_t i = 0; i < vocab; ++i)
        if (i >= n || !allowed[size_t(i)])
          scratch_[size_t(i)] = NAN;
  }
  return choose(scratch_.data(), vocab);
}

TokenLogprobs logprobs(const float *logits, int64_t vocab, int32_t chosen, int topN) {
  double maxLogit = -INFINITY;
  for (int64_t i = 0; i < vocab; ++i)
    if (!std::isnan(logits[i]))
      maxLogit = std::max(maxLogit, double(logits[i]));
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i)
    if (!std::isnan(logits[i]))
      sum += std::exp(double(logits[i]) - maxLogit);
  const double logZ = maxLogit + std::log(sum);
  TokenLogprobs out;
  out.chosen = static_cast<float>(double(logits[chosen]) - logZ);
  out.rank = 1;
  for (int64_t i = 0; i < vocab; ++i)
    out.rank += !std::isnan(logits[i]) && logits[i] > logits[chosen];
  std::vector<int32_t> order;
  for (int64_t i = 0; i < vocab; ++i)
    if (!std::isnan(logits[i]))
      order.push_back(static_cast<int32_t>(i));
  size_t n = std::min<size_t>(std::max(topN, 0), order.size());
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  for (size_t i = 0; i < n; ++i)
    out.top.push_back({order[i], static_cast<float>(double(logits[order[i]]) - logZ)});
  return out;
}

int32_t Sampler::choose(const float *logits, int64_t vocab) {
  int32_t best = -1;
  for (int64_t i = 0; i < vocab; ++i)
    if (!std::isnan(logits[i]) && (best < 0 || logits[i] > logits[best]))
      best = static_cast<int32_t>(i);
  // Greedy; and where the best logit is not finite (+inf wins; all -inf: no distribution).
  if (params_.temperature == 0.0f || best < 0 || !std::isfinite(logits[best]))
    return std::max(best, 0);
  auto byLogit = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  const double maxLogit = logits[best];
  const double invT = 1.0 / double(params_.temperature);
  // Scratch per thread (requests are sampled in parallel), vocabulary-sized: not per request.
  thread_local std::vector<int32_t> order;
  thread_local std::vector<double> weights, all;
  order.clear();
  weights.clear();

  // The filters cut candidates ordered best first, with probabilities `weights`: min-p below
  // minP x the best's, top-p after the smallest prefix reaching topP. Returns the cut, or 0
  // where the candidates end before top-p's mass is reached.
  auto cutOf = [&]() -> size_t {
    double mass = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      if (params_.minP > 0.0f && weights[i] < params_.minP * weights[0])
        return i;
      mass += weights[i];
      if (mass >= params_.topP)
        return i + 1;
    }
    return 0;
  };
  size_t cut = 0;
  if (params_.topK > 0) { // only as many as top-k keeps are ordered
    for (int64_t i = 0; i < vocab; ++i)
      if (!std::isnan(logits[i]))
        order.push_back(static_cast<int32_t>(i));
    const size_t keep = std::min<size_t>(size_t(params_.topK), order.size());
    std::partial_sort(order.begin(), order.begin() + long(keep), order.end(), byLogit);
    order.resize(keep);
    double total = 0;
    for (int32_t t : order)
      total += weights.emplace_back(std::exp((logits[t] - maxLogit) * invT));
    for (double &w : weights)
      w /= total;
    cut = cutOf();
  } else {
    all.assign(size_t(vocab), 0.0);
    double total = 0;
    int64_t valid = 0; // tokens with a logit
    for (int64_t i = 0; i < vocab; ++i)
      if (!std::isnan(logits[i])) {
        total += all[size_t(i)] = std::exp((logits[i] - maxLogit) * invT);
        ++valid;
      }
    if (params_.topP >= 1.0f && params_.minP == 0.0f) {
      // No filter: a draw over all tokens in index order (the same distribution).
      double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
      int32_t last = best;
      for (int64_t i = 0; i < vocab; ++i) {
        if (std::isnan(logits[i]))
          continue;
        last = static_cast<int32_t>(i);
        u -= all[size_t(i)];
        if (u <= 0)
          return last;
      }
      return last;
    }
    // Only the heaviest tokens are ordered: those at or above a threshold that falls by 2^-8
    // until the filters cut inside them. They are a prefix of the full order (the weight
    // grows with the logit), with the same running sums, so the cut is the full sort's.
    for (double threshold = 1.0 / 256;; threshold /= 256) {
      order.clear();
      weights.clear();
      for (int64_t i = 0; i < vocab; ++i)
        if (!std::isnan(logits[i]) && all[size_t(i)] >= threshold)
          order.push_back(static_cast<int32_t>(i));
      std::sort(order.begin(), order.end(), byLogit);
      for (int32_t t : order)
        weights.push_back(all[size_t(t)] / total); // against every token, as filters read them
      cut = cutOf();
      if (cut > 0 || int64_t(order.size()) == valid || threshold < 1e-300)
        break;
    }
  }
  if (cut == 0) // every candidate is kept
    cut = order.size();
  if (cut == 0)
    return best;
  const double kept = std::accumulate(weights.begin(), weights.begin() + long(cut), 0.0);
  double u = std::uniform_real_distribution<double>(0.0, kept)(rng_);
  for (size_t i = 0; i < cut; ++i) {
    u -= weights[i];
    if (u <= 0)
      return order[i];
  }
  return order[cut - 1];
}

} // namespace modelrt::sample
