// Shared machinery of the architecture builders: weight declarations, the @forward
// signature and the module attributes. Each architecture adds only its layer structure.
#pragma once

#include "compiler/frontend/ModelSpec.h"
#include "dialects/llm/IR/LlmDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace modelc::frontend {

// The arguments of @forward, in order.
struct ForwardArgs {
  mlir::Value tokenIds;   // tensor<?xi32>
  mlir::Value positions;  // tensor<?xi32>
  mlir::Value batch;      // !llm.batch
  mlir::Value sampleRows; // tensor<?xi32>
  mlir::Value tokenTypes; // tensor<?xi32>, a classifier's that takes them; else null
};

class ModuleBuilder {
public:
  ModuleBuilder(mlir::MLIRContext &context, const ModelSpec &spec);

  const ModelSpec &spec() const { return spec_; }
  const ModelConfig &config() const { return spec_.config; }
  mlir::OpBuilder &builder() { return builder_; }
  mlir::Location loc() const { return loc_; }
  mlir::Type elementType() const { return elementType_; }
  // tensor<?x`width`x dtype>: an activation of `width` features.
  mlir::RankedTensorType activation(int64_t width) const;

  // Declares a weight (once; later calls return the same symbol). `rows`: the weight is
  // rows [first, first + count) of the source (one of a fused tensor's parts).
  mlir::FlatSymbolRefAttr weight(llvm::StringRef symbol, llvm::ArrayRef<int64_t> shape,
                                 llvm::StringRef source, bool transposed = false,
                                 std::optional<std::pair<int64_t, int64_t>> rows = std::nullopt);

  // Declares a weight whose sources are stacked along rows (a mixture's experts, one source
  // each). GGUF files hold such a stack as one 3-D tensor, named by ggufSource. `rows`
  // (offset, size, ... of dimension 0): the weight is those row ranges of a single source
  // (each expert's gate rows of a fused gate/up stack); with an empty ggufSource, of that
  // source under its GGUF name in a GGUF file too. `transposed`: each matrix of the
  // sources is stored [in, out] and transposed before the rows are taken (Llama 4's
  // experts; GGUF's are [out, in] already).
  mlir::FlatSymbolRefAttr stackedWeight(llvm::StringRef symbol, llvm::ArrayRef<int64_t> shape,
                                        llvm::ArrayRef<std::string> sources,
                                        llvm::StringRef ggufSource,
                                        llvm::ArrayRef<int64_t> rows = {},
                                        bool transposed = false);

  // Declares a weight that is every other row (dim 0) or column (dim 1) of `source`,
  // starting at `phase` (0 or 1): one of two tensors stored interleaved (gpt-oss's gate and
  // up features), each matrix of a stacked source transposed first if `transposed`. GGUF
  // files hold the two apart, ggufSource being this one.
  mlir::FlatSymbolRefAttr interleavedWeight(llvm::StringRef symbol, llvm::ArrayRef<int64_t> shape,
                                            llvm::StringRef source, bool transposed, int64_t dim,
                                            int64_t phase, llvm::StringRef ggufSource);

  // Starts layer `layer`'s ops (their location "layers.<layer>") and returns the prefix of
  // its weights' symbols, "layers.<layer>.".
  std::string beginLayer(int64_t layer);
  // Declares layer `layer`'s weight "layers.<layer>.<name>" from the checkpoint's
  // layerName(layer, source) (rows [first, first + count) of it, if given).
  mlir::FlatSymbolRefAttr layerWeight(int64_t layer, llvm::StringRef name,
                                      llvm::ArrayRef<int64_t> shape, llvm::StringRef source,
                                      std::optional<std::pair<int64_t, int64_t>> rows = {});

  // A decoder's start: the embedding table (model.embed_tokens), @forward begun, and the
  // token rows' embeddings.
  struct Decoder {
    mlir::FlatSymbolRefAttr embed;
    ForwardArgs args;
    mlir::Value x;
  };
  Decoder beginDecoder();

  // Starts @forward returning [S, vocab] f32 logits; ops are then built inside it.
  ForwardArgs beginForward();
  void endForward(mlir::Value logits);
  // A pooling plan's end: an embedding plan (ModelSpec::embed()) ends with the final norm's
  // rows, and no head; a classification plan (classify()) with its classifier's logits of
  // them (score.weight, or rows of the LM head: `embed`, the embedding table, when the
  // config ties them). Ends the forward and returns true for those; otherwise does nothing.
  bool endWithPooling(mlir::Value normed, mlir::FlatSymbolRefAttr embed);
  // Names the location of the ops built next ("layers.3"), so diagnostics point there.
  void setScope(llvm::StringRef name);

