#include "runtime/sample/JsonConstraint.h"

#include <algorithm>
#include <cstring>
#include <map>

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
  // The tag of a tagged union was written: the object goes on as the branch it names.
  if (schema_ && depth_ > 0 && frameNode_[depth_ - 1] >= 0 && valueNode_ >= 0) {
    const JsonSchema::Node &frame = schema_->node(frameNode_[depth_ - 1]);
    if (!frame.variants.empty()) {
      const JsonSchema::Node &tags = schema_->node(valueNode_);
      for (size_t i = 0; i < tags.enumTexts.size(); ++i)
        if ((matchCandidates_ >> i & 1) && tags.enumTexts[i].size() == matchLen_) {
          frameNode_[depth_ - 1] = frame.variants[i];
          break;
        }
    }
  }
  valueNode_ = -1;
  mode_ = depth_ == 0 ? Mode::Done : Mode::AfterValue;
  whitespace_ = 0;
  return true;
}

bool JsonRecognizer::valueStart(uint8_t c) {
  sub_ = 0;
  valueNode_ = -1;
  int16_t node = expectedNode();
  if (node >= 0) {
    const JsonSchema::Node &n = schema_->node(node);
    using T = JsonSchema::Type;
    if (c == 'n' && schema_->nullable(node)) {
      node = -1; // null instead of the value
    } else {
      bool ok = true;
      switch (n.type) {
      case T::Any:
        break;
      case T::Object:
        ok = c == '{';
        break;
      case T::Array:
        ok = c == '[';
        break;
      case T::String:
        ok = c == '"';
        break;
      case T::Number:
      case T::Integer:
        ok = c == '-' || isDigit(c);
        break;
      case T::Boolean:
        ok = c == 't' || c == 'f';
        break;
      case T::Null:
        ok = c == 'n';
        break;
      case T::Enum:
        matchCandidates_ = uint32_t((uint64_t(1) << n.enumTexts.size()) - 1);
        matchLen_ = 0;
        valueNode_ = node;
        ok = enumByte(c);
        break;
      }
      // A container only where all it must hold still fits under kMaxDepth (no dead end).
      if (!ok || ((c == '{' || c == '[') && depth_ + schema_->minDepth(node) > kMaxDepth))
        return false;
      if (n.type == T::Integer)
        valueNode_ = node;
      if (n.type == T::Any || (n.type == T::Object && n.freeObject))
        node = -1; // what is inside is free
    }
  }
  switch (c) {
  case '{':
  case '[':
    if (depth_ >= kMaxDepth)
      return false;
    stack_[depth_] = c;
    frameNode_[depth_] = node;
    cursor_[depth_] = 0;
    ++depth_;
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
  if (valueNode_ >= 0 && schema_->node(valueNode_).type == JsonSchema::Type::Enum &&
      !enumComplete())
    return false;
  endValue();
  return feed(c);
}

bool JsonRecognizer::feed(uint8_t c) {
  switch (mode_) {
  case Mode::String:
    if (stringIsKey_ && depth_ > 0 && frameNode_[depth_ - 1] >= 0)
      return keyByte(c);
    if (valueNode_ >= 0 && !enumByte(c))
      return false;
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
      if (valueNode_ >= 0 && !enumComplete())
        return false;
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
    if (valueNode_ >= 0) { // an integer, or an enum of numbers
      const bool part = isDigit(c) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
      const bool isEnum = schema_->node(valueNode_).type == JsonSchema::Type::Enum;
      if (!isEnum && (c == '.' || c == 'e' || c == 'E'))
        return false;
      if (isEnum && part && !enumByte(c))
        return false;
    }
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
    if (c != static_cast<uint8_t>(word[sub_]) || (valueNode_ >= 0 && !enumByte(c)))
      return false;
    if (word[++sub_] == '\0')
      return (valueNode_ < 0 || enumComplete()) && endValue();
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
      if (!objectMayClose())
        return false;
      --depth_;
      return endValue();
    }
    if (c != '"')
      return false;
    if (frameNode_[depth_ - 1] >= 0) { // a schema object: one of the next properties
      matchCandidates_ = keyCandidates();
      matchLen_ = 0;
      if (!matchCandidates_)
        return false;
    }
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
      if (open == '{' && !objectMayContinue())
        return false;
      mode_ = open == '{' ? Mode::Key : Mode::Value;
      return true;
    }
    if (c == (open == '{' ? '}' : ']')) {
      if (open == '{' && !objectMayClose())
        return false;
      --depth_;
      return endValue();
    }
    return false;
  }
  default: // Done: nothing but whitespace
    return false;
  }
}

