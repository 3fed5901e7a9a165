#include "compiler/frontend/WeightStore.h"

#include "dialects/llm/IR/LlmDialect.h"
#include "runtime/formats/WeightSource.h"
#include "runtime/plan/PlanMetadata.h"

#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Regex.h"

#include <functional>
#include <numeric>

using namespace llvm;
using namespace mlir;
using namespace modelc;
using namespace modelc::frontend;
using modelc::llm::WeightOp;

std::string modelc::frontend::ggufTensorName(StringRef hf, bool outputNorms) {
  static const std::pair<const char *, const char *> global[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
      {"transformer.wte.weight", "token_embd.weight"},
      {"transformer.wpe.weight", "position_embd.weight"},
      {"transformer.ln_f.weight", "output_norm.weight"},
      {"transformer.ln_f.bias", "output_norm.bias"},
      {"model.embedding_norm.weight", "token_embd_norm.weight"}, // LFM2's final norm
      {"embeddings.word_embeddings.weight", "token_embd.weight"}, // BERT
      {"embeddings.position_embeddings.weight", "position_embd.weight"},
      {"embeddings.token_type_embeddings.weight", "token_types.weight"},
      {"embeddings.LayerNorm.weight", "token_embd_norm.weight"},
      {"embeddings.LayerNorm.bias", "token_embd_norm.bias"},
      // A BERT-family classifier's head, as llama.cpp's converter writes it: BERT's pooler
      // or RoBERTa's dense layer is "cls", the classifier (its out_proj) "cls.output".
      {"pooler.dense.weight", "cls.weight"},
      {"pooler.dense.bias", "cls.bias"},
      {"classifier.dense.weight", "cls.weight"},
      {"classifier.dense.bias", "cls.bias"},
      {"classifier.weight", "cls.output.weight"},
      {"classifier.bias", "cls.output.bias"},
      {"classifier.out_proj.weight", "cls.output.weight"},
      {"classifier.out_proj.bias", "cls.output.bias"},
  };
  for (auto [from, to] : global)
    if (hf == from)
      return to;
  static const std::pair<const char *, const char *> perLayer[] = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.o_proj.bias", "attn_output.bias"},
      {"self_attn.sinks", "attn_sinks.weight"}, // gpt-oss
      {"mlp.router.weight", "ffn_gate_inp.weight"},
      {"mlp.router.bias", "ffn_gate_inp.bias"},
      {"self_attn.qkv_proj.weight", "attn_qkv.weight"},
      {"mlp.gate_up_proj.weight", "ffn_up.weight"}, // Phi-3: gate rows, then up rows
      {"post_self_attn_layernorm.weight", "post_attention_norm.weight"}, // GLM-4
      {"post_mlp_layernorm.weight", "post_ffw_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"feed_forward.gate_proj.weight", "ffn_gate.weight"}, // Llama 4
      {"feed_forward.up_proj.weight", "ffn_up.weight"},
      {"feed_forward.down_proj.weight", "ffn_down.weight"},
      {"feed_forward.router.weight", "ffn_gate_inp.weight"},
      {"feed_forward.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"},
      {"feed_forward.shared_expert.up_proj.weight", "ffn_up_shexp.weight"},
      {"feed_forward.shared_expert.down_proj.weight", "ffn_down_shexp.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
      {"mlp.gate.weight", "ffn_gate_inp.weight"}, // a mixture's router
      {"block_sparse_moe.gate.weight", "ffn_gate_inp.weight"},
      {"block_sparse_moe.router.layer.weight", "ffn_gate_inp.weight"}, // GraniteMoE
      {"mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"}, // Qwen2-MoE
      {"mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight"},
      {"mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight"},
      {"mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight"}, // [D] for [1, D]
      {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"}, // DeepSeek
      {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
      {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
      {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
      {"mlp.moe_statics.e_score_correction_bias", "exp_probs_b.bias"}, // ERNIE 4.5, [1, E]
      {"block_sparse_moe.e_score_correction_bias", "exp_probs_b.bias"}, // MiniMax-M2
      {"self_attn.q_a_proj.weight", "attn_q_a.weight"},
      {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
      {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
      {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
      {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
      {"self_attn.kv_b_proj.weight", "attn_kv_b.weight"},
      {"operator_norm.weight", "attn_norm.weight"}, // LFM2
      {"ffn_norm.weight", "ffn_norm.weight"},
      {"conv.in_proj.weight", "shortconv.in_proj.weight"},
      {"conv.in_proj.bias", "shortconv.in_proj.bias"},
      {"conv.conv.weight", "shortconv.conv.weight"}, // [D, K]: the checkpoint's [D, 1, K]
      {"conv.conv.bias", "shortconv.conv.bias"},
      {"conv.out_proj.weight", "shortconv.out_proj.weight"},
      {"conv.out_proj.bias", "shortconv.out_proj.bias"},
      {"self_attn.q_layernorm.weight", "attn_q_norm.weight"},
      {"self_attn.k_layernorm.weight", "attn_k_norm.weight"},
      {"self_attn.out_proj.weight", "attn_output.weight"},
      {"feed_forward.w1.weight", "ffn_gate.weight"},
      {"feed_forward.w3.weight", "ffn_up.weight"},
      {"feed_forward.w2.weight", "ffn_down.weight"},
      {"ln_1.weight", "attn_norm.weight"},
      {"ln_1.bias", "attn_norm.bias"},
      {"attn.c_attn.weight", "attn_qkv.weight"},
      {"attn.c_attn.bias", "attn_qkv.bias"},
      {"attn.c_proj.weight", "attn_output.weight"},
      {"attn.c_proj.bias", "attn_output.bias"},
      {"ln_2.weight", "ffn_norm.weight"},
      {"ln_2.bias", "ffn_norm.bias"},
      {"mlp.c_fc.weight", "ffn_up.weight"},
      {"mlp.c_fc.bias", "ffn_up.bias"},
      {"mlp.c_proj.weight", "ffn_down.weight"},
      {"mlp.c_proj.bias", "ffn_down.bias"},
      {"attention.self.query.weight", "attn_q.weight"}, // BERT (encoder.layer.N.)
      {"attention.self.query.bias", "attn_q.bias"},
      {"attention.self.key.weight", "attn_k.weight"},
      {"attention.self.key.bias", "attn_k.bias"},
      {"attention.self.value.weight", "attn_v.weight"},
      {"attention.self.value.bias", "attn_v.bias"},
      {"attention.output.dense.weight", "attn_output.weight"},
      {"attention.output.dense.bias", "attn_output.bias"},
      {"attention.output.LayerNorm.weight", "attn_output_norm.weight"},
      {"attention.output.LayerNorm.bias", "attn_output_norm.bias"},
      {"intermediate.dense.weight", "ffn_up.weight"},
      {"intermediate.dense.bias", "ffn_up.bias"},
      {"output.dense.weight", "ffn_down.weight"},
      {"output.dense.bias", "ffn_down.bias"},
      {"output.LayerNorm.weight", "layer_output_norm.weight"},
      {"output.LayerNorm.bias", "layer_output_norm.bias"},
  };
  static const Regex layer("^(model\\.layers|transformer\\.h|encoder\\.layer)\\.([0-9]+)\\.(.*)$");
  SmallVector<StringRef, 4> match;
  if (!layer.match(hf, &match))
    return "";
  static const std::pair<const char *, const char *> sandwich[] = {
      {"post_attention_layernorm.weight", "post_attention_norm.weight"},
      {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
      {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
  };
  if (outputNorms)
    for (auto [from, to] : sandwich)
      if (match[3] == from)
        return ("blk." + match[2] + "." + to).str();
  for (auto [from, to] : perLayer)
    if (match[3] == from)
      return ("blk." + match[2] + "." + to).str();
  return "";
}

namespace {

// The opened store and the path it was opened from (for messages).
struct Catalog {
  std::string file;
  const modelrt::WeightSource &store;
  const modelrt::TensorInfo *find(StringRef name) const {
    return store.findTensor(std::string_view(name));
  }
};

std::string shapeString(ArrayRef<uint64_t> shape) {
  return "[" + join(map_range(shape, [](uint64_t d) { return std::to_string(d); }), ", ") + "]";
}

Error bindingError(const Catalog &catalog, StringRef tensor, WeightOp weight,
                   const Twine &problem) {
  return createStringError(inconvertibleErrorCode(), catalog.file + ": tensor '" + tensor +
                                                         "' (for @" + weight.getSymName() +
                                                         "): " + problem);
}

// Finds a source, trying GPT-2 checkpoints saved without the "transformer." prefix, and
// LayerNorms saved as gamma and beta (the original BERT checkpoints', which transformers
// renames as it loads them).
const modelrt::TensorInfo *lookup(const Catalog &catalog, std::string &name) {
  if (const modelrt::TensorInfo *t = catalog.find(name))
    return t;
  for (auto [from, to] : {std::pair<StringRef, StringRef>{"LayerNorm.weight", "LayerNorm.gamma"},
                          {"LayerNorm.bias", "LayerNorm.beta"}})
    if (StringRef(name).ends_with(from)) {
      std::string old = StringRef(name).drop_back(from.size()).str() + to.str();
      if (const modelrt::TensorInfo *t = catalog.find(old)) {
        name = old;
        return t;
      }
    }
  StringRef bare(name);
  if (bare.consume_front("transformer.")) {
    if (const modelrt::TensorInfo *t = catalog.find(bare)) {
      name = bare.str();
      return t;
    }
  }
  return nullptr;
}

// keepBlocks: the plan keeps GGUF blocks (f32, native weights), so each weight whose
// sources share one kept block type is marked with it (`storage`).
Error bindModule(ModuleOp module, const Catalog &catalog, bool keepBlocks) {
  // Sliced sources (parts of a fused tensor: Phi-3's qkv_proj): how far the parts reach and
  // how far the tensor does, so that parts that do not tile it are an error, not a silent
  // read of the wrong rows.
  struct Reach {
    uint64_t parts = 0, extent = 0;
    WeightOp weight;
    bool picked = false; // some weight picks rows of it (llm.picked_rows): no tiling asked
  };
  llvm::MapVector<StringRef, Reach> reach; // in first-use order, for a stable message
  for (WeightOp weight : module.getOps<WeightOp>()) {
    RankedTensorType type = weight.getTensorType();
    SmallVector<Attribute> resolved;
    uint64_t rows = 0;
    std::optional<modelrt::DType> storage;
    bool sameStorage = true;
    for (auto [index, attr] : llvm::enumerate(weight.getSources())) {
      std::string name = cast<StringAttr>(attr).getValue().str();
      const modelrt::TensorInfo *tensor = lookup(catalog, name);
      if (!tensor) {
        const modelrt::SafetensorsModel *raw = catalog.store.safetensors();
        const modelrt::TensorInfo *codes = raw ? raw->findTensor(name) : nullptr;
        for (StringRef suffix : {"_scale_inv", "_scale"})
          if (const modelrt::TensorInfo *scale = catalog.find(name + suffix.str());
              scale && codes && codes->dtype == modelrt::DType::F8E4M3)
            return bindingError(catalog, name, weight,
                                Twine("its FP8 codes' scales (") + name + suffix + ", " +
                                    modelrt::dtypeName(scale->dtype) + " " +
                                    shapeString(scale->shape) +
                                    ") are not float scales tiling the matrix in blocks");
        return bindingError(catalog, name, weight, "missing");
      }
      std::vector<uint64_t> shape = tensor->shape;
      if (weight.getTransposed() && shape.size() >= 2) // each matrix of a stack
        std::swap(shape[shape.size() - 2], shape.back());
      // A stack of matrices (a GGUF file's experts, [E, rows, cols]) is read as one matrix
      // of all their rows; a vector as a matrix of one row (GGUF's [D] shared-expert gate).
      if (shape.size() == 1 && type.getRank() == 2 && type.getDimSize(0) == 1)
        shape = {1, shape[0]};
      // And a matrix of one row as a vector (ERNIE 4.5's [1, E] correction bias).
      if (shape.size() == 2 && shape[0] == 1 && type.getRank() == 1)
        shape = {shape[1]};
      if (shape.size() > 2 && type.getRank() == 2)
        shape = {std::accumulate(shape.begin(), shape.end() - 1, uint64_t(1),
                                 std::multiplies<uint64_t>()),
                 shape.back()};
      // A slice keeps ranges of one dimension (a tensor-parallel shard).
      if (ArrayRef<int64_t> slice = weight.getSourceSlice(index); !slice.empty()) {
        uint64_t dim = static_cast<uint64_t>(slice[0]), kept = 0;
        if (dim >= shape.size())
          return bindingError(catalog, name, weight,
                              "has shape " + shapeString(tensor->shape) +
                                  ", which has no dimension " + Twine(dim) + " to slice");
        Reach &seen = reach[StringAttr::get(module.getContext(), name).getValue()];
        seen.extent = shape[dim];
        seen.picked = seen.picked || weight->hasAttr("llm.picked_rows");
        seen.weight = weight;
        const int64_t stride = weight.getStride().value_or(1);
        for (size_t r = 1; r < slice.size(); r += 2) {
          const uint64_t end = static_cast<uint64_t>(slice[r] + (slice[r + 1] - 1) * stride + 1);
          seen.parts = std::max(seen.parts, end);
          if (end > shape[dim])
            return bindingError(catalog, name, weight,
                                "has shape " + shapeString(tensor->shape) + ": the slice [" +
                                    Twine(slice[r]) + ", " + Twine(end) + ") of dimension " +
                                    Twine(dim) + " is outside it");
          kept += static_cast<uint64_t>(slice[r + 1]);
        }
        shape[dim] = kept;
        // One row picked as a vector (BERT's token type 0 of its [types, D] table).
        if (shape.size() == 2 && shape[0] == 1 && type.getRank() == 1)
          shape = {shape[1]};
      }
      // Every source must match the declared shape except in the rows it contributes.
      bool ok = static_cast<int64_t>(shape.size()) == type.getRank();
      for (int64_t d = 1; ok && d < type.getRank(); ++d)
        ok = shape[d] == static_cast<uint64_t>(type.getDimSize(d));
      if (!ok) {
        std::vector<uint64_t> expected(type.getShape().begin(), type.getShape().end());
        if (weight.getSources().size() == 1)
          return bindingError(catalog, name, weight,
                              "has shape " + shapeString(tensor->shape) + ", expected " +
                                  shapeString(expected) +
                                  (weight.getTransposed() ? " (transposed)" : ""));
        return bindingError(catalog, name, weight,
                            "has shape " + shapeString(tensor->shape) +
                                ", which does not concatenate into " + shapeString(expected));
      }
      rows += shape.empty() ? 1 : shape[0];
      resolved.push_back(StringAttr::get(module.getContext(), name));
      sameStorage = sameStorage && (!storage || *storage == tensor->dtype);
      storage = tensor->dtype;
    }
    if (rows != static_cast<uint64_t>(type.getDimSize(0)))
      return bindingError(catalog, cast<StringAttr>(weight.getSources()[0]).getValue(), weight,
                          "the sources have " + Twine(rows) + " rows in all, expected " +
                              Twine(type.getDimSize(0)));
    weight.setSourcesAttr(ArrayAttr::get(module.getContext(), resolved));
    if (keepBlocks && storage && sameStorage && modelrt::plan::isKeptBlockType(*storage))
      weight.setStorageAttr(StringAttr::get(module.getContext(), modelrt::dtypeName(*storage)));
  }
  for (const auto &[name, seen] : reach)
    if (seen.parts != seen.extent && !seen.picked)
      return bindingError(catalog, name, seen.weight,
                          "its parts reach " + Twine(seen.parts) + " of its " + Twine(seen.extent) +
                              " rows: the config's sizes do not match this fused tensor");
  return Error::success();
}

Error toLlvmError(const modelrt::Error &error) {
  return createStringError(inconvertibleErrorCode(), error.message());
}

} // namespace

Error modelc::frontend::bindWeights(ModuleOp module, const ModelSpec &spec) {
  if (spec.weights.format == WeightSource::Format::Random ||
      spec.weights.format == WeightSource::Format::Dummy)
    return Error::success(); // generated in the declared shapes (here, or at load)
  modelrt::Expected<modelrt::WeightSource> store = modelrt::WeightSource::open(spec.weights.path);
  if (!store)
    return toLlvmError(store.error());
  return bindModule(module, Catalog{spec.weights.path, *store},
                    spec.weightFormat == "native" && spec.dtype == "f32");
}
