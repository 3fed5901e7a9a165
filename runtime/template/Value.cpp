#include "runtime/template/Value.h"
#include "runtime/template/PyText.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace modelrt::tmpl {

namespace {

// Deep enough for any real message list; stops a namespace that holds itself.
constexpr int kMaxNesting = 200;

[[noreturn]] void tooDeep() {
  throw Failure{ErrorCode::ResourceExhausted, "value nested too deeply"};
}

} // namespace

namespace {

thread_local MemoryBudget *activeBudget = nullptr;

std::shared_ptr<Object> makeString(std::string s) {
  auto data = std::make_shared<StringData>();
  data->text = std::move(s);
  chargeMemory(*data, sizeof(StringData) + data->text.size());
  return data;
}

} // namespace

Object::~Object() {
  if (budget)
    budget->used -= charged;
}

void chargeMemory(Object &object, size_t bytes) {
  MemoryBudget *b = activeBudget;
  if (!b)
    return;
  if (b->used + bytes > b->limit)
    throw Failure{ErrorCode::ResourceExhausted,
                  "values built by the template exceed " + std::to_string(b->limit) + " bytes"};
  b->used += bytes;
  object.budget = b;
  object.charged = bytes;
}

MemoryScope::MemoryScope(MemoryBudget &budget) : saved_(activeBudget) { activeBudget = &budget; }
MemoryScope::~MemoryScope() { activeBudget = saved_; }

Value Value::undefined(std::string hint, bool unsafe) {
  Value v;
  if (!hint.empty())
    v.obj_ = makeString(std::move(hint));
  v.b_ = unsafe;
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.b_ = b;
  return v;
}

Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.i_ = i;
  return v;
}

Value Value::real(double d) {
  Value v;
  v.kind_ = Kind::Float;
  v.f_ = d;
  return v;
}

Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::String;
  v.obj_ = makeString(std::move(s));
  return v;
}

Value Value::list(std::vector<Value> items, bool tuple) {
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  data->tuple = tuple;
  chargeMemory(*data, sizeof(ListData) + data->items.size() * sizeof(Value));
  Value v;
  v.kind_ = Kind::List;
  v.obj_ = std::move(data);
  return v;
}

Value Value::dict(std::shared_ptr<DictData> d) {
  Value v;
  v.kind_ = Kind::Dict;
  v.obj_ = std::move(d);
  return v;
}

Value Value::nameSpace(std::shared_ptr<DictData> d) {
  Value v;
  v.kind_ = Kind::Namespace;
  v.obj_ = std::move(d);
  return v;
}

Value Value::loop(std::shared_ptr<LoopData> l) {
  Value v;
  v.kind_ = Kind::Loop;
  v.obj_ = std::move(l);
  return v;
}

Value Value::callable(std::string name, std::function<Value(Interpreter &, CallArgs &)> fn) {
  auto data = std::make_shared<CallableData>();
  data->name = std::move(name);
  data->fn = std::move(fn);
  Value v;
  v.kind_ = Kind::Callable;
  v.obj_ = std::move(data);
  return v;
}

const std::string &Value::str() const {
  static const std::string kEmpty;
  bool text = (kind_ == Kind::String || kind_ == Kind::Undefined) && obj_;
  return text ? static_cast<const StringData &>(*obj_).text : kEmpty;
}

const ListData &Value::listData() const { return static_cast<const ListData &>(*obj_); }
const DictData &Value::dictData() const { return static_cast<const DictData &>(*obj_); }
DictData &Value::namespaceData() const { return static_cast<DictData &>(*obj_); }
LoopData &Value::loopData() const { return static_cast<LoopData &>(*obj_); }
const CallableData &Value::callableData() const { return static_cast<const CallableData &>(*obj_); }

bool Value::truthy() const {
  switch (kind_) {
  case Kind::Undefined:
  case Kind::None:
    return false;
  case Kind::Bool:
    return b_;
  case Kind::Int:
    return i_ != 0;
  case Kind::Float:
    return f_ != 0.0;
  case Kind::String:
    return !str().empty();
  case Kind::List:
    return !listData().items.empty();
  case Kind::Dict:
    return !dictData().items.empty();
  case Kind::Namespace:
  case Kind::Loop:
  case Kind::Callable:
    return true;
  }
  return false;
}

const char *Value::typeName() const {
  switch (kind_) {
  case Kind::Undefined:
    return "Undefined";
  case Kind::None:
    return "NoneType";
  case Kind::Bool:
    return "bool";
  case Kind::Int:
    return "int";
  case Kind::Float:
    return "float";
  case Kind::String:
    return "str";
  case Kind::List:
    return listData().tuple ? "tuple" : "list";
  case Kind::Dict:
    return "dict";
  case Kind::Namespace:
    return "Namespace";
  case Kind::Loop:
    return "LoopContext";
  case Kind::Callable:
    return "function";
  }
  return "object";
}

