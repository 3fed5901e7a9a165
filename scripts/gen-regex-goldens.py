#!/usr/bin/env python3
"""Writes regex test vectors decided by Python's own `re` module (re.fullmatch, re.ASCII).

guided_regex answers must be texts the whole pattern matches, as vLLM checks them with
Python's re. For each pattern below: hand-written texts that match, then near misses made
from them (a character dropped, doubled or replaced), then random texts over the pattern's
own characters and a few others (multi-byte ones included); each labelled by
re.fullmatch(pattern, text, re.ASCII). Patterns Python itself rejects are listed with
"error": true (modelrt must refuse them too), and patterns Python accepts but guided
decoding cannot enforce (lookaround, backreferences, word boundaries...) are listed under
"unsupported" (modelrt refuses them with an error naming the construct).

    python3 scripts/gen-regex-goldens.py

Output: test/goldens/regex-python.json, read by unittests/sample/RegexConstraintTest.cpp.
"""
import json
import os
import random
import re
import sys

PATTERNS = [
    (r"", [""]),
    (r"abc", ["abc"]),
    (r"a|b|cd", ["a", "b", "cd"]),
    (r"(ab)*", ["", "ab", "abab"]),
    (r"a+b?c*", ["a", "aab", "abcc", "aaacc"]),
    (r"x{3}", ["xxx"]),
    (r"x{2,4}y{,2}z{1,}", ["xxz", "xxxxyyzzz", "xxxyz"]),
    (r"x{0}y", ["y"]),
    (r"a{,3}", ["", "a", "aaa"]),
    (r"a{2,}?b*?c??", ["aa", "aaabbc"]),
    (r"\d{3}-\d{4}", ["555-1234", "000-0000"]),
    (r"\(\d{3}\) \d{3}-\d{4}", ["(555) 123-4567"]),
    (r"[A-Z][a-z]+( [A-Z][a-z]+)*", ["Paris", "New York", "Rio De Janeiro"]),
    (r"[^aeiou\s]+", ["xyz", "BCD", "é", "日本"]),
    (r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}", ["john.doe@example.com", "a_b+c@x-y.io"]),
    (r"(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", ["2024-02-29", "1999-12-31"]),
    (r"\w+\s\W", ["ab_1 !", "x\t-"]),
    (r"\S+\D\s*", ["ab#", "x9a  "]),
    (r"(?:yes|no)(, (?:yes|no))*", ["yes", "no, yes, no"]),
    (r"(?P<word>[a-z]+)=(?P<num>\d+)", ["x=1", "abc=42"]),
    (r"true|false", ["true", "false"]),
    (r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?", ["0", "-12.5", "3e10", "1.0E-7"]),
    (r"\{\"name\": \"[A-Za-z ]{1,20}\", \"age\": \d{1,3}\}", ['{"name": "Ann Lee", "age": 42}']),
    (r".", ["a", "é", "日", "😀", " "]),
    (r".*", ["", "anything at all", "日本語"]),
    (r"a.c", ["abc", "a c", "aéc", "a😀c"]),
    (r"[é-ü]+", ["é", "ü", "ñó"]),
    (r"[\u00e9\u4e00-\u9fff]+", ["é", "中文"]),
    (r"\x41\u00e9\U0001F600", ["Aé😀"]),
    (r"[\x00-\x7f]*", ["", "plain ascii"]),
    (r"[^\x00-\x7f]+", ["é", "日本", "😀"]),
    (r"日本(語|人)", ["日本語", "日本人"]),
    (r"[]a]+", ["]", "a]a"]),
    (r"[^]]", ["a", "é"]),
    (r"[a-]+", ["a-", "-"]),
    (r"[-a]", ["-", "a"]),
    (r"[\d.]+", ["3.14", "."]),
    (r"[\w-]+", ["a-b_c"]),
    (r"[\b]", ["\b"]),
    (r"a\.b\*c\+\?\|\\", ["a.b*c+?|\\"]),
    (r"\t\n\r\f\v\a\0", ["\t\n\r\f\v\a\0"]),
    (r"^start", ["start"]),
    (r"end$", ["end"]),
    (r"^both$", ["both"]),
    (r"a\$", ["a$"]),
    (r"x{", ["x{"]),
    (r"x{a}", ["x{a}"]),
    (r"x{,}", ["", "xxx"]),
    (r"}", ["}"]),
    (r"(a|)+b", ["b", "ab", "aab"]),
    (r"(a*)*b", ["b", "aaab"]),
    (r"((a|b)(c|d))+", ["ac", "bdad"]),
    (r"(|a)(b|)", ["", "a", "b", "ab"]),
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
     ["123e4567-e89b-12d3-a456-426614174000"]),
    (r"(a|b)*a(a|b){5}", ["aaaaaa", "babbbbb"]),
    (r"\d{1,1000}", ["1", "12345678901234567890"]),
]

