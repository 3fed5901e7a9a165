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

#include <optional>

namespace modelrt {

class WeightSource {
public:
  enum class Format { Gguf, Safetensors };

  static Expected<WeightSource> open(const std::string &path);

  Format format() const { return gguf_ ? Format::Gguf : Format::Safetensors; }
  const std::vector<TensorInfo> &tensors() const;
  const TensorInfo *findTensor(std::string_view name) const;
  // The GGUF file (metadata: hyperparameters, tokenizer), or null for safetensors.
  const GgufFile *gguf() const { return gguf_ ? &*gguf_ : nullptr; }
  const SafetensorsModel *safetensors() const { return st_ ? &*st_ : nullptr; }

private:
  std::optional<GgufFile> gguf_;
  std::optional<SafetensorsModel> st_;
};

} // namespace modelrt
