#include "runtime/template/Builtins.h"
#include "runtime/template/Interpreter.h"
#include "runtime/template/PyText.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string_view>

namespace modelrt::tmpl {

namespace {

// --- argument binding ---------------------------------------------------------------------

// Binds positional and keyword arguments to named parameters, as a Python signature does.
class Params {
public:
  Params(Interpreter &in, const char *fn, CallArgs &args, std::vector<const char *> names,
         bool extraPositional = false)
      : values_(names.size()), given_(names.size(), false) {
    size_t n = std::min(args.positional.size(), names.size());
    for (size_t k = 0; k < n; ++k) {
      values_[k] = args.positional[k];
      given_[k] = true;
    }
    if (args.positional.size() > names.size()) {
      if (!extraPositional)
        in.typeError(std::string(fn) + "() takes at most " + std::to_string(names.size()) +
                     " argument(s) (" + std::to_string(args.positional.size()) + " given)");
      rest_.assign(args.positional.begin() + static_cast<long>(names.size()),
                   args.positional.end());
    }
    for (auto &kw : args.keyword) {
      const std::string &key = kw.first;
      auto it = std::find_if(names.begin(), names.end(), [&](const char *p) { return key == p; });
      if (it == names.end())
        in.typeError(std::string(fn) + "() got an unexpected keyword argument '" + key + "'");
      size_t k = static_cast<size_t>(it - names.begin());
      if (given_[k])
        in.typeError(std::string(fn) + "() got multiple values for argument '" + key + "'");
      values_[k] = kw.second;
      given_[k] = true;
    }
  }

  bool has(size_t k) const { return given_[k]; }
  bool hasValue(size_t k) const { return given_[k] && !values_[k].is(Kind::None); }
  const Value &operator[](size_t k) const { return values_[k]; }
  Value get(size_t k, Value dflt) const { return given_[k] ? values_[k] : std::move(dflt); }
  bool flag(size_t k, bool dflt) const { return given_[k] ? values_[k].truthy() : dflt; }
  const std::vector<Value> &rest() const { return rest_; }

private:
  std::vector<Value> values_;
  std::vector<bool> given_;
  std::vector<Value> rest_;
};

int64_t intArg(Interpreter &in, const Value &v, const char *what) {
  if (!v.isIntegral())
    in.typeError(std::string("'") + v.typeName() +
                 "' object cannot be interpreted as an integer (" + what + ")");
  return v.asInt();
}

const std::string &strArg(Interpreter &in, const Value &v, const char *what) {
  if (!v.is(Kind::String))
    in.typeError(std::string(what) + " must be str, not " + v.typeName());
  return v.str();
}

std::optional<std::string_view> optStrArg(Interpreter &in, const Params &p, size_t k,
                                          const char *what) {
  if (!p.hasValue(k))
    return std::nullopt;
  return std::string_view(strArg(in, p[k], what));
}

Value strList(std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto &s : parts)
    items.push_back(Value::string(std::move(s)));
  return Value::list(std::move(items));
}

size_t lengthOf(Interpreter &in, const Value &v) {
  switch (v.kind()) {
  case Kind::String:
    return py::length(v.str());
  case Kind::List:
    return v.listData().items.size();
  case Kind::Dict:
    return v.dictData().items.size();
  case Kind::Undefined:
    return 0;
  default:
    in.typeError(std::string("object of type '") + v.typeName() + "' has no len()");
  }
}

// ignore_case: strings compare lowercased unless case_sensitive.
Value foldCase(const Value &v, bool caseSensitive) {
  return !caseSensitive && v.is(Kind::String) ? Value::string(py::lower(v.str())) : v;
}

// make_attrgetter: "a.b.0" looks up item by item (numeric parts as integers).
Value getPath(Interpreter &in, Value item, const Value &attribute, const Value *dflt) {
  std::vector<Value> parts;
  if (attribute.is(Kind::String)) {
    for (const auto &part : py::split(attribute.str(), std::string_view("."), -1, false)) {
      bool digits = !part.empty() && std::all_of(part.begin(), part.end(),
                                                 [](char c) { return c >= '0' && c <= '9'; });
      parts.push_back(digits ? Value::integer(std::strtoll(part.c_str(), nullptr, 10))
                             : Value::string(part));
    }
  } else if (!attribute.is(Kind::None)) {
    parts.push_back(attribute);
  }
  for (const auto &part : parts) {
    item = in.getItem(item, part);
    if (dflt && item.isUndefined())
      item = *dflt;
  }
  return item;
}

bool lessOrFail(Interpreter &in, const Value &a, const Value &b) {
  bool less = false;
  if (!lessThan(a, b, less))
    in.typeError(std::string("'<' not supported between instances of '") + a.typeName() +
                 "' and '" + b.typeName() + "'");
  return less;
}

// sorted(items, key=keys) that is stable and, like Python, compares only with <.
std::vector<Value> sortByKeys(Interpreter &in, std::vector<Value> items, std::vector<Value> keys,
                              bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t k = 0; k < order.size(); ++k)
    order[k] = k;
  in.charge(items.size() * 4);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return reverse ? lessOrFail(in, keys[y], keys[x]) : lessOrFail(in, keys[x], keys[y]);
  });
  std::vector<Value> out;
  out.reserve(items.size());
  for (size_t k : order)
    out.push_back(std::move(items[k]));
  return out;
}

// Python's float(str): surrounding whitespace, underscores between digits, inf/nan.
bool parsePyFloat(std::string_view text, double &out) {
  std::string s(py::strip(text, true, true));
  std::string clean;
  for (size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '_') {
      bool between = k > 0 && k + 1 < s.size() &&
                     std::isdigit(static_cast<unsigned char>(s[k - 1])) &&
                     std::isdigit(static_cast<unsigned char>(s[k + 1]));
      if (!between)
        return false;
      continue;
    }
    clean += s[k];
  }
  if (clean.empty())
    return false;
  std::string lowered = py::lower(clean);
  size_t signLen = (lowered[0] == '+' || lowered[0] == '-') ? 1 : 0;
  std::string body = lowered.substr(signLen);
  if (body == "inf" || body == "infinity" || body == "nan") {
    double v = body == "nan" ? NAN : INFINITY;
    out = lowered[0] == '-' ? -v : v;
    return true;
  }
  if (body.find('x') != std::string::npos || body.find('p') != std::string::npos)
    return false; // no hex floats in Python's float()
  char *end = nullptr;
  errno = 0;
  out = std::strtod(clean.c_str(), &end);
  return end == clean.c_str() + clean.size();
}

// Python's int(str, base) for base 10 (and 0 with prefixes).
bool parsePyInt(std::string_view text, int base, int64_t &out) {
  std::string s(py::strip(text, true, true));
  std::string clean;
  size_t k = 0;
  if (!s.empty() && (s[0] == '+' || s[0] == '-'))
    clean += s[k++];
  if (base == 0 || base == 16 || base == 8 || base == 2) {
    if (k + 1 < s.size() && s[k] == '0') {
      char p = static_cast<char>(s[k + 1] | 0x20);
      int prefixBase = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
      if (prefixBase && (base == 0 || base == prefixBase)) {
        base = prefixBase;
        k += 2;
        if (k < s.size() && s[k] == '_')
          ++k;
      }
    }
    if (base == 0)
      base = 10;
  }
  bool lastDigit = false;
  for (; k < s.size(); ++k) {
    if (s[k] == '_') {
      if (!lastDigit)
        return false;
      lastDigit = false;
      continue;
    }
    clean += s[k];
    lastDigit = true;
  }
  if (!lastDigit)
    return false;
  char *end = nullptr;
  errno = 0;
  out = std::strtoll(clean.c_str(), &end, base);
  return errno == 0 && end == clean.c_str() + clean.size();
}

