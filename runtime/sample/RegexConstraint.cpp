#include "runtime/sample/RegexConstraint.h"

#include "runtime/sample/Utf8Ranges.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <string>

namespace modelrt::sample {

namespace {

using utf8::complement;
using utf8::kMaxCodePoint;
using utf8::normalized;
using utf8::Ranges;

// The parsed pattern.
struct Node {
  enum class Kind : uint8_t { Set, Concat, Alt, Repeat };
  Kind kind = Kind::Concat; // a Concat of nothing: the empty text
  Ranges set;
  std::vector<int> kids;
  int min = 0, max = 0; // Repeat: max -1 for no bound
};

class Parser {
public:
  Parser(std::string_view p, std::string_view what) : p_(p), what_(what) {}

  Expected<int> parse() {
    size_t end = p_.size();
    // ^ at the very start and $ at the very end (not escaped): whole-text matching anyway.
    if (!p_.empty() && p_[0] == '^')
      pos_ = 1;
    if (end > pos_ && p_[end - 1] == '$') {
      size_t backslashes = 0;
      for (size_t i = end - 1; i > pos_ && p_[i - 1] == '\\'; --i)
        ++backslashes;
      if (backslashes % 2 == 0)
        end_ = end - 1;
    }
    if (end_ == std::string_view::npos)
      end_ = end;
    Expected<int> root = alternation(0);
    if (!root)
      return root;
    if (pos_ < end_)
      return fail(p_[pos_] == ')' ? "an unbalanced ')'" : "unexpected '" +
                                                             std::string(1, p_[pos_]) + "'");
    return root;
  }
  std::vector<Node> nodes;

private:
  Error fail(const std::string &why) const {
    return Error(ErrorCode::InvalidArgument, std::string(what_) + ": " + why + " at offset " +
                                                 std::to_string(pos_) + " of the pattern");
  }
  bool more() const { return pos_ < end_; }
  char peek() const { return p_[pos_]; }
  int add(Node n) {
    nodes.push_back(std::move(n));
    return static_cast<int>(nodes.size() - 1);
  }
  int setNode(Ranges r) {
    Node n;
    n.kind = Node::Kind::Set;
    n.set = normalized(std::move(r));
    return add(std::move(n));
  }

  Expected<int> alternation(int depth) {
    if (depth > 64)
      return fail("groups nest deeper than 64");
    Node alt;
    alt.kind = Node::Kind::Alt;
    for (;;) {
      Expected<int> c = concatenation(depth);
      if (!c)
        return c;
      alt.kids.push_back(*c);
      if (!more() || peek() != '|')
        break;
      ++pos_;
    }
    if (alt.kids.size() == 1)
      return alt.kids[0];
    return add(std::move(alt));
  }

  Expected<int> concatenation(int depth) {
    Node cat;
    while (more() && peek() != '|' && peek() != ')') {
      Expected<int> a = atom(depth);
      if (!a)
        return a;
      int node = *a;
      for (;;) { // quantifiers
        if (!more())
          break;
        int min = -1, max = -1;
        const size_t at = pos_;
        const char c = peek();
        if (c == '*')
          min = 0, ++pos_;
        else if (c == '+')
          min = 1, ++pos_;
        else if (c == '?')
          min = 0, max = 1, ++pos_;
        else if (c == '{') {
          Expected<bool> counted = braces(min, max);
          if (!counted)
            return counted.error();
          if (!*counted)
            break; // a literal '{', as Python reads it
        } else
          break;
        if (nodes[size_t(node)].kind == Node::Kind::Repeat && at > 0 &&
            (p_[at - 1] == '*' || p_[at - 1] == '+' || p_[at - 1] == '?' || p_[at - 1] == '}'))
          return fail("multiple repeat");
        if (more() && peek() == '?')
          ++pos_; // lazy: the same texts
        else if (more() && peek() == '+')
          return fail("possessive quantifiers are not supported");
        Node rep;
        rep.kind = Node::Kind::Repeat;
        rep.kids = {node};
        rep.min = min;
        rep.max = max;
        node = add(std::move(rep));
      }
      cat.kids.push_back(node);
    }
    if (cat.kids.size() == 1)
      return cat.kids[0];
    return add(std::move(cat));
  }

