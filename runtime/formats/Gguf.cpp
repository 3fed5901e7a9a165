#include "runtime/formats/Gguf.h"

#include <algorithm>
#include <cstring>

namespace modelrt {
namespace {

constexpr uint32_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr uint32_t kMaxArrayNesting = 8; // arrays of arrays, bounded against stack abuse
constexpr uint64_t kMaxKeyLength = 1 << 16;

size_t scalarSize(GgufType type) {
  switch (type) {
  case GgufType::UInt8:
  case GgufType::Int8:
  case GgufType::Bool:
    return 1;
  case GgufType::UInt16:
  case GgufType::Int16:
    return 2;
  case GgufType::UInt32:
  case GgufType::Int32:
  case GgufType::Float32:
    return 4;
  case GgufType::UInt64:
  case GgufType::Int64:
  case GgufType::Float64:
    return 8;
  default:
    return 0;
  }
}

// Smallest encoding of one element, to bound counts by the bytes left.
size_t minEncodedSize(GgufType type) {
  if (type == GgufType::String)
    return 8;
  if (type == GgufType::Array)
    return 12;
  return scalarSize(type);
}

bool validType(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::Float64); }

template <typename T> T loadLE(const uint8_t *p) {
  T v;
  std::memcpy(&v, p, sizeof(T)); // the runtime targets little-endian hosts only
  return v;
}

} // namespace

const char *ggufTypeName(GgufType type) {
  static const char *names[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                "int32",  "float32", "bool",   "string", "array",
                                "uint64", "int64",   "float64"};
  uint32_t t = static_cast<uint32_t>(type);
  return t < 13 ? names[t] : "invalid";
}

bool GgufValue::isInteger() const {
  switch (type) {
  case GgufType::UInt8:
  case GgufType::Int8:
  case GgufType::UInt16:
  case GgufType::Int16:
  case GgufType::UInt32:
  case GgufType::Int32:
  case GgufType::UInt64:
  case GgufType::Int64:
    return true;
  default:
    return false;
  }
}

// Reads a GGUF file front to back with a cursor that never passes the end.
class GgufParser {
public:
  GgufParser(const uint8_t *data, size_t size) : data_(data), size_(size) {}

  Expected<GgufFile> run(std::shared_ptr<const MappedFile> file) {
    GgufFile out;
    out.file_ = std::move(file);
    if (Status s = parseHeaderAndMetadata(out); !s)
      return s.error();
    if (Status s = parseTensorInfos(out); !s)
      return s.error();
    return out;
  }

private:
  Error fail(const std::string &what) const {
    return Error(ErrorCode::InvalidFormat, what + " (at byte " + std::to_string(pos_) + ")");
  }
  size_t left() const { return size_ - pos_; }

  template <typename T> Status read(T &v, const char *what) {
    if (left() < sizeof(T))
      return fail(std::string("file ends inside ") + what);
    v = loadLE<T>(data_ + pos_);
    pos_ += sizeof(T);
    return Status();
  }

  Status readString(std::string_view &s, const std::string &what) {
    uint64_t len;
    if (Status st = read(len, what.c_str()); !st)
      return st;
    if (len > left())
      return fail(what + ": string length " + std::to_string(len) +
                  " runs past the end of the file");
    s = std::string_view(reinterpret_cast<const char *>(data_ + pos_), len);
    pos_ += len;
    return Status();
  }

  Status readScalar(GgufType type, GgufValue &v, const std::string &what) {
    size_t n = scalarSize(type);
    if (left() < n)
      return fail("file ends inside " + what);
    const uint8_t *p = data_ + pos_;
    switch (type) {
    case GgufType::UInt8:
      v.u = p[0];
      v.i = static_cast<int64_t>(v.u);
      break;
    case GgufType::Int8:
      v.i = static_cast<int8_t>(p[0]);
      break;
    case GgufType::UInt16:
      v.u = loadLE<uint16_t>(p);
      v.i = static_cast<int64_t>(v.u);
      break;
    case GgufType::Int16:
      v.i = loadLE<int16_t>(p);
      break;
    case GgufType::UInt32:
      v.u = loadLE<uint32_t>(p);
      v.i = static_cast<int64_t>(v.u);
      break;
    case GgufType::Int32:
      v.i = loadLE<int32_t>(p);
      break;
    case GgufType::UInt64:
      v.u = loadLE<uint64_t>(p);
      v.i = static_cast<int64_t>(v.u);
      break;
    case GgufType::Int64:
      v.i = loadLE<int64_t>(p);
      break;
    case GgufType::Float32:
      v.f = loadLE<float>(p);
      break;
    case GgufType::Float64:
      v.f = loadLE<double>(p);
      break;
    case GgufType::Bool:
      if (p[0] > 1)
        return fail(what + ": bool value " + std::to_string(p[0]) + " is not 0 or 1");
      v.u = p[0];
      break;
    default:
      return fail(what + ": not a scalar type");
    }
    if (type == GgufType::Int8 || type == GgufType::Int16 || type == GgufType::Int32 ||
        type == GgufType::Int64)
      v.u = static_cast<uint64_t>(v.i);
    pos_ += n;
    return Status();
  }

