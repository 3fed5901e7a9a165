#include "runtime/sample/GrammarConstraint.h"

#include "runtime/sample/Utf8Ranges.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <unordered_set>

namespace modelrt::sample {

namespace {

constexpr int kInfinite = -1;

// The parsed grammar.
struct Item;
using Sequence = std::vector<Item>;
struct Item {
  enum Kind { Literal, Class, Name, Group } kind = Literal;
  std::string bytes;               // Literal
  utf8::Ranges set;                // Class (normalized, not empty)
  std::string name;                // Name
  std::vector<Sequence> group;     // Group
  int min = 1, max = 1;            // quantifier (max kInfinite: no bound)
  size_t at = 0;                   // offset in the text (errors)
};
struct RuleText {
  std::string name;
  std::vector<Sequence> alternatives;
  size_t at = 0;
};

bool nameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

class Parser {
public:
  Parser(std::string_view text, std::string_view what) : t_(text), what_(what) {}

  Expected<std::vector<RuleText>> parse() {
    std::vector<RuleText> rules;
    space();
    while (more()) {
      RuleText rule;
      rule.at = pos_;
      if (!nameChar(peek()))
        return fail("a rule must start with its name (letters, digits, '-', '_')");
      rule.name = name();
      space();
      if (t_.substr(pos_, 3) != "::=")
        return fail("'::=' must follow the rule name '" + rule.name + "'" +
                    (more() && peek() == ':' ? " (grammars are GBNF; Lark's 'name: ...' rules "
                                               "are not read)"
                                             : ""));
      pos_ += 3;
      Expected<std::vector<Sequence>> alts = alternatives(0);
      if (!alts)
        return alts.error();
      if (more() && !ruleStart())
        return fail(peek() == ')' ? "a ')' without its '('" : "unexpected '" + shown() + "'");
      rule.alternatives = std::move(*alts);
      rules.push_back(std::move(rule));
      space();
    }
    return rules;
  }

  std::string_view what() const { return what_; }
  Error error(size_t at, const std::string &message) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < at && i < t_.size(); ++i, ++column)
      if (t_[i] == '\n')
        ++line, column = 0;
    return Error(ErrorCode::InvalidArgument, std::string(what_) + ": line " +
                                                 std::to_string(line) + ", column " +
                                                 std::to_string(column) + ": " + message);
  }

private:
  bool more() const { return pos_ < t_.size(); }
  char peek() const { return t_[pos_]; }
  Error fail(const std::string &message) const { return error(pos_, message); }
  std::string shown() const {
    size_t end = pos_;
    const int32_t c = utf8::decode(t_, end);
    return c < 0 ? "\\x" + std::to_string(static_cast<uint8_t>(peek()))
                 : std::string(t_.substr(pos_, end - pos_));
  }

