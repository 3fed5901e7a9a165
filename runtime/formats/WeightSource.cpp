#include "runtime/formats/WeightSource.h"

#include "runtime/formats/Dequantize.h"

#include <algorithm>
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

WeightSource WeightSource::fromSafetensors(SafetensorsModel model) {
  WeightSource out;
  out.st_ = std::move(model);
  return out;
}

void WeightSource::release(std::string_view name) const {
  if (auto it = repacked_->find(name); it != repacked_->end())
    repacked_->erase(it);
}

const std::vector<TensorInfo> &WeightSource::tensors() const {
  return gguf_ ? gguf_->tensors() : st_->tensors();
}

const TensorInfo *WeightSource::findTensor(std::string_view name) const {
  if (gguf_)
    return gguf_->findTensor(name);
  if (const TensorInfo *t = st_->findTensor(name)) {
    if (t->dtype != DType::F8E4M3)
      return t;
    if (const TensorInfo *scaled = fp8Linear(name, *t))
      return scaled;
    // Codes whose scales do not fit them are not found (never read unscaled).
    const std::string base(name);
    return st_->findTensor(base + "_scale_inv") || st_->findTensor(base + "_scale") ? nullptr : t;
  }
  if (const TensorInfo *t = mxfp4Pair(name))
    return t;
  if (const TensorInfo *t = packedInt(name))
    return t;
  return gptqLinear(name);
}

