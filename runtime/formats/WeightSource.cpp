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
  if (gguf_)
    return gguf_->findTensor(name);
  if (const TensorInfo *t = st_->findTensor(name))
    return t;
  return mxfp4Pair(name);
}

const TensorInfo *WeightSource::mxfp4Pair(std::string_view name) const {
  if (auto it = repacked_->find(name); it != repacked_->end())
    return &it->second.info;
  const std::string base(name);
  const TensorInfo *blocks = st_->findTensor(base + "_blocks");
  const TensorInfo *scales = st_->findTensor(base + "_scales");
  if (!blocks || !scales || blocks->dtype != DType::U8 || scales->dtype != DType::U8 ||
      blocks->shape.size() < 3 || blocks->shape.back() != 16 ||
      scales->shape != std::vector<uint64_t>(blocks->shape.begin(), blocks->shape.end() - 1))
    return nullptr;
  const uint64_t count = scales->elementCount(); // blocks of 32 values
  if (blocks->size != count * 16 || scales->size != count)
    return nullptr;
  Repacked r;
  r.bytes = std::make_shared<std::vector<uint8_t>>(count * 17);
  uint8_t *out = r.bytes->data();
  for (uint64_t b = 0; b < count; ++b) {
    const uint8_t *in = blocks->data + b * 16;
    uint8_t codes[32];
    for (int k = 0; k < 16; ++k) {
      codes[2 * k] = in[k] & 15;
      codes[2 * k + 1] = in[k] >> 4;
    }
    out[b * 17] = scales->data[b];
    for (int j = 0; j < 16; ++j)
      out[b * 17 + 1 + j] = static_cast<uint8_t>(codes[j] | codes[j + 16] << 4);
  }
  r.info.name = base;
  r.info.dtype = DType::MXFP4;
  r.info.shape.assign(scales->shape.begin(), scales->shape.end());
  r.info.shape.back() *= 32;
  r.info.file = blocks->file;
  r.info.size = r.bytes->size();
  r.info.data = r.bytes->data();
  return &repacked_->emplace(base, std::move(r)).first->second.info;
}

} // namespace modelrt
