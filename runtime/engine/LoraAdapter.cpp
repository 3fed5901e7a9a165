#include "runtime/engine/LoraAdapter.h"

#include "runtime/formats/Dequantize.h"
#include "runtime/formats/Safetensors.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace modelrt::engine {

namespace {

constexpr int64_t kMaxLoraRank = 1024;
constexpr size_t kMaxConfigBytes = size_t(1) << 20;

struct ModuleTensors {
  const TensorInfo *a = nullptr, *b = nullptr;
};

// Rows `ranges` ([offset, size, ...], every `stride`-th from each offset) of a row-major
// [rows, cols] f32 matrix, or columns when `columns`.
std::vector<float> take(const std::vector<float> &m, int64_t rows, int64_t cols,
                        const std::vector<int64_t> &ranges, int64_t stride, bool columns) {
  std::vector<int64_t> picked;
  for (size_t r = 0; r < ranges.size(); r += 2)
    for (int64_t i = 0; i < ranges[r + 1]; ++i)
      picked.push_back(ranges[r] + i * stride);
  std::vector<float> out;
  if (columns) {
    out.reserve(size_t(rows) * picked.size());
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t c : picked)
        out.push_back(m[size_t(row * cols + c)]);
  } else {
    out.reserve(picked.size() * size_t(cols));
    for (int64_t row : picked)
      out.insert(out.end(), m.begin() + row * cols, m.begin() + (row + 1) * cols);
  }
  return out;
}


// A config value in an error message: scalars as JSON (at most 80 characters), others by
// their type (an untrusted file's nesting is not printed).
std::string brief(const nlohmann::ordered_json &v) {
  if (v.is_structured())
    return std::string("a JSON ") + v.type_name() + (v.empty() ? " (empty)" : "");
  std::string text = v.dump();
  return text.size() > 80 ? text.substr(0, 80) + "..." : text;
}

// Whether a module name (model.layers.1.mlp.down_proj) matches an alpha_pattern key: the
// key is the name or the end of it after a dot. Keys are names (letters, digits, _ . -);
// PEFT reads them as regular expressions, and a name's dots then match themselves too.
bool patternMatches(const std::string &name, const std::string &key) {
  return name == key || (name.size() > key.size() &&
                         name.compare(name.size() - key.size(), key.size(), key) == 0 &&
                         name[name.size() - key.size() - 1] == '.');
}

} // namespace

// What is wrong with `spec`, naming it.
static Error adapterError(const LoraSpec &spec, const std::string &what) {
  return Error(ErrorCode::InvalidArgument,
               "LoRA adapter '" + spec.name + "' (" + spec.path + "): " + what);
}

Expected<LoraSpec> parseLoraSpec(const std::string &text) {
  LoraSpec spec;
  if (size_t eq = text.find('='); eq != std::string::npos) {
    spec.name = text.substr(0, eq);
    spec.path = text.substr(eq + 1);
  } else {
    spec.path = text;
    std::string trimmed = text;
    while (trimmed.size() > 1 && trimmed.back() == '/')
      trimmed.pop_back();
    spec.name = trimmed.substr(trimmed.rfind('/') == std::string::npos ? 0 : trimmed.rfind('/') + 1);
  }
  if (spec.name.empty() || spec.path.empty())
    return Error(ErrorCode::InvalidArgument,
                 "LoRA adapter '" + text + "': expected name=path (or a directory)");
  return spec;
}

Expected<LoraAdapter> loadLoraAdapter(const LoraSpec &spec, const plan::PlanMetadata &meta) {
  auto bad = [&](const std::string &what) { return adapterError(spec, what); };
  std::ifstream configFile(spec.path + "/adapter_config.json");
  if (!configFile)
    return bad("no adapter_config.json in the directory");
  std::stringstream text;
  text << configFile.rdbuf();
  Expected<SafetensorsFile> file = SafetensorsFile::open(spec.path + "/adapter_model.safetensors");
  if (!file)
    return bad(file.error().message());
  return parseLoraAdapter(spec, text.str(), *file, meta);
}

