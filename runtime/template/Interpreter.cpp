#include "runtime/template/Interpreter.h"
#include "runtime/template/Builtins.h"
#include "runtime/template/PyText.h"

#include <cmath>

namespace modelrt::tmpl {

namespace {

// Nested evaluations (expressions, statements, macro bodies) allowed at once; keeps the
// native stack well below a megabyte whatever the template does.
constexpr unsigned kMaxEvalDepth = 2000;

bool addOverflows(int64_t a, int64_t b, int64_t &r) { return __builtin_add_overflow(a, b, &r); }
bool subOverflows(int64_t a, int64_t b, int64_t &r) { return __builtin_sub_overflow(a, b, &r); }
bool mulOverflows(int64_t a, int64_t b, int64_t &r) { return __builtin_mul_overflow(a, b, &r); }

// Python's float floor division and modulo (Objects/floatobject.c float_divmod).
void floatDivmod(double vx, double wx, double &floordiv, double &mod) {
  mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0.0) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, wx);
  }
  if (div != 0.0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5)
      floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, vx / wx);
  }
}

const char *opSymbol(BinaryOp op) {
  switch (op) {
  case BinaryOp::Add:
    return "+";
  case BinaryOp::Sub:
    return "-";
  case BinaryOp::Mul:
    return "*";
  case BinaryOp::Div:
    return "/";
  case BinaryOp::FloorDiv:
    return "//";
  case BinaryOp::Mod:
    return "%";
  case BinaryOp::Pow:
    return "** or pow()";
  }
  return "?";
}

} // namespace

struct EvalDepthGuard {
  Interpreter &in;
  explicit EvalDepthGuard(Interpreter &interp) : in(interp) {
    if (++in.evalDepth_ > kMaxEvalDepth)
      in.fail(ErrorCode::ResourceExhausted,
              "template nests deeper than " + std::to_string(kMaxEvalDepth) + " evaluations");
  }
  ~EvalDepthGuard() { --in.evalDepth_; }
};

const Value *Frame::find(std::string_view name) const {
  for (const auto &[k, v] : vars)
    if (k == name)
      return &v;
  return nullptr;
}

void Frame::set(const std::string &name, Value value) {
  for (auto &[k, v] : vars)
    if (k == name) {
      v = std::move(value);
      return;
    }
  vars.emplace_back(name, std::move(value));
}

Interpreter::Interpreter(const RenderLimits &limits, std::string &out)
    : limits_(limits), out_(&out) {}

Interpreter::~Interpreter() {
  for (auto &ns : namespaces_)
    ns->clear();
}

void Interpreter::run(const Program &program, Frame &root) {
  root_ = &root;
  exec(program.body, root);
}

void Interpreter::fail(ErrorCode code, const std::string &message) const {
  uint32_t line = currentExpr_ ? currentExpr_->line : currentStmt_ ? currentStmt_->line : 0;
  throw Failure{code, line ? "line " + std::to_string(line) + ": " + message : message};
}

void Interpreter::undefinedError(const Value &undefined) const {
  fail(ErrorCode::InvalidArgument,
       undefined.str().empty() ? std::string("value is undefined") : undefined.str());
}

void Interpreter::charge(uint64_t steps) {
  steps_ += steps;
  if (steps_ > limits_.maxSteps)
    fail(ErrorCode::ResourceExhausted,
         "template exceeded its work limit of " + std::to_string(limits_.maxSteps) + " steps");
}

void Interpreter::checkItems(size_t count) const {
  if (count > limits_.maxOutputBytes / 8)
    fail(ErrorCode::ResourceExhausted,
         "a list grew past " + std::to_string(limits_.maxOutputBytes / 8) + " items");
}

void Interpreter::checkSize(size_t size) const {
  if (size > limits_.maxOutputBytes)
    fail(ErrorCode::ResourceExhausted, "a value grew past the output limit of " +
                                           std::to_string(limits_.maxOutputBytes) + " bytes");
}

void Interpreter::emit(std::string_view text) {
  if (out_->size() + text.size() > limits_.maxOutputBytes)
    fail(ErrorCode::ResourceExhausted, "rendered output exceeds the limit of " +
                                           std::to_string(limits_.maxOutputBytes) + " bytes");
  out_->append(text);
}

std::string Interpreter::capture(const StmtList &body, Frame &frame) {
  std::string buffer;
  std::string *saved = out_;
  out_ = &buffer;
  struct Restore {
    Interpreter &in;
    std::string *saved;
    ~Restore() { in.out_ = saved; }
  } restore{*this, saved};
  exec(body, frame);
  return buffer;
}

// --- statements -------------------------------------------------------------------------