int16_t JsonRecognizer::expectedNode() const {
  if (!schema_)
    return -1;
  if (depth_ == 0)
    return 0;
  const int16_t frame = frameNode_[depth_ - 1];
  if (frame < 0)
    return -1;
  const JsonSchema::Node &n = schema_->node(frame);
  return n.type == JsonSchema::Type::Array ? n.items : pendingNode_;
}

uint32_t JsonRecognizer::keyCandidates() const {
  const JsonSchema::Node &n = schema_->node(frameNode_[depth_ - 1]);
  uint32_t bits = 0;
  for (size_t i = cursor_[depth_ - 1]; i < n.properties.size(); ++i) {
    // An optional property whose value cannot fit under kMaxDepth is left out.
    if (depth_ + schema_->minDepth(n.properties[i].second) <= kMaxDepth)
      bits |= 1u << i;
    if (n.required >> i & 1)
      break; // a required property cannot be skipped
  }
  return bits;
}

bool JsonRecognizer::objectMayClose() const {
  if (!schema_ || frameNode_[depth_ - 1] < 0)
    return true;
  const JsonSchema::Node &n = schema_->node(frameNode_[depth_ - 1]);
  return cursor_[depth_ - 1] >= 32 || (n.required >> cursor_[depth_ - 1]) == 0;
}

bool JsonRecognizer::objectMayContinue() const {
  return !schema_ || frameNode_[depth_ - 1] < 0 || keyCandidates() != 0;
}

bool JsonRecognizer::keyByte(uint8_t c) {
  const JsonSchema::Node &n = schema_->node(frameNode_[depth_ - 1]);
  if (c == '"') {
    for (size_t i = 0; i < n.properties.size(); ++i)
      if ((matchCandidates_ >> i & 1) && n.properties[i].first.size() == matchLen_) {
        cursor_[depth_ - 1] = uint8_t(i + 1);
        pendingNode_ = n.properties[i].second;
        mode_ = Mode::Colon;
        whitespace_ = 0;
        return true;
      }
    return false;
  }
  uint32_t keep = 0;
  for (size_t i = 0; i < n.properties.size(); ++i) {
    const std::string &name = n.properties[i].first;
    if ((matchCandidates_ >> i & 1) && name.size() > matchLen_ && uint8_t(name[matchLen_]) == c)
      keep |= 1u << i;
  }
  matchCandidates_ = keep;
  ++matchLen_;
  return keep != 0;
}

bool JsonRecognizer::enumByte(uint8_t c) {
  const JsonSchema::Node &n = schema_->node(valueNode_);
  uint32_t keep = 0;
  for (size_t i = 0; i < n.enumTexts.size(); ++i) {
    const std::string &t = n.enumTexts[i];
    if ((matchCandidates_ >> i & 1) && t.size() > matchLen_ && uint8_t(t[matchLen_]) == c)
      keep |= 1u << i;
  }
  matchCandidates_ = keep;
  ++matchLen_;
  return keep != 0;
}

