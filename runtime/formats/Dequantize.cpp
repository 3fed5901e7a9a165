#include "runtime/formats/Dequantize.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace modelrt {

float f16ToF32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000 | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else { // subnormal: normalize
    int shift = 0;
    while ((mant & 0x400) == 0) {
      mant <<= 1;
      ++shift;
    }
    mant &= 0x3FF;
    bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32ToF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7FFFFFFF;
  if (absx > 0x7F800000)
    return static_cast<uint16_t>(sign | 0x7E00 | ((absx >> 13) & 0x3FF)); // NaN
  if (absx >= 0x477FF000)
    return static_cast<uint16_t>(sign | 0x7C00); // overflow to inf
  if (absx < 0x38800000) {                       // f16 subnormal or zero
    if (absx < 0x33000000)
      return static_cast<uint16_t>(sign); // rounds to zero (<= 2^-25)
    uint32_t exp = absx >> 23;
    uint32_t mant = (absx & 0x7FFFFF) | 0x800000;
    uint32_t shift = 126 - exp; // 14..24
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1)))
      ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t rounded = absx + 0xFFF + ((absx >> 13) & 1); // round to nearest even
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000) >> 13));
}

float bf16ToF32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void ggufKScaleMin(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 0x3F;
    mn[j] = s[j + 4] & 0x3F;
    sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 2) & 0x30);
    mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 2) & 0x30);
  }
}

int ggufQ3KScale(const uint8_t *s, int sub) {
  int low = (s[sub % 8] >> (4 * (sub / 8))) & 0x0F, high = (s[8 + sub % 4] >> (2 * (sub / 4))) & 3;
  return (low | (high << 4)) - 32;
}

const int8_t kGgufIq4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                   1,    13,   25,  38,  53,  69,  89,  113};

const int8_t kMxfp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

