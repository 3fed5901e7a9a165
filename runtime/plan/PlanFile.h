// The plan file container: a fixed header, a table of sections, and the sections, each
// 64-byte aligned so weights can be used straight from a memory map. Layout and section
// contents: docs/plan-format.md. The writer is used by modelc (and tests); the reader
// validates every offset and size before anything is read.
#pragma once

#include "runtime/formats/MappedFile.h"
#include "runtime/support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace modelrt::plan {

inline constexpr char kMagic[8] = {'M', 'O', 'D', 'E', 'L', 'C', 'P', 'L'};
// The version written; plans of kOldestVersion .. kVersion are read. Version 2 added
// classifier metadata and bidirectional attention (docs/plan-format.md): a modelrt that
// reads only version 1 would serve those plans wrongly, so it must refuse them.
inline constexpr uint32_t kVersion = 2;
inline constexpr uint32_t kOldestVersion = 1;
inline constexpr uint64_t kSectionAlignment = 64;
inline constexpr uint32_t kMaxSections = 4096;

enum class SectionKind : uint32_t {
  Metadata = 1,    // JSON: model, limits, target, KV-cache layout, weight table
  Program = 2,     // JSON: one rank's kernel launches
  Weights = 3,     // tensors back to back, each 64-byte aligned
  Tokenizer = 4,   // the tokenizer file's bytes (tokenizer.json)
  KernelImage = 5, // generated kernels for the CPU (a shared library)
  CudaKernels = 6, // generated kernels for CUDA (PTX text; the driver compiles it at load)
  CudaCubin = 7,   // the same kernels assembled for one GPU architecture (a cubin)
};
const char *sectionKindName(SectionKind kind);

#pragma pack(push, 1)
struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t sectionCount;
  uint64_t sectionTableOffset;
  uint64_t fileSize;
  uint8_t reserved[32];
};
struct SectionEntry {
  uint32_t kind;
  uint32_t rank; // the rank a Program or KernelImage belongs to; 0 otherwise
  uint64_t offset;
  uint64_t size;
  char name[40]; // NUL-padded
};
#pragma pack(pop)
static_assert(sizeof(FileHeader) == 64, "plan header is 64 bytes");
static_assert(sizeof(SectionEntry) == 64, "plan section entry is 64 bytes");

struct Section {
  SectionKind kind;
  uint32_t rank;
  std::string name;
  const uint8_t *data;
  uint64_t size;
  std::string_view text() const { return {reinterpret_cast<const char *>(data), size}; }
};

// Accumulates sections, then writes the file.
class PlanWriter {
public:
  void addSection(SectionKind kind, uint32_t rank, std::string name, std::vector<uint8_t> bytes);
  void addSection(SectionKind kind, uint32_t rank, std::string name, std::string_view text);
  Status write(const std::string &path) const;
  // The whole file as bytes (tests, fuzzing).
  std::vector<uint8_t> serialize() const;

private:
  struct Pending {
    SectionKind kind;
    uint32_t rank;
    std::string name;
    std::vector<uint8_t> bytes;
  };
  std::vector<Pending> sections_;
};

// A validated plan file: every section lies inside the file, aligned, without overlaps.
class PlanFile {
public:
  static Expected<PlanFile> open(const std::string &path);
  static Expected<PlanFile> parse(const uint8_t *data, size_t size, std::string name);

  const std::string &path() const { return file_->path(); }
  uint64_t fileSize() const { return file_->size(); }
  const std::vector<Section> &sections() const { return sections_; }
  // The first section of `kind` (and `rank`), or nullptr.
  const Section *find(SectionKind kind, uint32_t rank = 0) const;

private:
  static Expected<PlanFile> parseMapped(std::shared_ptr<const MappedFile> file);
  std::shared_ptr<const MappedFile> file_;
  std::vector<Section> sections_;
};

} // namespace modelrt::plan
