#!/usr/bin/env python3
"""Writes JSON Schema test vectors for the schema-to-grammar path, labelled by the
`jsonschema` package (pip install jsonschema; Draft 2020-12).

Schemas the JSON recognizer refuses (unions of any schemas, maps, tuples, enums of any JSON
value, counted bounds, recursion through $ref, oneOf over distinct types) go to the grammar
constraint through runtime/sample/SchemaGrammar. For each schema below: values that fit and
values that do not, written by json.dumps in three styles (default, compact, raw UTF-8), then
near misses of those texts (a character dropped, doubled or replaced); each text labelled by
whether it parses as JSON (no duplicate keys, no lone surrogate escapes, no whitespace around
the whole value) and jsonschema validates the value. Objects list their properties in the schema's order (as the
recognizer requires) and every schema with properties says what other keys may come.

    python3 scripts/gen-schema-grammar-goldens.py

Output: test/goldens/schema-grammar-jsonschema.json, read by
unittests/sample/SchemaGrammarTest.cpp.
"""
import importlib.metadata
import json
import os
import random

import jsonschema

A = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
     "additionalProperties": False}
B = {"type": "object", "properties": {"b": {"type": "boolean"}}, "required": ["b"],
     "additionalProperties": False}

CASES = [
    ("union", {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 3}]},
     [1, -20, "ab", "abc", "", "abcd", 2.5, None, True, [1]]),
    ("map", {"type": "object", "additionalProperties": {"type": "integer"}},
     [{}, {"x": 1}, {"x": 1, "y": -2}, {"x": "1"}, {"x": 1.5}, [], {"é": 3}]),
    ("model", {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 1},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
        "score": {"anyOf": [{"type": "number"}, {"type": "null"}]}},
        "required": ["name", "tags"], "additionalProperties": False},
     [{"name": "x", "tags": ["a"]}, {"name": "x", "tags": ["a", "b", "c"], "score": 1.5},
      {"name": "x", "tags": ["a"], "score": None}, {"name": "", "tags": ["a"]},
      {"name": "x", "tags": []}, {"name": "x", "tags": ["a", "b", "c", "d"]},
      {"name": "x"}, {"tags": ["a"]}, {"name": "x", "tags": ["a"], "score": "1"}]),
    ("tuple", {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
               "minItems": 2, "maxItems": 2},
     [[1, "a"], [1, "a", 2], [1], ["a", 1], [], [0, ""]]),
    ("tuple-open", {"type": "array", "prefixItems": [{"type": "boolean"}], "minItems": 1,
                    "items": {"type": "null"}},
     [[True], [False, None], [True, None, None], [True, 1], [None], []]),
    ("enum", {"enum": [1, "a", [1, 2], {"k": None}, True, None]},
     [1, "a", [1, 2], {"k": None}, True, None, 2, "b", [2, 1], {"k": 1}, False]),
    ("models-untagged", {"$defs": {"A": A, "B": B},
                         "anyOf": [{"$ref": "#/$defs/A"}, {"$ref": "#/$defs/B"}]},
     [{"a": 1}, {"b": True}, {"a": True}, {"b": 1}, {}, {"a": 1, "b": True}]),
    ("tree", {"$defs": {"T": {"type": "object", "properties": {
        "v": {"type": "integer"},
        "kids": {"type": "array", "items": {"$ref": "#/$defs/T"}, "maxItems": 2}},
        "required": ["v"], "additionalProperties": False}}, "$ref": "#/$defs/T"},
     [{"v": 1}, {"v": 1, "kids": []}, {"v": 1, "kids": [{"v": 2}, {"v": 3, "kids": [{"v": 4}]}]},
      {"v": 1, "kids": [{"v": 2}, {"v": 3}, {"v": 4}]}, {"kids": []}, {"v": 1, "kids": [{}]}]),
    ("oneof-types", {"oneOf": [{"type": "boolean"},
                               {"type": "array", "items": {"type": "integer"}, "maxItems": 2}]},
     [True, [], [1, 2], [1, 2, 3], 1, None, ["a"]]),
    ("optional-order", {"type": "object", "properties": {
        "a": {"type": "integer"}, "b": {"allOf": [{"type": "string"}]}, "c": {"type": "boolean"}},
        "required": ["b"], "additionalProperties": False},
     [{"b": ""}, {"a": 1, "b": "x"}, {"b": "x", "c": True}, {"a": 1, "b": "x", "c": False},
      {"a": 1}, {"a": 1, "c": True}, {}, {"b": 1}]),
    ("extra-keys", {"type": ["object", "null"], "properties": {"x": {"type": "integer"}},
                    "additionalProperties": {"type": "string"}},
     [None, {}, {"x": 1}, {"x": 1, "y": "s"}, {"y": "s"}, {"x": 1, "y": 2}, {"x": "1"}]),
    ("string-length", {"type": "string", "minLength": 2, "maxLength": 4},
     ["ab", "abcd", "a", "abcde", "é\u00e9", "日本語", "\n\t", "a\"", "😀😀"]),
    ("nullable-list", {"type": ["array", "null"], "items": {"type": ["integer", "string"]},
                       "minItems": 2},
     [None, [1, "a"], [1, 2, 3], [1], [], [1, None]]),
]

MUTATION_CHARS = 'a1 -"{}[],:\u00e9'


def no_dups(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def main():
    rng = random.Random(20261130)
    out = []
    for name, schema, values in CASES:
        validator = jsonschema.Draft202012Validator(schema)

        def label(text):
            if text != text.strip(" \t\n\r"):
                return False
            try:
                v = json.loads(text, object_pairs_hook=no_dups)
                # Lone surrogate escapes (which Python reads) are not text: refused, as strict
                # parsers do.
                json.dumps(v, ensure_ascii=False).encode("utf-8")
            except (ValueError, UnicodeEncodeError):
                return False
            return validator.is_valid(v)

        texts = set()
        for v in values:
            for t in (json.dumps(v), json.dumps(v, separators=(",", ":")),
                      json.dumps(v, ensure_ascii=False)):
                texts.add(t)
                for i in range(len(t)):
                    texts.add(t[:i] + t[i + 1:])
                    texts.add(t[:i] + t[i] + t[i:])
                    texts.add(t[:i] + rng.choice(MUTATION_CHARS) + t[i + 1:])
        labelled = sorted([t, label(t)] for t in texts)
        out.append({"name": name, "schema": schema, "texts": labelled})
        print("%s: %d texts, %d valid" % (name, len(labelled), sum(m for _, m in labelled)))
    path = os.path.join(os.path.dirname(__file__), "..", "test", "goldens",
                        "schema-grammar-jsonschema.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"generator": "scripts/gen-schema-grammar-goldens.py",
                   "jsonschema": importlib.metadata.version("jsonschema"), "cases": out}, f, ensure_ascii=False,
                  indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
