#!/usr/bin/env python3
"""Writes grammar test vectors decided by Lark's Earley parser (pip install lark).

guided_grammar / `grammar` answers must be texts the GBNF grammar's `root` derives. Each
grammar below is written twice, in GBNF (what modelrt reads) and in Lark's own EBNF (what
labels the texts); Lark parses with Earley and a complete dynamic lexer, so every way of
splitting a text is tried and any context-free grammar (ambiguous ones included) is decided
exactly. Texts: hand-written ones, their prefixes and near misses (a character dropped,
doubled or replaced), every text up to a few characters over the grammar's own alphabet, and
random longer ones; each labelled by whether Lark parses it.

    python3 scripts/gen-grammar-goldens.py

Output: test/goldens/grammar-lark.json, read by unittests/sample/GrammarConstraintTest.cpp.
"""
import itertools
import json
import os
import random
import sys

import lark

GRAMMARS = [
    dict(
        name="arithmetic",
        gbnf=r'''
root   ::= expr
expr   ::= term (("+" | "-") term)*
term   ::= factor (("*" | "/") factor)*
factor ::= number | "(" expr ")" | "-" factor
number ::= [0-9]+ ("." [0-9]+)?
''',
        lark=r'''
start: expr
expr: term (("+" | "-") term)*
term: factor (("*" | "/") factor)*
factor: number | "(" expr ")" | "-" factor
number: DIGIT+ ("." DIGIT+)?
DIGIT: /[0-9]/
''',
        texts=["1", "1+2", "(1+2)*3", "-(4.5/6)-7", "((2))", "1.25*-3", "10/(2-3)*4"],
        alphabet="12.+-*/()",
        exhaustive=3,
    ),
    dict(
        name="balanced",
        gbnf=r'''
root ::= pair*
pair ::= "(" root ")" | "[" root "]"
''',
        lark=r'''
start: pair*
pair: "(" start ")" | "[" start "]"
''',
        texts=["", "()", "[]", "([])", "()[]", "[([]())]", "(((())))"],
        alphabet="()[]",
        exhaustive=6,
    ),
    dict(
        name="palindromes",  # context-free, not regular, and ambiguous in where the middle is
        gbnf=r'''
root ::= s
s ::= "a" s "a" | "b" s "b" | "a" | "b" |
''',
        lark=r'''
start: s?
s: "a" s? "a" | "b" s? "b" | "a" | "b"
''',
        texts=["", "a", "aa", "aba", "abba", "baab", "abaaba"],
        alphabet="ab",
        exhaustive=9,
    ),
    dict(
        name="anbn",
        gbnf=r'''
root ::= "a" root "b" | ""
''',
        lark=r'''
start: ("a" start "b")?
''',
        texts=["", "ab", "aabb", "aaabbb"],
        alphabet="ab",
        exhaustive=8,
    ),
    dict(
        name="json",
        gbnf=r'''
# JSON values, written here for these tests.
root   ::= value
value  ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( member ("," ws member)* )? "}" ws
member ::= string ":" ws value
array  ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\"" ws
number ::= "-"? ("0" | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)? ws
ws     ::= [ \t\n]*
''',
        lark=r'''
start: value
value: object | array | string | number | "true" | "false" | "null"
object: "{" ws ( member ("," ws member)* )? "}" ws
member: string ":" ws value
array: "[" ws ( value ("," ws value)* )? "]" ws
string: "\"" ( CHAR | "\\" ( ESC | "u" HEX HEX HEX HEX ) )* "\"" ws
number: "-"? ("0" | NZ DIGIT*) ("." DIGIT+)? (EXP SIGN? DIGIT+)? ws
ws: WSC*
CHAR: /[^"\\\x00-\x1f]/
ESC: /["\\\/bfnrt]/
HEX: /[0-9a-fA-F]/
DIGIT: /[0-9]/
NZ: /[1-9]/
EXP: /[eE]/
SIGN: /[-+]/
WSC: /[ \t\n]/
''',
        texts=['{"a": 1}', '[1, 2.5, -3e+2]', '{"k": [true, false, null], "s": "x\\n\\u00e9"}',
               '"caf\u00e9"', '{}', '[]', '{ "a" : { "b" : [ ] } }', '0', '-0.5E10',
               '"\\"quoted\\""', '[\n  1,\n  2\n]'],
        alphabet='{}[]:,"a1 .e-\\nu\u00e9',
        exhaustive=3,
    ),
    dict(
        name="unicode",
        gbnf=r'''
root ::= [α-ω]+ " " [^a-z]{2,3} "€" .
''',
        lark=r'''
start: GREEK+ " " NOTLOWER NOTLOWER NOTLOWER? "€" ANY
GREEK: /[α-ω]/
NOTLOWER: /[^a-z]/
ANY: /./s
''',
        texts=["αβ ÉÉ€x", "ω 12€\n", "λ 日本語€😀", "αω  -€€"],
        alphabet="αωa É1€😀\n",
        exhaustive=3,
    ),
    dict(
        name="counts",
        gbnf=r'''
root ::= "a"{2,4} "b"{3} ("c" "d"?){,2} "e"{2,} x{0} "f"?
x ::= "x"
''',
        lark=r'''
start: "a"~2..4 "b"~3 ("c" "d"?)~0..2 "e" "e" "e"* "f"?
''',
        texts=["aabbbee", "aaaabbbcdcdeeef", "aaabbbcceeee", "aabbbcdee"],
        alphabet="abcdefx",
        exhaustive=3,
    ),
    dict(
        name="nullable-star",  # a repetition of something that may be empty
        gbnf=r'''
root ::= ("x"? "y"?)* "z" (opt)* "w"
opt ::= "q"?
''',
        lark=r'''
start: ("x"? "y"?)* "z" "q"* "w"
''',
        texts=["zw", "xyzw", "yyxzqqw", "xxyyzqw"],
        alphabet="xyzqw",
        exhaustive=5,
    ),
    dict(
        name="list",  # right recursion, comments, rules over several lines, escapes
        gbnf='''
# a comma-separated list of words, then a newline
root ::= item ("," " "? root)?
   | "\\x2a" # a lone star
item ::=
    [a-z]+ ("-" [a-z]+)*   # words with hyphens
  | "\\"" [^"\\n]* "\\""
''',
        lark=r'''
start: item ("," " "? start)? | "*"
item: LOWER+ ("-" LOWER+)* | "\"" NOTQ* "\""
LOWER: /[a-z]/
NOTQ: /[^"\n]/
''',
        texts=["a", "ab, cd", "x-y,z", "*", '"hi there", b', 'a,"",b'],
        alphabet='ab-, *"\n',
        exhaustive=4,
    ),
    dict(
        name="ambiguous",  # the same text by many derivations
        gbnf=r'''
root ::= a a "!"
a ::= "x"* | "x" a | ""
''',
        lark=r'''
start: a? a? "!"
a: "x"+ | "x" a
''',
        texts=["!", "x!", "xx!", "xxxxxx!"],
        alphabet="x!",
        exhaustive=8,
    ),
]