// --- printf-style formatting ---------------------------------------------------------------

std::string padTo(std::string text, int64_t width, bool left, char fill = ' ') {
  int64_t n = static_cast<int64_t>(py::length(text));
  if (width <= n)
    return text;
  std::string pad(static_cast<size_t>(width - n), fill);
  return left ? text + pad : pad + text;
}

} // namespace

// Python's `format % args` (printf-style): %s %r %a %d %i %u %x %X %o %f %F %e %E %g %G %c %%,
// with (key), flags, width, precision and `*`.
Value percentFormat(Interpreter &in, const std::string &fmt, const Value &args) {
  std::vector<Value> positional;
  const Value *mapping = nullptr;
  bool single = !(args.is(Kind::List) && args.listData().tuple);
  if (single)
    positional.push_back(args);
  else
    positional = args.listData().items;
  if (args.is(Kind::Dict))
    mapping = &args;
  // Python skips the "not all arguments converted" check for anything with __getitem__.
  bool mappingLike = single && (args.is(Kind::Dict) || args.is(Kind::List) || args.isUndefined());
  size_t next = 0;
  auto nextArg = [&]() -> const Value & {
    if (next >= positional.size())
      in.typeError("not enough arguments for format string");
    return positional[next++];
  };
  std::string out;
  for (size_t k = 0; k < fmt.size(); ++k) {
    if (fmt[k] != '%') {
      out += fmt[k];
      continue;
    }
    ++k;
    auto incomplete = [&]() { in.fail(ErrorCode::InvalidArgument, "incomplete format"); };
    if (k >= fmt.size())
      incomplete();
    const Value *value = nullptr;
    Value keyed;
    if (fmt[k] == '(') {
      if (!mapping)
        in.typeError("format requires a mapping");
      int depth = 1;
      size_t keyStart = ++k;
      while (k < fmt.size() && depth > 0) {
        depth += fmt[k] == '(' ? 1 : fmt[k] == ')' ? -1 : 0;
        ++k;
      }
      if (depth > 0)
        in.fail(ErrorCode::InvalidArgument, "incomplete format key");
      std::string key = fmt.substr(keyStart, k - keyStart - 1);
      const Value *found = mapping->dictData().find(key);
      if (!found)
        in.fail(ErrorCode::InvalidArgument, "KeyError: " + py::repr(key));
      keyed = *found;
      value = &keyed;
    }
    bool left = false, plus = false, space = false, zero = false, alt = false;
    for (; k < fmt.size(); ++k) {
      char c = fmt[k];
      if (c == '-')
        left = true;
      else if (c == '+')
        plus = true;
      else if (c == ' ')
        space = true;
      else if (c == '0')
        zero = true;
      else if (c == '#')
        alt = true;
      else
        break;
    }
    auto number = [&](int64_t &into) {
      if (k < fmt.size() && fmt[k] == '*') {
        ++k;
        into = intArg(in, nextArg(), "* wants int");
        return true;
      }
      bool any = false;
      for (into = 0; k < fmt.size() && fmt[k] >= '0' && fmt[k] <= '9'; ++k, any = true)
        into = std::min<int64_t>(into * 10 + (fmt[k] - '0'), 1 << 24);
      return any;
    };
    int64_t width = 0, precision = -1;
    number(width);
    if (width < 0) {
      left = true;
      width = -width;
    }
    if (k < fmt.size() && fmt[k] == '.') {
      ++k;
      if (!number(precision))
        precision = 0;
    }
    while (k < fmt.size() && (fmt[k] == 'h' || fmt[k] == 'l' || fmt[k] == 'L'))
      ++k;
    if (k >= fmt.size())
      incomplete();
    char conv = fmt[k];
    if (conv == '%') {
      out += '%';
      continue;
    }
    in.checkSize(static_cast<size_t>(width));
    if (!value)
      value = &nextArg();
    const Value &v = *value;
    std::string text;
    switch (conv) {
    case 's':
    case 'r':
    case 'a': {
      if (conv == 's')
        appendStr(text, v);
      else
        appendRepr(text, v);
      if (precision >= 0 && static_cast<size_t>(precision) < py::length(text))
        text = text.substr(0, py::byteOffset(text, static_cast<size_t>(precision)));
      out += padTo(std::move(text), width, left);
      continue;
    }
    case 'c': {
      if (v.is(Kind::String) && py::length(v.str()) == 1)
        text = v.str();
      else if (v.isIntegral() && v.asInt() >= 0 && v.asInt() <= 0x10FFFF)
        py::appendUtf8(text, static_cast<uint32_t>(v.asInt()));
      else
        in.typeError("%c requires int or char");
      out += padTo(std::move(text), width, left);
      continue;
    }
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
      bool decimal = conv == 'd' || conv == 'i' || conv == 'u';
      int64_t i;
      if (v.isIntegral())
        i = v.asInt();
      else if (decimal && v.is(Kind::Float) && std::isfinite(v.asFloat()) &&
               std::fabs(v.asFloat()) < 9.2e18)
        i = static_cast<int64_t>(std::trunc(v.asFloat()));
      else
        in.typeError(
            std::string("%") + conv + " format: " +
            (decimal ? "a real number is required, not " : "an integer is required, not ") +
            v.typeName());
      uint64_t magnitude = i < 0 ? 0 - static_cast<uint64_t>(i) : static_cast<uint64_t>(i);
      unsigned base = decimal ? 10 : conv == 'o' ? 8 : 16;
      const char *digitChars = conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
      std::string digits;
      do {
        digits.insert(digits.begin(), digitChars[magnitude % base]);
        magnitude /= base;
      } while (magnitude);
      if (precision > static_cast<int64_t>(digits.size()))
        digits.insert(0, static_cast<size_t>(precision) - digits.size(), '0');
      std::string prefix = i < 0 ? "-" : plus ? "+" : space ? " " : "";
      if (alt && !decimal)
        prefix += conv == 'o' ? "0o" : conv == 'x' ? "0x" : "0X";
      if (zero && !left && static_cast<int64_t>(prefix.size() + digits.size()) < width)
        digits.insert(0, static_cast<size_t>(width) - prefix.size() - digits.size(), '0');
      out += padTo(prefix + digits, width, left);
      continue;
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G': {
      if (!v.isNumber())
        in.typeError(std::string("must be real number, not ") + v.typeName());
      std::string spec = "%";
      if (left)
        spec += '-';
      if (plus)
        spec += '+';
      if (space)
        spec += ' ';
      if (zero)
        spec += '0';
      if (alt)
        spec += '#';
      spec += std::to_string(width) + "." +
              std::to_string(precision < 0 ? 6 : std::min<int64_t>(precision, 300)) + conv;
      std::vector<char> buf(static_cast<size_t>(width) + 400);
      std::snprintf(buf.data(), buf.size(), spec.c_str(), v.asFloat());
      out += buf.data();
      continue;
    }
    default: {
      char hex[8];
      std::snprintf(hex, sizeof hex, "%x", static_cast<unsigned>(static_cast<uint8_t>(conv)));
      in.fail(ErrorCode::InvalidArgument, std::string("unsupported format character '") + conv +
                                              "' (0x" + hex + ") at index " + std::to_string(k));
    }
    }
  }
  if (next < positional.size() && !mappingLike)
    in.typeError("not all arguments converted during string formatting");
  in.checkSize(out.size());
  return Value::string(std::move(out));
}