  void space() {
    while (more()) {
      const char c = peek();
      if (c == '#') {
        while (more() && peek() != '\n')
          ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else {
        return;
      }
    }
  }

  std::string name() {
    const size_t begin = pos_;
    while (more() && nameChar(peek()))
      ++pos_;
    return std::string(t_.substr(begin, pos_ - begin));
  }

  // Whether a new rule (`name ::=`) starts here.
  bool ruleStart() const {
    size_t p = pos_;
    while (p < t_.size() && nameChar(t_[p]))
      ++p;
    if (p == pos_)
      return false;
    while (p < t_.size() && (t_[p] == ' ' || t_[p] == '\t' || t_[p] == '\n' || t_[p] == '\r'))
      ++p;
    return t_.substr(p, 3) == "::=";
  }

  Expected<std::vector<Sequence>> alternatives(int depth) {
    if (depth > Grammar::kMaxNesting)
      return fail("groups nest deeper than " + std::to_string(Grammar::kMaxNesting));
    std::vector<Sequence> alts;
    while (true) {
      Expected<Sequence> seq = sequence(depth);
      if (!seq)
        return seq.error();
      alts.push_back(std::move(*seq));
      if (!more() || peek() != '|')
        return alts;
      ++pos_;
    }
  }

  Expected<Sequence> sequence(int depth) {
    Sequence seq;
    while (true) {
      space();
      if (!more() || peek() == '|' || peek() == ')' || ruleStart())
        return seq;
      Item item;
      item.at = pos_;
      const char c = peek();
      if (c == '"') {
        ++pos_;
        Expected<bool> s = literal(item.bytes);
        if (!s)
          return s.error();
      } else if (c == '[') {
        ++pos_;
        Expected<bool> s = bracket(item.set);
        if (!s)
          return s.error();
        item.kind = Item::Class;
      } else if (c == '.') {
        ++pos_;
        item.kind = Item::Class;
        item.set = utf8::normalized({{0, utf8::kMaxCodePoint}});
      } else if (c == '(') {
        ++pos_;
        Expected<std::vector<Sequence>> alts = alternatives(depth + 1);
        if (!alts)
          return alts.error();
        if (!more() || peek() != ')')
          return error(item.at, "a '(' without its ')'");
        ++pos_;
        item.kind = Item::Group;
        item.group = std::move(*alts);
      } else if (nameChar(c)) {
        item.kind = Item::Name;
        item.name = name();
      } else if (c == '<') {
        return fail("token references (<...>) are not supported: write the token's text as a "
                    "string");
      } else if (c == '!') {
        return fail("negation ('!') is not supported");
      } else if (c == '\'') {
        return fail("strings are written in double quotes");
      } else {
        return fail("unexpected '" + shown() + "'");
      }
      space();
      if (Expected<bool> q = quantifier(item); !q)
        return q.error();
      seq.push_back(std::move(item));
    }
  }

  Expected<bool> quantifier(Item &item) {
    if (!more())
      return true;
    const char c = peek();
    if (c == '*' || c == '+' || c == '?') {
      ++pos_;
      item.min = c == '+' ? 1 : 0;
      item.max = c == '?' ? 1 : kInfinite;
    } else if (c == '{') {
      const size_t at = pos_++;
      space();
      Expected<int> lo = number(0);
      if (!lo)
        return lo.error();
      space();
      int hi = *lo;
      if (more() && peek() == ',') {
        ++pos_;
        space();
        Expected<int> h = number(kInfinite);
        if (!h)
          return h.error();
        hi = *h;
        space();
      } else if (pos_ == at + 1 || t_[at + 1] == '}') {
        return error(at, "'{}' needs a count");
      }
      if (!more() || peek() != '}')
        return error(at, "a '{' quantifier must be {n}, {n,}, {,m} or {n,m}");
      ++pos_;
      if (hi != kInfinite && hi < *lo)
        return error(at, "a quantifier's maximum is below its minimum");
      item.min = *lo;
      item.max = hi;
    } else {
      return true;
    }
    space();
    if (more() && (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{'))
      return fail("a quantifier must follow an item, not another quantifier (use a group)");
    return true;
  }

  // Digits, or `absent` where there are none.
  Expected<int> number(int absent) {
    if (!more() || !std::isdigit(static_cast<unsigned char>(peek())))
      return absent;
    long v = 0;
    while (more() && std::isdigit(static_cast<unsigned char>(peek()))) {
      v = v * 10 + (peek() - '0');
      if (v > Grammar::kMaxRepeat)
        return fail("repetition counts go up to " + std::to_string(Grammar::kMaxRepeat));
      ++pos_;
    }
    return int(v);
  }

  Expected<uint32_t> hex(int count) {
    const int32_t v = utf8::hexScalar(t_, pos_, count);
    if (v == -1)
      return fail("an escape needs " + std::to_string(count) + " hexadecimal digits");
    if (v < 0)
      return fail("an escape names no Unicode scalar value");
    return uint32_t(v);
  }

  // One character of a string or class (an escape or a UTF-8 code point), consumed.
  Expected<uint32_t> character() {
    if (peek() != '\\') {
      const int32_t c = utf8::decode(t_, pos_);
      if (c < 0)
        return fail("the grammar is not valid UTF-8");
      return uint32_t(c);
    }
    ++pos_;
    if (!more())
      return fail("a '\\' ends the grammar");
    const char e = peek();
    ++pos_;
    switch (e) {
    case 'n': return uint32_t('\n');
    case 'r': return uint32_t('\r');
    case 't': return uint32_t('\t');
    case 'x': return hex(2);
    case 'u': return hex(4);
    case 'U': return hex(8);
    default:
      if (std::isalnum(static_cast<unsigned char>(e)) || static_cast<uint8_t>(e) >= 0x80) {
        --pos_;
        return fail("unknown escape '\\" + shown() + "'");
      }
      return uint32_t(static_cast<uint8_t>(e));
    }
  }

  Expected<bool> literal(std::string &out) {
    const size_t at = pos_ - 1;
    while (true) {
      if (!more())
        return error(at, "a string without its closing '\"'");
      if (peek() == '"') {
        ++pos_;
        return true;
      }
      Expected<uint32_t> c = character();
      if (!c)
        return c.error();
      utf8::append(*c, out);
    }
  }

  Expected<bool> bracket(utf8::Ranges &out) {
    const size_t at = pos_ - 1;
    bool negate = false;
    if (more() && peek() == '^') {
      negate = true;
      ++pos_;
    }
    utf8::Ranges set;
    while (true) {
      if (!more())
        return error(at, "a '[' without its ']'");
      if (peek() == ']') {
        ++pos_;
        break;
      }
      Expected<uint32_t> lo = character();
      if (!lo)
        return lo.error();
      uint32_t hi = *lo;
      if (pos_ + 1 < t_.size() && peek() == '-' && t_[pos_ + 1] != ']') {
        ++pos_;
        Expected<uint32_t> h = character();
        if (!h)
          return h.error();
        if (*h < *lo)
          return error(at, "a class range runs backwards");
        hi = *h;
      }
      set.push_back({*lo, hi});
    }
    out = negate ? utf8::complement(set) : utf8::normalized(std::move(set));
    if (out.empty())
      return error(at, "the class matches no character");
    return true;
  }

  std::string_view t_, what_;
  size_t pos_ = 0;
};

using Element = Grammar::Element;
using Kind = Grammar::Kind;

} // namespace

struct GrammarCompiler {
  const std::vector<RuleText> &texts;
  const Parser &parser;
  // Rules as runs of elements, before they are laid out in one array; rule names for errors
  // (a rule made for a group or a repetition is named after the rule it is in).
  std::vector<std::vector<std::vector<Element>>> rules;
  std::vector<std::string> names;
  std::vector<size_t> definedAt; // named rules: where (npos: only referenced)
  std::map<std::string, uint32_t> byName;
  std::vector<std::array<uint64_t, 4>> sets;
  std::map<std::array<uint64_t, 4>, uint32_t> setIds;
  size_t size = 0; // elements so far

  uint32_t newRule(const std::string &name) {
    rules.emplace_back();
    names.push_back(name);
    definedAt.push_back(std::string::npos);
    return uint32_t(rules.size() - 1);
  }
  uint32_t named(const std::string &name) {
    auto [it, added] = byName.try_emplace(name, 0);
    if (added)
      it->second = newRule(name);
    return it->second;
  }
  uint32_t set(const std::array<uint64_t, 4> &bits) {
    auto [it, added] = setIds.try_emplace(bits, uint32_t(sets.size()));
    if (added)
      sets.push_back(bits);
    return it->second;
  }
  Element bytes(uint8_t lo, uint8_t hi) {
    std::array<uint64_t, 4> bits{};
    for (unsigned b = lo; b <= hi; ++b)
      bits[b >> 6] |= uint64_t(1) << (b & 63);
    return {Kind::Bytes, set(bits)};
  }
  Expected<bool> grow(size_t n, size_t at) {
    size += n;
    if (size > Grammar::kMaxElements)
      return parser.error(at, "the grammar is too large once its repetitions are written out "
                              "(more than " + std::to_string(Grammar::kMaxElements) +
                                  " elements)");
    return true;
  }
  uint32_t addRule(uint32_t owner, std::vector<std::vector<Element>> alts) {
    const uint32_t r = newRule(names[owner]);
    rules[r] = std::move(alts);
    return r;
  }

  // The elements one item (without its quantifier) stands for.
  Expected<std::vector<Element>> base(const Item &item, uint32_t owner) {
    std::vector<Element> out;
    switch (item.kind) {
    case Item::Literal:
      for (char c : item.bytes)
        out.push_back(bytes(uint8_t(c), uint8_t(c)));
      break;
    case Item::Name:
      out.push_back({Kind::Ref, named(item.name)});
      break;
    case Item::Class: {
      std::array<uint64_t, 4> ascii{};
      std::vector<std::vector<Element>> alts;
      for (auto [lo, hi] : item.set) {
        for (uint32_t b = lo; b <= std::min<uint32_t>(hi, 0x7F); ++b)
          ascii[b >> 6] |= uint64_t(1) << (b & 63);
        if (hi < 0x80)
          continue;
        std::vector<utf8::ByteSeq> seqs;
        utf8::sequences(std::max<uint32_t>(lo, 0x80), hi, seqs);
        for (const utf8::ByteSeq &seq : seqs) {
          std::vector<Element> alt;
          for (auto [x, y] : seq)
            alt.push_back(bytes(x, y));
          alts.push_back(std::move(alt));
        }
      }
      const bool hasAscii = ascii[0] || ascii[1];
      if (alts.empty()) {
        out.push_back({Kind::Bytes, set(ascii)});
        break;
      }
      if (hasAscii)
        alts.insert(alts.begin(), std::vector<Element>{{Kind::Bytes, set(ascii)}});
      size_t n = 0;
      for (const auto &a : alts)
        n += a.size() + 1;
      if (Expected<bool> g = grow(n, item.at); !g)
        return g.error();
      out.push_back({Kind::Ref, addRule(owner, std::move(alts))});
      break;
    }
    case Item::Group: {
      std::vector<std::vector<Element>> alts;
      for (const Sequence &seq : item.group) {
        Expected<std::vector<Element>> a = sequence(seq, owner);
        if (!a)
          return a.error();
        alts.push_back(std::move(*a));
      }
      if (alts.size() == 1) { // a plain group: its elements in place
        out = std::move(alts[0]);
        break;
      }
      out.push_back({Kind::Ref, addRule(owner, std::move(alts))});
      break;
    }
    }
    return out;
  }

  Expected<std::vector<Element>> sequence(const Sequence &seq, uint32_t owner) {
    std::vector<Element> out;
    for (const Item &item : seq) {
      Expected<std::vector<Element>> b = base(item, owner);
      if (!b)
        return b.error();
      if (item.min == 1 && item.max == 1) {
        if (Expected<bool> g = grow(b->size(), item.at); !g)
          return g.error();
        out.insert(out.end(), b->begin(), b->end());
        continue;
      }
      // Repetition: x stands for the item (one element), written min times, then an optional
      // chain of max - min more, or a right-recursive star.
      Element x = b->size() == 1 ? (*b)[0] : Element{Kind::Ref, addRule(owner, {std::move(*b)})};
      const int extra = item.max == kInfinite ? 1 : item.max - item.min;
      if (Expected<bool> g = grow(size_t(item.min) + 3 * size_t(extra) + 2, item.at); !g)
        return g.error();
      out.insert(out.end(), size_t(item.min), x);
      if (item.max == kInfinite) {
        const uint32_t star = addRule(owner, {});
        rules[star] = {{x, {Kind::Ref, star}}, {}};
        out.push_back({Kind::Ref, star});
      } else if (extra > 0) {
        uint32_t chain = addRule(owner, {{x}, {}});
        for (int k = 1; k < extra; ++k)
          chain = addRule(owner, {{x, {Kind::Ref, chain}}, {}});
        out.push_back({Kind::Ref, chain});
      }
    }
    return out;
  }

  Expected<std::shared_ptr<const Grammar>> compile() {
    named("root");
    for (const RuleText &t : texts) {
      const uint32_t r = named(t.name);
      if (definedAt[r] != std::string::npos)
        return parser.error(t.at, "rule '" + t.name + "' is defined twice");
      definedAt[r] = t.at;
    }
    if (definedAt[0] == std::string::npos)
      return Error(ErrorCode::InvalidArgument,
                   std::string(parser.what()) + ": the grammar has no 'root' rule (where the "
                                                "text starts)");
    for (const RuleText &t : texts) {
      const uint32_t r = byName.at(t.name);
      for (const Sequence &seq : t.alternatives) {
        Expected<std::vector<Element>> a = sequence(seq, r);
        if (!a)
          return a.error();
        rules[r].push_back(std::move(*a));
      }
    }
    if (Expected<bool> d = defined(); !d)
      return d.error();
    if (Expected<bool> p = prune(); !p)
      return p.error();
    if (Expected<bool> l = noLeftRecursion(); !l)
      return l.error();
    return layout();
  }

  // Every referenced name is defined.
  Expected<bool> defined() {
    for (const RuleText &t : texts)
      if (Expected<bool> ok = definedIn(t.alternatives); !ok)
        return ok.error();
    return true;
  }
  Expected<bool> definedIn(const std::vector<Sequence> &alts) {
    for (const Sequence &seq : alts)
      for (const Item &item : seq) {
        if (item.kind == Item::Name && definedAt[byName.at(item.name)] == std::string::npos)
          return parser.error(item.at, "rule '" + item.name + "' is not defined");
        if (item.kind == Item::Group)
          if (Expected<bool> ok = definedIn(item.group); !ok)
            return ok.error();
      }
    return true;
  }

  // Drops the alternatives that need a rule deriving no finite text.
  Expected<bool> prune() {
    std::vector<uint8_t> productive(rules.size(), 0);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < rules.size(); ++r) {
        if (productive[r])
          continue;
        for (const auto &alt : rules[r])
          if (std::all_of(alt.begin(), alt.end(), [&](const Element &e) {
                return e.kind != Kind::Ref || productive[e.arg];
              })) {
            productive[r] = 1;
            changed = true;
            break;
          }
      }
    }
    if (!productive[0])
      return Error(ErrorCode::InvalidArgument,
                   std::string(parser.what()) +
                       ": 'root' derives no finite text (every way through it recurses "
                       "forever)");
    for (auto &alts : rules)
      alts.erase(std::remove_if(alts.begin(), alts.end(),
                                [&](const std::vector<Element> &alt) {
                                  return std::any_of(alt.begin(), alt.end(), [&](const Element &e) {
                                    return e.kind == Kind::Ref && !productive[e.arg];
                                  });
                                }),
                 alts.end());
    return true;
  }

  // Left recursion that grows the parse stack: a rule reaching itself through references at
  // the left edge of alternatives (past rules that may match the empty text), one of which has
  // elements after it. Through tail references alone (a repetition of something that may be
  // empty) expansion revisits a configuration and stops.
  Expected<bool> noLeftRecursion() {
    const size_t n = rules.size();
    std::vector<uint8_t> nullable(n, 0);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r)
        if (!nullable[r])
          for (const auto &alt : rules[r])
            if (std::all_of(alt.begin(), alt.end(), [&](const Element &e) {
                  return e.kind == Kind::Ref && nullable[e.arg];
                })) {
              nullable[r] = 1;
              changed = true;
              break;
            }
    }
    struct Edge {
      uint32_t to;
      bool push;
    };
    std::vector<std::vector<Edge>> edges(n);
    for (size_t r = 0; r < n; ++r)
      for (const auto &alt : rules[r])
        for (size_t i = 0; i < alt.size() && alt[i].kind == Kind::Ref; ++i) {
          edges[r].push_back({alt[i].arg, i + 1 < alt.size()});
          if (!nullable[alt[i].arg])
            break;
        }
    // Strongly connected components (Tarjan's, iterative).
    std::vector<int32_t> index(n, -1), low(n, 0), comp(n, -1);
    std::vector<uint32_t> stack;
    std::vector<uint8_t> onStack(n, 0);
    int32_t counter = 0, comps = 0;
    for (uint32_t s = 0; s < n; ++s) {
      if (index[s] >= 0)
        continue;
      std::vector<std::pair<uint32_t, size_t>> work{{s, 0}};
      index[s] = low[s] = counter++;
      stack.push_back(s);
      onStack[s] = 1;
      while (!work.empty()) {
        auto &[v, i] = work.back();
        if (i < edges[v].size()) {
          const uint32_t w = edges[v][i++].to;
          if (index[w] < 0) {
            index[w] = low[w] = counter++;
            stack.push_back(w);
            onStack[w] = 1;
            work.push_back({w, 0});
          } else if (onStack[w]) {
            low[v] = std::min(low[v], index[w]);
          }
          continue;
        }
        const uint32_t done = v;
        work.pop_back();
        if (!work.empty())
          low[work.back().first] = std::min(low[work.back().first], low[done]);
        if (low[done] == index[done]) {
          uint32_t w;
          do {
            w = stack.back();
            stack.pop_back();
            onStack[w] = 0;
            comp[w] = comps;
          } while (w != done);
          ++comps;
        }
      }
    }
    for (size_t r = 0; r < n; ++r)
      for (const Edge &e : edges[r])
        if (e.push && comp[e.to] == comp[r])
          return Error(ErrorCode::InvalidArgument,
                       std::string(parser.what()) + ": rule '" + names[r] +
                           "' is left-recursive (it can reach itself before writing anything); "
                           "write it with repetition, e.g. expr ::= term (\"+\" term)*");
    return true;
  }

  std::shared_ptr<const Grammar> layout() {
    auto g = std::make_shared<Grammar>();
    g->rules_.resize(rules.size());
    for (size_t r = 0; r < rules.size(); ++r)
      for (const auto &alt : rules[r]) {
        g->rules_[r].push_back(uint32_t(g->elements_.size()));
        g->elements_.insert(g->elements_.end(), alt.begin(), alt.end());
        g->elements_.push_back({Kind::End, 0});
      }
    g->sets_ = sets;
    // Byte classes: bytes that every set treats alike.
    std::map<std::vector<bool>, uint8_t> classes;
    for (unsigned b = 0; b < 256; ++b) {
      std::vector<bool> sig(sets.size());
      for (size_t s = 0; s < sets.size(); ++s)
        sig[s] = (sets[s][b >> 6] >> (b & 63)) & 1;
      auto [it, added] = classes.try_emplace(std::move(sig), uint8_t(classes.size()));
      g->classOf_[b] = it->second;
    }
    g->numClasses_ = classes.size();
    return g;
  }
};

