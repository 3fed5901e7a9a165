#include "runtime/plan/CudaImage.h"

#include <cctype>

namespace modelrt::plan {

namespace {

// The architecture name at the start of `s`: "sm_", two or three digits, an optional 'a'.
std::string_view archPrefix(std::string_view s) {
  if (s.substr(0, 3) != "sm_")
    return {};
  size_t i = 3;
  while (i < s.size() && i < 6 && std::isdigit(static_cast<unsigned char>(s[i])))
    ++i;
  if (i < 5)
    return {};
  if (i < s.size() && s[i] == 'a')
    ++i;
  return s.substr(0, i);
}

// "sm_90a" -> 90 (and whether it is arch-specific).
int archNumber(std::string_view arch, bool *specific = nullptr) {
  int n = 0;
  for (char c : arch.substr(3))
    if (std::isdigit(static_cast<unsigned char>(c)))
      n = n * 10 + (c - '0');
  if (specific)
    *specific = !arch.empty() && arch.back() == 'a';
  return n;
}

} // namespace

std::string CudaImage::describe() const {
  const std::string name = "sm_" + std::to_string(arch) + (archSpecific ? "a" : "");
  return cubin ? "cubin " + name : "PTX " + name + " (compiled by the driver)";
}

std::string ptxTarget(std::string_view ptx) {
  // The directive is `.target sm_90` (possibly followed by `, texmode_...`), at a line start.
  for (size_t at = ptx.find(".target"); at != std::string_view::npos;
       at = ptx.find(".target", at + 1)) {
    if (at != 0 && ptx[at - 1] != '\n')
      continue;
    size_t i = at + 7;
    while (i < ptx.size() && (ptx[i] == ' ' || ptx[i] == '\t'))
      ++i;
    std::string_view arch = archPrefix(ptx.substr(i));
    const size_t end = i + arch.size();
    if (!arch.empty() && (end == ptx.size() || !std::isalnum(static_cast<unsigned char>(ptx[end]))))
      return std::string(arch);
    return {};
  }
  return {};
}

std::string cubinSectionName(std::string_view arch) {
  return "cuda-kernels." + std::string(arch) + ".cubin";
}

std::string cubinSectionArch(std::string_view name) {
  constexpr std::string_view prefix = "cuda-kernels.", suffix = ".cubin";
  if (name.size() <= prefix.size() + suffix.size() || name.substr(0, prefix.size()) != prefix ||
      name.substr(name.size() - suffix.size()) != suffix)
    return {};
  std::string_view arch = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  return archPrefix(arch) == arch ? std::string(arch) : std::string();
}

Expected<CudaImage> chooseCudaImage(const PlanFile &file, uint32_t rank, int major, int minor) {
  const int gpu = major * 10 + minor;
  const std::string gpuName = "sm_" + std::to_string(gpu);
  CudaImage best;
  std::string has;
  for (const Section &s : file.sections()) {
    if (s.rank != rank ||
        (s.kind != SectionKind::CudaCubin && s.kind != SectionKind::CudaKernels))
      continue;
    const bool cubin = s.kind == SectionKind::CudaCubin;
    if (!cubin && s.size == 0) { // a plan without fused kernels
      if (!best.section)
        best = {&s, false, 0, false};
      continue;
    }
    const std::string arch = cubin ? cubinSectionArch(s.name) : ptxTarget(s.text());
    if (arch.empty())
      return Error(ErrorCode::InvalidFormat,
                   cubin ? "CUDA cubin section '" + s.name + "' does not name its architecture"
                         : std::string("the plan's PTX has no .target line"));
    has += (has.empty() ? "" : ", ") + std::string(cubin ? "cubin " : "PTX ") + arch;
    bool specific = false;
    const int n = archNumber(arch, &specific);
    // A cubin: same major version, minor at most the GPU's; PTX: not newer than the GPU.
    const bool fits = specific ? n == gpu : cubin ? n / 10 == major && n % 10 <= minor : n <= gpu;
    if (!fits)
      continue;
    // The newest fitting cubin (the arch-specific one over the portable one of its GPU),
    // else the newest fitting PTX.
    const bool better = !best.section || !best.section->size ||
                        (cubin && (!best.cubin || n > best.arch ||
                                   (n == best.arch && specific && !best.archSpecific))) ||
                        (!cubin && !best.cubin && n > best.arch);
    if (better)
      best = {&s, cubin, n, specific};
  }
  if (best.section)
    return best;
  if (has.empty())
    return Error(ErrorCode::InvalidFormat, "rank " + std::to_string(rank) +
                                               " has no CUDA kernels (compile the plan with "
                                               "--target cuda)");
  return Error(ErrorCode::Unsupported,
               "this GPU is " + gpuName + ", and the plan's CUDA kernels do not run on it (" +
                   has + "): compile the plan with --cuda-arch " + gpuName);
}

} // namespace modelrt::plan
