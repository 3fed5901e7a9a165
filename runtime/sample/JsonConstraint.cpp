#include "runtime/sample/JsonConstraint.h"

#include <cstring>

namespace modelrt::sample {

namespace {

// Number sub-states.
enum : uint8_t { NumSign = 1, NumZero, NumInt, NumDot, NumFrac, NumE, NumESign, NumExp };

bool isDigit(uint8_t c) { return c >= '0' && c <= '9'; }
bool isHex(uint8_t c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
const char *literalWord(uint8_t first) {
  return first == 't' ? "true" : first == 'f' ? "false" : "null";
}

constexpr size_t kMaxCachedMasks = 512;

} // namespace

bool JsonRecognizer::endValue() {
  mode_ = depth_ == 0 ? Mode::Done : Mode::AfterValue;
  whitespace_ = 0;
  return true;
}

bool JsonRecognizer::valueStart(uint8_t c) {
  sub_ = 0;
  switch (c) {
  case '{':
  case '[':
    if (depth_ >= kMaxDepth)
      return false;
    stack_[depth_++] = c;
    mode_ = c == '{' ? Mode::ObjectFirst : Mode::ArrayFirst;
    return true;
  case '"':
    mode_ = Mode::String;
    stringIsKey_ = false;
    return true;
  case 't':
  case 'f':
  case 'n':
    mode_ = Mode::Literal;
    literal_ = c;
    sub_ = 1;
    return true;
  default:
    if (c == '-' || isDigit(c)) {
      mode_ = Mode::Number;
      numberBytes_ = 1;
      exponentDigits_ = 0;
      sub_ = c == '-' ? NumSign : c == '0' ? NumZero : NumInt;
      return true;
    }
    return false;
  }
}

bool JsonRecognizer::afterNumber(uint8_t c) {
  endValue();
  return feed(c);
}

bool JsonRecognizer::feed(uint8_t c) {
  switch (mode_) {
  case Mode::String:
    if (utf8Left_) {
      if (c < utf8Lo_ || c > utf8Hi_)
        return false;
      --utf8Left_;
      utf8Lo_ = 0x80, utf8Hi_ = 0xBF;
      return true;
    }
    if (sub_ == 1) { // after a backslash
      if (c == 'u') {
        sub_ = 2, hexDigits_ = 0, hex_ = 0;
        return true;
      }
      if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
          c == 't') {
        sub_ = 0;
        return true;
      }
      return false;
    }
    if (sub_ == 3 || sub_ == 4) { // a high surrogate's low half must follow: "\u"
      if (c != (sub_ == 3 ? '\\' : 'u'))
        return false;
      if (++sub_ == 5)
        sub_ = 2, hexDigits_ = 0, hex_ = 0;
      return true;
    }
    if (sub_ == 2) { // \uXXXX; surrogates only as a high-low pair
      if (!isHex(c))
        return false;
      hex_ = uint16_t(hex_ << 4 | (isDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10));
      if (++hexDigits_ == 1 && lowDue_ && hex_ != 0xD)
        return false; // a low surrogate starts with D (checking here keeps no dead end)
      if (hexDigits_ == 2) {
        const bool low = hex_ >= 0xDC && hex_ <= 0xDF;
        if (low != lowDue_)
          return false;
      }
      if (hexDigits_ == 4) {
        if (lowDue_)
          lowDue_ = false, sub_ = 0;
        else if (hex_ >= 0xD800 && hex_ <= 0xDBFF)
          lowDue_ = true, sub_ = 3;
        else
          sub_ = 0;
      }
      return true;
    }
    if (c == '"') {
      if (stringIsKey_) {
        mode_ = Mode::Colon;
        whitespace_ = 0;
        return true;
      }
      return endValue();
    }
    if (c == '\\') {
      sub_ = 1;
      return true;
    }
    if (c < 0x20)
      return false; // control characters must be escaped
    if (c < 0x80)
      return true;
    // A UTF-8 lead byte and the range its first continuation byte must fall in.
    utf8Lo_ = 0x80, utf8Hi_ = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
      utf8Left_ = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
      utf8Left_ = 2;
      if (c == 0xE0)
        utf8Lo_ = 0xA0; // no overlong forms
      if (c == 0xED)
        utf8Hi_ = 0x9F; // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      utf8Left_ = 3;
      if (c == 0xF0)
        utf8Lo_ = 0x90;
      if (c == 0xF4)
        utf8Hi_ = 0x8F; // nothing above U+10FFFF
    } else
      return false;
    return true;
  case Mode::Number: {
    if (++numberBytes_ > kMaxNumberBytes) // only the end of the number may come
      return !isDigit(c) && c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-' &&
             afterNumber(c);
    // The last byte a number may have must leave it complete (no dead end: "1." at the
    // limit could never be finished).
    const bool last = numberBytes_ == kMaxNumberBytes;
    switch (sub_) {
    case NumSign:
      if (!isDigit(c))
        return false;
      sub_ = c == '0' ? NumZero : NumInt;
      return true;
    case NumZero:
    case NumInt:
    case NumFrac:
      if (isDigit(c)) {
        if (sub_ == NumZero)
          return false; // no leading zeros
        return true;
      }
      if (c == '.' && sub_ != NumFrac) {
        sub_ = NumDot;
        return !last;
      }
      if (c == 'e' || c == 'E') {
        sub_ = NumE;
        return !last;
      }
      return afterNumber(c);
    case NumDot:
      if (!isDigit(c))
        return false;
      sub_ = NumFrac;
      return true;
    case NumE:
      if (c == '+' || c == '-') {
        sub_ = NumESign;
        return !last;
      }
      if (!isDigit(c))
        return false;
      sub_ = NumExp;
      exponentDigits_ = 1;
      return true;
    case NumESign:
      if (!isDigit(c))
        return false;
      sub_ = NumExp;
      exponentDigits_ = 1;
      return true;
    default: // NumExp
      if (isDigit(c))
        return ++exponentDigits_ <= 2;
      return afterNumber(c);
    }
  }
  case Mode::Literal: {
    const char *word = literalWord(literal_);
    if (c != static_cast<uint8_t>(word[sub_]))
      return false;
    if (word[++sub_] == '\0')
      return endValue();
    return true;
  }
  default:
    break;
  }