  // {n}, {n,}, {,m}, {n,m}, {,} (Python's {0,}); false (nothing consumed) where it is not
  // one (a literal '{').
  Expected<bool> braces(int &min, int &max) {
    size_t i = pos_ + 1;
    auto number = [&](int &v) {
      size_t start = i;
      long long x = 0;
      while (i < end_ && p_[i] >= '0' && p_[i] <= '9') {
        x = std::min<long long>(x * 10 + (p_[i] - '0'), 1000000);
        ++i;
      }
      v = static_cast<int>(x);
      return i > start;
    };
    int lo = 0, hi = 0;
    const bool hasLo = number(lo);
    bool comma = false, hasHi = false;
    if (i < end_ && p_[i] == ',') {
      comma = true;
      ++i;
      hasHi = number(hi);
    }
    if (i >= end_ || p_[i] != '}' || (!hasLo && !comma))
      return false;
    pos_ = i + 1;
    min = hasLo ? lo : 0;
    max = comma ? (hasHi ? hi : -1) : lo;
    if (min > kRepeat || max > kRepeat)
      return fail("a repeat count above " + std::to_string(kRepeat));
    if (max >= 0 && max < min)
      return fail("a repeat range {" + std::to_string(min) + "," + std::to_string(max) +
                  "} whose maximum is below its minimum");
    return true;
  }
  static constexpr int kRepeat = Regex::kMaxRepeat;

  Expected<uint32_t> codePoint() { // a literal character (UTF-8), consumed
    const int32_t c = utf8::decode(p_, pos_);
    if (c < 0)
      return fail("the pattern is not valid UTF-8");
    return uint32_t(c);
  }

  Expected<uint32_t> hexDigits(int count) {
    const int32_t v = utf8::hexScalar(p_, pos_, count);
    if (v == -1)
      return fail("an escape needs " + std::to_string(count) + " hexadecimal digits");
    if (v < 0)
      return fail("an escape names no Unicode scalar value");
    return uint32_t(v);
  }

  // After a backslash: a class (\d ...) into `set`, or one code point. `inClass`: \b is a
  // backspace there, as in Python.
  Expected<bool> escape(Ranges &set, bool inClass) {
    if (!more())
      return fail("a pattern ending in a backslash");
    const char c = peek();
    ++pos_;
    static const Ranges digit = {{'0', '9'}},
                        word = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}},
                        space = {{'\t', '\r'}, {' ', ' '}};
    switch (c) {
    case 'd': set.insert(set.end(), digit.begin(), digit.end()); return true;
    case 'w': set.insert(set.end(), word.begin(), word.end()); return true;
    case 's': set.insert(set.end(), space.begin(), space.end()); return true;
    case 'D': { Ranges r = complement(digit); set.insert(set.end(), r.begin(), r.end()); return true; }
    case 'W': { Ranges r = complement(word); set.insert(set.end(), r.begin(), r.end()); return true; }
    case 'S': { Ranges r = complement(space); set.insert(set.end(), r.begin(), r.end()); return true; }
    case 'n': set.push_back({'\n', '\n'}); return true;
    case 'r': set.push_back({'\r', '\r'}); return true;
    case 't': set.push_back({'\t', '\t'}); return true;
    case 'f': set.push_back({'\f', '\f'}); return true;
    case 'v': set.push_back({'\v', '\v'}); return true;
    case 'a': set.push_back({7, 7}); return true;
    case '0': set.push_back({0, 0}); return true;
    case 'x':
    case 'u':
    case 'U': {
      Expected<uint32_t> v = hexDigits(c == 'x' ? 2 : c == 'u' ? 4 : 8);
      if (!v)
        return v.error();
      set.push_back({*v, *v});
      return true;
    }
    case 'b':
      if (inClass) {
        set.push_back({8, 8});
        return true;
      }
      [[fallthrough]];
    case 'B':
    case 'A':
    case 'Z':
    case 'z':
    case 'G':
      return fail(std::string("the anchor \\") + c + " is not supported");
    default:
      break;
    }
    if (c >= '1' && c <= '9')
      return fail("backreferences are not supported");
    if (std::isalnum(static_cast<unsigned char>(c)))
      return fail(std::string("the escape \\") + c + " is not supported");
    --pos_; // any other character stands for itself (UTF-8 included)
    Expected<uint32_t> cp = codePoint();
    if (!cp)
      return cp.error();
    set.push_back({*cp, *cp});
    return true;
  }

