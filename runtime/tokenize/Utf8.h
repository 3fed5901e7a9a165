// UTF-8 helpers for the tokenizer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace modelrt::utf8 {

// Length of the well-formed UTF-8 sequence starting at s[0] (1-4), or 0 if s does not start
// with one (bad lead byte, bad continuation, overlong, surrogate, past U+10FFFF, truncated).
size_t sequenceLength(std::string_view s);
// Offset of the first byte that is not part of well-formed UTF-8, or s.size().
size_t firstInvalid(std::string_view s);
// Length a lead byte announces (1-4), or 0 for a continuation or invalid byte.
size_t expectedLength(uint8_t lead);
void append(std::string &out, uint32_t codepoint);
// The code point of the well-formed n-byte sequence (n = sequenceLength) at s[0].
uint32_t decode(std::string_view s, size_t n);

} // namespace modelrt::utf8