namespace {

// --- filters ------------------------------------------------------------------------------

Value fAbs(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "abs", args, {});
  if (v.is(Kind::Float))
    return Value::real(std::fabs(v.asFloat()));
  if (v.isIntegral()) {
    if (v.asInt() == INT64_MIN)
      in.fail(ErrorCode::Unsupported, "integer overflow");
    return Value::integer(std::llabs(v.asInt()));
  }
  in.typeError(std::string("bad operand type for abs(): '") + v.typeName() + "'");
}

Value fAttr(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "attr", args, {"name"});
  const std::string &name = strArg(in, p[0], "attribute name");
  // Attribute access only (no item fallback): only methods are found this way.
  if (lookupMethod(v, name) != MethodLookup::None || v.is(Kind::Namespace) || v.is(Kind::Loop))
    return in.getAttr(v, name);
  return Value::undefined(std::string("'") + v.typeName() + " object' has no attribute '" + name +
                          "'");
}

Value fCapitalize(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "capitalize", args, {});
  return Value::string(py::capitalize(toStr(v)));
}

Value fLength(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "length", args, {});
  return Value::integer(static_cast<int64_t>(lengthOf(in, v)));
}

Value fDefault(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "default", args, {"default_value", "boolean"});
  bool boolean = p.flag(1, false);
  if (v.isUndefined() || (boolean && !v.truthy()))
    return p.get(0, Value::string(""));
  return v;
}

Value fDictsort(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "dictsort", args, {"case_sensitive", "by", "reverse"});
  if (!v.is(Kind::Dict))
    in.typeError(std::string("'") + v.typeName() + "' object has no attribute 'items'");
  bool caseSensitive = p.flag(0, false);
  std::string by = p.has(1) ? toStr(p[1]) : "key";
  if (by != "key" && by != "value")
    in.typeError("You can only sort by either \"key\" or \"value\"");
  std::vector<Value> items, keys;
  for (const auto &[key, value] : v.dictData().items) {
    items.push_back(Value::list({Value::string(key), value}, true));
    keys.push_back(foldCase(by == "key" ? Value::string(key) : value, caseSensitive));
  }
  return Value::list(sortByKeys(in, std::move(items), std::move(keys), p.flag(2, false)));
}

Value fEscape(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "escape", args, {});
  std::string out;
  for (char c : toStr(v)) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&#34;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      out += c;
    }
  }
  return Value::string(std::move(out));
}

Value fFirst(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "first", args, {});
  if (v.is(Kind::List))
    return v.listData().items.empty() ? Value::undefined("No first item, sequence was empty.")
                                      : v.listData().items.front();
  std::vector<Value> items = in.iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value fLast(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "last", args, {});
  if (v.isUndefined())
    return Value::undefined("No last item, sequence was empty.");
  std::vector<Value> items = v.is(Kind::List) ? v.listData().items : in.iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value fFloat(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "float", args, {"default"});
  if (v.isUndefined())
    in.undefinedError(v); // float(Undefined) raises, which the filter does not catch
  double d;
  if (v.isNumber())
    return Value::real(v.asFloat());
  if (v.is(Kind::String) && parsePyFloat(v.str(), d))
    return Value::real(d);
  return p.get(0, Value::real(0.0));
}

Value fFormat(Interpreter &in, const Value &v, CallArgs &args) {
  if (!args.positional.empty() && !args.keyword.empty())
    in.typeError("can't handle positional and keyword arguments at the same time");
  if (!args.keyword.empty()) {
    auto d = std::make_shared<DictData>();
    for (auto &[k, value] : args.keyword)
      d->set(k, value);
    return percentFormat(in, toStr(v), Value::dict(std::move(d)));
  }
  return percentFormat(in, toStr(v), Value::list(args.positional, true));
}

Value fWordcount(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "wordcount", args, {});
  std::string s = toStr(v);
  int64_t words = 0;
  bool inWord = false;
  for (size_t pos = 0; pos < s.size();) {
    uint32_t cp = py::decode(s, pos);
    bool word = cp == '_' || py::isAlpha(cp) || py::isDigit(cp);
    words += word && !inWord;
    inWord = word;
  }
  return Value::integer(words);
}

Value fInt(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "int", args, {"default", "base"});
  int64_t base = p.has(1) ? intArg(in, p[1], "base") : 10;
  if (v.isUndefined())
    in.undefinedError(v); // int(Undefined) raises, which the filter does not catch
  int64_t i;
  if (v.isIntegral())
    return Value::integer(v.asInt());
  if (v.is(Kind::String) && parsePyInt(v.str(), static_cast<int>(base), i))
    return Value::integer(i);
  double d = 0;
  bool isFloat =
      v.is(Kind::Float) ? (d = v.asFloat(), true) : v.is(Kind::String) && parsePyFloat(v.str(), d);
  if (isFloat) {
    if (std::isnan(d) || std::isinf(d))
      in.fail(ErrorCode::InvalidArgument, "cannot convert float NaN or infinity to integer");
    if (std::fabs(d) >= 9.2e18)
      in.fail(ErrorCode::Unsupported, "integer overflow");
    return Value::integer(static_cast<int64_t>(std::trunc(d)));
  }
  return p.get(0, Value::integer(0));
}

Value fIndent(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "indent", args, {"width", "first", "blank"});
  std::string indention = "    ";
  if (p.has(0))
    indention =
        p[0].is(Kind::String)
            ? p[0].str()
            : std::string(static_cast<size_t>(std::max<int64_t>(0, intArg(in, p[0], "width"))),
                          ' ');
  bool first = p.flag(1, false), blank = p.flag(2, false);
  if (v.isUndefined())
    in.undefinedError(v);
  if (!v.is(Kind::String)) // jinja appends "\n" to the value before splitting it into lines
    in.typeError(std::string("unsupported operand type(s) for +=: '") + v.typeName() +
                 "' and 'str'");
  std::string s = v.str() + "\n"; // so that splitlines keeps a trailing blank line
  std::vector<std::string> lines = py::splitlines(s, false);
  std::string rv;
  if (blank) {
    for (size_t k = 0; k < lines.size(); ++k)
      rv += (k ? "\n" + indention : "") + lines[k];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t k = 1; k < lines.size(); ++k)
      rv += "\n" + (lines[k].empty() ? lines[k] : indention + lines[k]);
  }
  if (first)
    rv = indention + rv;
  in.checkSize(rv.size());
  return Value::string(std::move(rv));
}

Value fItems(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "items", args, {});
  if (v.isUndefined())
    return Value::list({});
  if (!v.is(Kind::Dict))
    in.typeError("Can only get item pairs from a mapping.");
  std::vector<Value> items;
  for (const auto &[key, value] : v.dictData().items)
    items.push_back(Value::list({Value::string(key), value}, true));
  return Value::list(std::move(items));
}

Value fJoin(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "join", args, {"d", "attribute"});
  std::string sep = p.has(0) ? toStr(p[0]) : "";
  std::string out;
  bool first = true;
  for (const auto &item : in.iterate(v)) {
    if (!first)
      out += sep;
    first = false;
    appendStr(out, p.has(1) ? getPath(in, item, p[1], nullptr) : item);
    in.checkSize(out.size());
  }
  return Value::string(std::move(out));
}