  Expected<int> atom(int depth) {
    const char c = peek();
    if (c == '(') {
      ++pos_;
      if (more() && peek() == '?') {
        ++pos_;
        if (more() && peek() == ':') {
          ++pos_;
        } else if (more() && (peek() == 'P' || peek() == '<') &&
                   !(peek() == '<' && pos_ + 1 < end_ && (p_[pos_ + 1] == '=' || p_[pos_ + 1] == '!'))) {
          if (peek() == 'P')
            ++pos_;
          if (!more() || peek() != '<')
            return fail("(?P is supported only as a named group (?P<name>...)");
          const size_t close = p_.find('>', pos_);
          if (close == std::string_view::npos || close >= end_ || close == pos_ + 1)
            return fail("a group name is not closed by '>'");
          pos_ = close + 1;
        } else if (more() && (peek() == '=' || peek() == '!' || peek() == '<'))
          return fail("lookaround assertions are not supported");
        else if (more() && peek() == '>')
          return fail("atomic groups are not supported");
        else
          return fail("inline flags and other (? groups are not supported");
      }
      Expected<int> inner = alternation(depth + 1);
      if (!inner)
        return inner;
      if (!more() || peek() != ')')
        return fail("a '(' is not closed");
      ++pos_;
      return inner;
    }
    if (c == '[')
      return bracket();
    if (c == '.') {
      ++pos_;
      return setNode(complement({{'\n', '\n'}}));
    }
    if (c == '\\') {
      ++pos_;
      Ranges set;
      Expected<bool> e = escape(set, false);
      if (!e)
        return e.error();
      return setNode(std::move(set));
    }
    if (c == '*' || c == '+' || c == '?')
      return fail("nothing to repeat");
    if (c == '{') {
      int min = 0, max = 0;
      const size_t at = pos_;
      Expected<bool> counted = braces(min, max);
      if (!counted)
        return counted.error();
      if (*counted) {
        pos_ = at;
        return fail("nothing to repeat");
      }
    }
    if (c == '^' || c == '$')
      return fail(std::string("'") + c +
                  "' is supported only at the very start ('^') or end ('$') of the pattern");
    Expected<uint32_t> cp = codePoint();
    if (!cp)
      return cp.error();
    return setNode({{*cp, *cp}});
  }

  // One item of a class: a character or an escape (\d: several ranges).
  Expected<Ranges> classItem() {
    Ranges item;
    if (peek() == '\\') {
      ++pos_;
      Expected<bool> e = escape(item, true);
      if (!e)
        return e.error();
      return item;
    }
    Expected<uint32_t> cp = codePoint();
    if (!cp)
      return cp.error();
    item.push_back({*cp, *cp});
    return item;
  }

  Expected<int> bracket() {
    ++pos_; // '['
    bool negate = false;
    if (more() && peek() == '^') {
      negate = true;
      ++pos_;
    }
    Ranges set;
    bool first = true;
    for (;;) {
      if (!more())
        return fail("a '[' is not closed");
      if (peek() == ']' && !first)
        break;
      first = false;
      // One item: a character (maybe the start of a range) or a class escape.
      Expected<Ranges> item = classItem();
      if (!item)
        return item.error();
      const bool single = item->size() == 1 && (*item)[0].first == (*item)[0].second;
      const bool range = more() && peek() == '-' && pos_ + 1 < end_ && p_[pos_ + 1] != ']';
      if (!single) { // \d, \w, ...
        if (range)
          return fail("a class escape cannot start a range");
        set.insert(set.end(), item->begin(), item->end());
        continue;
      }
      const uint32_t lo = (*item)[0].first;
      uint32_t hi = lo;
      if (range) {
        ++pos_;
        Expected<Ranges> last = classItem();
        if (!last)
          return last.error();
        if (last->size() != 1 || (*last)[0].first != (*last)[0].second)
          return fail("a class escape cannot end a range");
        hi = (*last)[0].first;
        if (hi < lo)
          return fail("a bad character range");
      }
      set.push_back({lo, hi});
    }
    ++pos_; // ']'
    Ranges r = negate ? complement(set) : normalized(set);
    if (r.empty())
      return fail("a character class that matches nothing");
    return setNode(std::move(r));
  }

  std::string_view p_, what_;
  size_t pos_ = 0, end_ = std::string_view::npos;
};

// Thompson's construction: states with one byte-range transition or epsilon moves.
struct Nfa {
  struct State {
    int16_t lo = -1, hi = -1; // a byte range (lo < 0: none)
    int32_t next = -1;
    std::vector<int32_t> eps;
  };
  std::vector<State> states;
  int32_t accept = -1;

  int32_t add() {
    states.emplace_back();
    return static_cast<int32_t>(states.size() - 1);
  }
};

} // namespace

struct RegexCompiler {
  const std::vector<Node> &nodes;
  Nfa nfa;
  std::string_view what;

