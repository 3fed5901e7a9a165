// Jinja's grammar (jinja2/parser.py) over the lexer's tokens, for the statements chat
// templates use: if/elif/else, for (with filter, else, unpacking), set (also block set and
// namespace attributes), macro, call, filter, with, break/continue and transformers'
// generation block. Parse errors name the line and column.
#pragma once

#include "runtime/template/Ast.h"
#include "runtime/template/Lexer.h"

namespace modelrt::tmpl {

// Throws Failure (InvalidFormat for bad syntax, Unsupported for Jinja features outside the
// subset, such as extends or include).
Program parseProgram(std::vector<Token> tokens);

} // namespace modelrt::tmpl
