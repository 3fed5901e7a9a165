#include "runtime/sample/ChoiceConstraint.h"

namespace modelrt::sample {

ChoiceConstraint::ChoiceConstraint(std::shared_ptr<JsonVocabulary> vocab,
                                   std::vector<std::string> choices)
    : vocab_(std::move(vocab)), choices_(std::move(choices)) {}

const std::vector<uint8_t> &ChoiceConstraint::allowedTokens() {
  auto [it, fresh] = masks_.try_emplace(text_);
  std::vector<uint8_t> &mask = it->second;
  if (!fresh)
    return mask;
  mask.assign(vocab_->vocabSize(), 0);
  // What each choice still needs after the text so far (choices the text left are out).
  std::vector<std::string_view> rests;
  bool complete = false;
  for (const std::string &c : choices_)
    if (c.size() >= text_.size() && c.compare(0, text_.size(), text_) == 0) {
      rests.push_back(std::string_view(c).substr(text_.size()));
      complete = complete || c.size() == text_.size();
    }
  for (size_t t = 0; t < mask.size(); ++t) {
    const std::string_view bytes = vocab_->bytes(static_cast<int32_t>(t));
    if (bytes.empty())
      continue;
    for (std::string_view rest : rests)
      if (rest.size() >= bytes.size() && rest.substr(0, bytes.size()) == bytes) {
        mask[t] = 1;
        break;
      }
  }
  if (complete)
    for (int32_t end : vocab_->endTokens())
      if (end >= 0 && static_cast<size_t>(end) < mask.size())
        mask[static_cast<size_t>(end)] = 1;
  return mask;
}

void ChoiceConstraint::accept(int32_t token) { text_ += vocab_->bytes(token); }

} // namespace modelrt::sample
