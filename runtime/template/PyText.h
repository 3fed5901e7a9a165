// Python `str` semantics over UTF-8 text, as chat templates see them through Jinja: lengths,
// indices and slices count code points, whitespace is what str.isspace() accepts, and case
// mapping covers Latin, Greek and Cyrillic (other scripts have no case and pass through).
// Bytes that are not well-formed UTF-8 count as one code point each and are kept as they are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelrt::tmpl::py {

// Decodes the code point at s[pos] and advances pos past it.
uint32_t decode(std::string_view s, size_t &pos);
void appendUtf8(std::string &out, uint32_t cp);
bool isAscii(std::string_view s);
size_t length(std::string_view s); // in code points
// Byte offset of code point `index` (0 <= index <= length); s.size() for index == length.
size_t byteOffset(std::string_view s, size_t index);
std::vector<std::string_view> codePoints(std::string_view s);

bool isSpace(uint32_t cp);     // str.isspace()
bool isLineBreak(uint32_t cp); // str.splitlines() boundaries
bool isCased(uint32_t cp);
bool isUpper(uint32_t cp);
bool isLower(uint32_t cp);
bool isAlpha(uint32_t cp);
bool isDigit(uint32_t cp);
uint32_t toUpper(uint32_t cp);
uint32_t toLower(uint32_t cp);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string swapcase(std::string_view s);
std::string title(std::string_view s);      // str.title()
std::string capitalize(std::string_view s); // str.capitalize()

// str.strip / lstrip / rstrip; `chars` absent strips whitespace.
std::string_view strip(std::string_view s, bool left, bool right,
                       const std::optional<std::string_view> &chars = std::nullopt);
// str.split / str.rsplit; `sep` absent splits on runs of whitespace. maxsplit < 0: no limit.
std::vector<std::string> split(std::string_view s, const std::optional<std::string_view> &sep,
                               long long maxsplit, bool fromRight);
std::vector<std::string> splitlines(std::string_view s, bool keepends);
// str.replace; count < 0 replaces all. An empty `from` inserts `to` around every code point.
std::string replace(std::string_view s, std::string_view from, std::string_view to,
                    long long count);
// str.find / rfind / count over code point positions; -1 when absent.
long long find(std::string_view s, std::string_view sub, bool fromRight);
long long count(std::string_view s, std::string_view sub);

// repr(str): quoted with ' unless the text holds ' and no ", non-printables escaped.
std::string repr(std::string_view s);
// Python float repr: shortest round-trip digits, "1e+16", "1e-05", "2.0", "inf", "nan".
std::string floatRepr(double v);

} // namespace modelrt::tmpl::py
