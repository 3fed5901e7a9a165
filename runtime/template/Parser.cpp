#include "runtime/template/Parser.h"
#include "runtime/template/Builtins.h"

#include <algorithm>
#include <functional>

namespace modelrt::tmpl {

namespace {

// Nesting bounds that keep parsing and rendering far from the native stack limit.
constexpr uint32_t kMaxExprDepth = 256;
constexpr size_t kMaxStmtDepth = 128;

class Parser {
public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Program run() {
    Program program;
    program.body = subparse({});
    checkNames(program.body, false);
    return program;
  }

private:
  // --- token stream -------------------------------------------------------------------

  const Token &cur() const { return toks_[pos_]; }
  const Token &peek(size_t n = 1) const { return toks_[std::min(pos_ + n, toks_.size() - 1)]; }
  const Token &advance() {
    const Token &t = toks_[pos_];
    if (pos_ + 1 < toks_.size())
      ++pos_;
    return t;
  }
  bool isOp(const Token &t, std::string_view op) const { return t.kind == Tok::Op && t.text == op; }
  bool isName(const Token &t, std::string_view name) const {
    return t.kind == Tok::Name && t.text == name;
  }
  bool skipOp(std::string_view op) {
    if (!isOp(cur(), op))
      return false;
    advance();
    return true;
  }
  bool skipName(std::string_view name) {
    if (!isName(cur(), name))
      return false;
    advance();
    return true;
  }

  static std::string describe(const Token &t) {
    switch (t.kind) {
    case Tok::Text:
      return "template data";
    case Tok::VarBegin:
      return "begin of print statement";
    case Tok::VarEnd:
      return "end of print statement";
    case Tok::BlockBegin:
      return "begin of statement block";
    case Tok::BlockEnd:
      return "end of statement block";
    case Tok::Name:
    case Tok::Op:
      return t.text;
    case Tok::String:
      return "string";
    case Tok::Integer:
      return "integer";
    case Tok::Float:
      return "float";
    case Tok::Eof:
      return "end of template";
    }
    return "token";
  }

  [[noreturn]] void fail(const Token &at, const std::string &message,
                         ErrorCode code = ErrorCode::InvalidFormat) const {
    throw Failure{code, "line " + std::to_string(at.line) + ", column " +
                            std::to_string(at.column) + ": " + message};
  }
  [[noreturn]] void unexpected(const Token &t) const {
    fail(t, "unexpected '" + describe(t) + "'");
  }

  const Token &expectOp(std::string_view op) {
    if (!isOp(cur(), op))
      fail(cur(), "expected token '" + std::string(op) + "', got '" + describe(cur()) + "'");
    return advance();
  }
  const Token &expectKind(Tok kind, const char *what) {
    if (cur().kind != kind)
      fail(cur(), std::string("expected ") + what + ", got '" + describe(cur()) + "'");
    return advance();
  }
  const Token &expectName(std::string_view name) {
    if (!isName(cur(), name))
      fail(cur(), "expected token '" + std::string(name) + "', got '" + describe(cur()) + "'");
    return advance();
  }

  // --- node construction ----------------------------------------------------------------