# Python accepts these, guided decoding cannot enforce them (or modelrt does not support them).
UNSUPPORTED = [
    r"a(?=b)", r"a(?!b)", r"(?<=a)b", r"(?<!a)b", r"(a)\1", r"\bword\b", r"\Bx", r"\Aa",
    r"a\Z", r"(?i)abc", r"(?>ab)", r"a*+", r"a++", r"a?+", r"a^b", r"a$b", r"\N{EM DASH}",
    r"(?#comment)a", r"(?P=name)",
]

# Python rejects these.
ERRORS = [r"(", r")", r"a)", r"[a", r"*", r"a**", r"+a", r"a{2}{3}", r"x{3,2}", r"[b-a]",
          "\\", r"\q", r"(?P<>a)", r"a|*"]


def texts_for(pattern, positives, rng):
    alphabet = set("".join(positives)) | set("ab09 -.xé日\n") | set(
        c for c in pattern if c.isprintable())
    alphabet = sorted(alphabet)
    out = list(positives)
    for p in positives:
        for _ in range(6):
            if not p:
                out.append(rng.choice(alphabet))
                continue
            i = rng.randrange(len(p))
            kind = rng.randrange(3)
            if kind == 0:
                out.append(p[:i] + p[i + 1:])
            elif kind == 1:
                out.append(p[:i] + p[i] + p[i:])
            else:
                out.append(p[:i] + rng.choice(alphabet) + p[i + 1:])
    for _ in range(30):
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 9))))
    seen, unique = set(), []
    for t in out:
        if t not in seen:
            seen.add(t)
            unique.append(t)
    return unique


def main():
    rng = random.Random(20261130)
    cases = []
    for pattern, positives in PATTERNS:
        compiled = re.compile(pattern, re.ASCII)
        for p in positives:
            assert compiled.fullmatch(p), (pattern, p)
        texts = texts_for(pattern, positives, rng)
        cases.append({"pattern": pattern,
                      "texts": [[t, compiled.fullmatch(t) is not None] for t in texts]})
    for pattern in UNSUPPORTED:
        try:
            re.compile(pattern)
        except re.error:
            if pattern != r"(?P=name)":
                raise
    errors = []
    for pattern in ERRORS:
        try:
            re.compile(pattern)
        except re.error as e:
            errors.append({"pattern": pattern, "python": str(e)})
            continue
        sys.exit("Python accepts %r" % pattern)
    out = {"generator": "scripts/gen-regex-goldens.py",
           "python": sys.version.split()[0],
           "cases": cases, "unsupported": UNSUPPORTED, "errors": errors}
    path = os.path.join(os.path.dirname(__file__), "..", "test", "goldens", "regex-python.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    total = sum(len(c["texts"]) for c in cases)
    print("wrote %s: %d patterns, %d texts (%d matching), %d unsupported, %d errors" % (
        path, len(cases), total, sum(m for c in cases for _, m in c["texts"]),
        len(UNSUPPORTED), len(errors)))


if __name__ == "__main__":
    main()