bool JsonRecognizer::enumComplete() const {
  const JsonSchema::Node &n = schema_->node(valueNode_);
  for (size_t i = 0; i < n.enumTexts.size(); ++i)
    if ((matchCandidates_ >> i & 1) && n.enumTexts[i].size() == matchLen_)
      return true;
  return false;
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
  if (schema_) {
    const uint64_t id = schema_->id();
    k.append(reinterpret_cast<const char *>(&id), sizeof id);
    k.append(reinterpret_cast<const char *>(frameNode_.data()), depth_ * sizeof(int16_t));
    k.append(reinterpret_cast<const char *>(cursor_.data()), depth_);
    for (int16_t v : {pendingNode_, valueNode_})
      k.append(reinterpret_cast<const char *>(&v), sizeof v);
    k.append(reinterpret_cast<const char *>(&matchCandidates_), sizeof matchCandidates_);
    k.push_back(char(matchLen_));
  }
  return k;
}

JsonVocabulary::JsonVocabulary(const std::vector<std::string> &tokenBytes,
                               std::vector<int32_t> endTokens)
    : bytes_(tokenBytes), endTokens_(std::move(endTokens)) {
  // Built as a trie of sorted child maps, then laid out depth first.
  struct Node {
    std::map<uint8_t, int32_t> children;
    std::vector<int32_t> tokens; // tokens whose bytes end here
  };
  std::vector<Node> nodes(1);
  for (size_t id = 0; id < bytes_.size(); ++id) {
    if (bytes_[id].size() > 0xFFFF)
      bytes_[id].clear(); // depths are 16-bit: never allowed
    if (bytes_[id].empty())
      continue;
    int32_t node = 0;
    for (char c : bytes_[id]) {
      auto [it, added] = nodes[size_t(node)].children.try_emplace(static_cast<uint8_t>(c),
                                                                   int32_t(nodes.size()));
      const int32_t child = it->second;
      if (added)
        nodes.emplace_back(); // (invalidates `it`)
      node = child;
    }
    nodes[size_t(node)].tokens.push_back(int32_t(id));
  }
  // Depth-first order, children by byte.
  std::vector<std::pair<int32_t, uint8_t>> order; // (node, byte), in layout order
  std::vector<std::pair<int32_t, uint16_t>> todo{{0, 0}};
  std::vector<uint8_t> byteOf(nodes.size(), 0);
  for (size_t n = 0; n < nodes.size(); ++n)
    for (const auto &[b, c] : nodes[n].children)
      byteOf[size_t(c)] = b;
  while (!todo.empty()) {
    const auto [node, depth] = todo.back();
    todo.pop_back();
    order.push_back({node, byteOf[size_t(node)]});
    depth_.push_back(depth);
    maxDepth_ = std::max(maxDepth_, depth);
    const auto &children = nodes[size_t(node)].children;
    for (auto it = children.rbegin(); it != children.rend(); ++it)
      todo.push_back({it->second, uint16_t(depth + 1)});
  }
  const size_t n = order.size();
  byte_.resize(n);
  subtree_.assign(n, 1);
  tokenBegin_.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    byte_[i] = order[i].second;
    tokenBegin_[i] = int32_t(tokens_.size());
    const std::vector<int32_t> &ts = nodes[size_t(order[i].first)].tokens;
    tokens_.insert(tokens_.end(), ts.begin(), ts.end());
  }
  tokenBegin_[n] = int32_t(tokens_.size());
  // Subtree sizes: a node's subtree runs until the next node no deeper.
  std::vector<int32_t> open; // nodes whose subtree is still running, deepest last
  for (size_t i = 0; i < n; ++i) {
    while (!open.empty() && depth_[size_t(open.back())] >= depth_[i]) {
      subtree_[size_t(open.back())] = int32_t(i) - open.back();
      open.pop_back();
    }
    open.push_back(int32_t(i));
  }
  for (int32_t i : open)
    subtree_[size_t(i)] = int32_t(n) - i;
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
    // A subtree whose prefix the recognizer rejects is skipped.
    walk(state, [](JsonRecognizer &s, uint8_t byte) { return s.feed(byte); }, mask);
  }
  // Never a dead end by construction; should one happen, the answer ends (incomplete) rather
  // than going on unconstrained.
  if (std::find(mask.begin(), mask.end(), uint8_t(1)) == mask.end())
    for (int32_t t : endTokens_)
      if (t >= 0 && size_t(t) < mask.size())
        mask[size_t(t)] = 1;
  if (cache_.size() >= kMaxCachedMasks)
    cache_.clear();
  return cache_.emplace(std::move(key), std::move(mask)).first->second;
}