MUTATION_CHARS = "a1 -\u00e9\u65e5\U0001F600\""


def mutations(text, rng):
    out = set()
    for i in range(len(text) + 1):
        out.add(text[:i])  # prefixes
        if i < len(text):
            out.add(text[:i] + text[i + 1:])           # dropped
            out.add(text[:i] + text[i] + text[i:])     # doubled
            out.add(text[:i] + rng.choice(MUTATION_CHARS) + text[i + 1:])  # replaced
    return out


def main():
    rng = random.Random(20261130)
    cases = []
    for g in GRAMMARS:
        parser = lark.Lark(g["lark"], parser="earley", lexer="dynamic_complete")

        def accepts(text):
            try:
                parser.parse(text)
                return True
            except lark.exceptions.LarkError:
                return False

        texts = set(g["texts"])
        for t in g["texts"]:
            texts |= mutations(t, rng)
        alphabet = g["alphabet"]
        for n in range(g["exhaustive"] + 1):
            for combo in itertools.product(alphabet, repeat=n):
                texts.add("".join(combo))
        for _ in range(150):
            base = rng.choice(g["texts"])
            texts.add(base + rng.choice(g["texts"]))
            texts.add("".join(rng.choice(alphabet) for _ in range(rng.randint(5, 14))))
        labelled = sorted([t, accepts(t)] for t in texts)
        for t in g["texts"]:
            if not accepts(t):
                sys.exit(f"{g['name']}: Lark rejects the hand-written text {t!r}")
        cases.append({"name": g["name"], "grammar": g["gbnf"], "texts": labelled})
        print(f"{g['name']}: {len(labelled)} texts, {sum(m for _, m in labelled)} match",
              file=sys.stderr)
    out = os.path.join(os.path.dirname(__file__), "..", "test", "goldens", "grammar-lark.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"generator": "scripts/gen-grammar-goldens.py", "lark": lark.__version__,
                   "cases": cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