  // Token-wise op helpers.
  // With the config's normWeightOffset (Gemma); `eps`: the config's unless given.
  mlir::Value rmsNorm(mlir::Value x, mlir::FlatSymbolRefAttr weight,
                      std::optional<double> eps = std::nullopt);
  // The config's GELU ("gelu": exact, otherwise tanh).
  llm::GeluApproximationAttr geluApproximation();
  mlir::Value layerNorm(mlir::Value x, mlir::FlatSymbolRefAttr weight,
                        mlir::FlatSymbolRefAttr bias);
  mlir::Value linear(mlir::Value x, mlir::FlatSymbolRefAttr weight, int64_t outFeatures,
                     mlir::FlatSymbolRefAttr bias = {});
  mlir::Value add(mlir::Value a, mlir::Value b);
  // Causal grouped-query attention of KV-cache layer `layer` with the config's heads and
  // head_dim, scaled by `scale` (head_dim^-0.5 unless given).
  mlir::Value attention(mlir::Value q, mlir::Value k, mlir::Value v, mlir::Value batch,
                        int64_t layer, std::optional<double> scale = std::nullopt);
  // Each of `heads` heads of `dim` features RMS-normalized by `norm` first if given (weight
  // plus `normOffset` if given; the config's eps), then its first `rotary` features rotated
  // in halves by the config's plain RoPE (theta, linear factor).
  mlir::Value headRope(mlir::Value v, mlir::Value positions, int64_t heads, int64_t dim,
                       int64_t rotary, mlir::FlatSymbolRefAttr norm = {},
                       std::optional<double> normOffset = std::nullopt);
  // down(silu(gate x) * up x): a SiLU-gated MLP of `ff` features (`ff` wide gate and up
  // weights, a `[hidden, ff]` down weight).
  mlir::Value siluMlp(mlir::Value x, mlir::FlatSymbolRefAttr gate, mlir::FlatSymbolRefAttr up,
                      mlir::FlatSymbolRefAttr down, int64_t ff);
  // Ends @forward: the sampled rows of `x` through an RMSNorm by `norm` and the LM head (the
  // embedding table `embed` when the config ties them, else lm_head.weight).
  void endWithHead(mlir::Value x, mlir::FlatSymbolRefAttr norm, mlir::FlatSymbolRefAttr embed);

  mlir::OwningOpRef<mlir::ModuleOp> finish();
  // Declares a weight of a Hugging Face checkpoint's tensor `source` as named, outside the
  // model's weightPrefix (the head of a task model: BertForSequenceClassification's
  // "classifier.weight" beside its "bert." encoder).
  // (A GGUF file's head has llama.cpp's names: ggufTensorName's.)
  mlir::FlatSymbolRefAttr headWeight(llvm::StringRef symbol, llvm::ArrayRef<int64_t> shape,
                                     llvm::StringRef source);
  // The declared llm.weight `symbol` names (to mark it), or null.
  mlir::Operation *lookup(mlir::FlatSymbolRefAttr symbol) {
    return module_->lookupSymbol(symbol.getAttr());
  }

private:
  void setModuleAttributes();
  bool ggufSandwichNames() const;
  // Declares `symbol` once (before @forward, in first-use order); `slice`: [dim, offset,
  // size, ...] ranges kept of a single source, each every `stride`-th element.
  // `finalNames`: the sources are named as the store names them already (another weight's).
  mlir::FlatSymbolRefAttr declare(llvm::StringRef symbol, llvm::ArrayRef<int64_t> shape,
                                  llvm::ArrayRef<llvm::StringRef> sources, bool transposed,
                                  llvm::ArrayRef<int64_t> slice, int64_t stride = 1,
                                  bool finalNames = false);

  const ModelSpec &spec_;
  mlir::MLIRContext &context_;
  mlir::OpBuilder builder_;
  mlir::OwningOpRef<mlir::ModuleOp> module_;
  mlir::Location loc_;
  mlir::Type elementType_;
  mlir::func::FuncOp forward_;
};

// A decoder layer's tensor name as Hugging Face checkpoints spell it:
// "model.layers.<layer>.<rest>".
inline std::string layerName(int64_t layer, llvm::StringRef rest) {
  return ("model.layers." + llvm::Twine(layer) + "." + rest).str();
}

// Layer `layer`'s weights by name (ModuleBuilder::layerWeight), for a builder's loop body.
struct LayerWeights {
  ModuleBuilder &b;
  int64_t layer;
  mlir::FlatSymbolRefAttr
  operator()(llvm::StringRef name, llvm::ArrayRef<int64_t> shape, llvm::StringRef source,
             std::optional<std::pair<int64_t, int64_t>> rows = std::nullopt) const {
    return b.layerWeight(layer, name, shape, source, rows);
  }
};

// One builder per architecture family.
void buildLlamaFamily(ModuleBuilder &b); // Llama 2/3, SmolLM2, TinyLlama, Mistral, Qwen2/3
void buildGpt2(ModuleBuilder &b);
void buildBert(ModuleBuilder &b); // encoders: BERT, RoBERTa
void buildLfm2(ModuleBuilder &b); // attention and short-convolution layers
void buildQwen35(ModuleBuilder &b); // gated attention and Gated DeltaNet layers
void buildGraniteHybrid(ModuleBuilder &b); // attention and Mamba 2 layers
// A sparse MLP block of layer `layer` (the config's experts, router and shared expert) on
// `h`, its weights named `prefix` + "moe....": the Llama family's, for other builders.
mlir::Value buildMixtureOfExperts(ModuleBuilder &b, mlir::Value h, int64_t layer,
                                  const std::string &prefix);
// Layer `layer`'s MLP block on `h`: the mixture above where the config has one for the
// layer, else the SiLU-gated MLP of the config's intermediate size from the checkpoint's
// `gate`, `up` and `down` tensors.
mlir::Value buildFeedForward(ModuleBuilder &b, mlir::Value h, int64_t layer,
                             const std::string &prefix, llvm::StringRef gate, llvm::StringRef up,
                             llvm::StringRef down);

} // namespace modelc::frontend