Value fList(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "list", args, {});
  return Value::list(in.iterate(v));
}

Value fLower(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "lower", args, {});
  return Value::string(py::lower(toStr(v)));
}

Value fUpper(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "upper", args, {});
  return Value::string(py::upper(toStr(v)));
}

Value fMap(Interpreter &in, const Value &v, CallArgs &args) {
  std::vector<Value> out;
  std::vector<Value> items = in.iterate(v);
  bool byAttribute =
      args.positional.empty() && std::any_of(args.keyword.begin(), args.keyword.end(),
                                             [](auto &kv) { return kv.first == "attribute"; });
  if (byAttribute) {
    Params p(in, "map", args, {"attribute", "default"});
    Value dflt = p.get(1, Value::none());
    const Value *useDefault = dflt.is(Kind::None) ? nullptr : &dflt;
    for (auto &item : items)
      out.push_back(getPath(in, item, p[0], useDefault));
    return Value::list(std::move(out));
  }
  if (args.positional.empty())
    in.typeError("map requires a filter argument");
  std::string name = toStr(args.positional[0]);
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (auto &item : items) {
    CallArgs copy = rest;
    out.push_back(in.applyFilter(name, item, copy));
  }
  return Value::list(std::move(out));
}

Value minMax(Interpreter &in, const Value &v, CallArgs &args, bool wantMax) {
  Params p(in, wantMax ? "max" : "min", args, {"case_sensitive", "attribute"});
  std::vector<Value> items = in.iterate(v);
  if (items.empty())
    return Value::undefined("No aggregated item, sequence was empty.");
  bool caseSensitive = p.flag(0, false);
  auto key = [&](const Value &item) {
    return foldCase(p.hasValue(1) ? getPath(in, item, p[1], nullptr) : item, caseSensitive);
  };
  size_t best = 0;
  Value bestKey = key(items[0]);
  for (size_t k = 1; k < items.size(); ++k) {
    Value candidate = key(items[k]);
    bool better = wantMax ? lessOrFail(in, bestKey, candidate) : lessOrFail(in, candidate, bestKey);
    if (better) {
      best = k;
      bestKey = std::move(candidate);
    }
  }
  return items[best];
}

Value fMax(Interpreter &in, const Value &v, CallArgs &args) { return minMax(in, v, args, true); }
Value fMin(Interpreter &in, const Value &v, CallArgs &args) { return minMax(in, v, args, false); }

// select / reject / selectattr / rejectattr
Value selectOrReject(Interpreter &in, const Value &v, CallArgs &args, bool keep, bool byAttr) {
  size_t off = 0;
  Value attribute;
  if (byAttr) {
    if (args.positional.empty())
      in.typeError("Missing parameter for attribute name");
    attribute = args.positional[0];
    off = 1;
  }
  bool hasTest = args.positional.size() > off;
  std::string testName = hasTest ? toStr(args.positional[off]) : "";
  CallArgs testArgs;
  if (hasTest)
    testArgs.positional.assign(args.positional.begin() + static_cast<long>(off) + 1,
                               args.positional.end());
  testArgs.keyword = args.keyword;
  std::vector<Value> out;
  for (auto &item : in.iterate(v)) {
    Value subject = byAttr ? getPath(in, item, attribute, nullptr) : item;
    bool pass;
    if (hasTest) {
      CallArgs copy = testArgs;
      pass = in.applyTest(testName, subject, copy);
    } else {
      pass = subject.truthy();
    }
    if (pass == keep)
      out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value fSelect(Interpreter &in, const Value &v, CallArgs &a) {
  return selectOrReject(in, v, a, true, false);
}
Value fReject(Interpreter &in, const Value &v, CallArgs &a) {
  return selectOrReject(in, v, a, false, false);
}
Value fSelectattr(Interpreter &in, const Value &v, CallArgs &a) {
  return selectOrReject(in, v, a, true, true);
}
Value fRejectattr(Interpreter &in, const Value &v, CallArgs &a) {
  return selectOrReject(in, v, a, false, true);
}

Value fReplace(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "replace", args, {"old", "new", "count"});
  if (!p.has(0) || !p.has(1))
    in.typeError("replace() missing required argument");
  int64_t count = p.hasValue(2) ? intArg(in, p[2], "count") : -1;
  std::string out = py::replace(toStr(v), toStr(p[0]), toStr(p[1]), count);
  in.checkSize(out.size());
  return Value::string(std::move(out));
}

Value fReverse(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "reverse", args, {});
  if (v.is(Kind::String)) {
    std::vector<std::string_view> cps = py::codePoints(v.str());
    std::string out;
    for (auto it = cps.rbegin(); it != cps.rend(); ++it)
      out += *it;
    return Value::string(std::move(out));
  }
  std::vector<Value> items = in.iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value fRound(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "round", args, {"precision", "method"});
  int64_t precision = p.has(0) ? intArg(in, p[0], "precision") : 0;
  std::string method = p.has(1) ? toStr(p[1]) : "common";
  if (method != "common" && method != "ceil" && method != "floor")
    in.typeError("method must be 'common', 'ceil' or 'floor'");
  if (!v.isNumber())
    in.typeError(std::string("type ") + v.typeName() + " doesn't define __round__ method");
  if (method == "common") {
    if (v.isIntegral() && precision >= 0)
      return Value::integer(v.asInt()); // round(int, n) stays an int
    double x = v.asFloat();
    if (!std::isfinite(x))
      return Value::real(x);
    if (precision < 0 || precision > 300) {
      double scale = std::pow(10.0, static_cast<double>(-precision));
      return Value::real(std::nearbyint(x / scale) * scale);
    }
    // Correctly rounded to `precision` decimals, ties to even, as Python's round().
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(precision), x);
    return Value::real(std::strtod(buf, nullptr));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.asFloat() * scale;
  return Value::real((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Value fSafe(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "safe", args, {});
  return Value::string(toStr(v));
}

Value fSort(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "sort", args, {"reverse", "case_sensitive", "attribute"});
  std::vector<Value> items = in.iterate(v);
  bool caseSensitive = p.flag(1, false);
  std::vector<Value> attrs;
  if (p.hasValue(2) && p[2].is(Kind::String))
    for (auto &a : py::split(p[2].str(), std::string_view(","), -1, false))
      attrs.push_back(Value::string(a));
  else if (p.hasValue(2))
    attrs.push_back(p[2]);
  std::vector<Value> keys;
  for (const auto &item : items) {
    if (attrs.empty()) {
      keys.push_back(foldCase(item, caseSensitive));
    } else if (attrs.size() == 1) {
      keys.push_back(foldCase(getPath(in, item, attrs[0], nullptr), caseSensitive));
    } else {
      std::vector<Value> parts;
      for (const auto &a : attrs)
        parts.push_back(foldCase(getPath(in, item, a, nullptr), caseSensitive));
      keys.push_back(Value::list(std::move(parts)));
    }
  }
  return Value::list(sortByKeys(in, std::move(items), std::move(keys), p.flag(0, false)));
}

Value fString(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "string", args, {});
  return Value::string(toStr(v));
}

Value fSum(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "sum", args, {"attribute", "start"});
  Value total = p.get(1, Value::integer(0));
  for (const auto &item : in.iterate(v))
    total =
        in.binary(BinaryOp::Add, total, p.hasValue(0) ? getPath(in, item, p[0], nullptr) : item);
  return total;
}

