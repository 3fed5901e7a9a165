// safetensors reader: one file, or a sharded checkpoint through
// model.safetensors.index.json. Tensors are zero-copy views into memory maps.
//
// Validation follows the reference implementation: header at most 100 MB, a JSON object
// with no duplicate names, known dtypes, data_offsets that tile the data section exactly
// (contiguous, no gaps, no overlaps) and match element count times dtype size.
//
//   auto st = SafetensorsModel::open("path/to/hf-model-dir");  // or a file or an index
//   for (const TensorInfo &t : st->tensors()) ...
#pragma once

#include "runtime/formats/MappedFile.h"
#include "runtime/formats/Tensor.h"
#include "runtime/support/Error.h"

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace modelrt {

class SafetensorsFile {
public:
  static constexpr uint64_t kMaxHeaderSize = 100'000'000;

  static Expected<SafetensorsFile> open(const std::string &path);
  static Expected<SafetensorsFile> parse(const uint8_t *data, size_t size, std::string name);

  const std::string &path() const { return file_->path(); }
  // The "__metadata__" string map (empty if absent).
  const std::map<std::string, std::string> &metadata() const { return metadata_; }
  // Tensors in data-offset order.
  const std::vector<TensorInfo> &tensors() const { return tensors_; }
  const TensorInfo *findTensor(std::string_view name) const;

private:
  static Expected<SafetensorsFile> parseMapped(std::shared_ptr<const MappedFile> file);
  std::shared_ptr<const MappedFile> file_;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
};

class SafetensorsModel {
public:
  // `path` is a .safetensors file, a model.safetensors.index.json, or a directory holding
  // one of model.safetensors.index.json or model.safetensors.
  static Expected<SafetensorsModel> open(const std::string &path);
  // One file already parsed (tests, fuzzing).
  static Expected<SafetensorsModel> fromFile(SafetensorsFile file);

  const std::vector<SafetensorsFile> &shards() const { return shards_; }
  // All tensors of all shards, shard by shard.
  const std::vector<TensorInfo> &tensors() const { return tensors_; }
  const TensorInfo *findTensor(std::string_view name) const;

private:
  static Expected<SafetensorsModel> openIndex(const std::string &indexPath);
  Status addShard(SafetensorsFile shard);
  std::vector<SafetensorsFile> shards_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
};

} // namespace modelrt
