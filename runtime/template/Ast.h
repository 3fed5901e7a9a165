// The parsed form of a chat template: statements holding expressions, as Jinja's parser
// builds them (jinja2/nodes.py), reduced to the node kinds the supported subset needs.
#pragma once

#include "runtime/template/Value.h"

#include <memory>
#include <string>
#include <vector>

namespace modelrt::tmpl {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using StmtList = std::vector<StmtPtr>;

enum class ExprKind : uint8_t {
  Literal,
  Name,
  List,
  Tuple,
  Dict,   // args: key, value, key, value, ...
  Attr,   // target.name
  Item,   // target[args[0]]
  Slice,  // args: start, stop, step (each may be null); only as an Item index
  Call,   // target(args, kwargs)
  Filter, // target | name(args, kwargs); a null target stands for a block's body
  Test,   // target is [not] name(args, kwargs)
  Not,
  Neg,
  Pos,
  Binary, // args[0] op args[1]
  And,
  Or,
  Compare, // args[0] ops[0] args[1] ops[1] args[2] ...
  Concat,  // args[0] ~ args[1] ~ ...
  Cond,    // args: value, condition, else value (may be null)
};

enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, FloorDiv, Mod, Pow };
enum class CompareOp : uint8_t { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };

struct Builtin;

struct Expr {
  ExprKind kind;
  uint32_t line = 0, column = 0;
  uint32_t depth = 1; // height of this subtree, bounded by the parser
  Value literal;
  std::string name;
  ExprPtr target;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr starArgs, starKwargs;
  BinaryOp binop = BinaryOp::Add;
  std::vector<CompareOp> compareOps;
  bool negated = false;             // Test: `is not`
  const Builtin *builtin = nullptr; // Filter / Test; null when Jinja has no such name
};

// An assignment target: `x`, `a, b`, `(a, (b, c))` or `ns.attr`.
struct Target {
  enum class Kind : uint8_t { Name, Tuple, NamespaceAttr } kind = Kind::Name;
  std::string name;
  std::string attr;
  std::vector<Target> items;
};

enum class StmtKind : uint8_t {
  Text,        // text
  Print,       // {{ exprs[0] }}
  If,          // exprs[i] guards bodies[i]; an extra trailing body is the else branch
  For,         // targets[0] in exprs[0] [if exprs[1]]: bodies[0], else bodies[1]
  Set,         // targets[0] = exprs[0]
  SetBlock,    // {% set targets[0] [| filter exprs[0]] %} bodies[0] {% endset %}
  Macro,       // text(params = defaults): bodies[0]
  CallBlock,   // {% call(params) exprs[0] %} bodies[0]: the body is `caller`
  FilterBlock, // exprs[0] (a Filter chain with a null target) over bodies[0]
  With,        // targets[i] = exprs[i]: bodies[0]
  Break,
  Continue,
  Generation, // transformers' {% generation %}: renders its body unchanged
};

struct Stmt {
  StmtKind kind;
  uint32_t line = 0, column = 0;
  std::string text;
  std::vector<ExprPtr> exprs;
  std::vector<StmtList> bodies;
  std::vector<Target> targets;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults; // aligned with params; null where there is none
  bool hasFilter = false;        // For: exprs[1] filters items
  bool usesLoop = true;          // For: the body mentions `loop`
  // Macro: the body mentions these, so calls may pass extra arguments (as in Jinja).
  bool usesVarargs = false, usesKwargs = false, usesCaller = false;
};

struct Program {
  StmtList body;
};

} // namespace modelrt::tmpl