bool JsonConstraint::allows(int32_t token) {
  if (state_.complete())
    return vocab_->isEndToken(token);
  const std::string_view bytes = vocab_->bytes(token);
  JsonRecognizer s = state_;
  return !bytes.empty() && s.feed(bytes);
}

} // namespace modelrt::sample

// ---- JSON Schema -------------------------------------------------------------------------

#include <nlohmann/json.hpp>

#include <atomic>
#include <map>

namespace modelrt::sample {

struct SchemaCompiler {
  using Json = nlohmann::ordered_json; // properties keep the schema's order
  const Json &root;
  JsonSchema &out;
  std::map<std::string, int16_t> refs; // compiled $ref targets (recursion ends here)

  static Error bad(const std::string &what) {
    return Error(ErrorCode::InvalidArgument, "'response_format' json_schema: " + what);
  }

  Expected<int16_t> add(const Json &s, int depth) {
    if (depth > 32)
      return bad("nests more than 32 deep");
    if (out.nodes_.size() >= JsonSchema::kMaxNodes)
      return bad("has more than " + std::to_string(JsonSchema::kMaxNodes) + " schemas");
    if (s.is_boolean() && s.get<bool>())
      return push(JsonSchema::Node{});
    if (!s.is_object())
      return bad("a schema must be an object");
    // oneOf of a tagged union is its anyOf (the tags make the branches exclusive), as
    // pydantic writes discriminated unions.
    if (auto one = s.find("oneOf"); one != s.end() && !s.contains("anyOf")) {
      if (!one->is_array() || one->size() < 2)
        return bad("'oneOf' is supported only as a tagged union of objects");
      return taggedUnion(*one, depth, "oneOf");
    }
    for (const char *k : {"allOf", "not", "patternProperties", "prefixItems", "if", "then",
                          "else", "dependentSchemas", "dependentRequired", "unevaluatedProperties",
                          "contains", "propertyNames"})
      if (s.contains(k))
        return bad(std::string("keyword '") + k + "' is not supported");
    if (auto ref = s.find("$ref"); ref != s.end()) {
      if (!ref->is_string())
        return bad("'$ref' must be a string");
      return resolve(ref->get<std::string>(), depth);
    }
    if (auto any = s.find("anyOf"); any != s.end()) {
      // pydantic's Optional[X]: anyOf [X, {"type": "null"}] (either order).
      const auto isNull = [](const Json &x) {
        return x.is_object() && x.size() >= 1 && x.value("type", Json()) == "null";
      };
      if (any->is_array() && any->size() >= 2 && !std::any_of(any->begin(), any->end(), isNull))
        return taggedUnion(*any, depth, "anyOf");
      if (!any->is_array() || any->size() != 2 || isNull((*any)[0]) == isNull((*any)[1]))
        return bad("'anyOf' is supported only as [schema, {\"type\": \"null\"}] or as a "
                   "tagged union of objects");
      Expected<int16_t> inner = add(isNull((*any)[0]) ? (*any)[1] : (*any)[0], depth + 1);
      if (!inner)
        return inner;
      JsonSchema::Node n; // an alias: the inner node may still be a placeholder ($ref)
      n.alias = *inner;
      n.nullable = true;
      return push(std::move(n));
    }
    JsonSchema::Node n;
    if (auto e = s.find("enum"); e != s.end() || s.contains("const")) {
      Json values = e != s.end() ? *e : Json::array({s["const"]});
      if (!values.is_array() || values.empty() || values.size() > JsonSchema::kMaxEnum)
        return bad("'enum' must list 1 to " + std::to_string(JsonSchema::kMaxEnum) + " values");
      n.type = JsonSchema::Type::Enum;
      const std::string declared =
          s.value("type", Json()).is_string() ? s["type"].get<std::string>() : "";
      for (const Json &v : values) {
        if (v.is_object() || v.is_array())
          return bad("'enum' and 'const' values must be strings, numbers, booleans or null");
        const std::string text = v.dump();
        const bool typeFits = declared.empty() || (declared == "string" && v.is_string()) ||
                              (declared == "number" && v.is_number()) ||
                              (declared == "integer" && v.is_number_integer()) ||
                              (declared == "boolean" && v.is_boolean()) ||
                              (declared == "null" && v.is_null());
        if (!typeFits)
          return bad("'enum' value " + text.substr(0, 40) + " is not of type '" + declared + "'");
        // Every value must be writable within the recognizer's limits (numbers: 32 bytes,
        // two exponent digits), or choosing it would be a dead end.
        JsonRecognizer check(false);
        if (text.size() > 200 || !check.feed(text + " ") || !check.complete())
          return bad("'enum' value " + text.substr(0, 40) + " cannot be generated");
        n.enumTexts.push_back(text);
      }
      return push(std::move(n));
    }
    std::vector<std::string> types;
    if (auto t = s.find("type"); t != s.end()) {
      if (t->is_string())
        types.push_back(t->get<std::string>());
      else if (t->is_array())
        for (const Json &x : *t)
          types.push_back(x.is_string() ? x.get<std::string>() : "?");
      else
        return bad("'type' must be a string or a list of strings");
    }
    for (auto it = types.begin(); it != types.end();)
      if (*it == "null" && types.size() > 1) {
        n.nullable = true;
        it = types.erase(it);
      } else
        ++it;
    if (types.size() > 1)
      return bad("'type' lists of more than one non-null type are not supported");
    const std::string type = types.empty() ? "" : types[0];
    static const std::pair<const char *, JsonSchema::Type> kTypes[] = {
        {"object", JsonSchema::Type::Object},   {"array", JsonSchema::Type::Array},
        {"string", JsonSchema::Type::String},   {"number", JsonSchema::Type::Number},
        {"integer", JsonSchema::Type::Integer}, {"boolean", JsonSchema::Type::Boolean},
        {"null", JsonSchema::Type::Null}};
    if (type.empty()) {
      n.type =
          s.contains("properties") || s.contains("required") || s.contains("additionalProperties")
              ? JsonSchema::Type::Object
          : s.contains("items") ? JsonSchema::Type::Array
                                : JsonSchema::Type::Any;
    } else {
      auto known = std::find_if(std::begin(kTypes), std::end(kTypes),
                                [&](const auto &t) { return type == t.first; });
      if (known == std::end(kTypes))
        return bad("unknown type '" + type + "'");
      n.type = known->second;
    }
    // Reserve this node's index first: its children come after it.
    const int16_t self = int16_t(out.nodes_.size());
    out.nodes_.push_back(n);
    if (n.type == JsonSchema::Type::Object) {
      auto props = s.find("properties");
      auto extra = s.find("additionalProperties");
      const bool noExtra = extra != s.end() && extra->is_boolean() && !extra->get<bool>();
      if (props == s.end()) {
        if (s.contains("required"))
          return bad("'required' without 'properties' is not supported");
        if (extra != s.end() && !extra->is_boolean() && !(extra->is_object() && extra->empty()))
          return bad("'additionalProperties' schemas without 'properties' (maps) are not "
                     "supported");
        out.nodes_[size_t(self)].freeObject = !noExtra; // additionalProperties false: {}
        return self;
      }
      if (!props->is_object() || props->size() > JsonSchema::kMaxProperties)
        return bad("'properties' must be an object of at most " +
                   std::to_string(JsonSchema::kMaxProperties) + " properties");
      std::vector<std::string> required;
      if (auto r = s.find("required"); r != s.end()) {
        if (!r->is_array())
          return bad("'required' must be a list of property names");
        for (const Json &x : *r) {
          if (!x.is_string() || !props->contains(x.get<std::string>()))
            return bad("'required' names a property that 'properties' does not have");
          required.push_back(x.get<std::string>());
        }
      }
      for (auto it = props->begin(); it != props->end(); ++it) {
        const std::string &name = it.key();
        if (name.find_first_of("\"\\") != std::string::npos ||
            std::any_of(name.begin(), name.end(), [](char c) { return uint8_t(c) < 0x20; }))
          return bad("property names with quotes, backslashes or control characters are not "
                     "supported");
        Expected<int16_t> child = add(it.value(), depth + 1);
        if (!child)
          return child;
        JsonSchema::Node &me = out.nodes_[size_t(self)];
        if (std::find(required.begin(), required.end(), name) != required.end())
          me.required |= 1u << me.properties.size();
        me.properties.emplace_back(name, *child);
      }
    } else if (n.type == JsonSchema::Type::Array) {
      if (auto items = s.find("items"); items != s.end()) {
        Expected<int16_t> child = add(*items, depth + 1);
        if (!child)
          return child;
        out.nodes_[size_t(self)].items = *child;
      }
    }
    return self;
  }

