// Renders a parsed template: walks the statements, evaluates expressions with Python/Jinja
// semantics, and keeps every render inside its limits (output size, work, call depth).
#pragma once

#include "runtime/template/Ast.h"
#include "runtime/template/ChatTemplate.h"

#include <string>
#include <vector>

namespace modelrt::tmpl {

// One variable scope. Jinja gives each loop iteration, macro call and with block its own;
// `set` writes to the innermost, `if` blocks share their parent's.
struct Frame {
  Frame *parent = nullptr;
  std::vector<std::pair<std::string, Value>> vars;

  const Value *find(std::string_view name) const;
  void set(const std::string &name, Value value);
};

class Interpreter {
public:
  Interpreter(const RenderLimits &limits, std::string &out);
  ~Interpreter();
  Interpreter(const Interpreter &) = delete;
  Interpreter &operator=(const Interpreter &) = delete;

  // Renders `program` with `root` holding the context variables.
  void run(const Program &program, Frame &root);

  // --- used by the built-ins --------------------------------------------------------------
  [[noreturn]] void fail(ErrorCode code, const std::string &message) const;
  [[noreturn]] void typeError(const std::string &message) const {
    fail(ErrorCode::InvalidArgument, message);
  }
  // Fails with an Undefined's own message (jinja2's UndefinedError).
  [[noreturn]] void undefinedError(const Value &undefined) const;
  // Counts work against RenderLimits::maxSteps.
  void charge(uint64_t steps);
  // Fails when a string of this many bytes would pass the output limit.
  void checkSize(size_t size) const;
  // Fails when a list of this many items would pass its limit (output limit / 8).
  void checkItems(size_t count) const;

  Value getAttr(const Value &target, const std::string &name);
  Value getItem(const Value &target, const Value &key);
  Value callValue(const Value &callee, CallArgs &args);
  // Items of a for loop over the value (dict keys, string code points, ...).
  std::vector<Value> iterate(const Value &v);
  Value binary(BinaryOp op, const Value &a, const Value &b);
  bool compare(CompareOp op, const Value &a, const Value &b);
  bool contains(const Value &container, const Value &item);
  // Looks a filter / test up by name at render time (select('odd'), map('upper')).
  Value applyFilter(const std::string &name, const Value &subject, CallArgs &args);
  bool applyTest(const std::string &name, const Value &subject, CallArgs &args);
  // Namespaces are the only mutable values, so every reference cycle runs through one;
  // the interpreter empties them when it ends so such cycles are freed.
  void adoptNamespace(std::shared_ptr<DictData> ns) { namespaces_.push_back(std::move(ns)); }

private:
  enum class Flow { Normal, Break, Continue };

  Flow exec(const StmtList &body, Frame &frame);
  Flow execOne(const Stmt &s, Frame &frame);
  void execFor(const Stmt &s, Frame &frame);
  void assign(const Target &target, const Value &value, Frame &frame);
  // The variables of `frame` and its parents below the root, copied for a macro or caller
  // that may outlive them; null at the root, which lives as long as the render.
  std::shared_ptr<Frame> closureOf(Frame &frame);
  Value defineMacro(const Stmt &s, Frame &frame);
  Value macroValue(const Stmt &s, std::shared_ptr<Frame> closure);
  Value callMacro(const Stmt &s, const std::shared_ptr<Frame> &closure, CallArgs &args);
  std::string capture(const StmtList &body, Frame &frame);

  Value eval(const Expr &e, Frame &frame);
  Value evalCall(const Expr &e, Frame &frame);
  CallArgs evalArgs(const Expr &e, Frame &frame);
  Value evalFilter(const Expr &e, Frame &frame, const Value *blockBody);
  Value lookup(const std::string &name, Frame &frame);
  Value slice(const Value &target, const Value &start, const Value &stop, const Value &step);

  void emit(std::string_view text);

  const RenderLimits &limits_;
  std::string *out_;
  Frame *root_ = nullptr;
  const Expr *currentExpr_ = nullptr;
  const Stmt *currentStmt_ = nullptr;
  uint64_t steps_ = 0;
  unsigned callDepth_ = 0;
  unsigned evalDepth_ = 0;
  std::vector<std::shared_ptr<DictData>> namespaces_;
  friend struct EvalDepthGuard;
};

} // namespace modelrt::tmpl