Expected<LoraAdapter> parseLoraAdapter(const LoraSpec &spec, std::string_view configText,
                                       const SafetensorsFile &file, const plan::PlanMetadata &meta) {
  auto bad = [&](const std::string &what) { return adapterError(spec, what); };
  if (meta.weightNames.empty())
    return bad("the plan records no weight sources; compile it again with this modelc");
  if (meta.weightNames != "huggingface")
    return bad("PEFT adapters name Hugging Face modules, and this plan's weights are named "
               "after a GGUF file; compile the Hugging Face checkpoint instead");
  if (configText.size() > kMaxConfigBytes)
    return bad("adapter_config.json is over " + std::to_string(kMaxConfigBytes >> 20) + " MiB");

  // adapter_config.json, in file order: PEFT takes the first alpha_pattern key that matches.
  nlohmann::ordered_json config = nlohmann::ordered_json::parse(configText, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    return bad("adapter_config.json is not a JSON object");
  auto field = [&](const char *key) -> const nlohmann::ordered_json * {
    auto it = config.find(key);
    return it == config.end() || it->is_null() ? nullptr : &*it;
  };
  if (const nlohmann::ordered_json *type = field("peft_type"); type && *type != "LORA")
    return bad("peft_type is " + brief(*type) + ", not \"LORA\"");
  if (const nlohmann::ordered_json *dora = field("use_dora"); dora && dora->is_boolean() && dora->get<bool>())
    return bad("use_dora: DoRA adapters are not supported");
  if (const nlohmann::ordered_json *bias = field("bias"); bias && *bias != "none")
    return bad("bias is " + brief(*bias) + ": adapters that train biases are not supported");
  if (const nlohmann::ordered_json *b = field("lora_bias"); b && b->is_boolean() && b->get<bool>())
    return bad("lora_bias: adapters with a bias on lora_B are not supported");
  for (const char *key : {"alora_invocation_tokens", "trainable_token_indices", "layer_replication"})
    if (const nlohmann::ordered_json *v = field(key); v && !v->empty())
      return bad(std::string(key) + " " + brief(*v) + " is not supported");
  // PiSSA, OLoRA, CorDA and LoftQ adapters were trained against a base they changed; PEFT
  // converts them to plain LoRA (init_lora_weights true) for the original base.
  if (const nlohmann::ordered_json *init = field("init_lora_weights"); init && init->is_string()) {
    const std::string how = init->get<std::string>();
    for (const char *changed : {"pissa", "olora", "corda", "loftq"})
      if (how.rfind(changed, 0) == 0)
        return bad("init_lora_weights \"" + how.substr(0, 40) +
                   "\": the adapter was trained against a changed base model; convert it "
                   "to a plain LoRA adapter with PEFT first (save_pretrained with "
                   "path_initial_model_for_weight_conversion)");
  }
  if (const nlohmann::ordered_json *save = field("modules_to_save"); save && !save->empty())
    return bad("modules_to_save " + brief(*save) +
               ": adapters that replace whole modules are not supported");
  double alpha = 8; // PEFT's default
  if (const nlohmann::ordered_json *a = field("lora_alpha")) {
    if (!a->is_number() || a->get<double>() <= 0)
      return bad("lora_alpha must be a positive number");
    alpha = a->get<double>();
  }
  bool rslora = false;
  if (const nlohmann::ordered_json *r = field("use_rslora")) {
    if (!r->is_boolean())
      return bad("use_rslora must be true or false");
    rslora = r->get<bool>();
  }
  // alpha_pattern: {pattern: alpha}, a pattern matching a module name's end at a dot
  // (PEFT's rule).
  std::vector<std::pair<std::string, double>> alphaPattern;
  if (const nlohmann::ordered_json *p = field("alpha_pattern")) {
    if (!p->is_object())
      return bad("alpha_pattern must be an object");
    for (auto &[pattern, value] : p->items()) {
      if (!value.is_number() || value.get<double>() <= 0)
        return bad("alpha_pattern['" + pattern + "'] must be a positive number");
      if (pattern.empty() || pattern.size() > 256 ||
          pattern.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789_.-") != std::string::npos)
        return bad("alpha_pattern key '" + pattern.substr(0, 80) +
                   "' is not a module name (letters, digits, _ . -; regular expressions are "
                   "not supported)");
      alphaPattern.emplace_back(pattern, value.get<double>());
    }
  }

  // adapter_model.safetensors: base_model.model.<module>.lora_{A,B}.weight
  const std::string prefix = "base_model.model.";
  std::map<std::string, ModuleTensors> modules;
  // PEFT saves a copy of the base weight of an LM head it adapts (save_embedding_layers):
  // the plan's own, unless tokens were added (another shape), which is refused.
  std::map<std::string, const TensorInfo *> baseCopies;
  for (const TensorInfo &t : file.tensors()) {
    auto endsWith = [&](const std::string &suffix) {
      return t.name.size() > suffix.size() &&
             t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (t.name.rfind(prefix, 0) == 0 && endsWith(".base_layer.weight")) {
      baseCopies[t.name.substr(prefix.size(), t.name.size() - prefix.size() -
                                                  sizeof(".base_layer.weight") + 1)] = &t;
      continue;
    }
    const bool isA = endsWith(".lora_A.weight"), isB = endsWith(".lora_B.weight");
    if (t.name.rfind(prefix, 0) != 0 || !(isA || isB))
      return bad("tensor '" + t.name + "' is not a LoRA A or B matrix (" + prefix +
                 "<module>.lora_A.weight / .lora_B.weight)");
    if (t.shape.size() != 2 || t.shape[0] == 0 || t.shape[1] == 0)
      return bad("tensor '" + t.name + "' is not a matrix");
    if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
      return bad("tensor '" + t.name + "' is " + dtypeName(t.dtype) + ", not F32, F16 or BF16");
    const std::string module =
        t.name.substr(prefix.size(), t.name.size() - prefix.size() - sizeof(".lora_A.weight") + 1);
    (isA ? modules[module].a : modules[module].b) = &t;
  }
  if (modules.empty())
    return bad("adapter_model.safetensors holds no LoRA matrices");

  LoraAdapter adapter{spec.name, spec.path, 0, {}};
  std::map<std::string, std::vector<float>> widened; // f32 copies, by tensor name
  auto f32 = [&](const TensorInfo &t) -> Expected<const std::vector<float> *> {
    auto it = widened.find(t.name);
    if (it != widened.end())
      return &it->second;
    Expected<std::vector<float>> data = dequantizeToF32(t);
    if (!data)
      return bad("tensor '" + t.name + "': " + data.error().message());
    return &widened.emplace(t.name, std::move(*data)).first->second;
  };
  for (auto &[module, m] : modules) {
    if (!m.a || !m.b)
      return bad("module '" + module + "' has lora_" + (m.a ? "A" : "B") + " without lora_" +
                 (m.a ? "B" : "A"));
    const int64_t r = static_cast<int64_t>(m.a->shape[0]);
    if (static_cast<int64_t>(m.b->shape[1]) != r)
      return bad("module '" + module + "': lora_A has rank " + std::to_string(r) +
                 " and lora_B " + std::to_string(m.b->shape[1]));
    if (r > kMaxLoraRank)
      return bad("module '" + module + "' has rank " + std::to_string(r) + ", over " +
                 std::to_string(kMaxLoraRank));
    adapter.maxRank = std::max(adapter.maxRank, r);
    if (!meta.matrixSources.count(module + ".weight"))
      return bad("module '" + module +
                 "' is no linear of this plan (its linears are named as the checkpoint's "
                 "modules, such as model.layers.0.self_attn.q_proj)");
  }
  for (const auto &[module, t] : baseCopies) {
    auto it = meta.matrixSources.find(module + ".weight");
    if (!modules.count(module) || it == meta.matrixSources.end() || t->shape.size() != 2 ||
        static_cast<int64_t>(t->shape[0]) != it->second.first ||
        static_cast<int64_t>(t->shape[1]) != it->second.second)
      return bad("tensor '" + prefix + module +
                 ".base_layer.weight' replaces a weight of the model (added tokens?), which "
                 "adapters cannot do here");
  }

  for (const plan::WeightEntry &w : meta.weights) {
    int64_t outRow = 0;
    LoraMatrix matrix;
    for (const plan::WeightSource &source : w.sources) {
      const int64_t rows = source.numRows();
      const std::string module =
          source.name.size() > 7 && source.name.compare(source.name.size() - 7, 7, ".weight") == 0
              ? source.name.substr(0, source.name.size() - 7)
              : std::string();
      auto it = modules.find(module);
      if (module.empty() || it == modules.end()) {
        outRow += rows;
        continue;
      }
      const TensorInfo &a = *it->second.a, &b = *it->second.b;
      const int64_t r = static_cast<int64_t>(a.shape[0]), in = static_cast<int64_t>(a.shape[1]),
                    out = static_cast<int64_t>(b.shape[0]);
      // The module's whole weight is [out, in]; the plan holds some of its rows and columns
      // (parsePlan checked that the ranges lie inside the source).
      if (out != source.sourceRows || in != source.sourceCols)
        return bad("module '" + module + "' is [" + std::to_string(out) + ", " +
                   std::to_string(in) + "] (lora_B rows, lora_A columns), and the plan's is [" +
                   std::to_string(source.sourceRows) + ", " + std::to_string(source.sourceCols) +
                   "] (weight " + w.name + ")");
      Expected<const std::vector<float> *> fa = f32(a), fb = f32(b);
      if (!fa)
        return fa.error();
      if (!fb)
        return fb.error();
      double scaleAlpha = alpha;
      for (const auto &[pattern, value] : alphaPattern)
        if (patternMatches(module, pattern)) {
          scaleAlpha = value;
          break;
        }
      const double scaling = rslora ? scaleAlpha / std::sqrt(double(r)) : scaleAlpha / double(r);
      LoraSegment segment;
      segment.outRow = outRow;
      segment.outRows = rows;
      segment.rankOffset = matrix.rank;
      segment.rank = r;
      segment.b = take(**fb, out, r, source.rows, source.rowStride, /*columns=*/false);
      for (float &v : segment.b)
        v = static_cast<float>(v * scaling);
      std::vector<float> part = take(**fa, r, in, source.cols, source.colStride, /*columns=*/true);
      matrix.a.insert(matrix.a.end(), part.begin(), part.end());
      matrix.rank += r;
      matrix.segments.push_back(std::move(segment));
      outRow += rows;
    }
    if (!matrix.segments.empty())
      adapter.matrices.emplace(w.name, std::move(matrix));
  }
  return adapter;
}

} // namespace modelrt::engine