const Value *DictData::find(std::string_view key) const {
  if (!index_.empty()) {
    auto it = index_.find(std::string(key));
    return it == index_.end() ? nullptr : &items[it->second].second;
  }
  for (const auto &[k, v] : items)
    if (k == key)
      return &v;
  return nullptr;
}

void DictData::set(std::string key, Value value) {
  constexpr size_t kIndexFrom = 16;
  if (index_.empty()) {
    for (auto &[k, v] : items)
      if (k == key) {
        v = std::move(value);
        return;
      }
  } else if (auto it = index_.find(key); it != index_.end()) {
    items[it->second].second = std::move(value);
    return;
  }
  items.emplace_back(std::move(key), std::move(value));
  if (items.size() == kIndexFrom)
    for (size_t k = 0; k < items.size(); ++k)
      index_.emplace(items[k].first, k);
  else if (!index_.empty())
    index_.emplace(items.back().first, items.size() - 1);
}

namespace {

void appendReprAt(std::string &out, const Value &v, int depth);

void appendStrAt(std::string &out, const Value &v, int depth) {
  switch (v.kind()) {
  case Kind::Undefined:
    return;
  case Kind::None:
    out += "None";
    return;
  case Kind::Bool:
    out += v.asBool() ? "True" : "False";
    return;
  case Kind::Int:
    out += std::to_string(v.asInt());
    return;
  case Kind::Float:
    out += py::floatRepr(v.asFloat());
    return;
  case Kind::String:
    out += v.str();
    return;
  default:
    appendReprAt(out, v, depth);
  }
}

void appendReprAt(std::string &out, const Value &v, int depth) {
  if (depth > kMaxNesting)
    tooDeep();
  switch (v.kind()) {
  case Kind::Undefined:
    out += "Undefined";
    return;
  case Kind::String:
    out += py::repr(v.str());
    return;
  case Kind::List: {
    const ListData &l = v.listData();
    out += l.tuple ? '(' : '[';
    for (size_t k = 0; k < l.items.size(); ++k) {
      if (k)
        out += ", ";
      appendReprAt(out, l.items[k], depth + 1);
    }
    if (l.tuple && l.items.size() == 1)
      out += ',';
    out += l.tuple ? ')' : ']';
    return;
  }
  case Kind::Dict:
  case Kind::Namespace: {
    bool ns = v.is(Kind::Namespace);
    out += ns ? "<Namespace {" : "{";
    bool first = true;
    for (const auto &[key, value] : v.dictData().items) {
      if (!first)
        out += ", ";
      first = false;
      out += py::repr(key);
      out += ": ";
      appendReprAt(out, value, depth + 1);
    }
    out += ns ? "}>" : "}";
    return;
  }
  case Kind::Loop: {
    const LoopData &l = v.loopData();
    out += "<LoopContext " + std::to_string(l.index0 + 1) + "/" +
           std::to_string(l.items->items.size()) + ">";
    return;
  }
  case Kind::Callable:
    out += "<function " + v.callableData().name + ">";
    return;
  default:
    appendStrAt(out, v, depth);
  }
}

bool equalsAt(const Value &a, const Value &b, int depth) {
  if (depth > kMaxNesting)
    tooDeep();
  if (a.isNumber() && b.isNumber()) {
    if (a.isIntegral() && b.isIntegral())
      return a.asInt() == b.asInt();
    return a.asFloat() == b.asFloat();
  }
  if (a.kind() != b.kind())
    return false;
  switch (a.kind()) {
  case Kind::Undefined:
  case Kind::None:
    return true;
  case Kind::String:
    return a.str() == b.str();
  case Kind::List: {
    const ListData &x = a.listData(), &y = b.listData();
    if (x.tuple != y.tuple || x.items.size() != y.items.size())
      return false;
    for (size_t k = 0; k < x.items.size(); ++k)
      if (!equalsAt(x.items[k], y.items[k], depth + 1))
        return false;
    return true;
  }
  case Kind::Dict: {
    const DictData &x = a.dictData(), &y = b.dictData();
    if (x.items.size() != y.items.size())
      return false;
    for (const auto &[key, value] : x.items) {
      const Value *other = y.find(key);
      if (!other || !equalsAt(value, *other, depth + 1))
        return false;
    }
    return true;
  }
  case Kind::Namespace:
    return &a.dictData() == &b.dictData();
  case Kind::Loop:
    return &a.loopData() == &b.loopData();
  case Kind::Callable:
    return &a.callableData() == &b.callableData();
  default:
    return false;
  }
}

bool lessThanAt(const Value &a, const Value &b, bool &less, int depth) {
  if (depth > kMaxNesting)
    tooDeep();
  if (a.isNumber() && b.isNumber()) {
    less = a.isIntegral() && b.isIntegral() ? a.asInt() < b.asInt() : a.asFloat() < b.asFloat();
    return true;
  }
  if (a.is(Kind::String) && b.is(Kind::String)) {
    less = a.str() < b.str(); // UTF-8 byte order is code point order
    return true;
  }
  if (a.is(Kind::List) && b.is(Kind::List) && a.listData().tuple == b.listData().tuple) {
    const auto &x = a.listData().items, &y = b.listData().items;
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      if (equalsAt(x[k], y[k], depth + 1))
        continue;
      return lessThanAt(x[k], y[k], less, depth + 1);
    }
    less = x.size() < y.size();
    return true;
  }
  return false;
}

