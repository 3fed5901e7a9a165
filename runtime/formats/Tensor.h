// One tensor of a weight file: what it is and where its bytes are.
#pragma once

#include "runtime/formats/DType.h"

#include <cstdint>
#include <string>
#include <vector>

namespace modelrt {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  // Outermost dimension first (PyTorch order): a [rows, cols] matrix has shape {rows, cols}.
  // GGUF stores dimensions innermost first; the GGUF reader reverses them.
  std::vector<uint64_t> shape;
  std::string file;    // the file holding the bytes (a shard, for sharded safetensors)
  uint64_t offset = 0; // absolute byte offset in `file`
  uint64_t size = 0;   // bytes
  // Zero-copy view into the memory-mapped file; valid while the reader that produced it lives.
  const uint8_t *data = nullptr;

  uint64_t elementCount() const {
    uint64_t n = 1;
    for (uint64_t d : shape)
      n *= d; // cannot overflow: the readers checked it
    return n;
  }
};

} // namespace modelrt
