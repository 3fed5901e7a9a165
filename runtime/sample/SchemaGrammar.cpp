#include "runtime/sample/SchemaGrammar.h"

#include "runtime/sample/Utf8Ranges.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string_view>
#include <vector>

namespace modelrt::sample {

namespace {

using Json = nlohmann::ordered_json;

constexpr int64_t kMaxCount = 1000; // counted repetitions (the grammar's limit)
constexpr int kMaxDepth = 64;
// Values of an enum, schemas of a union (each a parse stack where they start alike).
constexpr size_t kMaxAlternatives = 1024;

// JSON text as it is written: strings escaped as JSON escapes them, no control characters,
// at most 16 whitespace bytes in a row; numbers within the JSON recognizer's limits.
constexpr const char *kBase = R"(ws ::= [ \t\n]{0,16}
hex ::= [0-9a-fA-F]
char ::= [^"\\\x00-\x1f] | "\\" escape
escape ::= ["\\/bfnrt] | "u" ( [0-9a-cA-Ce-fE-F] hex hex hex | [dD] [0-7] hex hex | [dD] [89abAB] hex hex "\\u" [dD] [c-fC-F] hex hex )
string ::= "\"" char* "\""
integer ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
number ::= integer ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?
boolean ::= "true" | "false"
null ::= "null"
value ::= object | array | string | number | boolean | null
object ::= "{" ws ( string ws ":" ws value ws ( "," ws string ws ":" ws value ws )* )? "}"
array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
)";

// `text` as a GBNF string literal.
std::string literal(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

// A quantifier {lo,hi} (hi < 0: no bound).
std::string counted(int64_t lo, int64_t hi) {
  if (lo == 0 && hi < 0)
    return "*";
  return "{" + std::to_string(lo) + "," + (hi < 0 ? "" : std::to_string(hi)) + "}";
}

Error bad(const std::string &what) {
  return Error(ErrorCode::InvalidArgument, "'response_format' json_schema: " + what);
}

struct Converter {
  const Json &root;
  std::vector<std::string> rules;           // "name ::= body"
  std::map<std::string, std::string> refs; // $ref -> its rule
  int next = 0;

  std::string rule(const std::string &body) {
    const std::string name = "s" + std::to_string(next++);
    rules.push_back(name + " ::= " + body);
    return name;
  }

  Expected<int64_t> count(const Json &s, const char *key, int64_t absent) {
    auto it = s.find(key);
    if (it == s.end())
      return absent;
    if (!it->is_number_integer() || it->get<int64_t>() < 0)
      return bad(std::string("'") + key + "' must be a non-negative integer");
    return it->get<int64_t>();
  }
  // A bound past kMaxCount: a minimum is refused, a maximum not enforced (as other bounds).
  Expected<std::pair<int64_t, int64_t>> bounds(const Json &s, const char *minKey,
                                               const char *maxKey) {
    Expected<int64_t> lo = count(s, minKey, 0), hi = count(s, maxKey, -1);
    if (!lo)
      return lo.error();
    if (!hi)
      return hi.error();
    if (*lo > kMaxCount)
      return bad(std::string("'") + minKey + "' above " + std::to_string(kMaxCount) +
                 " is not supported");
    if (*hi > kMaxCount)
      *hi = -1;
    if (*hi >= 0 && *hi < *lo)
      return bad(std::string("'") + maxKey + "' is below '" + minKey + "'");
    return std::make_pair(*lo, *hi);
  }

  Expected<std::string> resolve(const std::string &ref, int depth) {
    if (auto it = refs.find(ref); it != refs.end())
      return it->second;
    const Json *target = nullptr;
    for (const char *prefix : {"#/$defs/", "#/definitions/"}) {
      const std::string p = prefix;
      const std::string section = p.substr(2, p.size() - 3);
      if (ref.rfind(p, 0) == 0 && root.contains(section) && root[section].is_object() &&
          root[section].contains(ref.substr(p.size())))
        target = &root[section][ref.substr(p.size())];
    }
    if (!target)
      return bad("'$ref' '" + ref.substr(0, 80) + "' does not name an entry of $defs or "
                                                  "definitions");
    // Named before it is written, so that a recursive schema refers to itself.
    const std::string name = "ref" + std::to_string(refs.size());
    refs[ref] = name;
    Expected<std::string> body = gen(*target, depth + 1);
    if (!body)
      return body.error();
    rules.push_back(name + " ::= " + *body);
    return name;
  }

  Expected<std::string> alternatives(const Json &list, int depth, const char *keyword) {
    if (!list.is_array() || list.empty())
      return bad(std::string("'") + keyword + "' must be a non-empty list of schemas");
    if (list.size() > kMaxAlternatives)
      return bad(std::string("'") + keyword + "' lists more than " +
                 std::to_string(kMaxAlternatives) + " schemas");
    std::string out = "( ";
    for (size_t i = 0; i < list.size(); ++i) {
      Expected<std::string> a = gen(list[i], depth + 1);
      if (!a)
        return a.error();
      out += (i ? " | " : "") + *a;
    }
    return out + " )";
  }

  // One JSON value exactly, with whitespace where the grammar allows it elsewhere.
  static std::string value(const Json &v) {
    if (v.is_array()) {
      std::string out = "\"[\" ws";
      for (size_t i = 0; i < v.size(); ++i)
        out += (i ? " \",\" ws " : " ") + value(v[i]) + " ws";
      return out + " \"]\"";
    }
    if (v.is_object()) {
      std::string out = "\"{\" ws";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it, first = false)
        out += (first ? " " : " \",\" ws ") + literal(Json(it.key()).dump()) + " ws \":\" ws " +
               value(it.value()) + " ws";
      return out + " \"}\"";
    }
    return literal(v.dump());
  }

  // A JSON string that is none of `names`: a trie of their code points, left at the first
  // character that differs or by closing early; escapes only after that (an escaped spelling
  // of a name is no other key).
  Expected<std::string> otherKey(const std::vector<std::string> &names) {
    struct Node {
      std::map<uint32_t, int> children;
      bool name = false;
    };
    std::vector<Node> trie(1);
    for (const std::string &n : names) {
      int at = 0;
      for (size_t pos = 0; pos < n.size();) {
        const unsigned char c = static_cast<unsigned char>(n[pos]);
        if (c == '"' || c == '\\' || c < 0x20)
          return bad("property names with quotes, backslashes or control characters are not "
                     "supported beside additionalProperties");
        const int32_t cp = utf8::decode(n, pos);
        if (cp < 0)
          return bad("a property name is not valid UTF-8");
        auto [it, added] =
            trie[size_t(at)].children.try_emplace(uint32_t(cp), int(trie.size()));
        const int child = it->second;
        if (added)
          trie.emplace_back(); // (invalidates `it`)
        at = child;
      }
      trie[size_t(at)].name = true;
    }
    // Rules from the leaves up (children have larger indexes).
    std::vector<std::string> ruleOf(trie.size());
    for (size_t i = trie.size(); i-- > 0;) {
      std::string alts;
      auto add = [&](const std::string &a) { alts += (alts.empty() ? "" : " | ") + a; };
      if (!trie[i].name)
        add("\"\\\"\"");
      std::string except;
      for (const auto &[cp, child] : trie[i].children) {
        std::string ch;
        if (cp == ']' || cp == '-' || cp == '^')
          ch = "\\";
        std::string raw;
        utf8::append(cp, raw);
        except += ch + raw;
        add(literal(raw) + " " + ruleOf[size_t(child)]);
      }
      // No escape before the key differs: "\u0061" would spell a declared "a".
      add("[^" + except + "\"\\\\\\x00-\\x1f] char* \"\\\"\"");
      ruleOf[i] = rule(alts);
    }
    return rule("\"\\\"\" " + ruleOf[0]);
  }

  static bool fits(const Json &v, const std::string &type) {
    return type == "string"    ? v.is_string()
           : type == "integer" ? v.is_number_integer() ||
                                     (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>())
           : type == "number"  ? v.is_number()
           : type == "boolean" ? v.is_boolean()
           : type == "null"    ? v.is_null()
           : type == "array"   ? v.is_array()
           : type == "object"  ? v.is_object()
                               : false;
  }

  Expected<std::string> gen(const Json &s, int depth) {
    if (depth > kMaxDepth)
      return bad("nests more than " + std::to_string(kMaxDepth) + " deep");
    if (s.is_boolean()) {
      if (!s.get<bool>())
        return bad("the schema false matches nothing");
      return std::string("value");
    }
    if (!s.is_object())
      return bad("a schema must be an object");
    for (const char *k : {"not", "if", "then", "else", "patternProperties", "dependentSchemas",
                          "dependentRequired", "unevaluatedProperties", "unevaluatedItems",
                          "contains", "propertyNames"})
      if (s.contains(k))
        return bad(std::string("keyword '") + k + "' is not supported");
    // A combinator or a reference stands alone (annotations aside): validating keywords beside
    // it would have to hold too, which the grammar does not combine.
    for (const char *k : {"$ref", "allOf", "anyOf", "oneOf"}) {
      if (!s.contains(k))
        continue;
      for (const char *v : {"$ref", "allOf", "anyOf", "oneOf", "type", "properties", "required",
                            "additionalProperties", "items", "prefixItems", "enum", "const",
                            "minLength", "maxLength", "minItems", "maxItems"})
        if (std::string_view(k) != v && s.contains(v))
          return bad(std::string("'") + k + "' beside '" + v + "' is not supported");
    }
    if (auto ref = s.find("$ref"); ref != s.end()) {
      if (!ref->is_string())
        return bad("'$ref' must be a string");
      return resolve(ref->get<std::string>(), depth);
    }
    if (auto all = s.find("allOf"); all != s.end()) {
      if (!all->is_array() || all->size() != 1)
        return bad("'allOf' is supported only with one schema");
      return gen((*all)[0], depth + 1);
    }
    if (auto any = s.find("anyOf"); any != s.end())
      return alternatives(*any, depth, "anyOf");
    if (auto one = s.find("oneOf"); one != s.end()) {
      // Exactly one branch must match: enforced where no value fits two (distinct types).
      std::vector<std::string> types;
      for (const Json &b : one->is_array() ? *one : Json::array()) {
        const std::string t = b.is_object() && b.contains("type") && b["type"].is_string()
                                  ? b["type"].get<std::string>()
                                  : std::string();
        const bool clash = t.empty() || std::find(types.begin(), types.end(), t) != types.end() ||
                           (t == "number" && std::find(types.begin(), types.end(), "integer") !=
                                                 types.end()) ||
                           (t == "integer" && std::find(types.begin(), types.end(), "number") !=
                                                  types.end());
        if (clash)
          return bad("'oneOf' is supported only as a tagged union of objects or over schemas "
                     "of distinct types");
        types.push_back(t);
      }
      return alternatives(*one, depth, "oneOf");
    }

    std::vector<std::string> types;
    if (auto t = s.find("type"); t != s.end()) {
      if (t->is_string())
        types.push_back(t->get<std::string>());
      else if (t->is_array() && !t->empty() &&
               std::all_of(t->begin(), t->end(), [](const Json &x) { return x.is_string(); }))
        for (const Json &x : *t)
          types.push_back(x.get<std::string>());
      else
        return bad("'type' must be a string or a non-empty list of strings");
    }
    if (s.contains("enum") || s.contains("const")) {
      const Json values = s.contains("enum") ? s["enum"] : Json::array({s["const"]});
      if (!values.is_array() || values.empty())
        return bad("'enum' must be a non-empty list");
      if (values.size() > kMaxAlternatives)
        return bad("'enum' lists more than " + std::to_string(kMaxAlternatives) + " values");
      std::string out = "( ";
      bool any = false;
      for (const Json &v : values) {
        if (!types.empty() &&
            std::none_of(types.begin(), types.end(), [&](const std::string &t) { return fits(v, t); }))
          continue;
        out += (any ? " | " : "") + value(v);
        any = true;
      }
      if (!any)
        return bad("no 'enum' value is of the declared type");
      return out + " )";
    }
    if (types.empty()) {
      if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required"))
        types.push_back("object");
      else if (s.contains("items") || s.contains("prefixItems"))
        types.push_back("array");
      else
        return std::string("value");
    }
    std::string out;
    for (const std::string &t : types) {
      Expected<std::string> one = typed(s, t, depth);
      if (!one)
        return one.error();
      out += (out.empty() ? "" : " | ") + *one;
    }
    return types.size() == 1 ? out : "( " + out + " )";
  }

  Expected<std::string> typed(const Json &s, const std::string &t, int depth) {
    if (t == "integer" || t == "number" || t == "boolean" || t == "null")
      return t;
    if (t == "string") {
      Expected<std::pair<int64_t, int64_t>> b = bounds(s, "minLength", "maxLength");
      if (!b)
        return b.error();
      if (b->first == 0 && b->second < 0)
        return std::string("string");
      return rule("\"\\\"\" char" + counted(b->first, b->second) + " \"\\\"\"");
    }
    if (t == "array")
      return array(s, depth);
    if (t == "object")
      return object(s, depth);
    return bad("unknown type '" + t.substr(0, 40) + "'");
  }

  Expected<std::string> array(const Json &s, int depth) {
    Expected<std::pair<int64_t, int64_t>> b = bounds(s, "minItems", "maxItems");
    if (!b)
      return b.error();
    auto [lo, hi] = *b;
    const Json *items = s.contains("items") ? &s["items"] : nullptr;
    const bool noMore = items && items->is_boolean() && !items->get<bool>();
    std::string item = "value";
    if (items && !noMore) {
      Expected<std::string> i = gen(*items, depth + 1);
      if (!i)
        return i.error();
      item = *i;
    }
    std::vector<std::string> prefix;
    if (auto p = s.find("prefixItems"); p != s.end()) {
      if (!p->is_array())
        return bad("'prefixItems' must be a list of schemas");
      if (!p->empty() && lo != int64_t(p->size()))
        return bad("'prefixItems' is supported only with 'minItems' equal to their count (a "
                   "tuple)");
      for (const Json &x : *p) {
        Expected<std::string> e = gen(x, depth + 1);
        if (!e)
          return e.error();
        prefix.push_back(*e);
      }
    }
    if (!prefix.empty()) {
      std::string body = "\"[\" ws";
      for (size_t i = 0; i < prefix.size(); ++i)
        body += (i ? " \",\" ws " : " ") + prefix[i] + " ws";
      const int64_t extra = noMore ? 0 : hi < 0 ? -1 : hi - lo;
      if (extra != 0)
        body += " ( \",\" ws " + item + " ws )" + counted(0, extra);
      return rule(body + " \"]\"");
    }
    if (noMore || hi == 0)
      return rule("\"[\" ws \"]\"");
    const std::string more = "( \",\" ws " + item + " ws )";
    if (lo == 0)
      return rule("\"[\" ws ( " + item + " ws " + more + counted(0, hi < 0 ? -1 : hi - 1) +
                  " )? \"]\"");
    return rule("\"[\" ws " + item + " ws " + more + counted(lo - 1, hi < 0 ? -1 : hi - 1) +
                " \"]\"");
  }

  Expected<std::string> object(const Json &s, int depth) {
    const Json empty = Json::object();
    const Json &props = s.contains("properties") ? s["properties"] : empty;
    if (!props.is_object())
      return bad("'properties' must be an object");
    std::vector<std::string> required;
    if (auto r = s.find("required"); r != s.end()) {
      if (!r->is_array() ||
          !std::all_of(r->begin(), r->end(), [](const Json &x) { return x.is_string(); }))
        return bad("'required' must be a list of property names");
      for (const Json &x : *r) {
        if (!props.contains(x.get<std::string>()))
          return bad("'required' names a property that 'properties' does not have");
        required.push_back(x.get<std::string>());
      }
    }
    // Keys past the declared ones: none where properties are declared (as the JSON recognizer
    // does) or additionalProperties is false; any where it is true or absent without
    // properties; a schema's values where it is one (a map).
    std::string extra;
    if (auto a = s.find("additionalProperties"); a != s.end()) {
      if (a->is_boolean()) {
        if (a->get<bool>())
          extra = "value";
      } else {
        Expected<std::string> v = gen(*a, depth + 1);
        if (!v)
          return v.error();
        extra = *v;
      }
    } else if (props.empty()) {
      extra = "value";
    }
    std::string extraKey = "string";
    if (!extra.empty() && !props.empty()) { // not a declared name again
      std::vector<std::string> names;
      for (auto it = props.begin(); it != props.end(); ++it)
        names.push_back(it.key());
      Expected<std::string> k = otherKey(names);
      if (!k)
        return k.error();
      extraKey = *k;
    }
    const std::string extraPair = extra.empty() ? "" : extraKey + " ws \":\" ws " + extra + " ws";
    // first_i: properties i.. with none written yet; after_i: with one written before.
    std::string first, after;
    if (!extra.empty()) {
      after = rule("( \",\" ws " + extraPair + " )*");
      first = rule("( " + extraPair + " " + after + " )?");
    }
    std::vector<std::pair<std::string, const Json *>> list;
    for (auto it = props.begin(); it != props.end(); ++it)
      list.push_back({it.key(), &it.value()});
    for (size_t i = list.size(); i-- > 0;) {
      Expected<std::string> v = gen(*list[i].second, depth + 1);
      if (!v)
        return v.error();
      const std::string pair = literal(Json(list[i].first).dump()) + " ws \":\" ws " + *v + " ws";
      const bool req =
          std::find(required.begin(), required.end(), list[i].first) != required.end();
      const std::string restAfter = after.empty() ? "" : " " + after;
      const std::string restFirst = first.empty() ? "" : first;
      const std::string newAfter =
          req ? rule("\",\" ws " + pair + restAfter)
              : rule("( \",\" ws " + pair + " )?" + restAfter);
      const std::string newFirst =
          req ? rule(pair + restAfter)
              : rule(pair + restAfter + " | " + (restFirst.empty() ? "\"\"" : restFirst));
      after = newAfter;
      first = newFirst;
    }
    return rule("\"{\" ws " + (first.empty() ? std::string() : first + " ") + "\"}\"");
  }
};

} // namespace

Expected<std::string> jsonSchemaToGbnf(const Json &schema) {
  Converter c{schema, {}, {}, 0};
  Expected<std::string> root = c.gen(schema, 0);
  if (!root)
    return root.error();
  std::string out = "root ::= " + *root + "\n" + kBase;
  for (const std::string &r : c.rules)
    out += r + "\n";
  return out;
}

} // namespace modelrt::sample
