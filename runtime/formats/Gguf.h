// GGUF (v2 and v3, little-endian) reader: metadata key/values and tensor infos, with
// zero-copy tensor views into a memory map.
//
// Every offset, length and count is checked against the file before it is used (header
// caps, alignment a power of two, tensors inside the file and not overlapping, no duplicate
// keys or tensors, checked element*size products), so a bad file gives an Error naming the
// file and the field, never a crash or an over-read.
//
//   auto gguf = GgufFile::open("model.gguf");
//   if (!gguf) return gguf.error();
//   Expected<std::string> arch = gguf->getString("general.architecture");
//   const TensorInfo *t = gguf->findTensor("token_embd.weight");
//   std::vector<float> w(t->elementCount());
//   Status s = dequantize(*t, DType::F32, w.data(), w.size() * sizeof(float));
#pragma once

#include "runtime/formats/MappedFile.h"
#include "runtime/formats/Tensor.h"
#include "runtime/support/Error.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace modelrt {

enum class GgufType : uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};
const char *ggufTypeName(GgufType type);

// One metadata value. Strings and numeric arrays point into the mapped file.
struct GgufValue {
  GgufType type = GgufType::UInt8;
  // Scalars: integers in `i` (signed types) or `u` (unsigned and bool), floats in `f`.
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string_view str;
  // Arrays: element type and count; numeric elements are `count` little-endian values at
  // `raw`, strings are in `strings`, nested arrays in `arrays`.
  GgufType elemType = GgufType::UInt8;
  uint64_t count = 0;
  const uint8_t *raw = nullptr;
  std::vector<std::string_view> strings;
  std::vector<GgufValue> arrays;

  bool isInteger() const;
  bool isFloat() const { return type == GgufType::Float32 || type == GgufType::Float64; }
};

class GgufFile {
public:
  static Expected<GgufFile> open(const std::string &path);
  // Parses bytes already in memory; `name` is used in error messages. The bytes must outlive
  // the GgufFile.
  static Expected<GgufFile> parse(const uint8_t *data, size_t size, std::string name);

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t dataOffset() const { return dataOffset_; }
  const std::string &path() const { return file_->path(); }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>> &metadata() const { return metadata_; }
  const GgufValue *find(std::string_view key) const;
  // Typed getters: NotFound if absent, InvalidFormat if of another type; messages name the key.
  Expected<std::string> getString(std::string_view key) const;
  Expected<uint64_t> getUInt(std::string_view key) const; // any non-negative integer type
  Expected<int64_t> getInt(std::string_view key) const;   // any integer type
  Expected<double> getFloat(std::string_view key) const;  // float32 or float64
  Expected<bool> getBool(std::string_view key) const;
  Expected<std::vector<std::string_view>> getStringArray(std::string_view key) const;
  Expected<std::vector<int64_t>> getIntArray(std::string_view key) const;
  Expected<std::vector<float>> getFloatArray(std::string_view key) const;

  // Tensors in file order.
  const std::vector<TensorInfo> &tensors() const { return tensors_; }
  const TensorInfo *findTensor(std::string_view name) const;

private:
  friend class GgufParser;
  std::shared_ptr<const MappedFile> file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t dataOffset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> keyIndex_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensorIndex_;
};

// A GGUF v3 file that holds only the given metadata, each value with its own type, and no
// tensors: how a plan carries a GGUF tokenizer (its tokenizer.* keys). The result parses
// back to equal values.
std::vector<uint8_t>
writeGgufMetadata(const std::vector<std::pair<std::string, const GgufValue *>> &entries);

} // namespace modelrt