  // anyOf [A, B, ...] of objects whose first property K is required and a string const,
  // different in each: an object whose only property is K (an enum of the tags); the
  // recognizer switches to the branch once the tag is written.
  Expected<int16_t> taggedUnion(const Json &branches, int depth, const std::string &keyword) {
    const auto fail = [&] {
      return bad("'" + keyword +
                 "' of several schemas is supported only as a tagged union: objects whose "
                 "first property has one name, is required, and is a different string 'const' "
                 "in each");
    };
    if (branches.size() > JsonSchema::kMaxEnum)
      return bad("'" + keyword + "' lists more than " + std::to_string(JsonSchema::kMaxEnum) +
                 " schemas");
    JsonSchema::Node tags, u;
    tags.type = JsonSchema::Type::Enum;
    std::string tagName;
    for (const Json &branch : branches) {
      Expected<int16_t> b = add(branch, depth + 1);
      if (!b)
        return b;
      int16_t at = *b;
      for (size_t steps = 0; out.nodes_[size_t(at)].alias >= 0 && steps < out.nodes_.size();
           ++steps)
        at = out.nodes_[size_t(at)].alias;
      const JsonSchema::Node &n = out.nodes_[size_t(at)];
      if (n.type != JsonSchema::Type::Object || n.nullable || n.properties.empty() ||
          !(n.required & 1))
        return fail();
      int16_t tag = n.properties[0].second;
      for (size_t steps = 0; out.nodes_[size_t(tag)].alias >= 0 && steps < out.nodes_.size();
           ++steps)
        tag = out.nodes_[size_t(tag)].alias;
      const JsonSchema::Node &t = out.nodes_[size_t(tag)];
      if ((!tagName.empty() && n.properties[0].first != tagName) ||
          t.type != JsonSchema::Type::Enum || t.enumTexts.size() != 1 || t.nullable ||
          t.enumTexts[0].empty() || t.enumTexts[0][0] != '"' ||
          std::count(tags.enumTexts.begin(), tags.enumTexts.end(), t.enumTexts[0]))
        return fail();
      tagName = n.properties[0].first;
      tags.enumTexts.push_back(t.enumTexts[0]);
      u.variants.push_back(*b);
    }
    Expected<int16_t> tagNode = push(std::move(tags));
    if (!tagNode)
      return tagNode;
    u.type = JsonSchema::Type::Object;
    u.properties.emplace_back(tagName, *tagNode);
    u.required = 1;
    return push(std::move(u));
  }

