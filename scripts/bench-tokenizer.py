#!/usr/bin/env python3
"""Encode throughput of modelrt's tokenizer and of the Hugging Face `tokenizers` library on
the same large mixed text, single-threaded, in one run.

    cmake -B build-rel -DCMAKE_BUILD_TYPE=Release -DMODELC_BUILD_COMPILER=OFF && ninja -C build-rel TokenizerBench
    pip install tokenizers && python3 scripts/bench-tokenizer.py build-rel/unittests/tokenize/TokenizerBench
    python3 scripts/bench-tokenizer.py build-rel/unittests/tokenize/TokenizerBench --unigram
    python3 scripts/bench-tokenizer.py build-rel/unittests/tokenize/TokenizerBench --wordpiece

The text (~4 MB) is generated from a fixed seed: English-like prose, code, digits, CJK,
Cyrillic, emoji and whitespace runs. The tokenizer is SmolLM2's
(unittests/tokenize/data/smollm2/tokenizer.json); with --unigram, an XLM-R-style Unigram
tokenizer.json of 32000 pieces (SentencePiece's nmt_nfkc charsmap) that SentencePiece
trains on the text's first MB and transformers' XLMRobertaConverter converts, run as the
file says (pip install sentencepiece protobuf transformers); with --wordpiece, an uncased
BERT WordPiece tokenizer of 30522 pieces that HF tokenizers trains on the text's first MB.
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TOKENIZER = os.path.join(ROOT, "unittests", "tokenize", "data", "smollm2", "tokenizer.json")

WORDS = ("the of and to in is was that for it with as his on be at by had are but from or have an they which "
         "one you were all we her she there would their will when who him been has more if no out so said what up "
         "its about than into them can only other time new some could these two may first then do any like my now "
         "over such our man me even most made after also did many off before must well back through years where much "
         "your way down should because each just those people how too little state good very make world still own "
         "see men work long get here between both life being under never day same another know while last might "
         "great old year since against go came right used take three tokenizer compiler runtime scheduler").split()
CODE = [
    "def forward(self, x):\n        return self.proj(torch.relu(x)) + x\n",
    "for (int i = 0; i < n; ++i) {\n    acc += a[i] * b[i];\n}\n",
    "if err != nil {\n\treturn fmt.Errorf(\"open %s: %w\", path, err)\n}\n",
    "SELECT id, name FROM users WHERE created_at > '2024-01-01' ORDER BY id;\n",
    "    \"max_position_embeddings\": 8192,\n    \"rope_theta\": 100000.0,\n",
]
OTHER = ["你好，世界！这是一个测试。", "日本語のテキストです。", "Привет, как дела?", "Ελληνικά κείμενα", "🦙🔥👍🏽",
         "مرحبا بالعالم", "한국어 문장", "café naïve Zürich"]


def make_text(size=4 << 20, seed=42):
    rng = random.Random(seed)
    parts, n = [], 0
    while n < size:
        r = rng.random()
        if r < 0.70:
            words = [rng.choice(WORDS) for _ in range(rng.randint(8, 30))]
            words[0] = words[0].capitalize()
            s = " ".join(words) + rng.choice([". ", ", ", "! ", "? ", ".\n", ".\n\n"])
        elif r < 0.82:
            s = rng.choice(CODE)
        elif r < 0.90:
            s = " ".join(str(rng.randint(0, 10 ** rng.randint(1, 9))) for _ in range(rng.randint(2, 8))) + " "
        elif r < 0.97:
            s = rng.choice(OTHER) + " "
        else:
            s = " " * rng.randint(2, 40) + rng.choice(["\n", "\t", ""])
        parts.append(s)
        n += len(s.encode())
    return "".join(parts)


def train_unigram(text, directory):
    """An XLM-R-style Unigram tokenizer.json trained on `text` in `directory`."""
    import io
    import types
    import sentencepiece as spm
    from transformers.convert_slow_tokenizer import XLMRobertaConverter
    model = io.BytesIO()
    lines = [line for line in text[:1 << 20].split("\n") if line.strip()]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=32000, model_type="unigram",
        normalization_rule_name="nmt_nfkc", num_threads=2, hard_vocab_limit=False, minloglevel=2,
        max_sentence_length=1 << 16)
    path = os.path.join(directory, "sentencepiece.model")
    with open(path, "wb") as f:
        f.write(model.getvalue())
    original = types.SimpleNamespace(vocab_file=path, add_prefix_space=True, legacy=True,
                                     mask_token="<mask>", convert_tokens_to_ids={"<s>": 0, "</s>": 2}.get)
    out = os.path.join(directory, "tokenizer.json")
    XLMRobertaConverter(original).converted().save(out)
    return out


def train_wordpiece(text, directory):
    """A BERT-style WordPiece tokenizer.json (uncased BertNormalizer, BertPreTokenizer,
    30522 pieces) that HF tokenizers trains on `text`'s first MB, in `directory`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=30522,
                                        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(text[:1 << 20].split("\n"), trainer)
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                   ("[CLS]", tok.token_to_id("[CLS]")))
    out = os.path.join(directory, "tokenizer.json")
    tok.save(out)
    return out