Expected<std::shared_ptr<const Grammar>> Grammar::compile(std::string_view text,
                                                          std::string_view what) {
  if (text.size() > kMaxGrammarBytes)
    return Error(ErrorCode::InvalidArgument, std::string(what) + ": the grammar is longer than " +
                                                 std::to_string(kMaxGrammarBytes) + " bytes");
  Parser parser(text, what);
  Expected<std::vector<RuleText>> rules = parser.parse();
  if (!rules)
    return rules.error();
  GrammarCompiler c{*rules, parser, {}, {}, {}, {}, {}, {}, 0};
  Expected<std::shared_ptr<const Grammar>> g = c.compile();
  if (!g)
    return g.error();
  if (GrammarMatcher(*g).start() == GrammarMatcher::kDead)
    return Error(ErrorCode::InvalidArgument,
                 std::string(what) + ": the grammar starts more than " +
                     std::to_string(GrammarMatcher::kMaxStacks) +
                     " ways at once (alternatives that begin alike: write their common "
                     "beginnings once)");
  return g;
}

bool Grammar::matches(std::string_view text) const {
  // The matcher shares ownership; this grammar is owned by some shared_ptr already, but a
  // non-owning one is enough for the matcher's lifetime here.
  GrammarMatcher m(std::shared_ptr<const Grammar>(std::shared_ptr<const Grammar>(), this));
  int32_t s = m.start();
  for (char c : text) {
    if (s == GrammarMatcher::kDead)
      return false;
    s = m.next(s, static_cast<uint8_t>(c));
  }
  return s != GrammarMatcher::kDead && m.accepting(s);
}