// jinja's title filter: each run after `-`, whitespace or an opening bracket starts upper case.
Value fTitle(Interpreter &in, const Value &v, CallArgs &args) {
  Params(in, "title", args, {});
  std::string s = toStr(v), out;
  bool wordStart = true;
  for (size_t pos = 0; pos < s.size();) {
    uint32_t cp = py::decode(s, pos);
    bool separator =
        cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || py::isSpace(cp);
    if (separator) {
      py::appendUtf8(out, cp);
      wordStart = true;
      continue;
    }
    std::string one;
    py::appendUtf8(one, cp);
    out += wordStart ? py::upper(one) : py::lower(one);
    wordStart = false;
  }
  return Value::string(std::move(out));
}

// transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None,
// sort_keys=False).
Value fTojson(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensureAscii = p.flag(0, false);
  if (p.hasValue(1)) {
    o.hasIndent = true;
    o.indent =
        p[1].is(Kind::String)
            ? p[1].str()
            : std::string(static_cast<size_t>(std::max<int64_t>(0, intArg(in, p[1], "indent"))),
                          ' ');
    o.itemSeparator = ",";
  }
  if (p.hasValue(2)) {
    if (!p[2].is(Kind::List) || p[2].listData().items.size() != 2)
      in.typeError("separators must be a (item_separator, key_separator) pair");
    o.itemSeparator = toStr(p[2].listData().items[0]);
    o.keySeparator = toStr(p[2].listData().items[1]);
  }
  o.sortKeys = p.flag(3, false);
  std::string out;
  appendJson(out, v, o);
  in.checkSize(out.size());
  in.charge(1 + out.size() / 64);
  return Value::string(std::move(out));
}

Value fTrim(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "trim", args, {"chars"});
  std::string s = toStr(v);
  std::optional<std::string_view> chars;
  std::string charsText;
  if (p.hasValue(0)) {
    charsText = toStr(p[0]);
    chars = charsText;
  }
  return Value::string(std::string(py::strip(s, true, true, chars)));
}

Value fUnique(Interpreter &in, const Value &v, CallArgs &args) {
  Params p(in, "unique", args, {"case_sensitive", "attribute"});
  bool caseSensitive = p.flag(0, false);
  std::vector<Value> out, seen;
  for (const auto &item : in.iterate(v)) {
    Value key = foldCase(p.hasValue(1) ? getPath(in, item, p[1], nullptr) : item, caseSensitive);
    in.charge(seen.size());
    if (std::none_of(seen.begin(), seen.end(), [&](const Value &s) { return equals(s, key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}

// --- tests --------------------------------------------------------------------------------

Value testArg(Interpreter &in, CallArgs &args, const char *name) {
  Params p(in, name, args, {"other"});
  if (!p.has(0))
    in.typeError(std::string(name) + "() missing 1 required positional argument");
  return p[0];
}

bool noArgs(Interpreter &in, CallArgs &args, const char *name) {
  Params(in, name, args, {});
  return true;
}

bool tDefined(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "defined") && !v.isUndefined();
}
bool tUndefined(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "undefined") && v.isUndefined();
}
bool tNone(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "none") && v.is(Kind::None);
}
bool tBoolean(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "boolean") && v.is(Kind::Bool);
}
bool tTrue(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "true") && v.is(Kind::Bool) && v.asBool();
}
bool tFalse(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "false") && v.is(Kind::Bool) && !v.asBool();
}
bool tInteger(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "integer") && v.is(Kind::Int);
}
bool tFloat(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "float") && v.is(Kind::Float);
}
bool tNumber(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "number") && v.isNumber();
}
bool tString(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "string") && v.is(Kind::String);
}
bool tMapping(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "mapping") && v.is(Kind::Dict);
}
bool tCallable(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "callable") && (v.is(Kind::Callable) || v.isUndefined());
}
bool tIterable(Interpreter &in, const Value &v, CallArgs &a) {
  noArgs(in, a, "iterable");
  return v.is(Kind::List) || v.is(Kind::Dict) || v.is(Kind::String) || v.isUndefined();
}
bool tSequence(Interpreter &in, const Value &v, CallArgs &a) {
  noArgs(in, a, "sequence");
  return v.is(Kind::List) || v.is(Kind::Dict) || v.is(Kind::String) || v.isUndefined();
}

int64_t modulo(Interpreter &in, const Value &v, const Value &m) {
  Value r = in.binary(BinaryOp::Mod, v, m);
  return r.is(Kind::Float) ? (r.asFloat() == 0.0 ? 0 : (r.asFloat() == 1.0 ? 1 : 2)) : r.asInt();
}

bool tOdd(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "odd") && modulo(in, v, Value::integer(2)) == 1;
}
bool tEven(Interpreter &in, const Value &v, CallArgs &a) {
  return noArgs(in, a, "even") && modulo(in, v, Value::integer(2)) == 0;
}
bool tDivisibleby(Interpreter &in, const Value &v, CallArgs &a) {
  Params p(in, "divisibleby", a, {"num"});
  Value r = in.binary(BinaryOp::Mod, v, p[0]);
  return r.is(Kind::Float) ? r.asFloat() == 0.0 : r.asInt() == 0;
}
bool tEq(Interpreter &in, const Value &v, CallArgs &a) { return equals(v, testArg(in, a, "eq")); }
bool tNe(Interpreter &in, const Value &v, CallArgs &a) { return !equals(v, testArg(in, a, "ne")); }
bool tLt(Interpreter &in, const Value &v, CallArgs &a) {
  return in.compare(CompareOp::Lt, v, testArg(in, a, "lt"));
}
bool tLe(Interpreter &in, const Value &v, CallArgs &a) {
  return in.compare(CompareOp::Le, v, testArg(in, a, "le"));
}
bool tGt(Interpreter &in, const Value &v, CallArgs &a) {
  return in.compare(CompareOp::Gt, v, testArg(in, a, "gt"));
}
bool tGe(Interpreter &in, const Value &v, CallArgs &a) {
  return in.compare(CompareOp::Ge, v, testArg(in, a, "ge"));
}
bool tIn(Interpreter &in, const Value &v, CallArgs &a) {
  Params p(in, "in", a, {"seq"});
  return in.contains(p[0], v);
}
bool tSameas(Interpreter &in, const Value &v, CallArgs &a) {
  Value other = testArg(in, a, "sameas");
  if (v.kind() != other.kind())
    return false;
  switch (v.kind()) {
  case Kind::List:
    return &v.listData() == &other.listData();
  case Kind::Dict:
    return &v.dictData() == &other.dictData();
  default:
    return equals(v, other);
  }
}
bool tLower(Interpreter &in, const Value &v, CallArgs &a) {
  noArgs(in, a, "lower");
  std::string s = toStr(v);
  bool cased = false;
  for (size_t pos = 0; pos < s.size();) {
    uint32_t cp = py::decode(s, pos);
    if (py::isUpper(cp))
      return false;
    cased = cased || py::isLower(cp);
  }
  return cased;
}
bool tUpper(Interpreter &in, const Value &v, CallArgs &a) {
  noArgs(in, a, "upper");
  std::string s = toStr(v);
  bool cased = false;
  for (size_t pos = 0; pos < s.size();) {
    uint32_t cp = py::decode(s, pos);
    if (py::isLower(cp))
      return false;
    cased = cased || py::isUpper(cp);
  }
  return cased;
}
bool tFilter(Interpreter &in, const Value &v, CallArgs &a) {
  noArgs(in, a, "filter");
  return v.is(Kind::String) && findFilter(v.str()) != nullptr;
}
bool tTest(Interpreter &in, const Value &v, CallArgs &a) {
  noArgs(in, a, "test");
  return v.is(Kind::String) && findTest(v.str()) != nullptr;
}