  Error tooLarge() const {
    return Error(ErrorCode::InvalidArgument,
                 std::string(what) + ": the pattern needs more than " +
                     std::to_string(Regex::kMaxNfaStates) +
                     " automaton states (repeat counts multiply a group's size)");
  }

  // A fragment from `start` to `end` (an epsilon state whose moves are not yet set).
  Expected<std::pair<int32_t, int32_t>> build(int node) {
    if (nfa.states.size() > size_t(Regex::kMaxNfaStates))
      return tooLarge();
    const Node &n = nodes[size_t(node)];
    const int32_t start = nfa.add();
    switch (n.kind) {
    case Node::Kind::Set: {
      const int32_t end = nfa.add();
      std::vector<utf8::ByteSeq> seqs;
      for (auto [lo, hi] : n.set)
        utf8::sequences(lo, hi, seqs);
      for (const utf8::ByteSeq &seq : seqs) {
        int32_t from = -1;
        for (size_t i = 0; i < seq.size(); ++i) {
          const int32_t s = nfa.add();
          nfa.states[size_t(s)].lo = seq[i].first;
          nfa.states[size_t(s)].hi = seq[i].second;
          if (i == 0)
            nfa.states[size_t(start)].eps.push_back(s);
          else
            nfa.states[size_t(from)].next = s;
          from = s;
        }
        nfa.states[size_t(from)].next = end;
      }
      return std::make_pair(start, end);
    }
    case Node::Kind::Concat: {
      int32_t at = start;
      for (int kid : n.kids) {
        Expected<std::pair<int32_t, int32_t>> f = build(kid);
        if (!f)
          return f;
        nfa.states[size_t(at)].eps.push_back(f->first);
        at = f->second;
      }
      return std::make_pair(start, at);
    }
    case Node::Kind::Alt: {
      const int32_t end = nfa.add();
      for (int kid : n.kids) {
        Expected<std::pair<int32_t, int32_t>> f = build(kid);
        if (!f)
          return f;
        nfa.states[size_t(start)].eps.push_back(f->first);
        nfa.states[size_t(f->second)].eps.push_back(end);
      }
      return std::make_pair(start, end);
    }
    case Node::Kind::Repeat: {
      int32_t at = start;
      for (int i = 0; i < n.min; ++i) {
        Expected<std::pair<int32_t, int32_t>> f = build(n.kids[0]);
        if (!f)
          return f;
        nfa.states[size_t(at)].eps.push_back(f->first);
        at = f->second;
      }
      if (n.max < 0) { // a loop: at -> body -> back to body's start, or out
        Expected<std::pair<int32_t, int32_t>> f = build(n.kids[0]);
        if (!f)
          return f;
        const int32_t end = nfa.add();
        nfa.states[size_t(at)].eps.push_back(f->first);
        nfa.states[size_t(at)].eps.push_back(end);
        nfa.states[size_t(f->second)].eps.push_back(f->first);
        nfa.states[size_t(f->second)].eps.push_back(end);
        return std::make_pair(start, end);
      }
      const int32_t end = nfa.add(); // optional copies, each may be the last
      for (int i = n.min; i < n.max; ++i) {
        Expected<std::pair<int32_t, int32_t>> f = build(n.kids[0]);
        if (!f)
          return f;
        nfa.states[size_t(at)].eps.push_back(f->first);
        nfa.states[size_t(at)].eps.push_back(end);
        at = f->second;
      }
      nfa.states[size_t(at)].eps.push_back(end);
      return std::make_pair(start, end);
    }
    }
    return std::make_pair(start, start);
  }

  // NFA states visited while building the DFA, all told: a bound on the compile's time and
  // on the memory its states' sets take (at most 4 bytes a visit: 32 MB).
  static constexpr int64_t kMaxWork = int64_t(1) << 23;
  int64_t work = 0;