namespace {

// A scale tensor's value k, whatever its float type.
float floatAt(const TensorInfo &t, uint64_t k) {
  if (t.dtype == DType::F32) {
    float f;
    std::memcpy(&f, t.data + 4 * k, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, t.data + 2 * k, 2);
  return t.dtype == DType::BF16 ? bf16ToF32(h) : f16ToF32(h);
}

// Code j of a row of 32-bit words holding `bits`-bit codes, code j of a word at bit j * bits.
uint32_t codeIn(const uint8_t *words, uint64_t j, int bits) {
  const uint32_t perWord = 32 / bits;
  uint32_t word;
  std::memcpy(&word, words + 4 * (j / perWord), 4);
  return (word >> (bits * (j % perWord))) & ((1u << bits) - 1);
}

bool isFloatScale(DType d) { return d == DType::F32 || d == DType::BF16 || d == DType::F16; }

// A matrix [rows, cols] of `bits`-bit unsigned codes, each meaning (code - zero) * scale with
// `scale(row, col)` and `zero(row, col)`, written out. Where the scales and zeros are constant
// over each aligned run of 32 columns (`blockScales`) and the scales are f16 values of a
// 16-bit type, as blocks, d = the scale: 4-bit codes Q4_0 (every zero 8 and `zeroPoints`
// false: q = the code, d (q - 8)) or Q4_ZP (d (q - z)), 8-bit ones with every zero 128 Q8_0
// (q = code - 128, d q):
// the exact products. Else dense in `denseType` (F32: the exact products; a 16-bit type:
// each rounded once).
template <class Code, class Scale, class Zero>
void writeIntMatrix(std::vector<uint8_t> &bytes, TensorInfo &info, uint64_t rows, uint64_t cols,
                    int bits, DType scaleType, DType denseType, bool blockScales,
                    bool zeroPoints, Code code, Scale scale, Zero zero) {
  const int offset = 1 << (bits - 1);
  bool blocks = blockScales && cols % 32 == 0 && scaleType != DType::F32, symmetric = true;
  for (uint64_t row = 0; blocks && row < rows; ++row)
    for (uint64_t col = 0; blocks && col < cols; col += 32) {
      const float v = scale(row, col);
      blocks = std::isfinite(v) && f16ToF32(f32ToF16(v)) == v;
      symmetric = symmetric && zero(row, col) == offset;
    }
  // Asymmetric 8-bit codes have no block type. A format that stores zeros gets Q4_ZP for
  // every 4-bit matrix, so that the parts of a merged matrix share one type.
  blocks = blocks && (symmetric || bits == 4);
  info.shape = {rows, cols};
  if (blocks) {
    const DType type = bits == 8                  ? DType::Q8_0
                       : symmetric && !zeroPoints ? DType::Q4_0
                                                  : DType::Q4_ZP;
    const uint64_t perRow = cols / 32, blockBytes = dtypeInfo(type).blockBytes;
    const uint64_t codes = type == DType::Q4_ZP ? 3 : 2; // where the codes start
    bytes.resize(rows * perRow * blockBytes);
    for (uint64_t row = 0; row < rows; ++row)
      for (uint64_t b = 0; b < perRow; ++b) {
        uint8_t *out = bytes.data() + (row * perRow + b) * blockBytes;
        const uint16_t d = f32ToF16(scale(row, b * 32));
        std::memcpy(out, &d, 2);
        if (type == DType::Q4_ZP)
          out[2] = static_cast<uint8_t>(zero(row, b * 32));
        for (uint64_t j = 0; j < 16 && bits == 4; ++j)
          out[codes + j] =
              static_cast<uint8_t>(code(row, b * 32 + j) | code(row, b * 32 + j + 16) << 4);
        for (uint64_t j = 0; j < 32 && bits == 8; ++j)
          out[codes + j] =
              static_cast<uint8_t>(static_cast<int>(code(row, b * 32 + j)) - offset);
      }
    info.dtype = type;
    return;
  }
  const size_t elementBytes = dtypeInfo(denseType).blockBytes;
  bytes.resize(rows * cols * elementBytes);
  for (uint64_t row = 0; row < rows; ++row)
    for (uint64_t col = 0; col < cols; ++col) {
      const float v = static_cast<float>(static_cast<int>(code(row, col)) - zero(row, col)) *
                      scale(row, col);
      uint8_t *out = bytes.data() + (row * cols + col) * elementBytes;
      if (denseType == DType::F32) {
        std::memcpy(out, &v, 4);
      } else {
        const uint16_t h = denseType == DType::BF16 ? f32ToBf16(v) : f32ToF16(v);
        std::memcpy(out, &h, 2);
      }
    }
  info.dtype = denseType;
}

} // namespace

const TensorInfo *WeightSource::keep(std::string name, const std::string &file,
                                      Repacked r) const {
  r.info.name = name;
  r.info.file = file;
  r.info.size = r.bytes->size();
  r.info.data = r.bytes->data();
  return &repacked_->emplace(std::move(name), std::move(r)).first->second.info;
}

const TensorInfo *WeightSource::packedInt(std::string_view name) const {
  if (auto it = repacked_->find(name); it != repacked_->end())
    return &it->second.info;
  const std::string base(name);
  const TensorInfo *packed = st_->findTensor(base + "_packed");
  const TensorInfo *scale = st_->findTensor(base + "_scale");
  const TensorInfo *shape = st_->findTensor(base + "_shape");
  // Symmetric only: a zero point tensor (older writers keep one) must be all zeros; act-order
  // groups (`_g_idx`) are not read.
  const TensorInfo *zeroPoint = st_->findTensor(base + "_zero_point");
  if (zeroPoint && std::any_of(zeroPoint->data, zeroPoint->data + zeroPoint->size,
                               [](uint8_t b) { return b != 0; }))
    return nullptr;
  if (!packed || !scale || !shape || st_->findTensor(base + "_g_idx") ||
      packed->dtype != DType::I32 || packed->shape.size() != 2 || shape->dtype != DType::I64 ||
      shape->shape != std::vector<uint64_t>{2} || shape->size != 16 ||
      !isFloatScale(scale->dtype))
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
  if (scale->size != (perTensor ? 1 : static_cast<uint64_t>(rows) * groups) *
                         dtypeInfo(scale->dtype).blockBytes)
    return nullptr;
  const uint64_t groupSize = static_cast<uint64_t>(cols) / groups;
  Repacked r;
  r.bytes = std::make_shared<std::vector<uint8_t>>();
  const int offset = 1 << (bits - 1);
  writeIntMatrix(
      *r.bytes, r.info, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), bits,
      scale->dtype, scale->dtype, groupSize % 32 == 0, /*zeroPoints=*/false,
      [&](uint64_t row, uint64_t col) {
        return codeIn(packed->data + 4 * row * words, col, bits);
      },
      [&](uint64_t row, uint64_t col) {
        return floatAt(*scale, perTensor ? 0 : row * groups + col / groupSize);
      },
      [offset](uint64_t, uint64_t) { return offset; });
  return keep(base, packed->file, std::move(r));
}