Interpreter::Flow Interpreter::exec(const StmtList &body, Frame &frame) {
  for (const auto &s : body) {
    Flow flow = execOne(*s, frame);
    if (flow != Flow::Normal)
      return flow;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::execOne(const Stmt &s, Frame &frame) {
  EvalDepthGuard guard(*this);
  currentStmt_ = &s;
  currentExpr_ = nullptr;
  switch (s.kind) {
  case StmtKind::Text:
    emit(s.text);
    return Flow::Normal;
  case StmtKind::Print: {
    Value v = eval(*s.exprs[0], frame);
    if (v.is(Kind::String)) {
      emit(v.str());
    } else {
      std::string text;
      appendStr(text, v);
      emit(text);
    }
    return Flow::Normal;
  }
  case StmtKind::If:
    for (size_t k = 0; k < s.exprs.size(); ++k)
      if (eval(*s.exprs[k], frame).truthy())
        return exec(s.bodies[k], frame);
    if (s.bodies.size() > s.exprs.size())
      return exec(s.bodies.back(), frame);
    return Flow::Normal;
  case StmtKind::For:
    execFor(s, frame);
    return Flow::Normal;
  case StmtKind::Set:
    assign(s.targets[0], eval(*s.exprs[0], frame), frame);
    return Flow::Normal;
  case StmtKind::SetBlock: {
    Frame inner{&frame, {}};
    Value body = Value::string(capture(s.bodies[0], inner));
    assign(s.targets[0], s.exprs[0] ? evalFilter(*s.exprs[0], frame, &body) : body, frame);
    return Flow::Normal;
  }
  case StmtKind::Macro:
    frame.set(s.text, defineMacro(s, frame));
    return Flow::Normal;
  case StmtKind::CallBlock: {
    const Expr &call = *s.exprs[0];
    // The body becomes `caller`, which sees the variables where the call block stands. It
    // holds its own copy of them: a macro may keep `caller` past the end of this block.
    std::shared_ptr<Frame> closure = closureOf(frame);
    const Stmt *block = &s;
    Value caller = Value::callable("caller", [block, closure](Interpreter &in, CallArgs &args) {
      Frame inner{closure ? closure.get() : in.root_, {}};
      for (size_t k = 0; k < block->params.size(); ++k) {
        if (k < args.positional.size())
          inner.set(block->params[k], args.positional[k]);
        else if (block->defaults[k])
          inner.set(block->params[k], in.eval(*block->defaults[k], inner));
      }
      return Value::string(in.capture(block->bodies[0], inner));
    });
    Value callee = eval(*call.target, frame);
    CallArgs args = evalArgs(call, frame);
    args.keyword.emplace_back("caller", caller);
    currentStmt_ = &s;
    Value result = callValue(callee, args);
    std::string text;
    appendStr(text, result);
    emit(text);
    return Flow::Normal;
  }
  case StmtKind::FilterBlock: {
    Frame inner{&frame, {}};
    Value body = Value::string(capture(s.bodies[0], inner));
    Value result = evalFilter(*s.exprs[0], frame, &body);
    std::string text;
    appendStr(text, result);
    emit(text);
    return Flow::Normal;
  }
  case StmtKind::With: {
    Frame inner{&frame, {}};
    std::vector<Value> values;
    for (const auto &e : s.exprs)
      values.push_back(eval(*e, frame));
    for (size_t k = 0; k < s.targets.size(); ++k)
      assign(s.targets[k], values[k], inner);
    return exec(s.bodies[0], inner);
  }
  case StmtKind::Break:
    return Flow::Break;
  case StmtKind::Continue:
    return Flow::Continue;
  case StmtKind::Generation: {
    Frame inner{&frame, {}};
    exec(s.bodies[0], inner);
    return Flow::Normal;
  }
  }
  return Flow::Normal;
}

void Interpreter::execFor(const Stmt &s, Frame &frame) {
  std::vector<Value> items = iterate(eval(*s.exprs[0], frame));
  if (s.hasFilter) {
    std::vector<Value> kept;
    for (auto &item : items) {
      charge(1);
      Frame probe{&frame, {}};
      assign(s.targets[0], item, probe);
      if (eval(*s.exprs[1], probe).truthy())
        kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    if (!s.bodies[1].empty()) {
      Frame inner{&frame, {}};
      exec(s.bodies[1], inner);
    }
    return;
  }
  std::shared_ptr<LoopData> loop;
  if (s.usesLoop) {
    loop = std::make_shared<LoopData>();
    loop->items = std::make_shared<ListData>();
    loop->items->items = items;
    chargeMemory(*loop->items, items.size() * sizeof(Value));
  }
  for (size_t k = 0; k < items.size(); ++k) {
    charge(1);
    Frame iteration{&frame, {}};
    assign(s.targets[0], items[k], iteration);
    if (loop) {
      loop->index0 = k;
      iteration.set("loop", Value::loop(loop));
    }
    if (exec(s.bodies[0], iteration) == Flow::Break)
      break;
  }
}

void Interpreter::assign(const Target &target, const Value &value, Frame &frame) {
  switch (target.kind) {
  case Target::Kind::Name:
    frame.set(target.name, value);
    return;
  case Target::Kind::Tuple: {
    if (value.isUndefined())
      undefinedError(value);
    std::vector<Value> items = iterate(value);
    if (items.size() < target.items.size())
      typeError("not enough values to unpack (expected " + std::to_string(target.items.size()) +
                ", got " + std::to_string(items.size()) + ")");
    if (items.size() > target.items.size())
      typeError("too many values to unpack (expected " + std::to_string(target.items.size()) + ")");
    for (size_t k = 0; k < items.size(); ++k)
      assign(target.items[k], items[k], frame);
    return;
  }
  case Target::Kind::NamespaceAttr: {
    Value ns = lookup(target.name, frame);
    if (!ns.is(Kind::Namespace))
      fail(ErrorCode::InvalidArgument, "cannot assign attribute on non-namespace object");
    if (!target.attr.empty() && target.attr[0] == '_')
      fail(ErrorCode::InvalidArgument,
           "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" +
               target.attr + "'. Please rename the attribute.");
    ns.namespaceData().set(target.attr, value);
    return;
  }
  }
}

std::shared_ptr<Frame> Interpreter::closureOf(Frame &frame) {
  if (&frame == root_)
    return nullptr;
  auto closure = std::make_shared<Frame>();
  closure->parent = root_;
  for (Frame *f = &frame; f && f != root_; f = f->parent)
    for (const auto &[name, value] : f->vars)
      if (!closure->find(name))
        closure->vars.emplace_back(name, value);
  return closure;
}

Value Interpreter::defineMacro(const Stmt &s, Frame &frame) {
  // A macro sees the template's top-level variables as they are when it is called. One
  // defined inside a loop or block also sees that block's variables, as they were when it
  // was defined (Jinja binds them as closure cells).
  return macroValue(s, closureOf(frame));
}

Value Interpreter::macroValue(const Stmt &s, std::shared_ptr<Frame> closure) {
  const Stmt *macro = &s;
  return Value::callable(s.text, [macro, closure](Interpreter &in, CallArgs &args) {
    return in.callMacro(*macro, closure, args);
  });
}

Value Interpreter::callMacro(const Stmt &s, const std::shared_ptr<Frame> &closure, CallArgs &args) {
  if (callDepth_ >= limits_.maxCallDepth)
    fail(ErrorCode::ResourceExhausted,
         "macro calls nest deeper than " + std::to_string(limits_.maxCallDepth));
  ++callDepth_;
  struct Pop {
    unsigned &depth;
    ~Pop() { --depth; }
  } pop{callDepth_};
  Frame frame{closure ? closure.get() : root_, {}};
  if (closure && !closure->find(s.text))
    frame.set(s.text, macroValue(s, closure)); // so it can call itself
  if (args.positional.size() > s.params.size() && !s.usesVarargs)
    typeError("macro '" + s.text + "' takes not more than " + std::to_string(s.params.size()) +
              " argument(s)");
  std::vector<bool> bound(s.params.size(), false);
  std::vector<Value> varargs;
  for (size_t k = 0; k < args.positional.size(); ++k) {
    if (k < s.params.size()) {
      frame.set(s.params[k], args.positional[k]);
      bound[k] = true;
    } else {
      varargs.push_back(args.positional[k]);
    }
  }
  auto kwargs = std::make_shared<DictData>();
  Value caller;
  for (auto &[name, value] : args.keyword) {
    size_t k = 0;
    while (k < s.params.size() && s.params[k] != name)
      ++k;
    if (k < s.params.size()) {
      if (bound[k])
        typeError("macro '" + s.text + "' got multiple values for argument '" + name + "'");
      frame.set(name, value);
      bound[k] = true;
    } else if (name == "caller" && s.usesCaller) {
      caller = value;
    } else if (s.usesKwargs) {
      kwargs->set(name, value);
    } else {
      typeError("macro '" + s.text + "' takes no keyword argument '" + name + "'");
    }
  }
  for (size_t k = 0; k < s.params.size(); ++k) {
    if (bound[k])
      continue;
    if (s.defaults[k])
      frame.set(s.params[k], eval(*s.defaults[k], frame));
    else
      frame.set(s.params[k], Value::undefined("parameter '" + s.params[k] + "' was not provided"));
  }
  frame.set("varargs", Value::list(std::move(varargs), true));
  frame.set("kwargs", Value::dict(std::move(kwargs)));
  if (!caller.isUndefined())
    frame.set("caller", caller);
  const Stmt *savedStmt = currentStmt_;
  std::string text = capture(s.bodies[0], frame);
  currentStmt_ = savedStmt;
  return Value::string(std::move(text));
}

// --- expressions ------------------------------------------------------------------------

Value Interpreter::lookup(const std::string &name, Frame &frame) {
  for (Frame *f = &frame; f; f = f->parent)
    if (const Value *v = f->find(name))
      return *v;
  Value global = globalValue(name);
  if (!global.isUndefined())
    return global;
  return Value::undefined("'" + name + "' is undefined");
}

Value Interpreter::eval(const Expr &e, Frame &frame) {
  EvalDepthGuard guard(*this);
  currentExpr_ = &e;
  switch (e.kind) {
  case ExprKind::Literal:
    return e.literal;
  case ExprKind::Name:
    return lookup(e.name, frame);
  case ExprKind::List:
  case ExprKind::Tuple: {
    std::vector<Value> items;
    items.reserve(e.args.size());
    for (const auto &a : e.args)
      items.push_back(eval(*a, frame));
    return Value::list(std::move(items), e.kind == ExprKind::Tuple);
  }
  case ExprKind::Dict: {
    auto d = std::make_shared<DictData>();
    for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
      Value key = eval(*e.args[k], frame);
      Value value = eval(*e.args[k + 1], frame);
      if (!key.is(Kind::String)) {
        currentExpr_ = &e;
        fail(ErrorCode::Unsupported, "dict keys must be strings in chat templates");
      }
      d->set(key.str(), std::move(value));
    }
    return Value::dict(std::move(d));
  }
  case ExprKind::Attr: {
    Value target = eval(*e.target, frame);
    currentExpr_ = &e;
    return getAttr(target, e.name);
  }
  case ExprKind::Item: {
    Value target = eval(*e.target, frame);
    const Expr &index = *e.args[0];
    if (index.kind == ExprKind::Slice) {
      Value parts[3];
      for (int k = 0; k < 3; ++k)
        parts[k] = index.args[k] ? eval(*index.args[k], frame) : Value::none();
      currentExpr_ = &e;
      if (target.isUndefined())
        undefinedError(target);
      return slice(target, parts[0], parts[1], parts[2]);
    }
    Value key = eval(index, frame);
    currentExpr_ = &e;
    return getItem(target, key);
  }
  case ExprKind::Slice:
    fail(ErrorCode::Internal, "slice outside a subscript");
  case ExprKind::Call:
    return evalCall(e, frame);
  case ExprKind::Filter:
    return evalFilter(e, frame, nullptr);
  case ExprKind::Test: {
    Value subject = eval(*e.target, frame);
    CallArgs args = evalArgs(e, frame);
    currentExpr_ = &e;
    if (!e.builtin)
      fail(ErrorCode::InvalidArgument, "No test named '" + e.name + "' found.");
    if (!e.builtin->test)
      fail(ErrorCode::Unsupported, "the '" + e.name + "' test is not supported");
    charge(1);
    return Value::boolean(e.builtin->test(*this, subject, args) != e.negated);
  }
  case ExprKind::Not:
    return Value::boolean(!eval(*e.target, frame).truthy());
  case ExprKind::Neg:
  case ExprKind::Pos: {
    Value v = eval(*e.target, frame);
    currentExpr_ = &e;
    if (v.isUndefined())
      undefinedError(v);
    if (e.kind == ExprKind::Pos) {
      if (!v.isNumber())
        typeError(std::string("bad operand type for unary +: '") + v.typeName() + "'");
      return v.is(Kind::Bool) ? Value::integer(v.asInt()) : v;
    }
    if (v.is(Kind::Float))
      return Value::real(-v.asFloat());
    if (v.isIntegral()) {
      if (v.asInt() == INT64_MIN)
        fail(ErrorCode::Unsupported, "integer overflow");
      return Value::integer(-v.asInt());
    }
    typeError(std::string("bad operand type for unary -: '") + v.typeName() + "'");
  }
  case ExprKind::Binary: {
    Value a = eval(*e.args[0], frame);
    Value b = eval(*e.args[1], frame);
    currentExpr_ = &e;
    return binary(e.binop, a, b);
  }
  case ExprKind::And: {
    Value a = eval(*e.args[0], frame);
    return a.truthy() ? eval(*e.args[1], frame) : a;
  }
  case ExprKind::Or: {
    Value a = eval(*e.args[0], frame);
    return a.truthy() ? a : eval(*e.args[1], frame);
  }
  case ExprKind::Compare: {
    Value left = eval(*e.args[0], frame);
    for (size_t k = 0; k < e.compareOps.size(); ++k) {
      Value right = eval(*e.args[k + 1], frame);
      currentExpr_ = &e;
      if (!compare(e.compareOps[k], left, right))
        return Value::boolean(false);
      left = std::move(right);
    }
    return Value::boolean(true);
  }
  case ExprKind::Concat: {
    std::string out;
    for (const auto &a : e.args) {
      Value v = eval(*a, frame);
      appendStr(out, v);
      currentExpr_ = &e;
      checkSize(out.size());
    }
    charge(1 + out.size() / 64);
    return Value::string(std::move(out));
  }
  case ExprKind::Cond:
    if (eval(*e.args[1], frame).truthy())
      return eval(*e.args[0], frame);
    if (e.args[2])
      return eval(*e.args[2], frame);
    return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                            " evaluated to false and no else section was defined.");
  }
  return Value();
}

CallArgs Interpreter::evalArgs(const Expr &e, Frame &frame) {
  CallArgs args;
  for (const auto &a : e.args)
    args.positional.push_back(eval(*a, frame));
  if (e.starArgs) {
    Value extra = eval(*e.starArgs, frame);
    for (auto &v : iterate(extra))
      args.positional.push_back(std::move(v));
  }
  for (const auto &[name, value] : e.kwargs)
    args.keyword.emplace_back(name, eval(*value, frame));
  if (e.starKwargs) {
    Value extra = eval(*e.starKwargs, frame);
    currentExpr_ = &e;
    if (!extra.is(Kind::Dict))
      typeError("argument after ** must be a mapping");
    for (const auto &[name, value] : extra.dictData().items)
      args.keyword.emplace_back(name, value);
  }
  return args;
}

Value Interpreter::evalCall(const Expr &e, Frame &frame) {
  if (e.target->kind == ExprKind::Attr) {
    // obj.method(...): Python finds the method before any dict key of that name.
    Value receiver = eval(*e.target->target, frame);
    CallArgs args = evalArgs(e, frame);
    currentExpr_ = &e;
    if (receiver.isUndefined())
      undefinedError(receiver);
    const std::string &name = e.target->name;
    switch (lookupMethod(receiver, name)) {
    case MethodLookup::Safe:
      charge(1);
      return callMethod(*this, receiver, name, args);
    case MethodLookup::Unsafe:
      fail(ErrorCode::InvalidArgument,
           "access to attribute '" + name + "' of '" + receiver.typeName() + "' object is unsafe.");
    case MethodLookup::None:
      break;
    }
    return callValue(getAttr(receiver, name), args);
  }
  Value callee = eval(*e.target, frame);
  CallArgs args = evalArgs(e, frame);
  currentExpr_ = &e;
  return callValue(callee, args);
}

Value Interpreter::evalFilter(const Expr &e, Frame &frame, const Value *blockBody) {
  Value subject = e.target ? (e.target->kind == ExprKind::Filter && blockBody
                                  ? evalFilter(*e.target, frame, blockBody)
                                  : eval(*e.target, frame))
                           : *blockBody;
  CallArgs args = evalArgs(e, frame);
  currentExpr_ = &e;
  if (!e.builtin)
    fail(ErrorCode::InvalidArgument, "No filter named '" + e.name + "' found.");
  if (!e.builtin->filter)
    fail(ErrorCode::Unsupported, "the '" + e.name + "' filter is not supported");
  charge(1);
  return e.builtin->filter(*this, subject, args);
}

Value Interpreter::applyFilter(const std::string &name, const Value &subject, CallArgs &args) {
  const Builtin *b = findFilter(name);
  if (!b)
    fail(ErrorCode::InvalidArgument, "No filter named '" + name + "'.");
  if (!b->filter)
    fail(ErrorCode::Unsupported, "the '" + name + "' filter is not supported");
  charge(1);
  return b->filter(*this, subject, args);
}

bool Interpreter::applyTest(const std::string &name, const Value &subject, CallArgs &args) {
  const Builtin *b = findTest(name);
  if (!b)
    fail(ErrorCode::InvalidArgument, "No test named '" + name + "'.");
  if (!b->test)
    fail(ErrorCode::Unsupported, "the '" + name + "' test is not supported");
  charge(1);
  return b->test(*this, subject, args);
}

Value Interpreter::callValue(const Value &callee, CallArgs &args) {
  if (callee.is(Kind::Callable)) {
    charge(1);
    return callee.callableData().fn(*this, args);
  }
  if (callee.isUndefined())
    undefinedError(callee);
  typeError(std::string("'") + callee.typeName() + "' object is not callable");
}

Value Interpreter::getAttr(const Value &target, const std::string &name) {
  switch (lookupMethod(target, name)) {
  case MethodLookup::Safe: {
    Value receiver = target;
    return Value::callable(name, [receiver, name](Interpreter &in, CallArgs &args) {
      return callMethod(in, receiver, name, args);
    });
  }
  case MethodLookup::Unsafe:
    return Value::undefined(std::string("access to attribute '") + name + "' of '" +
                                target.typeName() + "' object is unsafe.",
                            true);
  case MethodLookup::None:
    break;
  }
  switch (target.kind()) {
  case Kind::Undefined:
    undefinedError(target);
  case Kind::Dict:
  case Kind::Namespace:
    if (const Value *v = target.dictData().find(name))
      return *v;
    break;
  case Kind::Loop: {
    const LoopData &l = target.loopData();
    const auto &items = l.items->items;
    int64_t n = static_cast<int64_t>(items.size()), i = static_cast<int64_t>(l.index0);
    if (name == "index")
      return Value::integer(i + 1);
    if (name == "index0")
      return Value::integer(i);
    if (name == "revindex")
      return Value::integer(n - i);
    if (name == "revindex0")
      return Value::integer(n - i - 1);
    if (name == "first")
      return Value::boolean(i == 0);
    if (name == "last")
      return Value::boolean(i == n - 1);
    if (name == "length")
      return Value::integer(n);
    if (name == "depth")
      return Value::integer(static_cast<int64_t>(l.depth0) + 1);
    if (name == "depth0")
      return Value::integer(static_cast<int64_t>(l.depth0));
    if (name == "previtem")
      return i > 0 ? items[static_cast<size_t>(i - 1)]
                   : Value::undefined("there is no previous item");
    if (name == "nextitem")
      return i + 1 < n ? items[static_cast<size_t>(i + 1)]
                       : Value::undefined("there is no next item");
    break;
  }
  default:
    break;
  }
  return Value::undefined(std::string("'") + target.typeName() + " object' has no attribute '" +
                          name + "'");
}

Value Interpreter::getItem(const Value &target, const Value &key) {
  switch (target.kind()) {
  case Kind::Undefined:
    undefinedError(target);
  case Kind::Dict:
    if (key.is(Kind::String)) {
      if (const Value *v = target.dictData().find(key.str()))
        return *v;
      return getAttr(target, key.str()); // then methods, as the sandbox does
    }
    break;
  case Kind::List:
  case Kind::String:
    if (key.isIntegral()) {
      int64_t i = key.asInt();
      if (target.is(Kind::List)) {
        const auto &items = target.listData().items;
        int64_t n = static_cast<int64_t>(items.size());
        if (i < 0)
          i += n;
        if (i >= 0 && i < n)
          return items[static_cast<size_t>(i)];
      } else {
        const std::string &s = target.str();
        int64_t n = static_cast<int64_t>(py::isAscii(s) ? s.size() : py::length(s));
        if (i < 0)
          i += n;
        if (i >= 0 && i < n) {
          if (py::isAscii(s))
            return Value::string(std::string(1, s[static_cast<size_t>(i)]));
          size_t begin = py::byteOffset(s, static_cast<size_t>(i));
          size_t end = begin;
          py::decode(s, end);
          return Value::string(s.substr(begin, end - begin));
        }
      }
      return Value::undefined(std::string(target.typeName()) + " object has no element " +
                              std::to_string(key.asInt()));
    }
    if (key.is(Kind::String))
      return getAttr(target, key.str());
    break;
  case Kind::Namespace:
  case Kind::Loop:
    if (key.is(Kind::String))
      return getAttr(target, key.str());
    break;
  default:
    break;
  }
  std::string shown;
  appendRepr(shown, key);
  if (key.is(Kind::String))
    return Value::undefined(std::string("'") + target.typeName() + " object' has no attribute " +
                            shown);
  return Value::undefined(std::string(target.typeName()) + " object has no element " + shown);
}

Value Interpreter::slice(const Value &target, const Value &startV, const Value &stopV,
                         const Value &stepV) {
  auto isIndex = [](const Value &v) { return v.is(Kind::None) || v.isIntegral(); };
  if (!(target.is(Kind::List) || target.is(Kind::String)) || !isIndex(startV) || !isIndex(stopV) ||
      !isIndex(stepV))
    return Value::undefined(std::string("'") + target.typeName() + " object' cannot be sliced");
  int64_t step = stepV.is(Kind::None) ? 1 : stepV.asInt();
  if (step == 0)
    fail(ErrorCode::InvalidArgument, "slice step cannot be zero");
  std::vector<std::string_view> cps;
  bool ascii = target.is(Kind::String) && py::isAscii(target.str());
  if (target.is(Kind::String) && !ascii)
    cps = py::codePoints(target.str());
  int64_t n = target.is(Kind::List) ? static_cast<int64_t>(target.listData().items.size())
              : ascii               ? static_cast<int64_t>(target.str().size())
                                    : static_cast<int64_t>(cps.size());
  // PySlice_AdjustIndices
  auto adjust = [&](const Value &v, int64_t dflt) {
    if (v.is(Kind::None))
      return dflt;
    int64_t i = v.asInt();
    if (i < 0) {
      i += n;
      if (i < 0)
        i = step < 0 ? -1 : 0;
    } else if (i >= n) {
      i = step < 0 ? n - 1 : n;
    }
    return i;
  };
  int64_t start = adjust(startV, step < 0 ? n - 1 : 0);
  int64_t stop = adjust(stopV, step < 0 ? -1 : n);
  std::vector<int64_t> picks;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
    picks.push_back(i);
  charge(1 + picks.size());
  if (target.is(Kind::List)) {
    const auto &items = target.listData().items;
    std::vector<Value> out;
    out.reserve(picks.size());
    for (int64_t i : picks)
      out.push_back(items[static_cast<size_t>(i)]);
    return Value::list(std::move(out), target.listData().tuple);
  }
  std::string out;
  for (int64_t i : picks) {
    if (ascii)
      out += target.str()[static_cast<size_t>(i)];
    else
      out += cps[static_cast<size_t>(i)];
  }
  return Value::string(std::move(out));
}

std::vector<Value> Interpreter::iterate(const Value &v) {
  std::vector<Value> items;
  switch (v.kind()) {
  case Kind::Undefined:
    if (v.unsafeUndefined())
      undefinedError(v);
    return items;
  case Kind::List:
    items = v.listData().items;
    break;
  case Kind::Dict:
    for (const auto &kv : v.dictData().items)
      items.push_back(Value::string(kv.first));
    break;
  case Kind::String:
    checkItems(v.str().size());
    for (std::string_view cp : py::codePoints(v.str()))
      items.push_back(Value::string(std::string(cp)));
    break;
  default:
    typeError(std::string("'") + v.typeName() + "' object is not iterable");
  }
  charge(items.size());
  return items;
}

bool Interpreter::contains(const Value &container, const Value &item) {
  switch (container.kind()) {
  case Kind::String:
    if (!item.is(Kind::String))
      typeError(std::string("'in <string>' requires string as left operand, not ") +
                item.typeName());
    return container.str().find(item.str()) != std::string::npos;
  case Kind::List:
    charge(container.listData().items.size());
    for (const auto &v : container.listData().items)
      if (equals(v, item))
        return true;
    return false;
  case Kind::Dict:
    if (item.is(Kind::List) && !item.listData().tuple)
      typeError("unhashable type: 'list'");
    if (item.is(Kind::Dict) || item.is(Kind::Namespace))
      typeError(std::string("unhashable type: '") + item.typeName() + "'");
    return item.is(Kind::String) && container.dictData().find(item.str()) != nullptr;
  case Kind::Undefined:
    return false;
  default:
    typeError(std::string("argument of type '") + container.typeName() + "' is not iterable");
  }
}

bool Interpreter::compare(CompareOp op, const Value &a, const Value &b) {
  switch (op) {
  case CompareOp::Eq:
    return equals(a, b);
  case CompareOp::Ne:
    return !equals(a, b);
  case CompareOp::In:
    return contains(b, a);
  case CompareOp::NotIn:
    return !contains(b, a);
  default:
    break;
  }
  if (a.isUndefined())
    undefinedError(a);
  if (b.isUndefined())
    undefinedError(b);
  if (a.isNumber() && b.isNumber() && (a.is(Kind::Float) || b.is(Kind::Float))) {
    double x = a.asFloat(), y = b.asFloat();
    switch (op) {
    case CompareOp::Lt:
      return x < y;
    case CompareOp::Le:
      return x <= y;
    case CompareOp::Gt:
      return x > y;
    default:
      return x >= y;
    }
  }
  static const char *const kSymbols[] = {"==", "!=", "<", "<=", ">", ">="};
  bool less = false;
  bool swapped = op == CompareOp::Gt || op == CompareOp::Le;
  if (!lessThan(swapped ? b : a, swapped ? a : b, less))
    typeError(std::string("'") + kSymbols[static_cast<int>(op)] +
              "' not supported between instances of '" + a.typeName() + "' and '" + b.typeName() +
              "'");
  // Lt: a<b; Gt: b<a; Le: !(b<a); Ge: !(a<b)
  return (op == CompareOp::Lt || op == CompareOp::Gt) ? less : !less;
}

Value Interpreter::binary(BinaryOp op, const Value &a, const Value &b) {
  if (a.isUndefined())
    undefinedError(a);
  if (op == BinaryOp::Mod && a.is(Kind::String)) // str.__mod__ runs before Undefined's
    return percentFormat(*this, a.str(), b);
  if (b.isUndefined())
    undefinedError(b);
  auto unsupported = [&]() {
    typeError(std::string("unsupported operand type(s) for ") + opSymbol(op) + ": '" +
              a.typeName() + "' and '" + b.typeName() + "'");
  };
  if (a.isNumber() && b.isNumber()) {
    bool ints = a.isIntegral() && b.isIntegral();
    int64_t x = a.asInt(), y = b.asInt(), r = 0;
    double fx = a.asFloat(), fy = b.asFloat();
    switch (op) {
    case BinaryOp::Add:
      if (!ints)
        return Value::real(fx + fy);
      if (addOverflows(x, y, r))
        fail(ErrorCode::Unsupported, "integer overflow");
      return Value::integer(r);
    case BinaryOp::Sub:
      if (!ints)
        return Value::real(fx - fy);
      if (subOverflows(x, y, r))
        fail(ErrorCode::Unsupported, "integer overflow");
      return Value::integer(r);
    case BinaryOp::Mul:
      if (!ints)
        return Value::real(fx * fy);
      if (mulOverflows(x, y, r))
        fail(ErrorCode::Unsupported, "integer overflow");
      return Value::integer(r);
    case BinaryOp::Div:
      if (fy == 0.0)
        fail(ErrorCode::InvalidArgument, "division by zero");
      return Value::real(fx / fy);
    case BinaryOp::FloorDiv:
    case BinaryOp::Mod:
      if (ints) {
        if (y == 0)
          fail(ErrorCode::InvalidArgument, "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1)
          fail(ErrorCode::Unsupported, "integer overflow");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
          m += y;
          q -= 1;
        }
        return Value::integer(op == BinaryOp::FloorDiv ? q : m);
      } else {
        if (fy == 0.0)
          fail(ErrorCode::InvalidArgument,
               op == BinaryOp::Mod ? "float modulo" : "float floor division by zero");
        double q, m;
        floatDivmod(fx, fy, q, m);
        return Value::real(op == BinaryOp::FloorDiv ? q : m);
      }
    case BinaryOp::Pow:
      if (ints && y >= 0) {
        int64_t result = 1, base = x;
        for (int64_t e = y; e > 0; e >>= 1) {
          if ((e & 1) && mulOverflows(result, base, result))
            fail(ErrorCode::Unsupported, "integer overflow");
          if (e > 1 && mulOverflows(base, base, base))
            fail(ErrorCode::Unsupported, "integer overflow");
        }
        return Value::integer(result);
      }
      if (fx == 0.0 && fy < 0)
        fail(ErrorCode::InvalidArgument, "0.0 cannot be raised to a negative power");
      return Value::real(std::pow(fx, fy));
    }
  }
  if (op == BinaryOp::Add) {
    if (a.is(Kind::String) && b.is(Kind::String)) {
      checkSize(a.str().size() + b.str().size());
      charge(1 + (a.str().size() + b.str().size()) / 64);
      return Value::string(a.str() + b.str());
    }
    if (a.is(Kind::List) && b.is(Kind::List) && a.listData().tuple == b.listData().tuple) {
      const auto &x = a.listData().items, &y = b.listData().items;
      checkItems(x.size() + y.size());
      charge(1 + x.size() + y.size());
      std::vector<Value> items = x;
      items.insert(items.end(), y.begin(), y.end());
      return Value::list(std::move(items), a.listData().tuple);
    }
    if (a.is(Kind::String) || a.is(Kind::List))
      typeError(std::string("can only concatenate ") + a.typeName() + " (not \"" + b.typeName() +
                "\") to " + a.typeName());
    unsupported();
  }
  if (op == BinaryOp::Mul) {
    const Value *seq = (a.is(Kind::String) || a.is(Kind::List)) ? &a : &b;
    const Value *count = seq == &a ? &b : &a;
    if ((seq->is(Kind::String) || seq->is(Kind::List)) && count->isIntegral()) {
      int64_t n = std::max<int64_t>(count->asInt(), 0);
      size_t unit = seq->is(Kind::String) ? seq->str().size() : seq->listData().items.size();
      if (unit && static_cast<uint64_t>(n) > limits_.maxOutputBytes / unit)
        checkSize(limits_.maxOutputBytes + 1);
      if (seq->is(Kind::String))
        checkSize(unit * static_cast<size_t>(n));
      else
        checkItems(unit * static_cast<size_t>(n));
      charge(1 + unit * static_cast<size_t>(n) / 16);
      if (seq->is(Kind::String)) {
        std::string out;
        out.reserve(unit * static_cast<size_t>(n));
        for (int64_t k = 0; k < n; ++k)
          out += seq->str();
        return Value::string(std::move(out));
      }
      std::vector<Value> items;
      for (int64_t k = 0; k < n; ++k)
        items.insert(items.end(), seq->listData().items.begin(), seq->listData().items.end());
      return Value::list(std::move(items), seq->listData().tuple);
    }
  }
  unsupported();
  return Value();
}

} // namespace modelrt::tmpl
