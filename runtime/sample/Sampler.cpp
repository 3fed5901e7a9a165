#include "runtime/sample/Sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

namespace modelrt::sample {

namespace {

// out[i] = exp((logits[i] - shift) * scale) for i < n, 0 for NaN logits, where every
// exponent is <= 0 (shift is the largest logit); returns their sum, taken in four fixed
// interleaved partial sums (the same order on every machine). exp is 2^m e^r with
// |r| <= ln2 / 2 and e^r a degree-12 Taylor polynomial (relative error below 1e-15), with no
// library call, so the loop vectorizes (two lanes, or four with AVX2).
__attribute__((always_inline)) inline double expRowBody(const float *logits, int64_t n,
                                                        double shift, double scale, double *out) {
  constexpr double kLog2e = 1.4426950408889634, kLn2Hi = 0.6931471803691238,
                   kLn2Lo = 1.9082149292705877e-10, kRound = 0x1.8p52;
  for (int64_t i = 0; i < n; ++i) {
    const float l = logits[i];
    double x = (double(l) - shift) * scale;
    const bool keep = (l == l) & (x > -708.0); // NaN: 0; below e^-708: 0
    x = keep ? x : 0.0;
    const double t = x * kLog2e + kRound;
    const double m = t - kRound; // round(x / ln2)
    const double r = (x - m * kLn2Hi) - m * kLn2Lo;
    double p = 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t tb;
    std::memcpy(&tb, &t, sizeof tb);
    const uint64_t bits = ((tb - 0x4338000000000000ull) + 1023) << 52; // 2^m
    double pow2;
    std::memcpy(&pow2, &bits, sizeof bits);
    out[i] = keep ? p * pow2 : 0.0;
  }
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += out[i];
    s1 += out[i + 1];
    s2 += out[i + 2];
    s3 += out[i + 3];
  }
  for (; i < n; ++i)
    s0 += out[i];
  return (s0 + s1) + (s2 + s3);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) double expRowAvx2(const float *logits, int64_t n,
                                                       double shift, double scale, double *out) {
  return expRowBody(logits, n, shift, scale, out);
}
#endif

double expRowDefault(const float *logits, int64_t n, double shift, double scale, double *out) {
  return expRowBody(logits, n, shift, scale, out);
}

} // namespace

double expWeights(const float *logits, int64_t n, double shift, double scale, double *out) {
  thread_local std::vector<double> scratch;
  if (!out) {
    scratch.resize(size_t(n));
    out = scratch.data();
  }
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2)
    return expRowAvx2(logits, n, shift, scale, out);
#endif
  return expRowDefault(logits, n, shift, scale, out);
}

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
  const double sum = expWeights(logits, vocab, maxLogit, 1.0, nullptr);
  const double logZ = maxLogit + std::log(sum);
  TokenLogprobs out;
  out.chosen = static_cast<float>(double(logits[chosen]) - logZ);
  out.rank = 1;
  for (int64_t i = 0; i < vocab; ++i)
    out.rank += logits[i] > logits[chosen]; // (false for NaN)
  // The topN most likely in one pass: kept best first (ties by id); a token enters only if it
  // beats the last kept.
  const size_t n = size_t(std::max(topN, 0));
  if (n == 0)
    return out;
  auto better = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::vector<int32_t> top;
  top.reserve(n + 1);
  for (int64_t i = 0; i < vocab; ++i) {
    const int32_t t = static_cast<int32_t>(i);
    if (std::isnan(logits[i]) || (top.size() == n && !better(t, top.back())))
      continue;
    top.insert(std::upper_bound(top.begin(), top.end(), t, better), t);
    if (top.size() > n)
      top.pop_back();
  }
  for (int32_t t : top)
    out.top.push_back({t, static_cast<float>(double(logits[t]) - logZ)});
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
    all.resize(size_t(vocab));
    const double total = expWeights(logits, vocab, maxLogit, invT, all.data());
    int64_t valid = 0; // tokens with a logit
    for (int64_t i = 0; i < vocab; ++i)
      valid += !std::isnan(logits[i]);
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
