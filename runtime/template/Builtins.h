// Jinja's built-in filters and tests, and the globals transformers adds. Each name Jinja knows
// has an entry; those outside the supported subset have no function and fail when rendered
// (a template may name them in a branch it never takes).
#pragma once

#include "runtime/template/Value.h"

#include <string_view>

namespace modelrt::tmpl {

using FilterFn = Value (*)(Interpreter &, const Value &subject, CallArgs &args);
using TestFn = bool (*)(Interpreter &, const Value &subject, CallArgs &args);

struct Builtin {
  const char *name;
  FilterFn filter = nullptr;
  TestFn test = nullptr;
};

// nullptr when Jinja has no filter / test of that name (a parse error, as in Jinja).
const Builtin *findFilter(std::string_view name);
const Builtin *findTest(std::string_view name);
// range, dict, namespace, raise_exception, strftime_now; Undefined for other names.
Value globalValue(std::string_view name);
// Python's printf-style `fmt % args` (a tuple, a dict for %(key)s, or one value).
Value percentFormat(Interpreter &in, const std::string &fmt, const Value &args);

enum class MethodLookup { None, Safe, Unsafe };
// Whether `receiver.name` is a method: Safe ones (`s.strip`, `d.items`, `loop.cycle`) can
// be called; Unsafe ones would change a list or dict, which the immutable sandbox refuses.
MethodLookup lookupMethod(const Value &receiver, std::string_view name);
// Calls a Safe method.
Value callMethod(Interpreter &in, const Value &receiver, const std::string &name, CallArgs &args);

} // namespace modelrt::tmpl
