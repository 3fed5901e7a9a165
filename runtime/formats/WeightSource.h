// One entry point for the weights of a model, whatever their format: a .gguf file, a
// .safetensors file, a model.safetensors.index.json, or a Hugging Face model directory.
// This is what the compiler's weight binding calls.
//
//   Expected<WeightSource> w = WeightSource::open(path);
//   const TensorInfo *t = w->findTensor("model.embed_tokens.weight");
//   if (!t) return Error(ErrorCode::NotFound, path + ": no tensor 'model.embed_tokens.weight'");
//   if (const GgufFile *g = w->gguf()) ... g->getUInt(arch + ".block_count") ...
#pragma once

#include "runtime/formats/Gguf.h"
#include "runtime/formats/Safetensors.h"

#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace modelrt {

class WeightSource {
public:
  enum class Format { Gguf, Safetensors };

  static Expected<WeightSource> open(const std::string &path);
  // Over safetensors already read (tests, fuzzing).
  static WeightSource fromSafetensors(SafetensorsModel model);

  Format format() const { return gguf_ ? Format::Gguf : Format::Safetensors; }
  const std::vector<TensorInfo> &tensors() const;
  // A safetensors checkpoint's MXFP4 pairs (gpt-oss: `X_blocks` U8 [..., rows, cols / 32, 16],
  // two 4-bit codes a byte, the even element low; `X_scales` U8 [..., rows, cols / 32], E8M0)
  // are also found as `X`: an MXFP4 tensor [..., rows, cols] in GGUF's block layout (the
  // scale byte, then element j low and j + 16 high in byte j), repacked on first use.
  // compressed-tensors' pack-quantized weights (`X_packed` I32 [rows, ceil(cols * bits / 32)]:
  // 4- or 8-bit codes offset by 2^(bits - 1), code j of a word at bit j * bits; `X_scale`
  // F32/BF16/F16 [rows, groups] or [1]; `X_shape` I64 [rows, cols]; symmetric: no
  // `X_zero_point`) are found as `X` on first use: codes in groups of whole 32s with
  // f16-exact 16-bit scales as Q4_0 (4 bits) or Q8_0 (8 bits) blocks, the exact products;
  // else dense, in the scale's type, dequantized as compressed-tensors does
  // ((code - 2^(bits - 1)) * scale, rounded once).
  // GPTQ linears (AutoGPTQ's format, v1: `B.qweight` I32 [in * bits / 32, out], 4- or 8-bit
  // codes packed down the inputs; `B.qzeros` I32 [groups, out * bits / 32], zeros minus 1;
  // `B.scales` [groups, out]; `B.g_idx` I32 [in], each input's group) are found as
  // `B.weight` [out, in], the exact products (code - zero) * scale: with contiguous groups of
  // whole 32s and f16 scales, 4-bit codes as Q4_ZP blocks and symmetric 8-bit ones as Q8_0;
  // else dense f32.
  // AWQ linears (AutoAWQ's GEMM format: `B.qweight` I32 [in, out / 8] and `B.qzeros` I32
  // [groups, out / 8], 4-bit codes packed along the outputs in the order 0 2 4 6 1 3 5 7;
  // `B.scales` [groups, out]; no g_idx) likewise, zeros as stored. Groups are in / groups
  // inputs (the frontend refuses group sizes that do not divide the inputs).
  // FP8 linears (`X` F8_E4M3 [rows, cols] with `X_scale_inv`, as transformers' fine-grained
  // FP8 and DeepSeek-V3 write them, or `X_scale`, as compressed-tensors does: F32/BF16/F16, a
  // scalar, [rows, 1] or a grid [ceil(rows / bm), ceil(cols / bn)] of blocks) are found as
  // `X`, the products q x scale rounded once to f32 (what transformers' fine-grained FP8 and
  // vLLM's FP8 kernels compute; compressed-tensors rounds a 16-bit scale's products to that
  // type, within 2^-9 of these): where runs
  // of 32 columns share a scale, as F8_E4M3_B32 blocks; else dense f32. Codes with a scale
  // tensor of another shape or type are not found at all.
  const TensorInfo *findTensor(std::string_view name) const;
  // Drops a derived tensor's bytes (found again, they are derived again); pointers to it from
  // findTensor become invalid. Other tensors are untouched.
  void release(std::string_view name) const;
  // The GGUF file (metadata: hyperparameters, tokenizer), or null for safetensors.
  const GgufFile *gguf() const { return gguf_ ? &*gguf_ : nullptr; }
  const SafetensorsModel *safetensors() const { return st_ ? &*st_ : nullptr; }

private:
  const TensorInfo *mxfp4Pair(std::string_view name) const;
  const TensorInfo *fp8Linear(std::string_view name, const TensorInfo &weight) const;
  const TensorInfo *packedInt(std::string_view name) const;
  const TensorInfo *gptqLinear(std::string_view name) const;
  const TensorInfo *awqLinear(std::string_view name, const TensorInfo &qweight,
                              const TensorInfo &qzeros, const TensorInfo &scales) const;

  std::optional<GgufFile> gguf_;
  std::optional<SafetensorsModel> st_;
  // Tensors derived from others (MXFP4 pairs, packed integers) by name, and their bytes
  // (shared: a WeightSource moves).
  struct Repacked {
    TensorInfo info;
    std::shared_ptr<std::vector<uint8_t>> bytes;
  };
  // Records a derived tensor's name, file, size and data, and returns it.
  const TensorInfo *keep(std::string name, const std::string &file, Repacked r) const;
  mutable std::shared_ptr<std::map<std::string, Repacked, std::less<>>> repacked_ =
      std::make_shared<std::map<std::string, Repacked, std::less<>>>();
};

} // namespace modelrt