  Status readValue(GgufType type, GgufValue &v, const std::string &what, uint32_t depth) {
    v.type = type;
    if (type == GgufType::String)
      return readString(v.str, what);
    if (type != GgufType::Array)
      return readScalar(type, v, what);
    if (depth >= kMaxArrayNesting)
      return fail(what + ": arrays nested too deeply");
    uint32_t elemType;
    if (Status s = read(elemType, what.c_str()); !s)
      return s;
    if (!validType(elemType))
      return fail(what + ": invalid array element type " + std::to_string(elemType));
    v.elemType = static_cast<GgufType>(elemType);
    if (Status s = read(v.count, what.c_str()); !s)
      return s;
    size_t minSize = minEncodedSize(v.elemType);
    if (v.count > left() / minSize)
      return fail(what + ": array of " + std::to_string(v.count) + " " + ggufTypeName(v.elemType) +
                  " runs past the end of the file");
    if (v.elemType == GgufType::String) {
      v.strings.resize(v.count);
      for (uint64_t k = 0; k < v.count; ++k)
        if (Status s = readString(v.strings[k], what + "[" + std::to_string(k) + "]"); !s)
          return s;
    } else if (v.elemType == GgufType::Array) {
      v.arrays.resize(v.count);
      for (uint64_t k = 0; k < v.count; ++k) {
        std::string inner = what + "[" + std::to_string(k) + "]";
        if (Status s = readValue(GgufType::Array, v.arrays[k], inner, depth + 1); !s)
          return s;
      }
    } else {
      v.raw = data_ + pos_;
      if (v.elemType == GgufType::Bool)
        for (uint64_t k = 0; k < v.count; ++k)
          if (v.raw[k] > 1)
            return fail(what + ": bool element is not 0 or 1");
      pos_ += v.count * minSize;
    }
    return Status();
  }

  Status parseHeaderAndMetadata(GgufFile &out) {
    if (size_ < 4 || std::memcmp(data_, "GGUF", 4) != 0)
      return Error(ErrorCode::InvalidFormat, "not a GGUF file (bad magic)");
    pos_ = 4;
    if (Status s = read(out.version_, "version"); !s)
      return s;
    if (out.version_ == 1)
      return Error(ErrorCode::Unsupported, "GGUF version 1 is not supported (only 2 and 3)");
    if (out.version_ != 2 && out.version_ != 3) {
      if ((out.version_ & 0xFFFF) == 0)
        return Error(ErrorCode::Unsupported, "big-endian GGUF files are not supported");
      return Error(ErrorCode::Unsupported,
                   "unsupported GGUF version " + std::to_string(out.version_));
    }
    uint64_t tensorCount, kvCount;
    if (Status s = read(tensorCount, "tensor count"); !s)
      return s;
    if (Status s = read(kvCount, "metadata count"); !s)
      return s;
    // Each key/value takes at least 13 bytes, each tensor info at least 24.
    if (kvCount > left() / 13)
      return fail("metadata count " + std::to_string(kvCount) + " exceeds what the file can hold");
    if (tensorCount > left() / 24)
      return fail("tensor count " + std::to_string(tensorCount) +
                  " exceeds what the file can hold");
    tensorCount_ = tensorCount;

    out.metadata_.reserve(kvCount);
    for (uint64_t k = 0; k < kvCount; ++k) {
      std::string_view key;
      std::string which = "metadata key #" + std::to_string(k);
      if (Status s = readString(key, which); !s)
        return s;
      if (key.size() > kMaxKeyLength)
        return fail(which + " is longer than 64 KiB");
      std::string keyStr(key);
      if (out.keyIndex_.count(keyStr))
        return fail("duplicate metadata key '" + keyStr + "'");
      uint32_t type;
      std::string what = "metadata '" + keyStr + "'";
      if (Status s = read(type, what.c_str()); !s)
        return s;
      if (!validType(type))
        return fail(what + ": invalid value type " + std::to_string(type));
      GgufValue value;
      if (Status s = readValue(static_cast<GgufType>(type), value, what, 0); !s)
        return s;
      out.keyIndex_.emplace(keyStr, out.metadata_.size());
      out.metadata_.emplace_back(std::move(keyStr), std::move(value));
    }

    if (const GgufValue *a = out.find("general.alignment")) {
      if (a->type != GgufType::UInt32)
        return Error(ErrorCode::InvalidFormat,
                     std::string("general.alignment must be uint32, not ") + ggufTypeName(a->type));
      if (a->u == 0 || (a->u & (a->u - 1)) != 0)
        return Error(ErrorCode::InvalidFormat,
                     "general.alignment " + std::to_string(a->u) + " is not a power of two");
      out.alignment_ = static_cast<uint32_t>(a->u);
    } else {
      out.alignment_ = kDefaultAlignment;
    }
    return Status();
  }