const Builtin kFilters[] = {
    {"abs", fAbs},
    {"attr", fAttr},
    {"batch"},
    {"capitalize", fCapitalize},
    {"center"},
    {"count", fLength},
    {"d", fDefault},
    {"default", fDefault},
    {"dictsort", fDictsort},
    {"e", fEscape},
    {"escape", fEscape},
    {"filesizeformat"},
    {"first", fFirst},
    {"float", fFloat},
    {"forceescape", fEscape},
    {"format", fFormat},
    {"groupby"},
    {"indent", fIndent},
    {"int", fInt},
    {"items", fItems},
    {"join", fJoin},
    {"last", fLast},
    {"length", fLength},
    {"list", fList},
    {"lower", fLower},
    {"map", fMap},
    {"max", fMax},
    {"min", fMin},
    {"pprint"},
    {"random"},
    {"reject", fReject},
    {"rejectattr", fRejectattr},
    {"replace", fReplace},
    {"reverse", fReverse},
    {"round", fRound},
    {"safe", fSafe},
    {"select", fSelect},
    {"selectattr", fSelectattr},
    {"slice"},
    {"sort", fSort},
    {"string", fString},
    {"striptags"},
    {"sum", fSum},
    {"title", fTitle},
    {"tojson", fTojson},
    {"trim", fTrim},
    {"truncate"},
    {"unique", fUnique},
    {"upper", fUpper},
    {"urlencode"},
    {"urlize"},
    {"wordcount", fWordcount},
    {"wordwrap"},
    {"xmlattr"},
};

const Builtin kTests[] = {
    {"!=", nullptr, tNe},
    {"<", nullptr, tLt},
    {"<=", nullptr, tLe},
    {"==", nullptr, tEq},
    {">", nullptr, tGt},
    {">=", nullptr, tGe},
    {"boolean", nullptr, tBoolean},
    {"callable", nullptr, tCallable},
    {"defined", nullptr, tDefined},
    {"divisibleby", nullptr, tDivisibleby},
    {"eq", nullptr, tEq},
    {"equalto", nullptr, tEq},
    {"escaped"},
    {"even", nullptr, tEven},
    {"false", nullptr, tFalse},
    {"filter", nullptr, tFilter},
    {"float", nullptr, tFloat},
    {"ge", nullptr, tGe},
    {"greaterthan", nullptr, tGt},
    {"gt", nullptr, tGt},
    {"in", nullptr, tIn},
    {"integer", nullptr, tInteger},
    {"iterable", nullptr, tIterable},
    {"le", nullptr, tLe},
    {"lessthan", nullptr, tLt},
    {"lower", nullptr, tLower},
    {"lt", nullptr, tLt},
    {"mapping", nullptr, tMapping},
    {"ne", nullptr, tNe},
    {"none", nullptr, tNone},
    {"number", nullptr, tNumber},
    {"odd", nullptr, tOdd},
    {"sameas", nullptr, tSameas},
    {"sequence", nullptr, tSequence},
    {"string", nullptr, tString},
    {"test", nullptr, tTest},
    {"true", nullptr, tTrue},
    {"undefined", nullptr, tUndefined},
    {"upper", nullptr, tUpper},
};

// --- globals ------------------------------------------------------------------------------

// The sandbox refuses bigger ranges (jinja2.sandbox.MAX_RANGE).
constexpr int64_t kMaxRange = 100000;