  Expected<int16_t> push(JsonSchema::Node n) {
    out.nodes_.push_back(std::move(n));
    return int16_t(out.nodes_.size() - 1);
  }

  Expected<int16_t> resolve(const std::string &ref, int depth) {
    if (auto it = refs.find(ref); it != refs.end())
      return it->second;
    std::string name;
    const Json *defs = nullptr;
    for (const char *prefix : {"#/$defs/", "#/definitions/"})
      if (ref.rfind(prefix, 0) == 0) {
        name = ref.substr(std::strlen(prefix));
        auto d = root.find(std::string(prefix).substr(2, std::strlen(prefix) - 3));
        defs = d != root.end() && d->is_object() ? &*d : nullptr;
      }
    if (!defs || !defs->contains(name))
      return bad("'$ref' '" + ref + "' does not name an entry of $defs or definitions");
    // A placeholder first, so that a recursive reference finds it; filled in below.
    const int16_t slot = int16_t(out.nodes_.size());
    out.nodes_.emplace_back();
    refs[ref] = slot;
    Expected<int16_t> body = add((*defs)[name], depth + 1);
    if (!body)
      return body;
    out.nodes_[size_t(slot)].alias = *body;
    return slot;
  }
};

Expected<std::shared_ptr<const JsonSchema>>
JsonSchema::compile(const nlohmann::ordered_json &schema) {
  static std::atomic<uint64_t> nextId{1};
  auto out = std::make_shared<JsonSchema>();
  SchemaCompiler c{schema, *out, {}};
  out->nodes_.emplace_back(); // the root's slot
  Expected<int16_t> root = c.add(schema, 0);
  if (!root)
    return root.error();
  out->nodes_[0].alias = *root;
  const size_t count = out->nodes_.size();
  out->resolved_.resize(count);
  out->nullable_.resize(count);
  for (size_t i = 0; i < count; ++i) { // follow aliases ($ref, Optional) to a real node
    size_t j = i, steps = 0;
    bool nullable = false;
    while (true) {
      nullable = nullable || out->nodes_[j].nullable;
      if (out->nodes_[j].alias < 0)
        break;
      j = size_t(out->nodes_[j].alias);
      if (++steps > count)
        return SchemaCompiler::bad("'$ref' definitions refer to each other in a circle");
    }
    out->resolved_[i] = int16_t(j);
    out->nullable_[i] = nullable;
  }
  // Fewest containers a value opens: objects 1 + their deepest required non-nullable
  // property, arrays 1 (they may be empty); found by iterating to a fixed point, capped
  // past kMaxDepth (a cycle of required objects can never be written).
  constexpr int kCap = JsonRecognizer::kMaxDepth + 1;
  out->minDepth_.assign(count, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < count; ++i) {
      const Node &n = out->node(int16_t(i));
      int d = 0;
      if (!out->nullable_[i] && n.type == Type::Array)
        d = 1;
      if (!out->nullable_[i] && n.type == Type::Object) {
        d = 1;
        for (size_t k = 0; k < n.properties.size(); ++k)
          if (n.required >> k & 1)
            d = std::max(d, 1 + out->minDepth_[size_t(n.properties[k].second)]);
        for (int16_t v : n.variants) // a union opens only where every branch fits
          d = std::max<int>(d, out->minDepth_[size_t(v)]);
      }
      d = std::min(d, kCap);
      if (d > out->minDepth_[i]) {
        out->minDepth_[i] = uint8_t(d);
        changed = true;
      }
    }
  }
  if (out->node(0).type != Type::Object || out->nullable(0))
    return SchemaCompiler::bad("the top-level schema must be an object");
  if (out->minDepth(0) > JsonRecognizer::kMaxDepth)
    return SchemaCompiler::bad("its required properties nest deeper than " +
                               std::to_string(JsonRecognizer::kMaxDepth) +
                               " levels (or in a circle): no value can be written");
  out->id_ = nextId++;
  return std::shared_ptr<const JsonSchema>(std::move(out));
}

} // namespace modelrt::sample