  Status parseTensorInfos(GgufFile &out) {
    struct Raw {
      uint64_t relOffset;
    };
    std::vector<Raw> raws;
    out.tensors_.reserve(tensorCount_);
    for (uint64_t k = 0; k < tensorCount_; ++k) {
      std::string which = "tensor #" + std::to_string(k);
      std::string_view name;
      if (Status s = readString(name, which + " name"); !s)
        return s;
      TensorInfo t;
      t.name = std::string(name);
      std::string what = "tensor '" + t.name + "'";
      if (out.tensorIndex_.count(t.name))
        return fail("duplicate tensor name '" + t.name + "'");
      uint32_t nDims;
      if (Status s = read(nDims, what.c_str()); !s)
        return s;
      if (nDims > kMaxDims)
        return fail(what + ": " + std::to_string(nDims) + " dimensions (at most 4)");
      std::vector<uint64_t> ne(nDims);
      for (uint32_t d = 0; d < nDims; ++d)
        if (Status s = read(ne[d], what.c_str()); !s)
          return s;
      t.shape.assign(ne.rbegin(), ne.rend());
      uint32_t type;
      if (Status s = read(type, what.c_str()); !s)
        return s;
      std::optional<DType> dtype = dtypeFromGgml(type);
      if (!dtype)
        return fail(what + ": unknown tensor type " + std::to_string(type));
      t.dtype = *dtype;
      Expected<uint64_t> bytes = checkedByteSize(t.dtype, t.shape);
      if (!bytes)
        return fail(what + ": " + bytes.error().message());
      t.size = *bytes;
      uint64_t rel;
      if (Status s = read(rel, what.c_str()); !s)
        return s;
      if (rel % out.alignment_ != 0)
        return fail(what + ": offset " + std::to_string(rel) +
                    " is not a multiple of the alignment " + std::to_string(out.alignment_));
      raws.push_back({rel});
      out.tensorIndex_.emplace(t.name, out.tensors_.size());
      out.tensors_.push_back(std::move(t));
    }

    uint64_t dataStart = (pos_ + out.alignment_ - 1) / out.alignment_ * out.alignment_;
    out.dataOffset_ = dataStart;
    std::vector<size_t> order(out.tensors_.size());
    for (size_t k = 0; k < order.size(); ++k) {
      TensorInfo &t = out.tensors_[k];
      t.file = out.file_->path();
      uint64_t rel = raws[k].relOffset;
      if (dataStart > size_ || rel > size_ - dataStart || t.size > size_ - dataStart - rel)
        return Error(ErrorCode::InvalidFormat,
                     "tensor '" + t.name + "': data [" + std::to_string(rel) + ", +" +
                         std::to_string(t.size) + ") runs past the end of the file");
      t.offset = dataStart + rel;
      t.data = data_ + t.offset;
      order[k] = k;
    }
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return out.tensors_[a].offset < out.tensors_[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
      const TensorInfo &prev = out.tensors_[order[k - 1]];
      const TensorInfo &cur = out.tensors_[order[k]];
      if (prev.offset + prev.size > cur.offset && prev.size != 0 && cur.size != 0)
        return Error(ErrorCode::InvalidFormat,
                     "tensors '" + prev.name + "' and '" + cur.name + "' overlap");
    }
    return Status();
  }

  const uint8_t *data_;
  size_t size_;
  size_t pos_ = 0;
  uint64_t tensorCount_ = 0;
};

