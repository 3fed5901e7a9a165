// JSON Schemas the JSON recognizer (JsonConstraint) does not enforce, as GBNF grammars for the
// grammar constraint: unions of any schemas (pydantic's Union[int, str], untagged model
// unions), maps (additionalProperties schemas: dict[str, X]), tuples (prefixItems), enum and
// const of any JSON value, one-schema allOf, and the bounds minItems / maxItems and minLength
// / maxLength, which the grammar writes out as counted repetitions. The server tries the JSON
// recognizer first and falls back to this where it refuses a schema.
#pragma once

#include "runtime/support/Error.h"

#include <nlohmann/json.hpp>

#include <string>

namespace modelrt::sample {

// The grammar (its `root` a JSON value the schema accepts, written as the JSON recognizer
// writes them: properties in the schema's order, at most 16 whitespace bytes in a row,
// numbers of at most 16 integer digits, 16 fraction digits and 2 exponent digits). Refused,
// with an error naming the keyword: oneOf whose branches are not of distinct types, allOf of
// several schemas, not, if/then/else, patternProperties, dependent*, unevaluated*,
// contains, propertyNames; $ref, allOf, anyOf or oneOf beside validating keywords; enums and
// unions of more than 1024; prefixItems without minItems equal to their count; counts past
// 1000; $ref outside #/$defs and #/definitions. Keys beside declared properties are written
// without escapes until they differ from every declared name. Other bounds and formats (pattern, minimum,
// format, minProperties, ...) are accepted and not enforced, as by the JSON recognizer.
Expected<std::string> jsonSchemaToGbnf(const nlohmann::ordered_json &schema);

} // namespace modelrt::sample
