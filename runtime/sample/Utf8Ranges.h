// Code-point sets as UTF-8 byte automata, shared by the guided-decoding recognizers that work
// on bytes (regular expressions, grammars): a class of code points becomes byte-range
// sequences, each byte within its range.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace modelrt::sample::utf8 {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>; // code points, inclusive

// Sorted, merged, without the surrogates (which UTF-8 cannot carry).
Ranges normalized(Ranges r);
// Every code point (no surrogates) not in `r`.
Ranges complement(const Ranges &r);

inline int length(uint32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }
// Writes length(c) bytes.
void encode(uint32_t c, uint8_t out[4]);
// Appends c's bytes.
void append(uint32_t c, std::string &out);
// The code point at text[pos] (advancing pos past it), or -1 where the bytes there are not
// valid UTF-8 (overlong forms, surrogates and values past U+10FFFF included).
int32_t decode(std::string_view text, size_t &pos);

// `count` hexadecimal digits at text[pos] (advancing pos past them) as a code point: -1 where
// there are fewer digits, -2 where the value is no Unicode scalar value (a surrogate or past
// U+10FFFF). Escapes \xHH, \uHHHH and \UHHHHHHHH read this way.
int32_t hexScalar(std::string_view text, size_t &pos, int count);

// A code point range as byte-range sequences: every code point in [lo, hi] (no surrogates) is
// the bytes of exactly one sequence, each byte within its range.
using ByteSeq = std::vector<std::pair<uint8_t, uint8_t>>;
void sequences(uint32_t lo, uint32_t hi, std::vector<ByteSeq> &out);

} // namespace modelrt::sample::utf8