struct GrammarMatcher::Closure {
  std::vector<int32_t> stacks;
  bool accepting = false;
  std::unordered_set<uint64_t> seen;
  std::vector<std::pair<uint32_t, int32_t>> work;
};

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar, size_t maxNodes,
                               size_t maxTransitions)
    : grammar_(std::move(grammar)), maxNodes_(maxNodes), maxTransitions_(maxTransitions) {
  Closure c;
  for (uint32_t alt : grammar_->alternatives(Grammar::root()))
    expand(alt, -1, c);
  start_ = intern(c);
}

int32_t GrammarMatcher::node(uint32_t pos, int32_t parent) {
  const uint64_t key = (uint64_t(pos) << 32) | uint32_t(parent + 1);
  auto [it, added] = nodeIds_.try_emplace(key, int32_t(nodes_.size()));
  if (added)
    nodes_.push_back({pos, parent});
  return it->second;
}

// Every configuration reachable from (pos, parent) without reading a byte: stacks topped by
// a Bytes element, and whether `root` completes.
void GrammarMatcher::expand(uint32_t pos, int32_t parent, Closure &out) {
  const Grammar &g = *grammar_;
  out.work.push_back({pos, parent});
  while (!out.work.empty()) {
    auto [p, par] = out.work.back();
    out.work.pop_back();
    if (!out.seen.insert((uint64_t(p) << 32) | uint32_t(par + 1)).second)
      continue;
    const Element &e = g.element(p);
    switch (e.kind) {
    case Kind::End:
      if (par < 0)
        out.accepting = true;
      else
        out.work.push_back({nodes_[size_t(par)].pos, nodes_[size_t(par)].parent});
      break;
    case Kind::Ref: {
      // A reference last in its alternative returns where this one would (no node pushed).
      const int32_t ret = g.element(p + 1).kind == Kind::End ? par : node(p + 1, par);
      for (uint32_t alt : g.alternatives(e.arg))
        out.work.push_back({alt, ret});
      break;
    }
    case Kind::Bytes:
      out.stacks.push_back(node(p, par));
      break;
    }
  }
}