void appendJsonString(std::string &out, std::string_view s, bool ensureAscii) {
  out += '"';
  char buf[16];
  for (size_t pos = 0; pos < s.size();) {
    size_t start = pos;
    uint32_t cp = py::decode(s, pos);
    switch (cp) {
    case '"':
      out += "\\\"";
      continue;
    case '\\':
      out += "\\\\";
      continue;
    case '\n':
      out += "\\n";
      continue;
    case '\r':
      out += "\\r";
      continue;
    case '\t':
      out += "\\t";
      continue;
    case '\b':
      out += "\\b";
      continue;
    case '\f':
      out += "\\f";
      continue;
    default:
      break;
    }
    if (cp < 0x20 || (ensureAscii && cp >= 0x7F)) {
      if (cp >= 0x10000) {
        uint32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      }
      out += buf;
    } else {
      out.append(s.substr(start, pos - start));
    }
  }
  out += '"';
}

void newlineIndent(std::string &out, const JsonOptions &o, int level) {
  out += '\n';
  for (int k = 0; k < level; ++k)
    out += o.indent;
}

} // namespace

void appendStr(std::string &out, const Value &v) { appendStrAt(out, v, 0); }

std::string toStr(const Value &v) {
  if (v.is(Kind::String))
    return v.str();
  std::string out;
  appendStr(out, v);
  return out;
}

void appendRepr(std::string &out, const Value &v) { appendReprAt(out, v, 0); }

bool equals(const Value &a, const Value &b) { return equalsAt(a, b, 0); }

bool lessThan(const Value &a, const Value &b, bool &less) { return lessThanAt(a, b, less, 0); }

void appendJson(std::string &out, const Value &v, const JsonOptions &o, int depth) {
  if (depth > kMaxNesting)
    tooDeep();
  switch (v.kind()) {
  case Kind::None:
    out += "null";
    return;
  case Kind::Bool:
    out += v.asBool() ? "true" : "false";
    return;
  case Kind::Int:
    out += std::to_string(v.asInt());
    return;
  case Kind::Float: {
    double d = v.asFloat();
    if (std::isnan(d))
      out += "NaN";
    else if (std::isinf(d))
      out += d < 0 ? "-Infinity" : "Infinity";
    else
      out += py::floatRepr(d);
    return;
  }
  case Kind::String:
    appendJsonString(out, v.str(), o.ensureAscii);
    return;
  case Kind::List: {
    const auto &items = v.listData().items;
    if (items.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t k = 0; k < items.size(); ++k) {
      if (k)
        out += o.itemSeparator;
      if (o.hasIndent)
        newlineIndent(out, o, depth + 1);
      appendJson(out, items[k], o, depth + 1);
    }
    if (o.hasIndent)
      newlineIndent(out, o, depth);
    out += ']';
    return;
  }
  case Kind::Dict: {
    std::vector<const std::pair<std::string, Value> *> entries;
    for (const auto &entry : v.dictData().items)
      entries.push_back(&entry);
    if (entries.empty()) {
      out += "{}";
      return;
    }
    if (o.sortKeys)
      std::stable_sort(entries.begin(), entries.end(),
                       [](auto *x, auto *y) { return x->first < y->first; });
    out += '{';
    for (size_t k = 0; k < entries.size(); ++k) {
      if (k)
        out += o.itemSeparator;
      if (o.hasIndent)
        newlineIndent(out, o, depth + 1);
      appendJsonString(out, entries[k]->first, o.ensureAscii);
      out += o.keySeparator;
      appendJson(out, entries[k]->second, o, depth + 1);
    }
    if (o.hasIndent)
      newlineIndent(out, o, depth);
    out += '}';
    return;
  }
  default: {
    std::string what = v.isUndefined() ? "Undefined" : v.typeName();
    throw Failure{ErrorCode::InvalidArgument,
                  "Object of type " + what + " is not JSON serializable"};
  }
  }
}

} // namespace modelrt::tmpl
