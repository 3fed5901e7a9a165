// A read-only memory map of a whole file, the backing store of zero-copy tensor views.
#pragma once

#include "runtime/support/Error.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace modelrt {

class MappedFile {
public:
  // Maps `path` read-only. An empty file gives a valid mapping of size 0.
  static Expected<std::shared_ptr<const MappedFile>> open(const std::string &path);

  // Wraps bytes already in memory (tests, fuzzers); the caller keeps them alive.
  static std::shared_ptr<const MappedFile> fromMemory(const uint8_t *data, size_t size,
                                                      std::string name);

  ~MappedFile();
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;

  const uint8_t *data() const { return data_; }
  size_t size() const { return size_; }
  const std::string &path() const { return path_; }

private:
  MappedFile(const uint8_t *data, size_t size, std::string path, bool owned)
      : data_(data), size_(size), path_(std::move(path)), owned_(owned) {}

  const uint8_t *data_;
  size_t size_;
  std::string path_;
  bool owned_; // true when data_ is our mmap and must be unmapped
};

} // namespace modelrt
