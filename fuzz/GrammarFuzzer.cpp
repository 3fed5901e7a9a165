// guided_grammar's compiler and recognizer on arbitrary GBNF (bytes before the first NUL; the
// rest is a text to feed): it never crashes, hangs or over-reads; whole-text matching agrees
// with stepping the recognizer byte by byte; and the constraint's cheap check agrees with its
// mask on every token of a small vocabulary (the text's own pieces, ASCII bytes, an end
// token) at every step along the text (the sampler relies on allows() never allowing what the
// mask refuses).
#include "runtime/sample/GrammarConstraint.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace modelrt::sample;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view input(reinterpret_cast<const char *>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view text = input.substr(0, nul);
  const std::string_view feed = nul == std::string_view::npos ? "" : input.substr(nul + 1, 64);
  if (text.size() > 512) // keep each run short; the limits are tested on their own
    return 0;
  auto compiled = Grammar::compile(text);
  if (!compiled)
    return 0;
  std::shared_ptr<const Grammar> g = *compiled;

  GrammarMatcher m(g);
  int32_t s = m.start();
  for (size_t i = 0; i < feed.size() && s != GrammarMatcher::kDead; ++i) {
    s = m.next(s, static_cast<uint8_t>(feed[i]));
    if (s < GrammarMatcher::kDead || s >= int32_t(m.numStates()))
      std::abort();
  }
  const bool stepped = s != GrammarMatcher::kDead && m.accepting(s);
  if (stepped != g->matches(feed)) {
    std::fprintf(stderr, "matches() and stepping disagree\n");
    std::abort();
  }

  std::vector<std::string> vocab;
  for (size_t i = 0; i < feed.size(); i += 1 + i % 3)
    vocab.push_back(std::string(feed.substr(i, 1 + i % 3)));
  for (int c = 0; c < 128; ++c)
    vocab.push_back(std::string(1, char(c)));
  vocab.push_back(""); // the end token
  const int32_t end = int32_t(vocab.size() - 1);
  auto shared = std::make_shared<JsonVocabulary>(vocab, std::vector<int32_t>{end});
  GrammarConstraint c(shared, g);
  for (size_t i = 0; i <= feed.size(); ++i) {
    const std::vector<uint8_t> mask = c.allowedTokens();
    for (int32_t t = 0; t <= end; ++t)
      if (c.allows(t) && !mask[size_t(t)]) {
        std::fprintf(stderr, "token %d allowed by allows() but not the mask\n", t);
        std::abort();
      }
    if (i == feed.size() || c.dead())
      break;
    c.accept(int32_t(vocab.size() - 1 - 128 + static_cast<uint8_t>(feed[i]) % 128));
  }
  return 0;
}