  ExprPtr node(ExprKind kind, const Token &at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  ExprPtr node(ExprKind kind, const Expr &at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  // Records the subtree height; long operator chains and deep nesting both end here.
  ExprPtr finish(ExprPtr e) {
    uint32_t depth = 0;
    auto see = [&](const ExprPtr &c) {
      if (c)
        depth = std::max(depth, c->depth);
    };
    see(e->target);
    for (const auto &a : e->args)
      see(a);
    for (const auto &kv : e->kwargs)
      see(kv.second);
    see(e->starArgs);
    see(e->starKwargs);
    e->depth = depth + 1;
    if (e->depth > kMaxExprDepth)
      fail(Token{Tok::Eof, "", 0, 0, e->line, e->column}, "expression nested too deeply",
           ErrorCode::ResourceExhausted);
    return e;
  }

  StmtPtr stmt(StmtKind kind, const Token &at) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = at.line;
    s->column = at.column;
    return s;
  }

  // --- statements -----------------------------------------------------------------------

  // Parses until a block tag whose name is in `ends`; stops with that name as the current
  // token. At the end of the template it returns only when `ends` is empty.
  StmtList subparse(const std::vector<std::string> &ends) {
    StmtList body;
    while (cur().kind != Tok::Eof) {
      const Token &t = cur();
      if (t.kind == Tok::Text) {
        auto s = stmt(StmtKind::Text, t);
        s->text = t.text;
        body.push_back(std::move(s));
        advance();
      } else if (t.kind == Tok::VarBegin) {
        auto s = stmt(StmtKind::Print, t);
        advance();
        s->exprs.push_back(parseTuple(true, false, {}));
        expectKind(Tok::VarEnd, "end of print statement");
        body.push_back(std::move(s));
      } else if (t.kind == Tok::BlockBegin) {
        advance();
        if (cur().kind == Tok::Name &&
            std::find(ends.begin(), ends.end(), cur().text) != ends.end())
          return body;
        body.push_back(parseStatement());
        expectKind(Tok::BlockEnd, "end of statement block");
      } else {
        unexpected(t);
      }
    }
    if (!ends.empty())
      failUnknownTag(nullptr, ends);
    return body;
  }

  // Jinja's "unknown tag" / "unexpected end" message, naming what it was looking for.
  [[noreturn]] void failUnknownTag(const Token *tag, const std::vector<std::string> &looking) {
    std::string msg =
        tag ? "Encountered unknown tag '" + tag->text + "'." : "Unexpected end of template.";
    if (!looking.empty()) {
      std::string names;
      for (const auto &n : looking)
        names += (names.empty() ? "'" : " or '") + n + "'";
      bool expectedElsewhere = false;
      for (const auto &ends : endStack_)
        if (tag && std::find(ends.begin(), ends.end(), tag->text) != ends.end())
          expectedElsewhere = true;
      msg += expectedElsewhere ? " You probably made a nesting mistake. Jinja is expecting this "
                                 "tag, but currently looking for " +
                                     names + "."
                               : " Jinja was looking for the following tags: " + names + ".";
    }
    if (!tagStack_.empty())
      msg += " The innermost block that needs to be closed is '" + tagStack_.back() + "'.";
    fail(tag ? *tag : cur(), msg);
  }

  // parse_statements: `[:] %}` then the body up to one of `ends`.
  StmtList parseBody(const std::vector<std::string> &ends, bool dropNeedle) {
    skipOp(":");
    expectKind(Tok::BlockEnd, "end of statement block");
    endStack_.push_back(ends);
    StmtList body = subparse(ends);
    endStack_.pop_back();
    if (dropNeedle)
      advance();
    return body;
  }

  StmtPtr parseStatement() {
    const Token &t = cur();
    if (t.kind != Tok::Name)
      fail(t, "tag name expected");
    if (++stmtDepth_ > kMaxStmtDepth)
      fail(t, "statements nested too deeply", ErrorCode::ResourceExhausted);
    struct Pop {
      Parser &p;
      ~Pop() { --p.stmtDepth_; }
    } pop{*this};
    static const char *const kUnsupported[] = {"block", "extends",    "include", "import",
                                               "from",  "autoescape", "print"};
    for (const char *name : kUnsupported)
      if (t.text == name)
        fail(t, "the '" + t.text + "' tag is not supported in chat templates",
             ErrorCode::Unsupported);
    std::string name = t.text;
    using Fn = StmtPtr (Parser::*)();
    static const std::pair<const char *, Fn> kStatements[] = {
        {"if", &Parser::parseIf},
        {"for", &Parser::parseFor},
        {"set", &Parser::parseSet},
        {"macro", &Parser::parseMacro},
        {"call", &Parser::parseCallBlock},
        {"filter", &Parser::parseFilterBlock},
        {"with", &Parser::parseWith},
        {"break", &Parser::parseLoopControl},
        {"continue", &Parser::parseLoopControl},
        {"generation", &Parser::parseGeneration},
    };
    for (const auto &[keyword, fn] : kStatements) {
      if (name == keyword) {
        tagStack_.push_back(name);
        StmtPtr s = (this->*fn)();
        tagStack_.pop_back();
        return s;
      }
    }
    std::vector<std::string> looking =
        endStack_.empty() ? std::vector<std::string>{} : endStack_.back();
    failUnknownTag(&t, looking);
  }

  StmtPtr parseIf() {
    auto s = stmt(StmtKind::If, advance());
    while (true) {
      s->exprs.push_back(parseTuple(false, false, {}));
      s->bodies.push_back(parseBody({"elif", "else", "endif"}, false));
      const Token &t = advance();
      if (t.text == "elif")
        continue;
      if (t.text == "else")
        s->bodies.push_back(parseBody({"endif"}, true));
      break;
    }
    return s;
  }

  StmtPtr parseFor() {
    auto s = stmt(StmtKind::For, advance());
    s->targets.push_back(parseAssignTarget(true, {"in"}));
    expectName("in");
    s->exprs.push_back(parseTuple(false, false, {"recursive"}));
    if (skipName("if")) {
      s->exprs.push_back(parseExpression(true));
      s->hasFilter = true;
    }
    if (isName(cur(), "recursive"))
      fail(cur(), "recursive for loops are not supported", ErrorCode::Unsupported);
    ++loopDepth_;
    size_t firstToken = pos_;
    s->bodies.push_back(parseBody({"endfor", "else"}, false));
    --loopDepth_;
    s->usesLoop = mentions(firstToken, pos_, "loop");
    if (advance().text == "else")
      s->bodies.push_back(parseBody({"endfor"}, true));
    else
      s->bodies.emplace_back();
    return s;
  }

  // The loop object is built only when the body names it (jinja does the same analysis).
  bool mentions(size_t from, size_t to, std::string_view name) const {
    for (size_t k = from; k < to; ++k)
      if (toks_[k].kind == Tok::Name && toks_[k].text == name)
        return true;
    return false;
  }

  StmtPtr parseSet() {
    const Token &at = advance();
    Target target = parseAssignTarget(true, {}, true);
    if (skipOp("=")) {
      auto s = stmt(StmtKind::Set, at);
      s->targets.push_back(std::move(target));
      s->exprs.push_back(parseTuple(true, false, {}));
      return s;
    }
    auto s = stmt(StmtKind::SetBlock, at);
    s->targets.push_back(std::move(target));
    s->exprs.push_back(isOp(cur(), "|") ? parseFilter(nullptr, false) : nullptr);
    s->bodies.push_back(parseBody({"endset"}, true));
    return s;
  }

  StmtPtr parseMacro() {
    auto s = stmt(StmtKind::Macro, advance());
    s->text = expectKind(Tok::Name, "macro name").text;
    parseSignature(*s);
    size_t savedLoops = loopDepth_;
    loopDepth_ = 0; // a macro body is a function: break/continue cannot leave it
    size_t firstToken = pos_;
    s->bodies.push_back(parseBody({"endmacro"}, true));
    s->usesVarargs = mentions(firstToken, pos_, "varargs");
    s->usesKwargs = mentions(firstToken, pos_, "kwargs");
    s->usesCaller = mentions(firstToken, pos_, "caller");
    loopDepth_ = savedLoops;
    return s;
  }

  void parseSignature(Stmt &s) {
    expectOp("(");
    while (!isOp(cur(), ")")) {
      if (!s.params.empty())
        expectOp(",");
      const Token &name = expectKind(Tok::Name, "argument name");
      s.params.push_back(name.text);
      if (skipOp("="))
        s.defaults.push_back(parseExpression(true));
      else if (std::any_of(s.defaults.begin(), s.defaults.end(),
                           [](auto &d) { return d != nullptr; }))
        fail(name, "non-default argument follows default argument");
      else
        s.defaults.push_back(nullptr);
    }
    expectOp(")");
  }

  StmtPtr parseCallBlock() {
    auto s = stmt(StmtKind::CallBlock, advance());
    if (isOp(cur(), "("))
      parseSignature(*s);
    ExprPtr call = parseExpression(true);
    if (call->kind != ExprKind::Call)
      fail(cur(), "expected call");
    s->exprs.push_back(std::move(call));
    size_t savedLoops = loopDepth_;
    loopDepth_ = 0;
    s->bodies.push_back(parseBody({"endcall"}, true));
    loopDepth_ = savedLoops;
    return s;
  }

  StmtPtr parseFilterBlock() {
    auto s = stmt(StmtKind::FilterBlock, advance());
    s->exprs.push_back(parseFilter(nullptr, true));
    s->bodies.push_back(parseBody({"endfilter"}, true));
    return s;
  }

  StmtPtr parseWith() {
    auto s = stmt(StmtKind::With, advance());
    while (cur().kind != Tok::BlockEnd) {
      if (!s->targets.empty())
        expectOp(",");
      s->targets.push_back(parseAssignTarget(true, {}));
      expectOp("=");
      s->exprs.push_back(parseExpression(true));
    }
    s->bodies.push_back(parseBody({"endwith"}, true));
    return s;
  }

  StmtPtr parseLoopControl() {
    const Token &t = advance();
    if (loopDepth_ == 0)
      fail(t, "'" + t.text + "' outside loop");
    return stmt(t.text == "break" ? StmtKind::Break : StmtKind::Continue, t);
  }

  StmtPtr parseGeneration() {
    auto s = stmt(StmtKind::Generation, advance());
    size_t savedLoops = loopDepth_;
    loopDepth_ = 0; // the body is a caller macro, as in a call block
    s->bodies.push_back(parseBody({"endgeneration"}, true));
    loopDepth_ = savedLoops;
    return s;
  }

  // parse_assign_target: a name, `ns.attr` (set only), or a tuple of names.
  Target parseAssignTarget(bool withTuple, const std::vector<std::string> &extraEnds,
                           bool withNamespace = false) {
    if (withNamespace && cur().kind == Tok::Name && isOp(peek(), ".")) {
      Target t;
      t.kind = Target::Kind::NamespaceAttr;
      t.name = advance().text;
      advance();
      t.attr = expectKind(Tok::Name, "attribute name").text;
      return t;
    }
    ExprPtr e = withTuple ? parseTuple(true, true, extraEnds) : parsePrimary();
    Target t;
    if (!toTarget(*e, t))
      fail(cur(), "can't assign to this expression");
    return t;
  }

  bool toTarget(const Expr &e, Target &t) {
    if (e.kind == ExprKind::Name) {
      if (e.name == "true" || e.name == "false" || e.name == "none" || e.name == "True" ||
          e.name == "False" || e.name == "None")
        return false;
      t.kind = Target::Kind::Name;
      t.name = e.name;
      return true;
    }
    if (e.kind == ExprKind::Tuple) {
      t.kind = Target::Kind::Tuple;
      for (const auto &item : e.args) {
        Target sub;
        if (!toTarget(*item, sub))
          return false;
        t.items.push_back(std::move(sub));
      }
      return true;
    }
    return false;
  }

  // --- expressions ----------------------------------------------------------------------

  bool endsTuple(const std::vector<std::string> &extraEnds) const {
    const Token &t = cur();
    if (t.kind == Tok::VarEnd || t.kind == Tok::BlockEnd || t.kind == Tok::Eof || isOp(t, ")"))
      return true;
    return t.kind == Tok::Name &&
           std::find(extraEnds.begin(), extraEnds.end(), t.text) != extraEnds.end();
  }

  // parse_tuple: one expression, or several separated by commas (a tuple).
  ExprPtr parseTuple(bool withCondexpr, bool simplified, const std::vector<std::string> &extraEnds,
                     bool explicitParens = false) {
    const Token &start = cur();
    std::vector<ExprPtr> items;
    bool isTuple = false;
    while (true) {
      if (!items.empty())
        expectOp(",");
      if (endsTuple(extraEnds))
        break;
      if (simplified)
        items.push_back(parsePrimary());
      else
        items.push_back(parseExpression(withCondexpr));
      if (isOp(cur(), ","))
        isTuple = true;
      else
        break;
    }
    if (!isTuple) {
      if (!items.empty())
        return std::move(items[0]);
      if (!explicitParens)
        fail(cur(), "Expected an expression, got '" + describe(cur()) + "'");
    }
    auto e = node(ExprKind::Tuple, start);
    e->args = std::move(items);
    return finish(std::move(e));
  }

  ExprPtr parseExpression(bool withCondexpr) { return withCondexpr ? parseCondexpr() : parseOr(); }

  ExprPtr parseCondexpr() {
    ExprPtr expr1 = parseOr();
    while (isName(cur(), "if")) {
      Nest nest(*this, advance());
      ExprPtr expr2 = parseOr();
      ExprPtr expr3 = skipName("else") ? parseCondexpr() : nullptr;
      auto e = node(ExprKind::Cond, *expr1);
      e->args.push_back(std::move(expr1));
      e->args.push_back(std::move(expr2));
      e->args.push_back(std::move(expr3));
      expr1 = finish(std::move(e));
    }
    return expr1;
  }

  ExprPtr parseOr() {
    ExprPtr left = parseAnd();
    while (skipName("or")) {
      auto e = node(ExprKind::Or, *left);
      e->args.push_back(std::move(left));
      e->args.push_back(parseAnd());
      left = finish(std::move(e));
    }
    return left;
  }

  ExprPtr parseAnd() {
    ExprPtr left = parseNot();
    while (skipName("and")) {
      auto e = node(ExprKind::And, *left);
      e->args.push_back(std::move(left));
      e->args.push_back(parseNot());
      left = finish(std::move(e));
    }
    return left;
  }

  ExprPtr parseNot() {
    if (isName(cur(), "not")) {
      Nest nest(*this, cur());
      auto e = node(ExprKind::Not, advance());
      e->target = parseNot();
      return finish(std::move(e));
    }
    return parseCompare();
  }

  ExprPtr parseCompare() {
    ExprPtr first = parseMath1();
    std::vector<ExprPtr> operands;
    std::vector<CompareOp> ops;
    static const std::pair<const char *, CompareOp> kOps[] = {
        {"==", CompareOp::Eq}, {"!=", CompareOp::Ne}, {"<", CompareOp::Lt},
        {"<=", CompareOp::Le}, {">", CompareOp::Gt},  {">=", CompareOp::Ge}};
    while (true) {
      bool matched = false;
      for (const auto &[text, op] : kOps)
        if (isOp(cur(), text)) {
          advance();
          ops.push_back(op);
          matched = true;
          break;
        }
      if (!matched) {
        if (skipName("in")) {
          ops.push_back(CompareOp::In);
        } else if (isName(cur(), "not") && isName(peek(), "in")) {
          advance();
          advance();
          ops.push_back(CompareOp::NotIn);
        } else {
          break;
        }
      }
      operands.push_back(parseMath1());
    }
    if (ops.empty())
      return first;
    auto e = node(ExprKind::Compare, *first);
    e->args.push_back(std::move(first));
    for (auto &o : operands)
      e->args.push_back(std::move(o));
    e->compareOps = std::move(ops);
    return finish(std::move(e));
  }

  ExprPtr binary(BinaryOp op, ExprPtr left, ExprPtr right) {
    auto e = node(ExprKind::Binary, *left);
    e->binop = op;
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return finish(std::move(e));
  }

  ExprPtr parseMath1() {
    ExprPtr left = parseConcat();
    while (isOp(cur(), "+") || isOp(cur(), "-")) {
      BinaryOp op = advance().text == "+" ? BinaryOp::Add : BinaryOp::Sub;
      left = binary(op, std::move(left), parseConcat());
    }
    return left;
  }

  ExprPtr parseConcat() {
    ExprPtr first = parseMath2();
    if (!isOp(cur(), "~"))
      return first;
    auto e = node(ExprKind::Concat, *first);
    e->args.push_back(std::move(first));
    while (skipOp("~"))
      e->args.push_back(parseMath2());
    return finish(std::move(e));
  }

  ExprPtr parseMath2() {
    ExprPtr left = parsePow();
    while (true) {
      BinaryOp op;
      if (isOp(cur(), "*"))
        op = BinaryOp::Mul;
      else if (isOp(cur(), "/"))
        op = BinaryOp::Div;
      else if (isOp(cur(), "//"))
        op = BinaryOp::FloorDiv;
      else if (isOp(cur(), "%"))
        op = BinaryOp::Mod;
      else
        break;
      advance();
      left = binary(op, std::move(left), parsePow());
    }
    return left;
  }

  ExprPtr parsePow() {
    ExprPtr left = parseUnary(true);
    while (skipOp("**"))
      left = binary(BinaryOp::Pow, std::move(left), parseUnary(true));
    return left;
  }

  ExprPtr parseUnary(bool withFilter) {
    ExprPtr e;
    if (isOp(cur(), "-") || isOp(cur(), "+")) {
      Nest nest(*this, cur());
      const Token &t = advance();
      e = node(t.text == "-" ? ExprKind::Neg : ExprKind::Pos, t);
      e->target = parseUnary(false);
      e = finish(std::move(e));
    } else {
      e = parsePrimary();
    }
    e = parsePostfix(std::move(e));
    if (withFilter)
      e = parseFilterExpr(std::move(e));
    return e;
  }

  // Counts the parser's own recursion (parentheses, `not not ...`, `- - ...`), which the
  // subtree heights checked in finish() only see after the fact.
  struct Nest {
    Parser &p;
    Nest(Parser &parser, const Token &at) : p(parser) {
      if (++p.nestDepth_ > kMaxExprDepth)
        p.fail(at, "expression nested too deeply", ErrorCode::ResourceExhausted);
    }
    ~Nest() { --p.nestDepth_; }
  };

  ExprPtr parsePrimary() {
    const Token &t = cur();
    Nest nest(*this, t);
    ExprPtr e;
    switch (t.kind) {
    case Tok::Name:
      e = node(ExprKind::Literal, t);
      if (t.text == "true" || t.text == "True")
        e->literal = Value::boolean(true);
      else if (t.text == "false" || t.text == "False")
        e->literal = Value::boolean(false);
      else if (t.text == "none" || t.text == "None")
        e->literal = Value::none();
      else {
        e->kind = ExprKind::Name;
        e->name = t.text;
      }
      advance();
      return finish(std::move(e));
    case Tok::String: {
      e = node(ExprKind::Literal, t);
      std::string text;
      while (cur().kind == Tok::String)
        text += advance().text; // adjacent literals concatenate
      e->literal = Value::string(std::move(text));
      return finish(std::move(e));
    }
    case Tok::Integer:
      e = node(ExprKind::Literal, t);
      e->literal = Value::integer(t.integer);
      advance();
      return finish(std::move(e));
    case Tok::Float:
      e = node(ExprKind::Literal, t);
      e->literal = Value::real(t.real);
      advance();
      return finish(std::move(e));
    case Tok::Op:
      if (t.text == "(") {
        advance();
        e = parseTuple(true, false, {}, true);
        expectOp(")");
        return e;
      }
      if (t.text == "[")
        return parseList();
      if (t.text == "{")
        return parseDict();
      break;
    default:
      break;
    }
    unexpected(t);
  }

  ExprPtr parseList() {
    auto e = node(ExprKind::List, advance());
    while (!isOp(cur(), "]")) {
      if (!e->args.empty())
        expectOp(",");
      if (isOp(cur(), "]"))
        break;
      e->args.push_back(parseExpression(true));
    }
    expectOp("]");
    return finish(std::move(e));
  }

  ExprPtr parseDict() {
    auto e = node(ExprKind::Dict, advance());
    while (!isOp(cur(), "}")) {
      if (!e->args.empty())
        expectOp(",");
      if (isOp(cur(), "}"))
        break;
      e->args.push_back(parseExpression(true));
      expectOp(":");
      e->args.push_back(parseExpression(true));
    }
    expectOp("}");
    return finish(std::move(e));
  }

  ExprPtr parsePostfix(ExprPtr e) {
    while (true) {
      if (isOp(cur(), ".") || isOp(cur(), "["))
        e = parseSubscript(std::move(e));
      else if (isOp(cur(), "("))
        e = parseCall(std::move(e));
      else
        return e;
    }
  }

  ExprPtr parseFilterExpr(ExprPtr e) {
    while (true) {
      if (isOp(cur(), "|"))
        e = parseFilter(std::move(e), false);
      else if (isName(cur(), "is"))
        e = parseTest(std::move(e));
      else if (isOp(cur(), "("))
        e = parseCall(std::move(e));
      else
        return e;
    }
  }

  ExprPtr parseSubscript(ExprPtr target) {
    const Token &t = advance();
    if (t.text == ".") {
      const Token &attr = cur();
      if (attr.kind == Tok::Name) {
        advance();
        auto e = node(ExprKind::Attr, t);
        e->target = std::move(target);
        e->name = attr.text;
        return finish(std::move(e));
      }
      if (attr.kind != Tok::Integer)
        fail(attr, "expected name or number");
      advance();
      auto index = node(ExprKind::Literal, attr);
      index->literal = Value::integer(attr.integer);
      auto e = node(ExprKind::Item, t);
      e->target = std::move(target);
      e->args.push_back(finish(std::move(index)));
      return finish(std::move(e));
    }
    std::vector<ExprPtr> args;
    while (!isOp(cur(), "]")) {
      if (!args.empty())
        expectOp(",");
      args.push_back(parseSubscribed());
    }
    expectOp("]");
    auto e = node(ExprKind::Item, t);
    e->target = std::move(target);
    if (args.size() == 1) {
      e->args.push_back(std::move(args[0]));
    } else {
      auto tuple = node(ExprKind::Tuple, t);
      tuple->args = std::move(args);
      e->args.push_back(finish(std::move(tuple)));
    }
    return finish(std::move(e));
  }

  ExprPtr parseSubscribed() {
    const Token &start = cur();
    std::vector<ExprPtr> parts;
    if (skipOp(":")) {
      parts.push_back(nullptr);
    } else {
      ExprPtr e = parseExpression(true);
      if (!skipOp(":"))
        return e;
      parts.push_back(std::move(e));
    }
    if (isOp(cur(), ":") || isOp(cur(), "]") || isOp(cur(), ","))
      parts.push_back(nullptr);
    else
      parts.push_back(parseExpression(true));
    if (skipOp(":")) {
      if (isOp(cur(), "]") || isOp(cur(), ","))
        parts.push_back(nullptr);
      else
        parts.push_back(parseExpression(true));
    } else {
      parts.push_back(nullptr);
    }
    auto e = node(ExprKind::Slice, start);
    e->args = std::move(parts);
    return finish(std::move(e));
  }

  void parseCallArgs(Expr &e) {
    expectOp("(");
    bool needComma = false;
    while (!isOp(cur(), ")")) {
      if (needComma) {
        expectOp(",");
        if (isOp(cur(), ")"))
          break;
      }
      if (skipOp("*")) {
        e.starArgs = parseExpression(true);
      } else if (skipOp("**")) {
        e.starKwargs = parseExpression(true);
      } else if (cur().kind == Tok::Name && isOp(peek(), "=")) {
        std::string key = advance().text;
        advance();
        e.kwargs.emplace_back(std::move(key), parseExpression(true));
      } else {
        if (!e.kwargs.empty() || e.starArgs || e.starKwargs)
          fail(cur(), "invalid syntax for function call expression");
        e.args.push_back(parseExpression(true));
      }
      needComma = true;
    }
    expectOp(")");
  }

  ExprPtr parseCall(ExprPtr target) {
    auto e = node(ExprKind::Call, cur());
    e->target = std::move(target);
    parseCallArgs(*e);
    return finish(std::move(e));
  }

  std::string parseDottedName() {
    std::string name = expectKind(Tok::Name, "a name").text;
    while (skipOp("."))
      name += "." + expectKind(Tok::Name, "a name").text;
    return name;
  }

  // `| name(args) | ...`; with startInline the first filter has no leading pipe.
  ExprPtr parseFilter(ExprPtr target, bool startInline) {
    while (isOp(cur(), "|") || startInline) {
      if (!startInline)
        advance();
      startInline = false;
      const Token &at = cur();
      auto e = node(ExprKind::Filter, at);
      e->name = parseDottedName();
      e->builtin = findFilter(e->name); // unknown names are checked by checkNames()
      e->target = std::move(target);
      if (isOp(cur(), "("))
        parseCallArgs(*e);
      target = finish(std::move(e));
    }
    return target;
  }

  ExprPtr parseTest(ExprPtr target) {
    advance(); // is
    bool negated = skipName("not");
    const Token &at = cur();
    auto e = node(ExprKind::Test, at);
    e->name = parseDottedName();
    e->negated = negated;
    e->builtin = findTest(e->name);
    e->target = std::move(target);
    const Token &t = cur();
    if (isOp(t, "(")) {
      parseCallArgs(*e);
    } else if ((t.kind == Tok::Name || t.kind == Tok::String || t.kind == Tok::Integer ||
                t.kind == Tok::Float || isOp(t, "(") || isOp(t, "[") || isOp(t, "{")) &&
               !isName(t, "else") && !isName(t, "or") && !isName(t, "and")) {
      if (isName(t, "is"))
        fail(t, "You cannot chain multiple tests with is");
      e->args.push_back(parsePostfix(parsePrimary()));
    }
    return finish(std::move(e));
  }

  // --- unknown filters and tests ----------------------------------------------------------
  // Jinja rejects an unknown filter or test when it compiles the template, except inside an
  // if statement or an inline if (a "soft" frame), where it fails only if evaluated. Loop,
  // macro and block bodies start hard frames again.

  void checkNames(const StmtList &body, bool soft) {
    for (const auto &s : body)
      checkNames(*s, soft);
  }

  void checkNames(const Stmt &s, bool soft) {
    auto exprs = [&](size_t from, size_t to, bool sft) {
      for (size_t k = from; k < to && k < s.exprs.size(); ++k)
        if (s.exprs[k])
          checkNames(*s.exprs[k], sft);
    };
    switch (s.kind) {
    case StmtKind::If:
      exprs(0, s.exprs.size(), true);
      for (const auto &b : s.bodies)
        checkNames(b, true);
      return;
    case StmtKind::For:
      exprs(0, 1, soft);
      exprs(1, 2, false);
      for (const auto &b : s.bodies)
        checkNames(b, false);
      return;
    case StmtKind::Macro:
    case StmtKind::CallBlock:
      for (const auto &d : s.defaults)
        if (d)
          checkNames(*d, false);
      exprs(0, s.exprs.size(), soft);
      checkNames(s.bodies[0], false);
      return;
    case StmtKind::SetBlock:
    case StmtKind::FilterBlock:
      exprs(0, s.exprs.size(), false);
      checkNames(s.bodies[0], false);
      return;
    default:
      exprs(0, s.exprs.size(), soft);
      for (const auto &b : s.bodies)
        checkNames(b, false);
    }
  }

  void checkNames(const Expr &e, bool soft) {
    if (e.kind == ExprKind::Cond)
      soft = true;
    if ((e.kind == ExprKind::Filter || e.kind == ExprKind::Test) && !e.builtin && !soft)
      fail(Token{Tok::Eof, "", 0, 0, e.line, e.column},
           std::string("No ") + (e.kind == ExprKind::Filter ? "filter" : "test") + " named '" +
               e.name + "'.");
    auto visit = [&](const ExprPtr &c) {
      if (c)
        checkNames(*c, soft);
    };
    visit(e.target);
    for (const auto &a : e.args)
      visit(a);
    for (const auto &kv : e.kwargs)
      visit(kv.second);
    visit(e.starArgs);
    visit(e.starKwargs);
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  size_t loopDepth_ = 0;
  size_t stmtDepth_ = 0;
  uint32_t nestDepth_ = 0;
  std::vector<std::string> tagStack_;
  std::vector<std::vector<std::string>> endStack_;
};

} // namespace

Program parseProgram(std::vector<Token> tokens) { return Parser(std::move(tokens)).run(); }

} // namespace modelrt::tmpl