float mxfp4HalfScale(uint8_t e) {
  // 2^(e - 128): a normal float's exponent field e - 1, or for e < 2 a subnormal.
  const uint32_t bits = e < 2 ? uint32_t(0x00200000) << e : uint32_t(e - 1) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

float e4m3ToF32(uint8_t q) {
  if ((q & 0x7F) == 0x7F)
    return std::numeric_limits<float>::quiet_NaN();
  return f16ToF32(e4m3ToF16Scaled(q)) * 256.0f; // exact: a power of two, no overflow
}

uint16_t f32ToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7FFFFFFF) > 0x7F800000)
    return static_cast<uint16_t>((x >> 16) | 0x40); // quiet NaN
  return static_cast<uint16_t>((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

namespace {

constexpr int QK = 32;
constexpr int QKK = 256;

inline float loadF16(const uint8_t *p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16ToF32(h);
}
template <typename T> inline T load(const uint8_t *p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Each block decoder writes blockElements floats. Operation order follows gguf.quants.
void decodeQ4_0(const uint8_t *b, float *y) {
  float d = loadF16(b);
  const uint8_t *qs = b + 2;
  for (int j = 0; j < QK / 2; ++j) {
    y[j] = d * static_cast<float>((qs[j] & 0x0F) - 8);
    y[j + QK / 2] = d * static_cast<float>((qs[j] >> 4) - 8);
  }
}
void decodeQ4_1(const uint8_t *b, float *y) {
  float d = loadF16(b), m = loadF16(b + 2);
  const uint8_t *qs = b + 4;
  for (int j = 0; j < QK / 2; ++j) {
    y[j] = d * static_cast<float>(qs[j] & 0x0F) + m;
    y[j + QK / 2] = d * static_cast<float>(qs[j] >> 4) + m;
  }
}
// d (f16), z (u8), qs[16] as Q4_0: d (q - z), exact (both factors are short).
void decodeQ4_ZP(const uint8_t *b, float *y) {
  const float d = loadF16(b);
  const int z = b[2];
  const uint8_t *qs = b + 3;
  for (int j = 0; j < QK / 2; ++j) {
    y[j] = d * static_cast<float>((qs[j] & 0x0F) - z);
    y[j + QK / 2] = d * static_cast<float>((qs[j] >> 4) - z);
  }
}
void decodeQ5_0(const uint8_t *b, float *y) {
  float d = loadF16(b);
  uint32_t qh = load<uint32_t>(b + 2);
  const uint8_t *qs = b + 6;
  for (int j = 0; j < QK / 2; ++j) {
    int lo = (qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
    int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = d * static_cast<float>(lo - 16);
    y[j + QK / 2] = d * static_cast<float>(hi - 16);
  }
}
void decodeQ5_1(const uint8_t *b, float *y) {
  float d = loadF16(b), m = loadF16(b + 2);
  uint32_t qh = load<uint32_t>(b + 4);
  const uint8_t *qs = b + 8;
  for (int j = 0; j < QK / 2; ++j) {
    int lo = (qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
    int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = d * static_cast<float>(lo) + m;
    y[j + QK / 2] = d * static_cast<float>(hi) + m;
  }
}
void decodeQ8_0(const uint8_t *b, float *y) {
  float d = loadF16(b);
  for (int j = 0; j < QK; ++j)
    y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
}

void decodeQ4_K(const uint8_t *b, float *y) {
  float d = loadF16(b), dmin = loadF16(b + 2);
  uint8_t sc[8], mn[8];
  ggufKScaleMin(b + 4, sc, mn);
  const uint8_t *qs = b + 16;
  for (int sb = 0; sb < 8; ++sb) {
    float ds = d * static_cast<float>(sc[sb]);
    float dm = dmin * static_cast<float>(mn[sb]);
    const uint8_t *q = qs + 32 * (sb / 2);
    int shift = 4 * (sb % 2);
    for (int l = 0; l < 32; ++l)
      y[32 * sb + l] = ds * static_cast<float>((q[l] >> shift) & 0x0F) - dm;
  }
}
void decodeQ5_K(const uint8_t *b, float *y) {
  float d = loadF16(b), dmin = loadF16(b + 2);
  uint8_t sc[8], mn[8];
  ggufKScaleMin(b + 4, sc, mn);
  const uint8_t *qh = b + 16;
  const uint8_t *qs = b + 48;
  for (int sb = 0; sb < 8; ++sb) {
    float ds = d * static_cast<float>(sc[sb]);
    float dm = dmin * static_cast<float>(mn[sb]);
    const uint8_t *q = qs + 32 * (sb / 2);
    int shift = 4 * (sb % 2);
    for (int l = 0; l < 32; ++l) {
      int v = ((q[l] >> shift) & 0x0F) | (((qh[l] >> sb) & 1) << 4);
      y[32 * sb + l] = ds * static_cast<float>(v) - dm;
    }
  }
}
void decodeQ6_K(const uint8_t *b, float *y) {
  const uint8_t *ql = b;
  const uint8_t *qh = b + 128;
  const int8_t *scales = reinterpret_cast<const int8_t *>(b + 192);
  float d = loadF16(b + 208);
  for (int e = 0; e < QKK; ++e) {
    int h = e / 128, r = e % 128;
    int lo = (ql[h * 64 + r % 64] >> (4 * (r / 64))) & 0x0F;
    int hi = (qh[h * 32 + r % 32] >> (2 * (r / 32))) & 0x03;
    float ds = d * static_cast<float>(scales[e / 16]);
    y[e] = ds * static_cast<float>((lo | (hi << 4)) - 32);
  }
}

// Q2_K: scales[16] (low nibble: scale, high: minimum, per 16 values), qs[64], d, dmin.
// Value e: 2 bits of qs[32 (e / 128) + e % 32] at bit 2 ((e % 128) / 32).
void decodeQ2_K(const uint8_t *b, float *y) {
  const uint8_t *sc = b, *qs = b + 16;
  float d = loadF16(b + 80), dmin = loadF16(b + 82);
  for (int e = 0; e < QKK; ++e) {
    float dl = d * static_cast<float>(sc[e / 16] & 0x0F);
    float ml = dmin * static_cast<float>(sc[e / 16] >> 4);
    int q = (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    y[e] = dl * static_cast<float>(q) - ml;
  }
}
// Q3_K: hmask[32], qs[64], 12 bytes of 6-bit scales (offset 32) for 16 sub-blocks of 16, d.
// Value e: 2 low bits as Q2_K's, minus 4 where bit e / 32 of hmask[e % 32] is clear.
void decodeQ3_K(const uint8_t *b, float *y) {
  const uint8_t *hmask = b, *qs = b + 32, *s = b + 96;
  float d = loadF16(b + 108);
  for (int e = 0; e < QKK; ++e) {
    float dl = d * static_cast<float>(ggufQ3KScale(s, e / 16));
    int q = (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    if (!((hmask[e % 32] >> (e / 32)) & 1))
      q -= 4;
    y[e] = dl * static_cast<float>(q);
  }
}

// IQ4_NL: d, qs[16] with nibbles as Q4_0's: d x table[q].
void decodeIQ4_NL(const uint8_t *b, float *y) {
  float d = loadF16(b);
  const uint8_t *qs = b + 2;
  for (int j = 0; j < QK / 2; ++j) {
    y[j] = d * static_cast<float>(kGgufIq4Values[qs[j] & 0x0F]);
    y[j + QK / 2] = d * static_cast<float>(kGgufIq4Values[qs[j] >> 4]);
  }
}
// MXFP4: e (E8M0: 2^(e - 127)), qs[16] with nibbles as Q4_0's indexing E2M1 values (doubled,
// as the half of 2^(e - 127) scales them): halfScale(e) x table[q].
void decodeMXFP4(const uint8_t *b, float *y) {
  const float d = mxfp4HalfScale(b[0]);
  const uint8_t *qs = b + 1;
  for (int j = 0; j < QK / 2; ++j) {
    y[j] = d * static_cast<float>(kMxfp4Values[qs[j] & 0x0F]);
    y[j + QK / 2] = d * static_cast<float>(kMxfp4Values[qs[j] >> 4]);
  }
}
// IQ4_XS: d, scales_h (u16: 2 high bits per sub-block), scales_l[4] (4 low bits per
// sub-block), qs[128]; 8 sub-blocks of 32 with qs[16] each as IQ4_NL's: (d x (sc - 32)) x
// table[q].
void decodeIQ4_XS(const uint8_t *b, float *y) {
  float d = loadF16(b);
  uint16_t high = load<uint16_t>(b + 2);
  const uint8_t *low = b + 4, *qs = b + 8;
  for (int sb = 0; sb < 8; ++sb) {
    int sc = ((low[sb / 2] >> (4 * (sb % 2))) & 0x0F) | (((high >> (2 * sb)) & 3) << 4);
    float dl = d * static_cast<float>(sc - 32);
    for (int j = 0; j < 16; ++j) {
      y[32 * sb + j] = dl * static_cast<float>(kGgufIq4Values[qs[16 * sb + j] & 0x0F]);
      y[32 * sb + j + 16] = dl * static_cast<float>(kGgufIq4Values[qs[16 * sb + j] >> 4]);
    }
  }
}

// F8_E4M3_B32: f32 d, q[32] E4M3 codes: q x d (one rounding, as transformers and
// compressed-tensors multiply in f32).
void decodeF8E4M3_B32(const uint8_t *b, float *y) {
  const float d = load<float>(b);
  for (int j = 0; j < QK; ++j)
    y[j] = e4m3ToF32(b[4 + j]) * d;
}

using BlockDecoder = void (*)(const uint8_t *, float *);

BlockDecoder blockDecoder(DType t) {
  switch (t) {
  case DType::Q4_0:
    return decodeQ4_0;
  case DType::Q4_1:
    return decodeQ4_1;
  case DType::Q4_ZP:
    return decodeQ4_ZP;
  case DType::Q5_0:
    return decodeQ5_0;
  case DType::Q5_1:
    return decodeQ5_1;
  case DType::Q8_0:
    return decodeQ8_0;
  case DType::Q4_K:
    return decodeQ4_K;
  case DType::Q5_K:
    return decodeQ5_K;
  case DType::Q6_K:
    return decodeQ6_K;
  case DType::Q2_K:
    return decodeQ2_K;
  case DType::Q3_K:
    return decodeQ3_K;
  case DType::IQ4_NL:
    return decodeIQ4_NL;
  case DType::IQ4_XS:
    return decodeIQ4_XS;
  case DType::MXFP4:
    return decodeMXFP4;
  case DType::F8E4M3_B32:
    return decodeF8E4M3_B32;
  default:
    return nullptr;
  }
}

bool isPlainNumeric(DType t) {
  switch (t) {
  case DType::F32:
  case DType::F16:
  case DType::BF16:
  case DType::F64:
  case DType::I8:
  case DType::U8:
  case DType::I16:
  case DType::U16:
  case DType::I32:
  case DType::U32:
  case DType::I64:
  case DType::U64:
  case DType::Bool:
  case DType::F8E4M3:
    return true;
  default:
    return false;
  }
}

float plainToF32(DType t, const uint8_t *p) {
  switch (t) {
  case DType::F32:
    return load<float>(p);
  case DType::F16:
    return f16ToF32(load<uint16_t>(p));
  case DType::BF16:
    return bf16ToF32(load<uint16_t>(p));
  case DType::F64:
    return static_cast<float>(load<double>(p));
  case DType::I8:
    return static_cast<float>(static_cast<int8_t>(p[0]));
  case DType::U8:
    return static_cast<float>(p[0]);
  case DType::Bool:
    return p[0] ? 1.0f : 0.0f;
  case DType::F8E4M3:
    return e4m3ToF32(p[0]);
  case DType::I16:
    return static_cast<float>(load<int16_t>(p));
  case DType::U16:
    return static_cast<float>(load<uint16_t>(p));
  case DType::I32:
    return static_cast<float>(load<int32_t>(p));
  case DType::U32:
    return static_cast<float>(load<uint32_t>(p));
  case DType::I64:
    return static_cast<float>(load<int64_t>(p));
  default:
    return static_cast<float>(load<uint64_t>(p));
  }
}

size_t outSize(DType dst) { return dst == DType::F32 ? 4 : 2; }

// Stores n floats as dst.
void store(const float *x, size_t n, DType dst, uint8_t *out) {
  if (dst == DType::F32) {
    std::memcpy(out, x, n * 4);
    return;
  }
  for (size_t k = 0; k < n; ++k) {
    uint16_t h = dst == DType::F16 ? f32ToF16(x[k]) : f32ToBf16(x[k]);
    std::memcpy(out + 2 * k, &h, 2);
  }
}

} // namespace

bool canDequantize(DType src) { return isPlainNumeric(src) || blockDecoder(src) != nullptr; }

Status convert(DType src, const uint8_t *data, size_t bytes, uint64_t count, DType dst,
               void *outPtr, size_t outBytes) {
  if (dst != DType::F32 && dst != DType::F16 && dst != DType::BF16)
    return Error(ErrorCode::InvalidArgument,
                 std::string("cannot convert to ") + dtypeName(dst) + " (only F32, F16, BF16)");
  if (!canDequantize(src))
    return Error(ErrorCode::Unsupported, std::string("cannot dequantize ") + dtypeName(src));
  const DTypeInfo &info = dtypeInfo(src);
  if (count % info.blockElements != 0)
    return Error(ErrorCode::InvalidArgument, std::to_string(count) +
                                                 " elements is not a whole number of " + info.name +
                                                 " blocks");
  uint64_t blocks = count / info.blockElements;
  if (blocks > SIZE_MAX / info.blockBytes || blocks * info.blockBytes != bytes)
    return Error(ErrorCode::InvalidArgument, std::to_string(bytes) + " bytes do not hold " +
                                                 std::to_string(count) + " " + info.name +
                                                 " elements");
  if (count > SIZE_MAX / outSize(dst) || outBytes < count * outSize(dst))
    return Error(ErrorCode::InvalidArgument,
                 "output buffer too small for " + std::to_string(count) + " elements");
  if (count == 0)
    return Status();
  uint8_t *out = static_cast<uint8_t *>(outPtr);
  // Same-type copies keep the exact bits (NaN payloads included).
  if (src == dst) {
    std::memcpy(out, data, bytes);
    return Status();
  }
  float buf[QKK];
  if (BlockDecoder decode = blockDecoder(src)) {
    for (uint64_t k = 0; k < blocks; ++k) {
      decode(data + k * info.blockBytes, buf);
      store(buf, info.blockElements, dst, out + k * info.blockElements * outSize(dst));
    }
    return Status();
  }
  for (uint64_t k = 0; k < count; k += QKK) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(QKK, count - k));
    for (size_t j = 0; j < n; ++j)
      buf[j] = plainToF32(src, data + (k + j) * info.blockBytes);
    store(buf, n, dst, out + k * outSize(dst));
  }
  return Status();
}

Status dequantize(const TensorInfo &tensor, DType dst, void *out, size_t outBytes) {
  Status s =
      convert(tensor.dtype, tensor.data, tensor.size, tensor.elementCount(), dst, out, outBytes);
  if (!s)
    return s.error().withContext(tensor.file + ": tensor '" + tensor.name + "'");
  return s;
}

Expected<QuantizedBlocks> quantizedBlocks(const TensorInfo &tensor) {
  if (tensor.dtype != DType::Q8_0 && tensor.dtype != DType::Q4_0 && tensor.dtype != DType::Q4_1)
    return Error(ErrorCode::Unsupported, tensor.file + ": tensor '" + tensor.name +
                                             "': " + dtypeName(tensor.dtype) +
                                             " cannot be kept quantized (only Q8_0, Q4_0, Q4_1)");
  const DTypeInfo &info = dtypeInfo(tensor.dtype);
  uint64_t rowLength = tensor.shape.empty() ? 1 : tensor.shape.back();
  uint64_t rows = rowLength == 0 ? 0 : tensor.elementCount() / rowLength;
  return QuantizedBlocks{tensor.dtype,    tensor.data,       rows, rowLength / info.blockElements,
                         info.blockBytes, info.blockElements};
}

Expected<std::vector<float>> dequantizeToF32(const TensorInfo &tensor) {
  std::vector<float> out(tensor.elementCount());
  if (Status s = dequantize(tensor, DType::F32, out.data(), out.size() * sizeof(float)); !s)
    return s.error();
  return out;
}

} // namespace modelrt
