// Splits a template into text and tag tokens the way Jinja's lexer does under the
// Hugging Face settings: trim_blocks and lstrip_blocks on, `-`/`+` whitespace control on every
// tag, newlines normalized to \n, one trailing newline dropped, {% raw %} kept verbatim.
#pragma once

#include "runtime/template/Value.h"

#include <cstdint>
#include <string>
#include <vector>

namespace modelrt::tmpl {

enum class Tok : uint8_t {
  Text,
  VarBegin,
  VarEnd,
  BlockBegin,
  BlockEnd,
  Name,
  String,
  Integer,
  Float,
  Op, // text holds the operator: "+", "//", "==", "(", ...
  Eof,
};

struct Token {
  Tok kind;
  std::string text; // Text data, Name, String (unescaped), Op spelling
  int64_t integer = 0;
  double real = 0;
  uint32_t line = 1;
  uint32_t column = 1;
};

// Returns the tokens, ending with Eof; throws Failure (InvalidFormat) on a lexical error.
// `source` is the template after newline normalization (see normalizeSource).
std::vector<Token> tokenize(const std::string &source);
std::string normalizeSource(const std::string &raw);

} // namespace modelrt::tmpl
