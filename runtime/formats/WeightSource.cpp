#include "runtime/formats/WeightSource.h"

namespace modelrt {

Expected<WeightSource> WeightSource::open(const std::string &path) {
  WeightSource out;
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) {
    Expected<GgufFile> g = GgufFile::open(path);
    if (!g)
      return g.error();
    out.gguf_ = std::move(*g);
    return out;
  }
  Expected<SafetensorsModel> st = SafetensorsModel::open(path);
  if (!st)
    return st.error();
  out.st_ = std::move(*st);
  return out;
}

const std::vector<TensorInfo> &WeightSource::tensors() const {
  return gguf_ ? gguf_->tensors() : st_->tensors();
}

const TensorInfo *WeightSource::findTensor(std::string_view name) const {
  return gguf_ ? gguf_->findTensor(name) : st_->findTensor(name);
}

} // namespace modelrt
