// guided_regex's compiler on arbitrary patterns (bytes before the first NUL; the rest is a
// text to match): it never crashes, hangs or over-reads, every state it builds steps to a
// state it has (or the dead one), and where the pattern keeps to syntax PCRE2 reads the same
// way (letters, digits, a few escapes and operators, no braces, no inline groups), its
// whole-text match agrees with PCRE2's (anchored at both ends, UTF mode, LF newlines) on the
// text and on each of its prefixes.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "runtime/sample/RegexConstraint.h"

#include <pcre2.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

// Characters whose meaning PCRE2 and Python's re share in a pattern (escaped: these letters
// or punctuation).
bool comparable(std::string_view p) {
  for (size_t i = 0; i < p.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (c == '\\') {
      if (++i == p.size())
        return false;
      const char e = p[i];
      if (!std::strchr("dwsDWSnrt.*+?|()[]-\\^$", e))
        return false;
      continue;
    }
    if (c >= 0x80 || std::isalnum(c) || std::strchr(" .*+?|()[]-^$,_", c))
      continue;
    return false;
  }
  // "(?" starts an extension PCRE2 and re read differently; "[^" and "[" are fine.
  return p.find("(?") == std::string_view::npos;
}

int pcre2FullMatch(pcre2_code *code, pcre2_match_data *md, pcre2_match_context *mc,
                   std::string_view text) {
  return pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                     PCRE2_ANCHORED | PCRE2_ENDANCHORED, md, mc);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view input(reinterpret_cast<const char *>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view pattern = input.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? "" : input.substr(nul + 1);
  if (pattern.size() > 256) // keep each run short; the limits are tested on their own
    return 0;
  auto compiled = modelrt::sample::Regex::compile(pattern);
  if (!compiled)
    return 0;
  const modelrt::sample::Regex &re = **compiled;
  for (int32_t s = 0; s < re.numStates(); ++s)
    for (int b = 0; b < 256; ++b) {
      const int32_t t = re.next(s, static_cast<uint8_t>(b));
      if (t < modelrt::sample::Regex::kDead || t >= re.numStates())
        std::abort();
    }
  if (!comparable(pattern))
    return 0;
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_compile_context *cc = pcre2_compile_context_create(nullptr);
  pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
  pcre2_code *code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF, &error, &offset, cc);
  pcre2_compile_context_free(cc);
  if (!code)
    return 0; // PCRE2 refuses what re accepts (rare in this subset): nothing to compare
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, nullptr);
  pcre2_match_context *mc = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(mc, 100000);
  for (size_t n = 0; n <= text.size() && n <= 64; ++n) {
    const std::string_view t = text.substr(0, n);
    const int rc = pcre2FullMatch(code, md, mc, t);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
      continue; // invalid UTF-8, or PCRE2's backtracking limit
    const bool theirs = rc >= 0, ours = re.matches(t);
    if (theirs != ours) {
      std::fprintf(stderr, "pattern '%.*s' text '%.*s': PCRE2 %d, ours %d\n",
                   static_cast<int>(pattern.size()), pattern.data(), static_cast<int>(t.size()),
                   t.data(), theirs, ours);
      std::abort();
    }
  }
  pcre2_match_context_free(mc);
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  return 0;
}