  if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
    return ++whitespace_ <= kMaxWhitespace;
  whitespace_ = 0;
  switch (mode_) {
  case Mode::Start:
    if (objectOnly_ && c != '{')
      return false;
    return valueStart(c);
  case Mode::Value:
    return valueStart(c);
  case Mode::ArrayFirst:
    if (c == ']') {
      --depth_;
      return endValue();
    }
    return valueStart(c);
  case Mode::ObjectFirst:
  case Mode::Key:
    if (c == '}' && mode_ == Mode::ObjectFirst) {
      --depth_;
      return endValue();
    }
    if (c != '"')
      return false;
    mode_ = Mode::String;
    stringIsKey_ = true;
    sub_ = 0;
    return true;
  case Mode::Colon:
    if (c != ':')
      return false;
    mode_ = Mode::Value;
    return true;
  case Mode::AfterValue: {
    const uint8_t open = stack_[depth_ - 1];
    if (c == ',') {
      mode_ = open == '{' ? Mode::Key : Mode::Value;
      return true;
    }
    if (c == (open == '{' ? '}' : ']')) {
      --depth_;
      return endValue();
    }
    return false;
  }
  default: // Done: nothing but whitespace
    return false;
  }
}

std::string JsonRecognizer::key() const {
  std::string k;
  k.reserve(12 + depth_);
  k.push_back(char(mode_));
  k.push_back(char(sub_));
  k.push_back(char(utf8Left_));
  k.push_back(char(utf8Lo_));
  k.push_back(char(utf8Hi_));
  k.push_back(char(literal_));
  k.push_back(char(whitespace_));
  k.push_back(char(stringIsKey_));
  k.push_back(char(objectOnly_));
  k.push_back(char(numberBytes_));
  k.push_back(char(hexDigits_));
  k.push_back(char(hex_ & 0xff));
  k.push_back(char(hex_ >> 8));
  k.push_back(char(lowDue_));
  k.push_back(char(exponentDigits_));
  k.append(reinterpret_cast<const char *>(stack_.data()), depth_);
  return k;
}

JsonVocabulary::JsonVocabulary(const std::vector<std::string> &tokenBytes,
                               std::vector<int32_t> endTokens)
    : bytes_(tokenBytes), endTokens_(std::move(endTokens)) {
  nodes_.emplace_back();
  for (size_t id = 0; id < bytes_.size(); ++id) {
    if (bytes_[id].empty())
      continue;
    int32_t node = 0;
    for (char c : bytes_[id])
      node = child(node, static_cast<uint8_t>(c));
    nodes_[size_t(node)].tokens.push_back(int32_t(id));
  }
}

int32_t JsonVocabulary::child(int32_t node, uint8_t byte) {
  for (int32_t c = nodes_[size_t(node)].firstChild; c >= 0; c = nodes_[size_t(c)].nextSibling)
    if (nodes_[size_t(c)].byte == byte)
      return c;
  Node n;
  n.byte = byte;
  n.nextSibling = nodes_[size_t(node)].firstChild;
  nodes_.push_back(std::move(n));
  const int32_t id = int32_t(nodes_.size() - 1);
  nodes_[size_t(node)].firstChild = id;
  return id;
}

const std::vector<uint8_t> &JsonVocabulary::allowed(const JsonRecognizer &state) {
  std::string key = state.key();
  if (auto it = cache_.find(key); it != cache_.end())
    return it->second;
  std::vector<uint8_t> mask(bytes_.size(), 0);
  if (state.complete()) {
    for (int32_t t : endTokens_)
      if (t >= 0 && size_t(t) < mask.size())
        mask[size_t(t)] = 1;
  } else {
    // Depth-first over the trie; a subtree whose prefix the recognizer rejects is skipped.
    struct Frame {
      int32_t node;
      JsonRecognizer state;
    };
    std::vector<Frame> stack{{0, state}};
    while (!stack.empty()) {
      Frame f = stack.back();
      stack.pop_back();
      for (int32_t c = nodes_[size_t(f.node)].firstChild; c >= 0;
           c = nodes_[size_t(c)].nextSibling) {
        JsonRecognizer s = f.state;
        if (!s.feed(nodes_[size_t(c)].byte))
          continue;
        for (int32_t t : nodes_[size_t(c)].tokens)
          mask[size_t(t)] = 1;
        if (nodes_[size_t(c)].firstChild >= 0)
          stack.push_back({c, s});
      }
    }
  }
  if (cache_.size() >= kMaxCachedMasks)
    cache_.clear();
  return cache_.emplace(std::move(key), std::move(mask)).first->second;
}

} // namespace modelrt::sample