def bench_hf(text, repeats=5):
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(TOKENIZER)
    tok.encode(text[:10000], add_special_tokens=False)
    best, ids = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        ids = tok.encode(text, add_special_tokens=False).ids
        best = min(best, time.perf_counter() - t0)
    # One huge string is not the library's best case: also time it on the text cut into
    # paragraphs with encode_batch (still one thread), and report the faster.
    chunks = [c + "\n" for c in text.split("\n")]
    best_batch = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        tok.encode_batch(chunks, add_special_tokens=False)
        best_batch = min(best_batch, time.perf_counter() - t0)
    nbytes = len(text.encode())
    return nbytes / best / 1e6, nbytes / best_batch / 1e6, len(ids), ids


def main():
    global TOKENIZER
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    text = make_text()
    keep = tempfile.TemporaryDirectory()
    if "--unigram" in sys.argv:
        TOKENIZER = train_unigram(text, keep.name)
    elif "--wordpiece" in sys.argv:
        TOKENIZER = train_wordpiece(text, keep.name)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(text)
        path = f.name
    env = dict(os.environ, MODELC_BENCH_TEXT=path, MODELC_BENCH_TOKENIZER=TOKENIZER)
    out = subprocess.run([sys.argv[1], "--benchmark_format=json"], env=env, check=True, capture_output=True, text=True)
    bm = json.loads(out.stdout)["benchmarks"][0]
    ours = bm["bytes_per_second"] / 1e6
    hf_whole, hf_batch, hf_tokens, hf_ids = bench_hf(text)
    ours_ids = subprocess.run([os.path.join(os.path.dirname(sys.argv[1]), "..", "..", "tools", "modelrt", "modelrt"),
                               "tokenize", "--tokenizer", TOKENIZER], input=text, capture_output=True, text=True)
    same = ours_ids.returncode == 0 and list(map(int, ours_ids.stdout.split())) == hf_ids
    os.unlink(path)
    print(f"tokenizer: {TOKENIZER}")
    print(f"text: {len(text.encode())} bytes, {hf_tokens} tokens (ids identical: {same})")
    print(f"modelrt encode:    {ours:8.2f} MB/s ({int(bm['tokens'])} tokens)")
    print(f"HF tokenizers:     {hf_whole:8.2f} MB/s (one encode of the whole text, RAYON_NUM_THREADS=1)")
    print(f"HF tokenizers:     {hf_batch:8.2f} MB/s (encode_batch over paragraphs, RAYON_NUM_THREADS=1)")
    print(f"ratio vs the faster HF figure: {ours / max(hf_whole, hf_batch):.2f}x")


if __name__ == "__main__":
    main()
