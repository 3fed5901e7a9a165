#include "runtime/sample/MaskConstraint.h"

#include <algorithm>
#include <utility>

namespace modelrt::sample {

MaskConstraint::MaskConstraint(int64_t vocab, const std::vector<int32_t> &allowed,
                               const std::vector<int32_t> &held, int64_t holdFor,
                               std::shared_ptr<TokenConstraint> inner)
    : allowed_(size_t(std::max<int64_t>(vocab, 0)), allowed.empty() ? 1 : 0), holdFor_(holdFor),
      inner_(std::move(inner)), mask_(allowed_.size()) {
  for (int32_t t : allowed)
    if (t >= 0 && t < vocab)
      allowed_[size_t(t)] = 1;
  for (int32_t t : held)
    if (t >= 0 && t < vocab)
      held_.push_back(t);
  std::sort(held_.begin(), held_.end()); // once each: the give-way restores what it saved
  held_.erase(std::unique(held_.begin(), held_.end()), held_.end());
}

const std::vector<uint8_t> &MaskConstraint::allowedTokens() {
  mask_ = allowed_;
  if (inner_) {
    // Where the allowed ids and the grammar share no token, the grammar wins: its answer
    // must still parse.
    const std::vector<uint8_t> &guided = inner_->allowedTokens();
    bool any = false;
    for (size_t i = 0; i < mask_.size(); ++i)
      any |= bool(mask_[i] = mask_[i] && i < guided.size() && guided[i]);
    if (!any)
      for (size_t i = 0; i < mask_.size(); ++i)
        mask_[i] = i < guided.size() && guided[i];
  }
  for (const std::vector<int32_t> &seq : banned_) {
    const size_t prefix = seq.size() - 1;
    if (seq.back() < 0 || size_t(seq.back()) >= mask_.size() || recent_.size() < prefix)
      continue;
    if (std::equal(seq.begin(), seq.end() - 1, recent_.end() - long(prefix)))
      mask_[size_t(seq.back())] = 0;
  }
  if (accepted_ < holdFor_) {
    std::vector<uint8_t> before;
    for (int32_t t : held_)
      before.push_back(std::exchange(mask_[size_t(t)], uint8_t(0)));
    if (std::find(mask_.begin(), mask_.end(), uint8_t(1)) == mask_.end())
      for (size_t k = 0; k < held_.size(); ++k) // nothing else may come: the hold gives way
        mask_[size_t(held_[k])] = before[k];
  }
  return mask_;
}

bool MaskConstraint::allows(int32_t token) {
  if (token < 0 || size_t(token) >= allowed_.size() || !allowed_[size_t(token)])
    return false;
  if (accepted_ < holdFor_ && std::binary_search(held_.begin(), held_.end(), token))
    return false;
  for (const std::vector<int32_t> &seq : banned_) {
    const size_t prefix = seq.size() - 1;
    if (seq.back() == token && recent_.size() >= prefix &&
        std::equal(seq.begin(), seq.end() - 1, recent_.end() - long(prefix)))
      return false;
  }
  return !inner_ || inner_->allows(token);
}

void MaskConstraint::banSequences(std::vector<std::vector<int32_t>> sequences) {
  for (std::vector<int32_t> &seq : sequences)
    if (!seq.empty()) {
      keep_ = std::max(keep_, seq.size() - 1);
      banned_.push_back(std::move(seq));
    }
}

void MaskConstraint::accept(int32_t token) {
  ++accepted_;
  if (keep_ > 0) {
    recent_.push_back(token);
    if (recent_.size() > keep_)
      recent_.erase(recent_.begin());
  }
  if (inner_)
    inner_->accept(token);
}

} // namespace modelrt::sample