Value gRange(Interpreter &in, CallArgs &args) {
  if (!args.keyword.empty())
    in.typeError("range() takes no keyword arguments");
  size_t n = args.positional.size();
  if (n < 1 || n > 3)
    in.typeError("range expected 1 to 3 arguments, got " + std::to_string(n));
  int64_t start = 0, stop, step = 1;
  if (n == 1) {
    stop = intArg(in, args.positional[0], "range");
  } else {
    start = intArg(in, args.positional[0], "range");
    stop = intArg(in, args.positional[1], "range");
    if (n == 3)
      step = intArg(in, args.positional[2], "range");
  }
  if (step == 0)
    in.fail(ErrorCode::InvalidArgument, "range() arg 3 must not be zero");
  long double count = step > 0 ? std::ceil((static_cast<long double>(stop) - start) / step)
                               : std::ceil((static_cast<long double>(start) - stop) / -step);
  if (count > kMaxRange)
    in.fail(ErrorCode::ResourceExhausted,
            "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
    items.push_back(Value::integer(i));
  in.charge(items.size());
  return Value::list(std::move(items));
}

// dict(mapping or pairs, **kwargs) and namespace(...) build their attributes the same way.
std::shared_ptr<DictData> dictFromArgs(Interpreter &in, CallArgs &args, const char *fn) {
  auto d = std::make_shared<DictData>();
  if (args.positional.size() > 1)
    in.typeError(std::string(fn) + " expected at most 1 argument, got " +
                 std::to_string(args.positional.size()));
  if (!args.positional.empty()) {
    const Value &src = args.positional[0];
    if (src.is(Kind::Dict)) {
      for (const auto &[k, v] : src.dictData().items)
        d->set(k, v);
    } else {
      for (const auto &pair : in.iterate(src)) {
        std::vector<Value> kv = in.iterate(pair);
        if (kv.size() != 2)
          in.typeError(std::string(fn) + " update sequence element has length " +
                       std::to_string(kv.size()) + "; 2 is required");
        if (!kv[0].is(Kind::String))
          in.fail(ErrorCode::Unsupported, "dict keys must be strings in chat templates");
        d->set(kv[0].str(), kv[1]);
      }
    }
  }
  for (auto &[k, v] : args.keyword)
    d->set(k, v);
  return d;
}

Value gDict(Interpreter &in, CallArgs &args) { return Value::dict(dictFromArgs(in, args, "dict")); }

Value gNamespace(Interpreter &in, CallArgs &args) {
  auto d = dictFromArgs(in, args, "namespace");
  for (const auto &[k, v] : d->items)
    if (!k.empty() && k[0] == '_')
      in.fail(ErrorCode::InvalidArgument,
              "Chat templates cannot store underscore-prefixed attributes on a namespace, but "
              "got '" +
                  k + "'. Please rename the attribute.");
  in.adoptNamespace(d);
  return Value::nameSpace(std::move(d));
}

Value gRaiseException(Interpreter &, CallArgs &args) {
  std::string message = args.positional.empty() ? "" : toStr(args.positional[0]);
  throw Failure{ErrorCode::InvalidArgument, message};
}

Value gStrftimeNow(Interpreter &in, CallArgs &args) {
  if (args.positional.size() != 1 || !args.positional[0].is(Kind::String))
    in.typeError("strftime_now() takes one format string");
  const std::string &format = args.positional[0].str();
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  if (format.empty())
    return Value::string("");
  std::vector<char> buf(format.size() * 8 + 64);
  for (int attempt = 0; attempt < 6; ++attempt) {
    size_t n = std::strftime(buf.data(), buf.size(), format.c_str(), &local);
    if (n > 0)
      return Value::string(std::string(buf.data(), n));
    buf.resize(buf.size() * 4);
  }
  return Value::string("");
}

// --- methods ------------------------------------------------------------------------------

bool strPredicate(const std::string &s, bool (*pred)(uint32_t)) {
  if (s.empty())
    return false;
  for (size_t pos = 0; pos < s.size();)
    if (!pred(py::decode(s, pos)))
      return false;
  return true;
}

// Python's start/end arguments of find, startswith, ...: the code point window they select.
std::string_view window(Interpreter &in, const std::string &s, const Params &p, size_t startIdx,
                        size_t &offsetCps) {
  int64_t n = static_cast<int64_t>(py::length(s));
  auto clamp = [&](const Value &v, int64_t dflt) {
    if (v.is(Kind::None))
      return dflt;
    int64_t i = intArg(in, v, "slice index");
    if (i < 0)
      i = std::max<int64_t>(0, i + n);
    return std::min(i, n);
  };
  int64_t start = p.has(startIdx) ? clamp(p[startIdx], 0) : 0;
  int64_t end = p.has(startIdx + 1) ? clamp(p[startIdx + 1], n) : n;
  offsetCps = static_cast<size_t>(start);
  if (end < start)
    return std::string_view();
  size_t b = py::byteOffset(s, static_cast<size_t>(start));
  size_t e = py::byteOffset(s, static_cast<size_t>(end));
  return std::string_view(s).substr(b, e - b);
}

Value stringMethod(Interpreter &in, const std::string &s, const std::string &name, CallArgs &args) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Params p(in, name.c_str(), args, {"chars"});
    bool left = name != "rstrip", right = name != "lstrip";
    return Value::string(std::string(py::strip(s, left, right, optStrArg(in, p, 0, "chars"))));
  }
  if (name == "split" || name == "rsplit") {
    Params p(in, name.c_str(), args, {"sep", "maxsplit"});
    auto sep = optStrArg(in, p, 0, "sep");
    if (sep && sep->empty())
      in.fail(ErrorCode::InvalidArgument, "empty separator");
    int64_t maxsplit = p.has(1) ? intArg(in, p[1], "maxsplit") : -1;
    auto parts = py::split(s, sep, maxsplit, name == "rsplit");
    in.charge(parts.size());
    return strList(std::move(parts));
  }
  if (name == "splitlines") {
    Params p(in, "splitlines", args, {"keepends"});
    return strList(py::splitlines(s, p.flag(0, false)));
  }
  if (name == "startswith" || name == "endswith") {
    Params p(in, name.c_str(), args, {"prefix", "start", "end"});
    size_t offset;
    std::string_view w = window(in, s, p, 1, offset);
    std::vector<std::string> options;
    if (p[0].is(Kind::List) && p[0].listData().tuple)
      for (const auto &o : p[0].listData().items)
        options.push_back(strArg(in, o, name.c_str()));
    else
      options.push_back(strArg(in, p[0], name.c_str()));
    for (const auto &o : options) {
      bool hit = o.size() <= w.size() &&
                 (name == "startswith" ? w.compare(0, o.size(), o) == 0
                                       : w.compare(w.size() - o.size(), o.size(), o) == 0);
      if (hit)
        return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  if (name == "upper") {
    Params(in, "upper", args, {});
    return Value::string(py::upper(s));
  }
  if (name == "lower" || name == "casefold") {
    Params(in, name.c_str(), args, {});
    return Value::string(py::lower(s));
  }
  if (name == "title") {
    Params(in, "title", args, {});
    return Value::string(py::title(s));
  }
  if (name == "capitalize") {
    Params(in, "capitalize", args, {});
    return Value::string(py::capitalize(s));
  }
  if (name == "swapcase") {
    Params(in, "swapcase", args, {});
    return Value::string(py::swapcase(s));
  }
  if (name == "replace") {
    Params p(in, "replace", args, {"old", "new", "count"});
    int64_t count = p.has(2) ? intArg(in, p[2], "count") : -1;
    std::string out = py::replace(s, strArg(in, p[0], "replace() argument 1"),
                                  strArg(in, p[1], "replace() argument 2"), count);
    in.checkSize(out.size());
    return Value::string(std::move(out));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    Params p(in, name.c_str(), args, {"sub", "start", "end"});
    size_t offset;
    std::string_view w = window(in, s, p, 1, offset);
    long long at = py::find(w, strArg(in, p[0], name.c_str()), name[0] == 'r');
    if (at < 0 && name.find("index") != std::string::npos)
      in.fail(ErrorCode::InvalidArgument, "substring not found");
    return Value::integer(at < 0 ? -1 : at + static_cast<long long>(offset));
  }
  if (name == "count") {
    Params p(in, "count", args, {"sub", "start", "end"});
    size_t offset;
    std::string_view w = window(in, s, p, 1, offset);
    return Value::integer(py::count(w, strArg(in, p[0], "count")));
  }
  if (name == "join") {
    Params p(in, "join", args, {"iterable"});
    std::string out;
    size_t k = 0;
    for (const auto &item : in.iterate(p[0])) {
      if (!item.is(Kind::String))
        in.typeError("sequence item " + std::to_string(k) + ": expected str instance, " +
                     item.typeName() + " found");
      if (k++)
        out += s;
      out += item.str();
      in.checkSize(out.size());
    }
    return Value::string(std::move(out));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    Params p(in, name.c_str(), args, {"affix"});
    const std::string &a = strArg(in, p[0], name.c_str());
    if (name == "removeprefix" && s.compare(0, a.size(), a) == 0)
      return Value::string(s.substr(a.size()));
    if (name == "removesuffix" && a.size() <= s.size() &&
        s.compare(s.size() - a.size(), a.size(), a) == 0)
      return Value::string(s.substr(0, s.size() - a.size()));
    return Value::string(s);
  }
  if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") {
    Params(in, name.c_str(), args, {});
    return Value::boolean(strPredicate(s, py::isDigit));
  }
  if (name == "isalpha") {
    Params(in, "isalpha", args, {});
    return Value::boolean(strPredicate(s, py::isAlpha));
  }
  if (name == "isalnum") {
    Params(in, "isalnum", args, {});
    return Value::boolean(
        strPredicate(s, [](uint32_t c) { return py::isAlpha(c) || py::isDigit(c); }));
  }
  if (name == "isspace") {
    Params(in, "isspace", args, {});
    return Value::boolean(strPredicate(s, py::isSpace));
  }
  if (name == "islower" || name == "isupper") {
    Params(in, name.c_str(), args, {});
    bool wantLower = name == "islower", cased = false;
    for (size_t pos = 0; pos < s.size();) {
      uint32_t cp = py::decode(s, pos);
      if (wantLower ? py::isUpper(cp) : py::isLower(cp))
        return Value::boolean(false);
      cased = cased || (wantLower ? py::isLower(cp) : py::isUpper(cp));
    }
    return Value::boolean(cased);
  }
  if (name == "istitle") {
    Params(in, "istitle", args, {});
    bool previousCased = false, any = false;
    for (size_t pos = 0; pos < s.size();) {
      uint32_t cp = py::decode(s, pos);
      if (py::isUpper(cp)) {
        if (previousCased)
          return Value::boolean(false);
        previousCased = any = true;
      } else if (py::isLower(cp)) {
        if (!previousCased)
          return Value::boolean(false);
        previousCased = any = true;
      } else {
        previousCased = false;
      }
    }
    return Value::boolean(any);
  }
  if (name == "expandtabs") {
    Params p(in, "expandtabs", args, {"tabsize"});
    int64_t tab = p.has(0) ? intArg(in, p[0], "tabsize") : 8;
    std::string out;
    int64_t column = 0;
    for (size_t pos = 0; pos < s.size();) {
      size_t start = pos;
      uint32_t cp = py::decode(s, pos);
      if (cp == '\t') {
        int64_t spaces = tab > 0 ? tab - column % tab : 0;
        out.append(static_cast<size_t>(spaces), ' ');
        column += spaces;
        in.checkSize(out.size());
      } else {
        out.append(s, start, pos - start);
        column = (cp == '\n' || cp == '\r') ? 0 : column + 1;
      }
    }
    return Value::string(std::move(out));
  }
  if (name == "partition" || name == "rpartition") {
    Params p(in, name.c_str(), args, {"sep"});
    const std::string &sep = strArg(in, p[0], name.c_str());
    if (sep.empty())
      in.fail(ErrorCode::InvalidArgument, "empty separator");
    size_t hit = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (hit == std::string::npos)
      return name == "partition"
                 ? Value::list({Value::string(s), Value::string(""), Value::string("")}, true)
                 : Value::list({Value::string(""), Value::string(""), Value::string(s)}, true);
    return Value::list({Value::string(s.substr(0, hit)), Value::string(sep),
                        Value::string(s.substr(hit + sep.size()))},
                       true);
  }
  if (name == "zfill" || name == "center" || name == "ljust" || name == "rjust") {
    Params p(in, name.c_str(), args, {"width", "fillchar"});
    int64_t width = intArg(in, p[0], name.c_str());
    in.checkSize(static_cast<size_t>(std::max<int64_t>(width, 0)));
    std::string fill = p.has(1) ? strArg(in, p[1], "fillchar") : (name == "zfill" ? "0" : " ");
    int64_t n = static_cast<int64_t>(py::length(s));
    if (width <= n)
      return Value::string(s);
    int64_t pad = width - n;
    int64_t left = name == "rjust" || name == "zfill" ? pad
                   : name == "ljust"                  ? 0
                                                      : pad / 2 + (pad & width & 1);
    std::string out;
    auto repeat = [&](int64_t k) {
      for (int64_t j = 0; j < k; ++j)
        out += fill;
    };
    if (name == "zfill" && !s.empty() && (s[0] == '-' || s[0] == '+')) {
      out += s[0];
      repeat(left);
      out += s.substr(1);
      return Value::string(std::move(out));
    }
    repeat(left);
    out += s;
    repeat(pad - left);
    return Value::string(std::move(out));
  }
  in.fail(ErrorCode::Unsupported, "the str method '" + name + "' is not supported");
}

