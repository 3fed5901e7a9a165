// modelrt inspect PLAN: validates a plan and prints what it holds.
#include "Commands.h"

#include "runtime/formats/DType.h"
#include "runtime/formats/Dequantize.h"
#include "runtime/plan/PlanFile.h"
#include "runtime/plan/PlanMetadata.h"
#include "runtime/plan/Program.h"
#include "runtime/tokenize/Tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace modelrt::cli {

namespace {

struct InspectOptions {
  std::string path, weight, section, out;
  uint64_t count = 16, offset = 0;
  int64_t rank = 0;
};

// Prints `count` values of weight `name` from element `offset` on, as f32, one per line.
int dumpWeight(const plan::PlanMetadata &m, const InspectOptions &o) {
  for (const plan::WeightEntry &w : m.weights) {
    if (w.name != o.weight)
      continue;
    if (w.dummy) {
      std::fprintf(stderr,
                   "modelrt: error: weight '%s' is a dummy weight: the plan holds no values "
                   "(modelc --dummy-weights; the runtime fills them at load)\n",
                   o.weight.c_str());
      return 1;
    }
    uint64_t elements = 1;
    for (uint64_t d : w.shape)
      elements *= d;
    if (o.offset >= elements) {
      std::fprintf(stderr, "modelrt: error: weight '%s' has %llu values, --offset is %llu\n",
                   o.weight.c_str(), static_cast<unsigned long long>(elements),
                   static_cast<unsigned long long>(o.offset));
      return 1;
    }
    // Whole blocks of GGUF-quantized weights (Q8_0, Q4_1: 32 values each), as dequantized.
    const DTypeInfo &info = dtypeInfo(w.dtype);
    const uint64_t first = o.offset / info.blockElements, skip = o.offset % info.blockElements;
    const uint64_t shown = std::min(o.count, elements - o.offset);
    const uint64_t blocks = (skip + shown + info.blockElements - 1) / info.blockElements;
    std::vector<float> values(blocks * info.blockElements);
    Status s = convert(w.dtype, w.data + first * info.blockBytes, blocks * info.blockBytes,
                       values.size(), DType::F32, values.data(), values.size() * sizeof(float));
    if (!s) {
      std::fprintf(stderr, "modelrt: error: %s\n", s.error().message().c_str());
      return 1;
    }
    for (uint64_t i = skip; i < skip + shown; ++i)
      std::printf("%.9g\n", values[i]);
    return 0;
  }
  std::fprintf(stderr, "modelrt: error: the plan has no weight named '%s' on rank %lld\n",
               o.weight.c_str(), static_cast<long long>(o.rank));
  return 1;
}

// Writes section `o.section` of rank `o.rank` to `o.out` ("-": standard output).
int extractSection(const plan::PlanFile &file, const InspectOptions &o) {
  for (const plan::Section &s : file.sections()) {
    if (s.name != o.section || s.rank != static_cast<uint64_t>(o.rank))
      continue;
    const bool toStdout = o.out.empty() || o.out == "-";
    std::FILE *f = toStdout ? stdout : std::fopen(o.out.c_str(), "wb");
    if (!f) {
      std::fprintf(stderr, "modelrt: error: cannot write %s\n", o.out.c_str());
      return 1;
    }
    const bool ok = std::fwrite(s.data, 1, s.size, f) == s.size;
    if (!toStdout && std::fclose(f) != 0)
      return 1;
    if (!ok)
      std::fprintf(stderr, "modelrt: error: writing %s failed\n", o.out.c_str());
    return ok ? 0 : 1;
  }
  std::fprintf(stderr, "modelrt: error: the plan has no section '%s' on rank %lld (see the "
                       "section list of modelrt inspect)\n",
               o.section.c_str(), static_cast<long long>(o.rank));
  return 1;
}

int inspect(const InspectOptions &o) {
  const std::string &path = o.path;
  Expected<plan::PlanFile> file = plan::PlanFile::open(path);
  if (!file) {
    std::fprintf(stderr, "modelrt: error: %s\n", file.error().message().c_str());
    return 1;
  }
  Expected<plan::PlanMetadata> meta = plan::readMetadata(*file, o.rank);
  if (!meta) {
    std::fprintf(stderr, "modelrt: error: %s\n", meta.error().message().c_str());
    return 1;
  }
  const plan::PlanMetadata &m = *meta;
  if (!o.weight.empty())
    return dumpWeight(m, o);
  if (!o.section.empty())
    return extractSection(*file, o);
  uint64_t weightBytes = 0, parameters = 0;
  size_t dummies = 0;
  std::map<std::string, std::pair<size_t, uint64_t>> byType; // tensors and bytes per dtype
  for (const plan::WeightEntry &w : m.weights) {
    weightBytes += w.size;
    dummies += w.dummy;
    auto &t = byType[dtypeName(w.dtype)];
    ++t.first;
    t.second += w.size;
    uint64_t n = 1;
    for (uint64_t d : w.shape)
      n *= d;
    parameters += n;
  }
  std::printf("plan:        %s (%llu bytes, built by %s)\n", path.c_str(),
              static_cast<unsigned long long>(file->fileSize()), m.builtBy.c_str());
  std::printf("model:       %s (%s), vocabulary %lld\n", m.modelName.c_str(),
              m.architecture.c_str(), static_cast<long long>(m.vocabSize));
  if (m.classifier) {
    std::string labels;
    for (size_t i = 0; i < m.classifier->labels.size() && i < 8; ++i)
      labels += (i ? ", " : "") + m.classifier->labels[i];
    if (m.classifier->labels.size() > 8)
      labels += ", ...";
    std::printf("task:        classify: %zu label%s (%s), %s%s; %s\n",
                m.classifier->labels.size(), m.classifier->labels.size() == 1 ? "" : "s",
                labels.c_str(), plan::activationName(m.classifier->activation),
                m.classifier->twoWaySoftmax ? " of the two columns' difference" : "",
                !m.classifier->pairTemplate.empty() ? "query and document by the plan's pair template"
                : m.classifier->tokenTypes > 0 ? "query and document by the tokenizer's pair encoding, with token types"
                : m.classifier->pairEncoding   ? "query and document by the tokenizer's pair encoding"
                                               : "query and document as one text");
  } else if (m.pooling)
    std::printf("task:        embed: %s token pooling%s, %lld dimensions%s\n",
                plan::poolingTypeName(m.pooling->type),
                m.pooling->normalize ? ", normalized" : "",
                static_cast<long long>(m.pooling->dimensions),
                m.bidirectional ? "; bidirectional attention (each prompt runs whole, in one step)"
                                : "");
  else
    std::printf("task:        generate\n");
  std::printf("target:      %s, %s, tp %lld, pp %lld\n", m.target.c_str(), m.dtype.c_str(),
              static_cast<long long>(m.tensorParallel), static_cast<long long>(m.pipelineParallel));
  std::printf("limits:      max_seq_len %lld, max_num_seqs %lld, max_num_batched_tokens %lld\n",
              static_cast<long long>(m.maxSeqLen), static_cast<long long>(m.maxNumSeqs),
              static_cast<long long>(m.maxNumBatchedTokens));
  std::printf("kv cache:    %lld layers x %lld KV heads x head_dim %lld",
              static_cast<long long>(m.kvCache.numLayers),
              static_cast<long long>(m.kvCache.numKvHeads),
              static_cast<long long>(m.kvCache.headDim));
  if (m.kvCache.valueHeadDim != m.kvCache.headDim) // values narrower than keys (DeepSeek)
    std::printf(m.kvCache.valuesInKeys ? " (values: the first %lld of each key)" : " (values: %lld)",
                static_cast<long long>(m.kvCache.valueHeadDim));
  std::printf("\n");
  if (m.hasRecurrentState()) { // kept per running request beside its KV blocks
    // Their size is the program's (this rank's ops); f32 on the CPU executor.
    int64_t floats = -1;
    if (const plan::Section *program = file->find(plan::SectionKind::Program, o.rank)) {
      const int64_t stage = m.pipelineParallel > 1 ? o.rank : 0;
      Expected<plan::Program> p =
          plan::parseProgram(program->text(), m, stage, stage + 1 == m.pipelineParallel,
                             m.tensorParallel > 1 ? m.tensorParallel : 0);
      if (p) {
        floats = 0;
        for (const plan::Op &op : p->ops)
          floats += p->stateElements(op);
      }
    }
    auto size = [](double bytes) {
      char text[32];
      std::snprintf(text, sizeof text, bytes < (1 << 20) ? "%.1f KiB" : "%.1f MiB",
                    bytes / (bytes < (1 << 20) ? 1024 : 1 << 20));
      return std::string(text);
    };
    std::printf("recurrent:   %lld states per request", static_cast<long long>(m.numRecurrentStates));
    if (floats >= 0)
      std::printf(", %s of f32 a request, %s for max_num_seqs %lld",
                  size(double(floats) * 4).c_str(),
                  size(double(floats) * 4 * double(m.maxNumSeqs)).c_str(),
                  static_cast<long long>(m.maxNumSeqs));
    std::printf("\n");
  }
  std::printf(
      "weights:     %zu tensors, %llu parameters, %llu bytes%s\n", m.weights.size(),
      static_cast<unsigned long long>(parameters), static_cast<unsigned long long>(weightBytes),
      m.tensorParallel * m.pipelineParallel > 1 ? (" on rank " + std::to_string(o.rank)).c_str()
                                                : "");
  std::string types;
  for (const auto &[name, t] : byType)
    types += (types.empty() ? "" : ", ") + name + " " + std::to_string(t.first) + " (" +
             std::to_string(t.second) + " bytes)";
  if (dummies)
    std::printf("             %zu of them dummy (no values in the plan: filled at load)\n",
                dummies);
  std::printf("             by type: %s\n", types.c_str());
  // How the CPU executor multiplies integer-coded (GGUF block) matrices by default.
  bool integerCoded = false;
  for (const plan::WeightEntry &w : m.weights)
    integerCoded |= engine::PackedWeight::keepsQuantized(w.dtype) && w.dtype != DType::F8E4M3_B32;
  if (integerCoded && m.target == "cpu")
    std::printf("cpu gemms:   %s\n",
                m.weightNames == "gguf"
                    ? "int8 activations, integer dot products (a GGUF file's weights; "
                      "--cpu-activations f32 for exact f32)"
                    : "f32 activations, quantized weights widened exactly (a checkpoint's "
                      "weights; --cpu-activations int8 for integer dot products)");
  // What LoRA adapters (PEFT's module names) can find in this plan: its matrices' sources.
  if (m.weightNames.empty()) {
    std::printf("lora:        none (the plan records no weight sources: compile it again)\n");
  } else if (m.weightNames != "huggingface") {
    std::printf("lora:        none (weights named after a GGUF file)\n");
  } else {
    // A module of the first layer if there is one: "model.layers.0.mlp.down_proj".
    std::string example;
    for (const auto &[name, shape] : m.matrixSources)
      if (example.empty() || (example.find("layers.0.") == std::string::npos &&
                              name.find("layers.0.") != std::string::npos))
        example = name;
    if (example.size() > 7 && example.compare(example.size() - 7, 7, ".weight") == 0)
      example.resize(example.size() - 7);
    std::printf("lora:        adapters may name %zu matrices by their checkpoint modules (e.g. "
                "%s; linears only, not embedding tables)\n",
                m.matrixSources.size(), example.c_str());
  }
  std::printf("tokenizer:   %s\n", m.tokenizerFormat.empty() ? "none" : m.tokenizerFormat.c_str());
  if (!m.tokenizerFormat.empty()) {
    // What serving takes from it: the special tokens, the tokens that end an answer, the
    // chat template.
    Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromPlan(o.path);
    if (!tok) {
      std::printf("             cannot be read: %s\n", tok.error().message().c_str());
    } else {
      const Tokenizer &t = **tok;
      auto name = [&t](int32_t id) {
        return id < 0 ? std::string("none") : std::string(t.tokenText(id));
      };
      std::string ends;
      for (int32_t id : t.endIds())
        ends += (ends.empty() ? "" : " ") + name(id);
      static const char *const kKinds[] = {"byte-level BPE", "SentencePiece BPE", "WordPiece",
                                           "Unigram"};
      std::printf("             %s, vocabulary %zu, BOS %s, EOS %s\n",
                  kKinds[static_cast<int>(t.kind())], t.vocabSize(), name(t.bosId()).c_str(),
                  name(t.eosId()).c_str());
      std::printf("             answers end at: %s\n", ends.empty() ? "none" : ends.c_str());
      std::printf("             chat template: %s\n",
                  t.chatTemplate().empty()
                      ? "none"
                      : (std::to_string(t.chatTemplate().size()) + " bytes").c_str());
    }
  }
  std::printf("sections:\n");
  for (const plan::Section &s : file->sections())
    std::printf("  %-12s rank %u  %-24s %llu bytes\n", plan::sectionKindName(s.kind), s.rank,
                s.name.c_str(), static_cast<unsigned long long>(s.size));
  return 0;
}
} // namespace

void addInspectCommand(CLI::App &app, int &exitCode) {
  auto *cmd = app.add_subcommand("inspect", "Validate a plan and print what it holds");
  auto o = std::make_shared<InspectOptions>();
  cmd->add_option("plan", o->path, "plan.bin written by modelc")->required();
  cmd->add_option("--weight", o->weight, "Print the first values of this weight (as f32)");
  cmd->add_option("--count", o->count, "How many values --weight prints")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--offset", o->offset, "The first value --weight prints (default 0)");
  cmd->add_option("--section", o->section,
                  "Write this section's bytes (e.g. cuda-kernels.sm_90.cubin) to --out");
  cmd->add_option("--out,-o", o->out, "Where --section goes (default: standard output)");
  cmd->add_option("--rank", o->rank,
                  "The rank whose weights to count or print (or section to write), in a "
                  "multi-rank plan")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([o, &exitCode] { exitCode = inspect(*o); });
}

} // namespace modelrt::cli
