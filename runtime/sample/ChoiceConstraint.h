// Guided decoding to one of a fixed set of strings (vLLM's guided_choice): a token may come
// only if the text generated so far followed by its bytes is still a prefix of some choice,
// and an end token only once the text is exactly one of them. The answer is then one of the
// choices, token by token, whatever the tokenizer splits them into.
#pragma once

#include "runtime/sample/JsonConstraint.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace modelrt::sample {

class ChoiceConstraint : public TokenConstraint {
public:
  static constexpr size_t kMaxChoices = 64, kMaxChoiceBytes = 1024;

  // `vocab` gives each token's bytes and the end tokens; `choices`: non-empty strings.
  ChoiceConstraint(std::shared_ptr<JsonVocabulary> vocab, std::vector<std::string> choices);
  const std::vector<uint8_t> &allowedTokens() override;
  void accept(int32_t token) override;
  const std::string &text() const { return text_; }

private:
  std::shared_ptr<JsonVocabulary> vocab_;
  std::vector<std::string> choices_;
  std::string text_;                                  // generated so far
  std::map<std::string, std::vector<uint8_t>> masks_; // by text_
};

} // namespace modelrt::sample