const char *const kStringMethods[] = {
    "strip",        "lstrip",      "rstrip",     "split",        "rsplit",       "splitlines",
    "startswith",   "endswith",    "upper",      "lower",        "casefold",     "title",
    "capitalize",   "swapcase",    "replace",    "find",         "rfind",        "index",
    "rindex",       "count",       "join",       "removeprefix", "removesuffix", "isdigit",
    "isdecimal",    "isnumeric",   "isalpha",    "isalnum",      "isspace",      "islower",
    "isupper",      "partition",   "rpartition", "zfill",        "center",       "ljust",
    "rjust",        "format",      "format_map", "encode",       "expandtabs",   "istitle",
    "isidentifier", "isprintable", "isascii",    "translate",    "maketrans"};
const char *const kDictMethods[] = {"items", "keys", "values", "get", "copy"};
const char *const kDictMutators[] = {"pop", "popitem", "setdefault", "update", "clear"};
const char *const kListMethods[] = {"index", "count", "copy"};
const char *const kListMutators[] = {"append", "extend",  "insert", "pop",
                                     "remove", "reverse", "sort",   "clear"};

template <size_t N> bool oneOf(const char *const (&names)[N], std::string_view name) {
  return std::any_of(std::begin(names), std::end(names), [&](const char *n) { return name == n; });
}

} // namespace

const Builtin *findFilter(std::string_view name) {
  for (const auto &b : kFilters)
    if (name == b.name)
      return &b;
  return nullptr;
}

const Builtin *findTest(std::string_view name) {
  for (const auto &b : kTests)
    if (name == b.name)
      return &b;
  return nullptr;
}

Value globalValue(std::string_view name) {
  using Fn = Value (*)(Interpreter &, CallArgs &);
  static const std::pair<const char *, Fn> kGlobals[] = {
      {"range", gRange},
      {"dict", gDict},
      {"namespace", gNamespace},
      {"raise_exception", gRaiseException},
      {"strftime_now", gStrftimeNow},
  };
  for (const auto &[n, fn] : kGlobals)
    if (name == n)
      return Value::callable(n, fn);
  return Value();
}

MethodLookup lookupMethod(const Value &receiver, std::string_view name) {
  switch (receiver.kind()) {
  case Kind::String:
    return oneOf(kStringMethods, name) ? MethodLookup::Safe : MethodLookup::None;
  case Kind::Dict:
    if (oneOf(kDictMethods, name))
      return MethodLookup::Safe;
    return oneOf(kDictMutators, name) ? MethodLookup::Unsafe : MethodLookup::None;
  case Kind::List:
    if (oneOf(kListMethods, name))
      return MethodLookup::Safe;
    return oneOf(kListMutators, name) ? MethodLookup::Unsafe : MethodLookup::None;
  case Kind::Loop:
    return name == "cycle" || name == "changed" ? MethodLookup::Safe : MethodLookup::None;
  default:
    return MethodLookup::None;
  }
}

Value callMethod(Interpreter &in, const Value &receiver, const std::string &name, CallArgs &args) {
  switch (receiver.kind()) {
  case Kind::String:
    return stringMethod(in, receiver.str(), name, args);
  case Kind::Dict: {
    const DictData &d = receiver.dictData();
    if (name == "get") {
      Params p(in, "get", args, {"key", "default"});
      const Value *v = p[0].is(Kind::String) ? d.find(p[0].str()) : nullptr;
      return v ? *v : p.get(1, Value::none());
    }
    Params(in, name.c_str(), args, {});
    if (name == "copy")
      return receiver;
    std::vector<Value> items;
    for (const auto &[key, value] : d.items) {
      if (name == "items")
        items.push_back(Value::list({Value::string(key), value}, true));
      else if (name == "keys")
        items.push_back(Value::string(key));
      else
        items.push_back(value);
    }
    in.charge(items.size());
    return Value::list(std::move(items));
  }
  case Kind::List: {
    const auto &items = receiver.listData().items;
    if (name == "copy") {
      Params(in, "copy", args, {});
      return receiver;
    }
    Params p(in, name.c_str(), args, {"value"});
    in.charge(items.size());
    int64_t count = 0;
    for (size_t k = 0; k < items.size(); ++k) {
      if (!equals(items[k], p[0]))
        continue;
      if (name == "index")
        return Value::integer(static_cast<int64_t>(k));
      ++count;
    }
    if (name == "index")
      in.fail(ErrorCode::InvalidArgument, "value is not in list");
    return Value::integer(count);
  }
  case Kind::Loop: {
    if (name == "changed")
      in.fail(ErrorCode::Unsupported, "loop.changed() is not supported");
    if (args.positional.empty())
      in.typeError("no items for cycling given");
    return args.positional[receiver.loopData().index0 % args.positional.size()];
  }
  default:
    in.fail(ErrorCode::Internal, "no method '" + name + "'");
  }
}

} // namespace modelrt::tmpl
