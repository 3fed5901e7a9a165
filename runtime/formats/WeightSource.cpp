#include "runtime/formats/WeightSource.h"

#include "runtime/formats/Dequantize.h"

#include <cmath>
#include <cstring>

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
  if (const TensorInfo *t = mxfp4Pair(name))
    return t;
  return packedInt(name);
}

const TensorInfo *WeightSource::packedInt(std::string_view name) const {
  if (auto it = repacked_->find(name); it != repacked_->end())
    return &it->second.info;
  const std::string base(name);
  const TensorInfo *packed = st_->findTensor(base + "_packed");
  const TensorInfo *scale = st_->findTensor(base + "_scale");
  const TensorInfo *shape = st_->findTensor(base + "_shape");
  if (!packed || !scale || !shape || st_->findTensor(base + "_zero_point") ||
      packed->dtype != DType::I32 || packed->shape.size() != 2 || shape->dtype != DType::I64 ||
      shape->shape != std::vector<uint64_t>{2} || shape->size != 16 ||
      (scale->dtype != DType::F32 && scale->dtype != DType::BF16 && scale->dtype != DType::F16))
    return nullptr;
  int64_t dims[2];
  std::memcpy(dims, shape->data, sizeof dims);
  const int64_t rows = dims[0], cols = dims[1];
  if (rows <= 0 || cols <= 0 || static_cast<uint64_t>(rows) != packed->shape[0] ||
      rows > (int64_t(1) << 32) || cols > (int64_t(1) << 32))
    return nullptr;
  const uint64_t words = packed->shape[1];
  int bits = 0;
  for (int b : {4, 8})
    if ((static_cast<uint64_t>(cols) * b + 31) / 32 == words)
      bits = b;
  if (bits == 0 || packed->size != static_cast<uint64_t>(rows) * words * 4)
    return nullptr;
  // Scales: one per row and group of cols / groups, or one for the tensor.
  uint64_t groups = 1;
  bool perTensor = false;
  if (scale->shape == std::vector<uint64_t>{1}) {
    perTensor = true;
  } else if (scale->shape.size() == 2 && scale->shape[0] == static_cast<uint64_t>(rows) &&
             scale->shape[1] > 0 && static_cast<uint64_t>(cols) % scale->shape[1] == 0) {
    groups = scale->shape[1];
  } else {
    return nullptr;
  }
  const size_t elementBytes = dtypeInfo(scale->dtype).blockBytes;
  if (scale->size != (perTensor ? 1 : static_cast<uint64_t>(rows) * groups) * elementBytes)
    return nullptr;
  auto scaleAt = [&](uint64_t k) -> float {
    if (scale->dtype == DType::F32) {
      float f;
      std::memcpy(&f, scale->data + 4 * k, 4);
      return f;
    }
    uint16_t h;
    std::memcpy(&h, scale->data + 2 * k, 2);
    return scale->dtype == DType::BF16 ? bf16ToF32(h) : f16ToF32(h);
  };
  Repacked r;
  const uint64_t count = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols);
  const uint64_t groupSize = static_cast<uint64_t>(cols) / groups;
  const uint32_t mask = (1u << bits) - 1, perWord = 32 / bits;
  const int offset = 1 << (bits - 1);
  auto codeAt = [&](uint64_t row, uint64_t col) {
    uint32_t word;
    std::memcpy(&word, packed->data + 4 * (row * words + col / perWord), 4);
    return (word >> (bits * (col % perWord))) & mask; // offset by 2^(bits - 1)
  };
  // Codes whose scale groups are whole blocks of 32 and whose 16-bit scales are f16 values
  // are GGUF blocks as they stand, d = the scale: 4-bit ones Q4_0 (q = the offset code,
  // d (q - 8)), 8-bit ones Q8_0 (q = the code, d q). Those are the exact products, which a
  // dense copy would round to the scale's type.
  bool blocks = groupSize % 32 == 0 && scale->dtype != DType::F32;
  for (uint64_t k = 0; blocks && k < (perTensor ? 1 : static_cast<uint64_t>(rows) * groups); ++k) {
    const float v = scaleAt(k);
    blocks = std::isfinite(v) && f16ToF32(f32ToF16(v)) == v;
  }
  if (blocks) {
    const uint64_t blocksPerRow = static_cast<uint64_t>(cols) / 32;
    const uint64_t blockBytes = bits == 4 ? 18 : 34;
    r.bytes = std::make_shared<std::vector<uint8_t>>(count / 32 * blockBytes);
    for (uint64_t row = 0; row < static_cast<uint64_t>(rows); ++row)
      for (uint64_t b = 0; b < blocksPerRow; ++b) {
        uint8_t *out = r.bytes->data() + (row * blocksPerRow + b) * blockBytes;
        const uint16_t d =
            f32ToF16(scaleAt(perTensor ? 0 : row * groups + b * 32 / groupSize));
        std::memcpy(out, &d, 2);
        for (uint64_t j = 0; j < 16 && bits == 4; ++j)
          out[2 + j] = static_cast<uint8_t>(codeAt(row, b * 32 + j) |
                                            codeAt(row, b * 32 + j + 16) << 4);
        for (uint64_t j = 0; j < 32 && bits == 8; ++j)
          out[2 + j] = static_cast<uint8_t>(static_cast<int>(codeAt(row, b * 32 + j)) - offset);
      }
    r.info.dtype = bits == 4 ? DType::Q4_0 : DType::Q8_0;
  } else {
    r.bytes = std::make_shared<std::vector<uint8_t>>(count * elementBytes);
    r.info.dtype = scale->dtype;
  }
  float s = perTensor ? scaleAt(0) : 0.0f;
  for (uint64_t row = 0; !blocks && row < static_cast<uint64_t>(rows); ++row)
    for (uint64_t col = 0; col < static_cast<uint64_t>(cols); ++col) {
      if (!perTensor && col % groupSize == 0)
        s = scaleAt(row * groups + col / groupSize);
      const float v = static_cast<float>(static_cast<int>(codeAt(row, col)) - offset) * s;
      uint8_t *out = r.bytes->data() + (row * cols + col) * elementBytes;
      if (scale->dtype == DType::F32) {
        std::memcpy(out, &v, 4);
      } else {
        const uint16_t h = scale->dtype == DType::BF16 ? f32ToBf16(v) : f32ToF16(v);
        std::memcpy(out, &h, 2);
      }
    }
  r.info.name = base;
  r.info.shape = {static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)};
  r.info.file = packed->file;
  r.info.size = r.bytes->size();
  r.info.data = r.bytes->data();
  return &repacked_->emplace(base, std::move(r)).first->second.info;
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