  // The byte-consuming states (and the accepting one) reachable by epsilon moves, sorted.
  std::vector<int32_t> closure(std::vector<int32_t> seeds, std::vector<uint32_t> &mark,
                               uint32_t stamp) {
    std::vector<int32_t> out;
    while (!seeds.empty()) {
      const int32_t s = seeds.back();
      seeds.pop_back();
      if (mark[size_t(s)] == stamp)
        continue;
      mark[size_t(s)] = stamp;
      ++work;
      const Nfa::State &st = nfa.states[size_t(s)];
      if (st.lo >= 0 || s == nfa.accept)
        out.push_back(s);
      for (int32_t e : st.eps)
        seeds.push_back(e);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  Expected<std::shared_ptr<const Regex>> dfa(int32_t nfaStart) {
    auto re = std::make_shared<Regex>();
    // Byte classes: bytes no transition's range tells apart.
    std::array<bool, 257> cut{};
    for (const Nfa::State &s : nfa.states)
      if (s.lo >= 0) {
        cut[size_t(s.lo)] = true;
        cut[size_t(s.hi) + 1] = true;
      }
    std::vector<uint8_t> representative;
    int cls = -1;
    for (int b = 0; b < 256; ++b) {
      if (b == 0 || cut[size_t(b)]) {
        ++cls;
        representative.push_back(uint8_t(b));
      }
      re->classOf_[size_t(b)] = uint8_t(cls);
    }
    re->numClasses_ = representative.size();

    std::vector<uint32_t> mark(nfa.states.size(), 0);
    uint32_t stamp = 0;
    std::map<std::vector<int32_t>, int32_t> ids;
    std::vector<const std::vector<int32_t> *> sets; // each DFA state's NFA states: ids' keys
    auto intern = [&](std::vector<int32_t> set) -> int32_t {
      if (set.empty())
        return Regex::kDead;
      auto [it, fresh] = ids.try_emplace(std::move(set), static_cast<int32_t>(sets.size()));
      if (fresh)
        sets.push_back(&it->first);
      return it->second;
    };
    static const std::vector<int32_t> none;
    intern(closure({nfaStart}, mark, ++stamp));
    if (sets.empty())
      sets.push_back(&none); // cannot happen: the start reaches a byte state or the end
    for (size_t d = 0; d < sets.size(); ++d) {
      if (work > kMaxWork)
        return Error(ErrorCode::InvalidArgument,
                     std::string(what) + ": the pattern is too complex to compile (its DFA's "
                                         "states hold too many alternatives)");
      if (sets.size() > size_t(Regex::kMaxDfaStates))
        return Error(ErrorCode::InvalidArgument,
                     std::string(what) + ": the pattern needs more than " +
                         std::to_string(Regex::kMaxDfaStates) + " DFA states");
      re->accepting_.push_back(std::binary_search(sets[d]->begin(), sets[d]->end(), nfa.accept));
      for (uint8_t rep : representative) {
        std::vector<int32_t> seeds;
        for (int32_t s : *sets[d]) {
          const Nfa::State &st = nfa.states[size_t(s)];
          if (st.lo >= 0 && rep >= st.lo && rep <= st.hi)
            seeds.push_back(st.next);
        }
        const int32_t to = intern(closure(std::move(seeds), mark, ++stamp));
        re->table_.push_back(to);
      }
    }
    return std::shared_ptr<const Regex>(std::move(re));
  }
};

Expected<std::shared_ptr<const Regex>> Regex::compile(std::string_view pattern,
                                                      std::string_view what) {
  if (pattern.size() > kMaxPatternBytes)
    return Error(ErrorCode::InvalidArgument, std::string(what) + ": the pattern is longer than " +
                                                 std::to_string(kMaxPatternBytes) + " bytes");
  Parser parser(pattern, what);
  Expected<int> root = parser.parse();
  if (!root)
    return root.error();
  RegexCompiler c{parser.nodes, {}, what};
  Expected<std::pair<int32_t, int32_t>> f = c.build(*root);
  if (!f)
    return f.error();
  if (c.nfa.states.size() > size_t(kMaxNfaStates))
    return c.tooLarge();
  c.nfa.accept = f->second;
  return c.dfa(f->first);
}

bool Regex::matches(std::string_view text) const {
  int32_t s = start();
  for (char c : text) {
    s = next(s, static_cast<uint8_t>(c));
    if (s == kDead)
      return false;
  }
  return accepting(s);
}

const std::vector<uint8_t> &RegexConstraint::allowedTokens() {
  const Regex &re = *regex_;
  return masks_.get(state_, [&](std::vector<uint8_t> &mask) {
    vocab_->automatonMask(
        state_, state_ != Regex::kDead && re.accepting(state_),
        [&re](int32_t s, uint8_t byte) { return re.next(s, byte); }, mask);
  });
}

bool RegexConstraint::allows(int32_t token) {
  const Regex &re = *regex_;
  return vocab_->automatonAllows(
      state_, state_ != Regex::kDead && re.accepting(state_),
      [&re](int32_t s, uint8_t byte) { return re.next(s, byte); }, token);
}

void RegexConstraint::accept(int32_t token) {
  const Regex &re = *regex_;
  state_ = vocab_->automatonFeed(
      state_, [&re](int32_t s, uint8_t byte) { return re.next(s, byte); }, token);
}

} // namespace modelrt::sample