const TensorInfo *WeightSource::gptqLinear(std::string_view name) const {
  if (auto it = repacked_->find(name); it != repacked_->end())
    return &it->second.info;
  const std::string_view suffix = ".weight";
  if (name.size() <= suffix.size() || name.substr(name.size() - suffix.size()) != suffix)
    return nullptr;
  const std::string base(name.substr(0, name.size() - suffix.size()));
  const TensorInfo *qweight = st_->findTensor(base + ".qweight");
  const TensorInfo *qzeros = st_->findTensor(base + ".qzeros");
  const TensorInfo *scales = st_->findTensor(base + ".scales");
  const TensorInfo *gIdx = st_->findTensor(base + ".g_idx");
  if (!qweight || !qzeros || !scales || qweight->dtype != DType::I32 ||
      qzeros->dtype != DType::I32 || !isFloatScale(scales->dtype) ||
      qweight->shape.size() != 2 || qzeros->shape.size() != 2 || scales->shape.size() != 2)
    return nullptr;
  if (!gIdx && qweight->shape[1] * 8 == scales->shape[1])
    return awqLinear(name, *qweight, *qzeros, *scales);
  // qweight [in * bits / 32, out]: codes packed down the input features; qzeros
  // [groups, out * bits / 32]: zeros packed along the outputs, stored minus 1; scales
  // [groups, out]; g_idx [in]: each input feature's group.
  const uint64_t out = scales->shape[1], groups = scales->shape[0];
  if (out == 0 || groups == 0 || qweight->shape[1] != out || qzeros->shape[0] != groups)
    return nullptr;
  int bits = 0;
  for (int b : {4, 8})
    if (out * b == qzeros->shape[1] * 32)
      bits = b;
  if (bits == 0)
    return nullptr;
  const uint64_t in = qweight->shape[0] * 32 / bits, zeroWords = qzeros->shape[1];
  if (in == 0 || in % groups != 0 || qweight->size != qweight->shape[0] * out * 4 ||
      qzeros->size != groups * zeroWords * 4 ||
      scales->size != groups * out * dtypeInfo(scales->dtype).blockBytes)
    return nullptr;
  std::vector<uint32_t> group(in);
  bool contiguous = true; // group i / (in / groups), as without act-order
  for (uint64_t i = 0; i < in; ++i) {
    group[i] = static_cast<uint32_t>(i / (in / groups));
    if (gIdx) {
      if (gIdx->dtype != DType::I32 || gIdx->shape != std::vector<uint64_t>{in} ||
          gIdx->size != in * 4)
        return nullptr;
      int32_t g;
      std::memcpy(&g, gIdx->data + 4 * i, 4);
      if (g < 0 || static_cast<uint64_t>(g) >= groups)
        return nullptr;
      contiguous = contiguous && static_cast<uint32_t>(g) == group[i];
      group[i] = static_cast<uint32_t>(g);
    }
  }
  // Transposed into [out, in]: row o is output feature o. The exact products, blocks or f32
  // (GPU kernels round each to the scales' f16: within half an f16 ulp).
  const uint64_t perWord = 32 / bits;
  Repacked r;
  r.bytes = std::make_shared<std::vector<uint8_t>>();
  writeIntMatrix(
      *r.bytes, r.info, out, in, bits, scales->dtype, DType::F32,
      contiguous && (in / groups) % 32 == 0, /*zeroPoints=*/true,
      [&](uint64_t o, uint64_t i) {
        uint32_t word;
        std::memcpy(&word, qweight->data + 4 * ((i / perWord) * out + o), 4);
        return (word >> (bits * (i % perWord))) & ((1u << bits) - 1);
      },
      [&](uint64_t o, uint64_t i) { return floatAt(*scales, group[i] * out + o); },
      [&](uint64_t o, uint64_t i) {
        return static_cast<int>(codeIn(qzeros->data + 4 * group[i] * zeroWords, o, bits)) + 1;
      });
  return keep(std::string(name), qweight->file, std::move(r));
}

const TensorInfo *WeightSource::awqLinear(std::string_view name, const TensorInfo &qweight,
                                          const TensorInfo &qzeros,
                                          const TensorInfo &scales) const {
  // qweight [in, out / 8], qzeros [groups, out / 8]: 4-bit codes packed along the outputs,
  // the nibble at position p of a word holding output 8w + kOrder[p]; scales [groups, out].
  static constexpr int kPosition[8] = {0, 4, 1, 5, 2, 6, 3, 7}; // of output 8w + j
  const uint64_t out = scales.shape[1], groups = scales.shape[0], in = qweight.shape[0];
  if (out % 8 != 0 || groups == 0 || in % groups != 0 || qzeros.shape[0] != groups ||
      qzeros.shape[1] * 8 != out || qweight.size != in * out / 2 ||
      qzeros.size != groups * out / 2 ||
      scales.size != groups * out * dtypeInfo(scales.dtype).blockBytes)
    return nullptr;
  const uint64_t groupSize = in / groups;
  auto nibble = [out](const TensorInfo &t, uint64_t row, uint64_t o) {
    uint32_t word;
    std::memcpy(&word, t.data + 4 * (row * (out / 8) + o / 8), 4);
    return (word >> (4 * kPosition[o % 8])) & 15u;
  };
  Repacked r;
  r.bytes = std::make_shared<std::vector<uint8_t>>();
  writeIntMatrix(
      *r.bytes, r.info, out, in, 4, scales.dtype, DType::F32, groupSize % 32 == 0,
      /*zeroPoints=*/true,
      [&](uint64_t o, uint64_t i) { return nibble(qweight, i, o); },
      [&](uint64_t o, uint64_t i) { return floatAt(scales, (i / groupSize) * out + o); },
      [&](uint64_t o, uint64_t i) { return static_cast<int>(nibble(qzeros, i / groupSize, o)); });
  return keep(std::string(name), qweight.file, std::move(r));
}

