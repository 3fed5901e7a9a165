#include "runtime/tokenize/PreTokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace modelrt {

namespace pretok {
const char *const kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char *const kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char *const kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// The o200k rules (GGUF presets gpt-4o, llama4): words also split where case changes.
const char *const kO200k =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char *const kDigit = R"(\p{N})";
// The o200k rules without contractions, every digit on its own.
const char *const kTekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char *const kDeepseekV3Digits = R"(\p{N}{1,3})";
const char *const kDeepseekV3Cjk = R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)";
const char *const kDeepseekV3 =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// DeepSeek-LLM / DeepSeek-V2: letters of cased scripts, ASCII and CJK punctuation, trailing
// spaces, CJK / Hangul runs, numbers.
const char *const kDeepseekLlmLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF})"
    R"(\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}-\x{377}\x{37B}-\x{37D}\x{37F})"
    R"(\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481})"
    R"(\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD})"
    R"(\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77})"
    R"(\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45})"
    R"(\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D})"
    R"(\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC})"
    R"(\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4})"
    R"(\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})"
    R"(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})"
    R"(\x{2145}-\x{2149}\x{214E}\x{2183}-\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
    R"(\x{2CEB}-\x{2CEE}\x{2CF2}-\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B})"
    R"(\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF})"
    R"(\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A})"
    R"(\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2})"
    R"(\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)";
const char *const kDeepseekLlmPunctuation =
    R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)";
const char *const kDeepseekLlmTrailingSpace = R"(\s+$)";
const char *const kDigits = R"(\p{N}+)";
const char *const kLineBreak = R"([\r\n])";
const char *const kDeepseekCoderLetters = R"(\s?\p{L}+)";
const char *const kDeepseekCoderPunctuation = R"(\s?\p{P}+)";
const char *const kDeepseekCjkHangul = R"([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
} // namespace pretok

struct PreTokenizer::Stage {
  pcre2_code *code = nullptr;
  ~Stage() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer &&) noexcept = default;
PreTokenizer &PreTokenizer::operator=(PreTokenizer &&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

bool PreTokenizer::empty() const { return stages_.empty(); }

Expected<PreTokenizer> PreTokenizer::create(const std::vector<std::string> &patterns) {
  PreTokenizer out;
  for (const std::string &pattern : patterns) {
    int err = 0;
    PCRE2_SIZE errOffset = 0;
    auto stage = std::make_unique<Stage>();
    stage->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                PCRE2_UTF | PCRE2_UCP, &err, &errOffset, nullptr);
    if (!stage->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      return Error(ErrorCode::InvalidFormat, "pre-tokenizer regex '" + pattern +
                                                 "': " + reinterpret_cast<const char *>(msg) +
                                                 " at offset " + std::to_string(errOffset));
    }
    pcre2_jit_compile(stage->code, PCRE2_JIT_COMPLETE); // falls back to the interpreter
    out.stages_.push_back(std::move(stage));
  }
  return out;
}

namespace {

// Bounds backtracking, so a pathological regex from a tokenizer.json cannot hang encode; the
// built-in rules never come near it.
constexpr uint32_t kMatchLimit = 1'000'000;

struct MatchData {
  pcre2_match_data *md = pcre2_match_data_create(1, nullptr);
  pcre2_match_context *ctx = pcre2_match_context_create(nullptr);
  MatchData() { pcre2_set_match_limit(ctx, kMatchLimit); }
  ~MatchData() {
    pcre2_match_data_free(md);
    pcre2_match_context_free(ctx);
  }
};

// Calls match(begin, end) for each non-empty, non-overlapping match in order; on no match
// (or the match limit) the scan ends.
template <typename F> void forEachMatch(pcre2_code *code, std::string_view text, F match) {
  thread_local MatchData data;
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    int rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, data.md, data.ctx);
    if (rc < 0)
      break;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(data.md);
    size_t b = ov[0], e = ov[1];
    if (e == b) { // an empty match: step over one character so the loop always advances
      pos = b + 1;
      while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80)
        ++pos;
      continue;
    }
    match(b, e);
    pos = e;
  }
}

void splitOne(pcre2_code *code, std::string_view text, std::vector<std::string_view> &out) {
  size_t gapStart = 0;
  forEachMatch(code, text, [&](size_t b, size_t e) {
    if (b > gapStart)
      out.push_back(text.substr(gapStart, b - gapStart));
    out.push_back(text.substr(b, e - b));
    gapStart = e;
  });
  if (gapStart < text.size())
    out.push_back(text.substr(gapStart));
}

} // namespace

void PreTokenizer::split(std::string_view text, std::vector<std::string_view> &out) const {
  if (stages_.empty()) {
    if (!text.empty())
      out.push_back(text);
    return;
  }
  std::vector<std::string_view> cur{text}, next;
  for (size_t s = 0; s < stages_.size(); ++s) {
    std::vector<std::string_view> &dst = s + 1 == stages_.size() ? out : next;
    for (std::string_view piece : cur)
      splitOne(stages_[s]->code, piece, dst);
    if (s + 1 < stages_.size()) {
      cur.swap(next);
      next.clear();
    }
  }
}

std::string PreTokenizer::replaceAll(std::string_view text, std::string_view content) const {
  if (stages_.empty())
    return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t gapStart = 0;
  forEachMatch(stages_[0]->code, text, [&](size_t b, size_t e) {
    out.append(text, gapStart, b - gapStart);
    out += content;
    gapStart = e;
  });
  out.append(text, gapStart, std::string_view::npos);
  return out;
}

} // namespace modelrt
