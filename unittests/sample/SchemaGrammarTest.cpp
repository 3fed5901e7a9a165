// JSON Schemas the JSON recognizer refuses, enforced as grammars (runtime/sample/SchemaGrammar):
// for each schema the grammar must accept exactly the texts the `jsonschema` package
// validates (test/goldens/schema-grammar-jsonschema.json: scripts/gen-schema-grammar-goldens.py;
// texts written as the recognizer writes JSON: properties in the schema's order, no
// whitespace around the value), and what it cannot enforce is refused by name.
#include "runtime/sample/GrammarConstraint.h"
#include "runtime/sample/SchemaGrammar.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace modelrt::sample {
namespace {

using Json = nlohmann::ordered_json;

std::shared_ptr<const Grammar> schemaGrammar(const Json &schema) {
  Expected<std::string> gbnf = jsonSchemaToGbnf(schema);
  EXPECT_TRUE(gbnf.ok()) << schema.dump() << ": " << gbnf.error().message();
  if (!gbnf)
    return nullptr;
  Expected<std::shared_ptr<const Grammar>> g = Grammar::compile(*gbnf);
  EXPECT_TRUE(g.ok()) << *gbnf << ": " << g.error().message();
  return g.ok() ? *g : nullptr;
}

TEST(SchemaGrammar, AcceptsWhatJsonschemaValidates) {
  const char *src = std::getenv("MODELC_SOURCE_DIR");
  std::ifstream in(std::string(src ? src : MODELC_TEST_SOURCE_DIR) +
                       "/test/goldens/schema-grammar-jsonschema.json",
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const Json g = Json::parse(ss.str());
  ASSERT_GE(g["cases"].size(), 12u);
  size_t texts = 0, valid = 0;
  for (const Json &c : g["cases"]) {
    const std::string name = c["name"];
    std::shared_ptr<const Grammar> grammar = schemaGrammar(c["schema"]);
    ASSERT_TRUE(grammar) << name;
    for (const Json &t : c["texts"]) {
      const std::string text = t[0];
      const bool expected = t[1];
      EXPECT_EQ(grammar->matches(text), expected) << name << ": '" << text << "'";
      ++texts;
      valid += expected;
    }
  }
  EXPECT_GT(texts, 6000u);
  EXPECT_GT(valid, 500u);
}

TEST(SchemaGrammar, RefusesWhatItCannotEnforce) {
  struct Case {
    const char *schema, *message;
  } cases[] = {
      {R"({"not": {"type": "string"}})", "keyword 'not' is not supported"},
      {R"({"allOf": [{"type": "string"}, {"maxLength": 2}]})", "'allOf' is supported only with one schema"},
      {R"({"oneOf": [{"type": "object"}, {"type": "object"}]})", "over schemas of distinct types"},
      {R"({"oneOf": [{"type": "integer"}, {"type": "number"}]})", "over schemas of distinct types"},
      {R"({"type": "array", "prefixItems": [{"type": "integer"}], "minItems": 0})",
       "'prefixItems' is supported only with 'minItems' equal to their count"},
      {R"({"type": "array", "minItems": 1001})", "'minItems' above 1000 is not supported"},
      {R"({"type": "string", "minLength": 3, "maxLength": 2})", "'maxLength' is below 'minLength'"},
      {R"({"$ref": "#/components/x"})", "does not name an entry of $defs or definitions"},
      {R"({"type": "date"})", "unknown type 'date'"},
      {R"({"type": "integer", "enum": ["a"]})", "no 'enum' value is of the declared type"},
      {R"({"type": "object", "properties": {"a": {}}, "required": ["b"]})",
       "'required' names a property that 'properties' does not have"},
      {R"(false)", "the schema false matches nothing"},
      {R"({"type": "string", "anyOf": [{"maxLength": 5}, {"minLength": 10}]})",
       "'anyOf' beside 'type' is not supported"},
      {R"({"type": "object", "properties": {"a": {}}, "allOf": [{"required": ["a"]}]})",
       "'allOf' beside 'type' is not supported"},
      {R"({"$ref": "#/$defs/a", "maxLength": 3, "$defs": {"a": {"type": "string"}}})",
       "'$ref' beside 'maxLength' is not supported"},
  };
  for (const Case &c : cases) {
    Expected<std::string> gbnf = jsonSchemaToGbnf(Json::parse(c.schema));
    ASSERT_FALSE(gbnf.ok()) << c.schema;
    EXPECT_EQ(gbnf.error().message().rfind("'response_format' json_schema: ", 0), 0u);
    EXPECT_NE(gbnf.error().message().find(c.message), std::string::npos)
        << c.schema << ": " << gbnf.error().message();
  }
  std::string many = R"({"enum": [)";
  for (int i = 0; i < 1025; ++i)
    many += (i ? "," : "") + std::to_string(i);
  Expected<std::string> tooMany = jsonSchemaToGbnf(Json::parse(many + "]}"));
  ASSERT_FALSE(tooMany.ok());
  EXPECT_NE(tooMany.error().message().find("'enum' lists more than 1024 values"), std::string::npos);
  // Keys beside declared ones may not spell a declared name with escapes.
  std::shared_ptr<const Grammar> extra = schemaGrammar(Json::parse(R"({"type": "object",
      "properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "string"}})"));
  ASSERT_TRUE(extra);
  EXPECT_TRUE(extra->matches(R"({"a": 1, "ba": "x"})"));
  EXPECT_FALSE(extra->matches(R"({"a": "x"})"));
  EXPECT_FALSE(extra->matches(R"({"a": "x"})"));
  // A maximum past the counting limit is not enforced (as the JSON recognizer's bounds).
  std::shared_ptr<const Grammar> wide = schemaGrammar(Json::parse(R"({"type": "array", "items":
      {"type": "integer"}, "minItems": 1, "maxItems": 5000})"));
  ASSERT_TRUE(wide);
  EXPECT_TRUE(wide->matches("[1]"));
  EXPECT_FALSE(wide->matches("[]"));
}

} // namespace
} // namespace modelrt::sample