namespace {

// The rows (or columns) each scale of a grid of `scales` covers along `extent`: extent /
// scales where that divides (as transformers derives FP8 blocks), else the power of two
// whose blocks cover it in that many (DeepSeek-V3's 128 over 576 rows: 5 scales); 0 if none.
uint64_t scaleBlock(uint64_t extent, uint64_t scales) {
  if (scales == 0 || scales > extent)
    return 0;
  if (extent % scales == 0)
    return extent / scales;
  for (uint64_t p = 1; p < extent; p *= 2)
    if ((extent + p - 1) / p == scales)
      return p;
  return 0;
}

} // namespace

const TensorInfo *WeightSource::fp8Linear(std::string_view name, const TensorInfo &weight) const {
  if (auto it = repacked_->find(name); it != repacked_->end())
    return &it->second.info;
  const std::string base(name);
  const TensorInfo *scale = st_->findTensor(base + "_scale_inv");
  if (!scale)
    scale = st_->findTensor(base + "_scale");
  if (!scale || !isFloatScale(scale->dtype) || weight.shape.size() != 2 || scale->shape.size() > 2)
    return nullptr;
  const uint64_t rows = weight.shape[0], cols = weight.shape[1];
  // A grid of [rows / bm, cols / bn] scales (a scalar: one block; [rows, 1]: per row).
  const uint64_t sr = scale->shape.size() == 2 ? scale->shape[0] : 1;
  const uint64_t sc = scale->shape.size() == 2 ? scale->shape[1] : 1;
  const uint64_t bm = scaleBlock(rows, sr), bn = scaleBlock(cols, sc);
  if (rows == 0 || cols == 0 || bm == 0 || bn == 0 || weight.size != rows * cols ||
      scale->size != sr * sc * dtypeInfo(scale->dtype).blockBytes)
    return nullptr;
  auto scaleAt = [&](uint64_t r, uint64_t c) { return floatAt(*scale, (r / bm) * sc + c / bn); };
  // Blocks of 32 when each run of 32 columns shares a scale, every scale (and 2^8 times it, as
  // the CPU GEMM's panels hold it) is finite and no code is NaN; else the products in f32.
  bool blocks = cols % 32 == 0 && (bn % 32 == 0 || sc == 1);
  for (uint64_t r = 0; blocks && r < rows; r += bm)
    for (uint64_t c = 0; blocks && c < cols; c += bn)
      blocks = std::isfinite(scaleAt(r, c) * 256.0f);
  for (uint64_t i = 0; blocks && i < rows * cols; ++i)
    blocks = (weight.data[i] & 0x7F) != 0x7F;
  Repacked r;
  r.bytes = std::make_shared<std::vector<uint8_t>>();
  std::vector<uint8_t> &bytes = *r.bytes;
  if (blocks) {
    bytes.resize(rows * cols / 32 * 36);
    for (uint64_t row = 0; row < rows; ++row)
      for (uint64_t b = 0; b < cols / 32; ++b) {
        uint8_t *out = bytes.data() + (row * (cols / 32) + b) * 36;
        const float d = scaleAt(row, b * 32);
        std::memcpy(out, &d, 4);
        std::memcpy(out + 4, weight.data + row * cols + b * 32, 32);
      }
    r.info.dtype = DType::F8E4M3_B32;
  } else {
    bytes.resize(rows * cols * 4);
    for (uint64_t row = 0; row < rows; ++row)
      for (uint64_t col = 0; col < cols; ++col) {
        const float v = e4m3ToF32(weight.data[row * cols + col]) * scaleAt(row, col);
        std::memcpy(bytes.data() + (row * cols + col) * 4, &v, 4);
      }
    r.info.dtype = DType::F32;
  }
  r.info.shape = {rows, cols};
  return keep(base, weight.file, std::move(r));
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
  r.info.dtype = DType::MXFP4;
  r.info.shape.assign(scales->shape.begin(), scales->shape.end());
  r.info.shape.back() *= 32;
  return keep(base, blocks->file, std::move(r));
}

} // namespace modelrt