Expected<GgufFile> GgufFile::open(const std::string &path) {
  Expected<std::shared_ptr<const MappedFile>> file = MappedFile::open(path);
  if (!file)
    return file.error();
  std::shared_ptr<const MappedFile> mapped = *file;
  Expected<GgufFile> out = GgufParser(mapped->data(), mapped->size()).run(mapped);
  if (!out)
    return out.error().withContext(path);
  return out;
}

Expected<GgufFile> GgufFile::parse(const uint8_t *data, size_t size, std::string name) {
  std::shared_ptr<const MappedFile> mapped = MappedFile::fromMemory(data, size, name);
  Expected<GgufFile> out = GgufParser(data, size).run(mapped);
  if (!out)
    return out.error().withContext(name);
  return out;
}

const GgufValue *GgufFile::find(std::string_view key) const {
  auto it = keyIndex_.find(key);
  return it == keyIndex_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo *GgufFile::findTensor(std::string_view name) const {
  auto it = tensorIndex_.find(name);
  return it == tensorIndex_.end() ? nullptr : &tensors_[it->second];
}

namespace {

Error missingKey(const std::string &path, std::string_view key) {
  return Error(ErrorCode::NotFound, path + ": metadata key '" + std::string(key) + "' not found");
}
Error wrongType(const std::string &path, std::string_view key, const GgufValue &v,
                const char *wanted) {
  std::string got = ggufTypeName(v.type);
  if (v.type == GgufType::Array)
    got = std::string("array of ") + ggufTypeName(v.elemType);
  return Error(ErrorCode::InvalidFormat,
               path + ": metadata '" + std::string(key) + "' is " + got + ", expected " + wanted);
}

bool isSigned(GgufType t) {
  return t == GgufType::Int8 || t == GgufType::Int16 || t == GgufType::Int32 ||
         t == GgufType::Int64;
}

int64_t loadIntElement(GgufType t, const uint8_t *p) {
  switch (t) {
  case GgufType::UInt8:
    return p[0];
  case GgufType::Int8:
    return static_cast<int8_t>(p[0]);
  case GgufType::UInt16:
    return loadLE<uint16_t>(p);
  case GgufType::Int16:
    return loadLE<int16_t>(p);
  case GgufType::UInt32:
    return loadLE<uint32_t>(p);
  case GgufType::Int32:
    return loadLE<int32_t>(p);
  case GgufType::UInt64:
    return static_cast<int64_t>(loadLE<uint64_t>(p));
  default:
    return loadLE<int64_t>(p);
  }
}

} // namespace

Expected<std::string> GgufFile::getString(std::string_view key) const {
  const GgufValue *v = find(key);
  if (!v)
    return missingKey(path(), key);
  if (v->type != GgufType::String)
    return wrongType(path(), key, *v, "string");
  return std::string(v->str);
}

Expected<uint64_t> GgufFile::getUInt(std::string_view key) const {
  const GgufValue *v = find(key);
  if (!v)
    return missingKey(path(), key);
  if (!v->isInteger())
    return wrongType(path(), key, *v, "an integer");
  if (isSigned(v->type) && v->i < 0)
    return Error(ErrorCode::InvalidFormat,
                 path() + ": metadata '" + std::string(key) + "' is negative");
  return v->u;
}

Expected<int64_t> GgufFile::getInt(std::string_view key) const {
  const GgufValue *v = find(key);
  if (!v)
    return missingKey(path(), key);
  if (!v->isInteger())
    return wrongType(path(), key, *v, "an integer");
  if (v->type == GgufType::UInt64 && v->u > static_cast<uint64_t>(INT64_MAX))
    return Error(ErrorCode::OutOfRange,
                 path() + ": metadata '" + std::string(key) + "' does not fit int64");
  return v->i;
}

Expected<double> GgufFile::getFloat(std::string_view key) const {
  const GgufValue *v = find(key);
  if (!v)
    return missingKey(path(), key);
  if (!v->isFloat())
    return wrongType(path(), key, *v, "float32 or float64");
  return v->f;
}

Expected<bool> GgufFile::getBool(std::string_view key) const {
  const GgufValue *v = find(key);
  if (!v)
    return missingKey(path(), key);
  if (v->type != GgufType::Bool)
    return wrongType(path(), key, *v, "bool");
  return v->u != 0;
}

Expected<std::vector<std::string_view>> GgufFile::getStringArray(std::string_view key) const {
  const GgufValue *v = find(key);
  if (!v)
    return missingKey(path(), key);
  if (v->type != GgufType::Array || v->elemType != GgufType::String)
    return wrongType(path(), key, *v, "array of string");
  return v->strings;
}

Expected<std::vector<int64_t>> GgufFile::getIntArray(std::string_view key) const {
  const GgufValue *v = find(key);
  if (!v)
    return missingKey(path(), key);
  GgufValue probe;
  probe.type = v->elemType;
  if (v->type != GgufType::Array || !probe.isInteger())
    return wrongType(path(), key, *v, "array of integers");
  std::vector<int64_t> out(v->count);
  size_t step = scalarSize(v->elemType);
  for (uint64_t k = 0; k < v->count; ++k)
    out[k] = loadIntElement(v->elemType, v->raw + k * step);
  return out;
}

Expected<std::vector<float>> GgufFile::getFloatArray(std::string_view key) const {
  const GgufValue *v = find(key);
  if (!v)
    return missingKey(path(), key);
  if (v->type != GgufType::Array ||
      (v->elemType != GgufType::Float32 && v->elemType != GgufType::Float64))
    return wrongType(path(), key, *v, "array of float");
  std::vector<float> out(v->count);
  for (uint64_t k = 0; k < v->count; ++k)
    out[k] = v->elemType == GgufType::Float32 ? loadLE<float>(v->raw + 4 * k)
                                              : static_cast<float>(loadLE<double>(v->raw + 8 * k));
  return out;
}

namespace {

template <typename T> void putLE(std::vector<uint8_t> &out, T value) {
  uint8_t bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T)); // the formats are little-endian, as is every target
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

void putString(std::vector<uint8_t> &out, std::string_view s) {
  putLE<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void putScalar(std::vector<uint8_t> &out, const GgufValue &v, GgufType type) {
  switch (type) {
  case GgufType::UInt8:
    putLE<uint8_t>(out, static_cast<uint8_t>(v.u));
    break;
  case GgufType::Int8:
    putLE<int8_t>(out, static_cast<int8_t>(v.i));
    break;
  case GgufType::UInt16:
    putLE<uint16_t>(out, static_cast<uint16_t>(v.u));
    break;
  case GgufType::Int16:
    putLE<int16_t>(out, static_cast<int16_t>(v.i));
    break;
  case GgufType::UInt32:
    putLE<uint32_t>(out, static_cast<uint32_t>(v.u));
    break;
  case GgufType::Int32:
    putLE<int32_t>(out, static_cast<int32_t>(v.i));
    break;
  case GgufType::UInt64:
    putLE<uint64_t>(out, v.u);
    break;
  case GgufType::Int64:
    putLE<int64_t>(out, v.i);
    break;
  case GgufType::Float32:
    putLE<float>(out, static_cast<float>(v.f));
    break;
  case GgufType::Float64:
    putLE<double>(out, v.f);
    break;
  case GgufType::Bool:
    putLE<uint8_t>(out, static_cast<uint8_t>(v.u != 0));
    break;
  default:
    break;
  }
}

// The value's payload (after its type tag, which the caller writes).
void putValue(std::vector<uint8_t> &out, const GgufValue &v) {
  if (v.type == GgufType::String) {
    putString(out, v.str);
    return;
  }
  if (v.type != GgufType::Array) {
    putScalar(out, v, v.type);
    return;
  }
  putLE<uint32_t>(out, static_cast<uint32_t>(v.elemType));
  putLE<uint64_t>(out, v.count);
  if (v.elemType == GgufType::String) {
    for (std::string_view s : v.strings)
      putString(out, s);
  } else if (v.elemType == GgufType::Array) {
    for (const GgufValue &inner : v.arrays)
      putValue(out, inner);
  } else {
    out.insert(out.end(), v.raw, v.raw + v.count * scalarSize(v.elemType));
  }
}

} // namespace

std::vector<uint8_t>
writeGgufMetadata(const std::vector<std::pair<std::string, const GgufValue *>> &entries) {
  std::vector<uint8_t> out;
  putLE<uint32_t>(out, 0x46554747); // "GGUF"
  putLE<uint32_t>(out, 3);
  putLE<uint64_t>(out, 0); // tensors
  putLE<uint64_t>(out, entries.size());
  for (const auto &[key, value] : entries) {
    putString(out, key);
    putLE<uint32_t>(out, static_cast<uint32_t>(value->type));
    putValue(out, *value);
  }
  out.resize((out.size() + kDefaultAlignment - 1) / kDefaultAlignment * kDefaultAlignment, 0);
  return out;
}

} // namespace modelrt