int32_t GrammarMatcher::intern(Closure &c) {
  std::sort(c.stacks.begin(), c.stacks.end());
  c.stacks.erase(std::unique(c.stacks.begin(), c.stacks.end()), c.stacks.end());
  if (c.stacks.size() > kMaxStacks || (c.stacks.empty() && !c.accepting))
    return kDead;
  if (overBounds())
    return kDead; // until the next compaction (not cached)
  std::string key(reinterpret_cast<const char *>(c.stacks.data()),
                  c.stacks.size() * sizeof(int32_t));
  key.push_back(c.accepting ? 1 : 0);
  auto [it, added] = stateIds_.try_emplace(std::move(key), int32_t(states_.size()));
  if (added) {
    states_.push_back({std::move(c.stacks), c.accepting});
    transitions_.resize(states_.size() * grammar_->numClasses(), kUnknown);
  }
  return it->second;
}

int32_t GrammarMatcher::step(int32_t state, uint8_t byte, size_t slot) {
  const Grammar &g = *grammar_;
  Closure c;
  for (int32_t s : states_[size_t(state)].stacks) {
    const Node n = nodes_[size_t(s)];
    if (g.inSet(g.element(n.pos).arg, byte))
      expand(n.pos + 1, n.parent, c);
  }
  const int32_t to = intern(c);
  if (to != kDead || !overBounds())
    transitions_[slot] = to;
  return to;
}

