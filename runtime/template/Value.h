// Values a chat template computes with, modelled on the Python objects Jinja hands around:
// None, bool, int, float, str, list/tuple, dict (insertion ordered), Jinja's Undefined and
// namespace, the loop object, and callables (macros, globals, bound methods).
// Lists and dicts are shared and never changed once built (the sandbox is immutable);
// a namespace is the one mutable object.
#pragma once

#include "runtime/support/Error.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace modelrt::tmpl {

class Interpreter;
class Value;

enum class Kind : uint8_t {
  Undefined,
  None,
  Bool,
  Int,
  Float,
  String,
  List, // also tuples (ListData::tuple)
  Dict,
  Namespace,
  Loop,
  Callable,
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// Thrown inside the engine and turned into an Error at the API boundary (ChatTemplate.cpp).
// raise_exception() throws one with the template's message as it is, without a line.
struct Failure {
  ErrorCode code;
  std::string message;
};

// What a render's values may hold at once (RenderLimits::maxMemoryBytes).
struct MemoryBudget {
  size_t used = 0;
  size_t limit = 0;
};

// Heap part of a value. Strings and lists built while a MemoryScope is active are charged
// to its budget until they are freed.
struct Object {
  virtual ~Object();
  MemoryBudget *budget = nullptr;
  size_t charged = 0;
};

// Charges `bytes` for `object` to the active budget, if any; throws Failure past its limit.
void chargeMemory(Object &object, size_t bytes);

// Makes `budget` the active one on this thread while alive.
class MemoryScope {
public:
  explicit MemoryScope(MemoryBudget &budget);
  ~MemoryScope();
  MemoryScope(const MemoryScope &) = delete;
  MemoryScope &operator=(const MemoryScope &) = delete;

private:
  MemoryBudget *saved_;
};

struct StringData;
struct ListData;
struct DictData;
struct LoopData;
struct CallableData;

class Value {
public:
  Value() = default; // Undefined
  static Value undefined(std::string hint = {}, bool unsafe = false);
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value real(double d);
  static Value string(std::string s);
  static Value list(std::vector<Value> items, bool tuple = false);
  static Value dict(std::shared_ptr<DictData> d);
  static Value nameSpace(std::shared_ptr<DictData> d);
  static Value loop(std::shared_ptr<LoopData> l);
  static Value callable(std::string name, std::function<Value(Interpreter &, CallArgs &)> fn);

  Kind kind() const { return kind_; }
  bool is(Kind k) const { return kind_ == k; }
  bool isUndefined() const { return kind_ == Kind::Undefined; }
  bool isNumber() const {
    return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool;
  }
  bool isIntegral() const { return kind_ == Kind::Int || kind_ == Kind::Bool; }

  bool asBool() const { return b_; }
  int64_t asInt() const { return kind_ == Kind::Bool ? (b_ ? 1 : 0) : i_; } // Int or Bool
  double asFloat() const { return kind_ == Kind::Float ? f_ : static_cast<double>(asInt()); }
  const std::string &str() const;             // String; an Undefined's hint
  bool unsafeUndefined() const { return b_; } // Undefined from a blocked attribute
  const ListData &listData() const;
  const DictData &dictData() const; // Dict or Namespace
  DictData &namespaceData() const;
  LoopData &loopData() const;
  const CallableData &callableData() const;

  bool truthy() const;
  // Python type name, as in "'int' object is not iterable".
  const char *typeName() const;

private:
  Kind kind_ = Kind::Undefined;
  union {
    bool b_ = false;
    int64_t i_;
    double f_;
  };
  // Strings are shared, not copied, as in Python: a template passing a long message around
  // (or into a list many times) costs no more memory than the message.
  std::shared_ptr<Object> obj_;
};

struct StringData : Object {
  std::string text;
};

struct ListData : Object {
  std::vector<Value> items;
  bool tuple = false;
};

// Insertion-ordered string-keyed map, as a Python dict built from JSON.
struct DictData : Object {
  std::vector<std::pair<std::string, Value>> items;

  const Value *find(std::string_view key) const;
  void set(std::string key, Value value);
  void clear() {
    items.clear();
    index_.clear();
  }

private:
  // Built once a dict is large enough that linear search would dominate.
  std::unordered_map<std::string, size_t> index_;
};

struct LoopData : Object {
  std::shared_ptr<ListData> items;
  size_t index0 = 0;
  size_t depth0 = 0;
};

struct CallableData : Object {
  std::string name;
  std::function<Value(Interpreter &, CallArgs &)> fn;
};

// str(value), as {{ value }} prints it: Undefined prints nothing, None prints "None".
void appendStr(std::string &out, const Value &v);
std::string toStr(const Value &v);
// repr(value): strings quoted, as inside a printed list or dict.
void appendRepr(std::string &out, const Value &v);

// Python ==, and < for the types that order (numbers, strings, lists of those).
bool equals(const Value &a, const Value &b);
// Returns false and leaves `less` unset when Python would raise TypeError.
bool lessThan(const Value &a, const Value &b, bool &less);

struct JsonOptions {
  std::string indent;     // per level; used when hasIndent
  bool hasIndent = false; // indent=None keeps everything on one line
  bool sortKeys = false;
  bool ensureAscii = false;
  std::string itemSeparator = ", ";
  std::string keySeparator = ": ";
};
// json.dumps(value); throws Failure for values JSON cannot hold.
void appendJson(std::string &out, const Value &v, const JsonOptions &options, int depth = 0);

} // namespace modelrt::tmpl
