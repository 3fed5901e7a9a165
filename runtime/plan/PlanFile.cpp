#include "runtime/plan/PlanFile.h"

#include <algorithm>
#include <cstring>
#include <fstream>

namespace modelrt::plan {

const char *sectionKindName(SectionKind kind) {
  switch (kind) {
  case SectionKind::Metadata:
    return "metadata";
  case SectionKind::Program:
    return "program";
  case SectionKind::Weights:
    return "weights";
  case SectionKind::Tokenizer:
    return "tokenizer";
  case SectionKind::KernelImage:
    return "kernel-image";
  case SectionKind::CudaKernels:
    return "cuda-kernels";
  case SectionKind::CudaCubin:
    return "cuda-cubin";
  }
  return "unknown";
}

namespace {
uint64_t alignUp(uint64_t n) {
  return (n + kSectionAlignment - 1) / kSectionAlignment * kSectionAlignment;
}

bool knownKind(uint32_t kind) { return kind >= 1 && kind <= 7; }
} // namespace

void PlanWriter::addSection(SectionKind kind, uint32_t rank, std::string name,
                            std::vector<uint8_t> bytes) {
  sections_.push_back({kind, rank, std::move(name), std::move(bytes)});
}

void PlanWriter::addSection(SectionKind kind, uint32_t rank, std::string name,
                            std::string_view text) {
  addSection(kind, rank, std::move(name), std::vector<uint8_t>(text.begin(), text.end()));
}

std::vector<uint8_t> PlanWriter::serialize() const {
  FileHeader header{};
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  header.version = kVersion;
  header.sectionCount = static_cast<uint32_t>(sections_.size());
  header.sectionTableOffset = sizeof(FileHeader);
  uint64_t offset = alignUp(sizeof(FileHeader) + sections_.size() * sizeof(SectionEntry));
  std::vector<SectionEntry> table;
  for (const Pending &s : sections_) {
    SectionEntry entry{};
    entry.kind = static_cast<uint32_t>(s.kind);
    entry.rank = s.rank;
    entry.offset = offset;
    entry.size = s.bytes.size();
    std::strncpy(entry.name, s.name.c_str(), sizeof(entry.name) - 1);
    table.push_back(entry);
    offset = alignUp(offset + s.bytes.size());
  }
  header.fileSize = offset;
  std::vector<uint8_t> out(offset, 0);
  std::memcpy(out.data(), &header, sizeof(header));
  std::memcpy(out.data() + sizeof(header), table.data(), table.size() * sizeof(SectionEntry));
  for (size_t i = 0; i < sections_.size(); ++i)
    std::copy(sections_[i].bytes.begin(), sections_[i].bytes.end(),
              out.begin() + static_cast<ptrdiff_t>(table[i].offset));
  return out;
}

Status PlanWriter::write(const std::string &path) const {
  std::vector<uint8_t> bytes = serialize();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return Error(ErrorCode::IoError, path + ": cannot open for writing");
  out.write(reinterpret_cast<const char *>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out)
    return Error(ErrorCode::IoError, path + ": write failed");
  return Status::success();
}

Expected<PlanFile> PlanFile::open(const std::string &path) {
  Expected<std::shared_ptr<const MappedFile>> file = MappedFile::open(path);
  if (!file)
    return file.error();
  return parseMapped(std::move(*file));
}

Expected<PlanFile> PlanFile::parse(const uint8_t *data, size_t size, std::string name) {
  return parseMapped(MappedFile::fromMemory(data, size, std::move(name)));
}

Expected<PlanFile> PlanFile::parseMapped(std::shared_ptr<const MappedFile> file) {
  const std::string &name = file->path();
  auto bad = [&](const std::string &what) {
    return Error(ErrorCode::InvalidFormat, name + ": not a valid plan: " + what);
  };
  const uint64_t size = file->size();
  if (size < sizeof(FileHeader))
    return bad("shorter than the 64-byte header");
  FileHeader header;
  std::memcpy(&header, file->data(), sizeof(header));
  if (std::memcmp(header.magic, kMagic, sizeof(kMagic)) != 0)
    return bad("wrong magic (not written by modelc)");
  if (header.version < kOldestVersion || header.version > kVersion)
    return Error(ErrorCode::Unsupported,
                 name + ": plan format version " + std::to_string(header.version) +
                     ", this modelrt reads versions " + std::to_string(kOldestVersion) + " to " +
                     std::to_string(kVersion) + " (compile the plan again with this modelc)");
  if (header.fileSize != size)
    return bad("header says " + std::to_string(header.fileSize) + " bytes, file has " +
               std::to_string(size) + " (truncated?)");
  if (header.sectionCount > kMaxSections)
    return bad("too many sections (" + std::to_string(header.sectionCount) + ")");
  uint64_t tableBytes = uint64_t(header.sectionCount) * sizeof(SectionEntry);
  if (header.sectionTableOffset < sizeof(FileHeader) || header.sectionTableOffset > size ||
      tableBytes > size - header.sectionTableOffset)
    return bad("section table outside the file");

  PlanFile plan;
  plan.file_ = file;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (uint32_t i = 0; i < header.sectionCount; ++i) {
    SectionEntry entry;
    std::memcpy(&entry, file->data() + header.sectionTableOffset + i * sizeof(SectionEntry),
                sizeof(entry));
    std::string label = "section " + std::to_string(i);
    if (!knownKind(entry.kind))
      return bad(label + " has unknown kind " + std::to_string(entry.kind));
    if (entry.offset % kSectionAlignment != 0)
      return bad(label + " is not 64-byte aligned");
    if (entry.offset > size || entry.size > size - entry.offset)
      return bad(label + " ends past the end of the file");
    if (entry.offset < header.sectionTableOffset + tableBytes)
      return bad(label + " overlaps the header or section table");
    if (std::memchr(entry.name, 0, sizeof(entry.name)) == nullptr)
      return bad(label + " has an unterminated name");
    spans.push_back({entry.offset, entry.size});
    plan.sections_.push_back({static_cast<SectionKind>(entry.kind), entry.rank,
                              std::string(entry.name), file->data() + entry.offset, entry.size});
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i - 1].first + spans[i - 1].second > spans[i].first)
      return bad("sections overlap");
  return plan;
}

const Section *PlanFile::find(SectionKind kind, uint32_t rank) const {
  for (const Section &s : sections_)
    if (s.kind == kind && s.rank == rank)
      return &s;
  return nullptr;
}

} // namespace modelrt::plan
