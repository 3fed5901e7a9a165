#!/usr/bin/env python3
"""Writes runtime/tokenize/UnicodeTables.inc: the Unicode character data that BERT's
normalizer and pre-tokenizer need (Hugging Face tokenizers' BertNormalizer and
BertPreTokenizer), from Python's unicodedata, so that the runtime needs no ICU.

    python3 scripts/gen-unicode-tables.py

Tables (sorted, for binary search):
  kNonspacingMarks    General_Category Mn (what strip_accents drops)
  kPunctuationRanges  General_Category P* (each such character is a word of its own)
  kOtherRanges        General_Category Cc, Cf, Co, Cs (control, format, private use,
                      surrogate: dropped by clean_text, except tab, LF and CR; unassigned
                      code points stay, as HF keeps them, whatever Unicode version it has)
  kWhiteSpaceRanges   the White_Space property (PropList.txt; Rust's char::is_whitespace)
  kLowercase          each character's full lowercase mapping, character by character
  kAccentStripped     each character's canonical decomposition (NFD) without its Mn marks,
                      Hangul syllables excepted (they decompose by formula)
  kGraphemeClasses    what extended grapheme clusters (UAX #29) need: each character's
                      Grapheme_Cluster_Break, Extended_Pictographic and Indic_Conjunct_Break,
                      packed in a byte (the Unigram tokenizers' Precompiled normalizer works
                      on clusters); from the PyPI `regex` module's tables, whose Unicode
                      version it prints

    pip install regex
"""
import os
import sys
import unicodedata

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime", "tokenize",
                   "UnicodeTables.inc")
MAX = 0x110000
HANGUL = range(0xAC00, 0xAC00 + 11172)
# PropList.txt's White_Space (unchanged since Unicode 6.3).
WHITE_SPACE = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
               (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
               (0x3000, 0x3000)]


def ranges(pred):
    out, start = [], None
    for c in range(MAX + 1):
        hit = c < MAX and pred(c)
        if hit and start is None:
            start = c
        elif not hit and start is not None:
            out.append((start, c - 1))
            start = None
    return out


def is_nonspacing_mark(c):
    return unicodedata.category(chr(c)) == "Mn"


def emit_ranges(f, name, rs):
    f.write(f"constexpr CodepointRange {name}[] = {{\n")
    for k in range(0, len(rs), 4):
        f.write("    " + " ".join(f"{{0x{a:X}, 0x{b:X}}}," for a, b in rs[k:k + 4]) + "\n")
    f.write("};\n\n")


def emit_map(f, name, width, entries):
    f.write(f"constexpr CodepointMapping<{width}> {name}[] = {{\n")
    for c, seq in entries:
        cps = ", ".join(f"0x{ord(x):X}" for x in seq) or "0"
        f.write(f"    {{0x{c:X}, {len(seq)}, {{{cps}}}}},\n")
    f.write("};\n\n")


# Grapheme_Cluster_Break values in the order of unicode::GraphemeBreak (Unicode.h); 0 is Other.
GCB = ["CR", "LF", "Control", "Extend", "ZWJ", "Regional_Indicator", "Prepend", "SpacingMark",
       "L", "V", "T", "LV", "LVT"]
# Indic_Conjunct_Break values, packed in bits 5-6 (0 is None).
INCB = ["Linker", "Consonant", "Extend"]


def grapheme_classes():
    """Runs of (first, last, packed class): bits 0-3 the Grapheme_Cluster_Break (1 + its
    index in GCB), bit 4 Extended_Pictographic, bits 5-6 the Indic_Conjunct_Break."""
    import regex
    chars = "".join(chr(c) for c in range(MAX) if not 0xD800 <= c < 0xE000)
    cls = [0] * MAX
    def mark(pattern, value):
        for m in regex.finditer(pattern, chars):
            cls[ord(m.group())] |= value
    for k, name in enumerate(GCB):
        mark(r"\p{Grapheme_Cluster_Break=" + name + "}", k + 1)
    mark(r"\p{Extended_Pictographic}", 16)
    for k, name in enumerate(INCB):
        mark(r"\p{Indic_Conjunct_Break=" + name + "}", (k + 1) << 5)
    out, start = [], 0
    for c in range(1, MAX + 1):
        if c == MAX or cls[c] != cls[start]:
            if cls[start]:
                out.append((start, c - 1, cls[start]))
            start = c
    # The module names no Unicode version; its count of assigned characters (private use
    # aside) tells it.
    assigned = len(regex.findall(r"[^\p{Cn}\p{Co}]", chars))
    version = {144762: "14.0", 149251: "15.0", 149878: "15.1", 155063: "16.0",
               159866: "17.0"}.get(assigned, f"unknown ({assigned} characters)")
    return out, f"regex {regex.__version__}, Unicode {version}"


def emit_classes(f, name, rs):
    f.write(f"constexpr CodepointClass {name}[] = {{\n")
    for k in range(0, len(rs), 3):
        f.write("    " + " ".join(f"{{0x{a:X}, 0x{b:X}, {c}}}," for a, b, c in rs[k:k + 3]) + "\n")
    f.write("};\n\n")


def main():
    lower, stripped = [], []
    for c in range(MAX):
        if 0xD800 <= c < 0xE000:
            continue
        ch = chr(c)
        if ch.lower() != ch:
            lower.append((c, ch.lower()))
        if c not in HANGUL:
            nfd = unicodedata.normalize("NFD", ch)
            if nfd != ch:
                stripped.append((c, "".join(x for x in nfd if not is_nonspacing_mark(ord(x)))))
    assert max(len(s) for _, s in lower) <= 2 and max(len(s) for _, s in stripped) <= 4
    with open(OUT, "w") as f:
        f.write("// Generated by scripts/gen-unicode-tables.py from Python's unicodedata "
                f"(Unicode {unicodedata.unidata_version}); do not edit.\n")
        f.write("// Included by runtime/tokenize/Unicode.cpp, which defines CodepointRange,\n"
                "// CodepointMapping and CodepointClass.\n\n")
        emit_ranges(f, "kNonspacingMarks", ranges(is_nonspacing_mark))
        emit_ranges(f, "kPunctuationRanges",
                    ranges(lambda c: unicodedata.category(chr(c)).startswith("P")))
        emit_ranges(f, "kOtherRanges",
                    ranges(lambda c: unicodedata.category(chr(c)) in ("Cc", "Cf", "Co", "Cs")))
        emit_ranges(f, "kWhiteSpaceRanges", WHITE_SPACE)
        emit_map(f, "kLowercase", 2, lower)
        emit_map(f, "kAccentStripped", 4, stripped)
        classes, source = grapheme_classes()
        f.write(f"// kGraphemeClasses: from the regex module ({source}).\n")
        emit_classes(f, "kGraphemeClasses", classes)
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