int32_t GrammarMatcher::compact(int32_t state) {
  if (nodes_.size() <= nodeBudget() && states_.size() <= maxStates())
    return state;
  // The state's stacks as positions, bottom first, then everything else forgotten.
  std::vector<std::vector<uint32_t>> stacks;
  bool accepting = false;
  if (state != kDead) {
    for (int32_t s : states_[size_t(state)].stacks) {
      std::vector<uint32_t> positions;
      for (int32_t k = s; k >= 0; k = nodes_[size_t(k)].parent)
        positions.push_back(nodes_[size_t(k)].pos);
      std::reverse(positions.begin(), positions.end());
      stacks.push_back(std::move(positions));
    }
    accepting = states_[size_t(state)].accepting;
  }
  ++generation_;
  nodes_.clear();
  nodeIds_.clear();
  states_.clear();
  stateIds_.clear();
  transitions_.clear();
  Closure start;
  for (uint32_t alt : grammar_->alternatives(Grammar::root()))
    expand(alt, -1, start);
  start_ = intern(start);
  keptNodes_ = nodes_.size();
  if (state == kDead)
    return kDead;
  Closure c;
  c.accepting = accepting;
  for (const auto &positions : stacks) {
    int32_t top = -1;
    for (uint32_t pos : positions)
      top = node(pos, top);
    c.stacks.push_back(top);
  }
  keptNodes_ = nodes_.size();
  return intern(c);
}

void GrammarConstraint::compact() {
  const uint64_t generation = matcher_.generation();
  state_ = matcher_.compact(state_);
  if (matcher_.generation() != generation)
    masks_.clear(); // the states have new ids
}

const std::vector<uint8_t> &GrammarConstraint::allowedTokens() {
  compact();
  return masks_.get(state_, [this](std::vector<uint8_t> &mask) {
    vocab_->automatonMask(
        state_, complete(), [this](int32_t s, uint8_t byte) { return matcher_.next(s, byte); },
        mask);
  });
}

bool GrammarConstraint::allows(int32_t token) {
  return vocab_->automatonAllows(
      state_, complete(), [this](int32_t s, uint8_t byte) { return matcher_.next(s, byte); },
      token);
}

void GrammarConstraint::accept(int32_t token) {
  compact();
  state_ = vocab_->automatonFeed(
      state_, [this](int32_t s, uint8_t byte) { return matcher_.next(s, byte); }, token);
}

} // namespace modelrt::sample
