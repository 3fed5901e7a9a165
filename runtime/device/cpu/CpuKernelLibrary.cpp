#include "runtime/device/cpu/CpuKernelLibrary.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <utility>

namespace modelrt::cpu {

Expected<CpuKernelLibrary> CpuKernelLibrary::load(const uint8_t *image, size_t size) {
  if (size < 4 || image[0] != 0x7f || image[1] != 'E' || image[2] != 'L' || image[3] != 'F')
    return Error(ErrorCode::InvalidFormat, "the CPU kernel image is not an ELF shared object");
  CpuKernelLibrary library;
  library.fd_ = memfd_create("modelrt-cpu-kernels", MFD_CLOEXEC);
  if (library.fd_ < 0)
    return Error(ErrorCode::IoError, "memfd_create failed for the CPU kernel image");
  for (size_t written = 0; written < size;) {
    ssize_t n = write(library.fd_, image + written, size - written);
    if (n <= 0)
      return Error(ErrorCode::IoError, "cannot stage the CPU kernel image");
    written += static_cast<size_t>(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(library.fd_);
  library.handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library.handle_) {
    const char *why = dlerror();
    return Error(ErrorCode::InvalidFormat,
                 std::string("cannot load the CPU kernel image: ") + (why ? why : "unknown"));
  }
  return library;
}

CpuKernelLibrary::CpuKernelLibrary(CpuKernelLibrary &&other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), fd_(std::exchange(other.fd_, -1)) {}

CpuKernelLibrary &CpuKernelLibrary::operator=(CpuKernelLibrary &&other) noexcept {
  std::swap(handle_, other.handle_);
  std::swap(fd_, other.fd_);
  return *this;
}

CpuKernelLibrary::~CpuKernelLibrary() {
  if (handle_)
    dlclose(handle_);
  if (fd_ >= 0)
    close(fd_);
}

Status CpuKernelLibrary::call(const std::string &name,
                              const std::vector<void *> &descriptors) const {
  void *symbol = dlsym(handle_, ("_mlir_ciface_" + name).c_str());
  if (!symbol)
    return Error(ErrorCode::NotFound, "the CPU kernel image has no kernel '" + name + "'");
  using P = void *;
  const std::vector<void *> &d = descriptors;
  // Kernels take one pointer per argument; fused groups have a handful.
  switch (d.size()) {
  case 1:
    reinterpret_cast<void (*)(P)>(symbol)(d[0]);
    break;
  case 2:
    reinterpret_cast<void (*)(P, P)>(symbol)(d[0], d[1]);
    break;
  case 3:
    reinterpret_cast<void (*)(P, P, P)>(symbol)(d[0], d[1], d[2]);
    break;
  case 4:
    reinterpret_cast<void (*)(P, P, P, P)>(symbol)(d[0], d[1], d[2], d[3]);
    break;
  case 5:
    reinterpret_cast<void (*)(P, P, P, P, P)>(symbol)(d[0], d[1], d[2], d[3], d[4]);
    break;
  case 6:
    reinterpret_cast<void (*)(P, P, P, P, P, P)>(symbol)(d[0], d[1], d[2], d[3], d[4], d[5]);
    break;
  case 7:
    reinterpret_cast<void (*)(P, P, P, P, P, P, P)>(symbol)(d[0], d[1], d[2], d[3], d[4], d[5],
                                                            d[6]);
    break;
  case 8:
    reinterpret_cast<void (*)(P, P, P, P, P, P, P, P)>(symbol)(d[0], d[1], d[2], d[3], d[4], d[5],
                                                               d[6], d[7]);
    break;
  default:
    return Error(ErrorCode::Unsupported, "kernel '" + name + "' takes " + std::to_string(d.size()) +
                                             " arguments; calls support 1 to 8");
  }
  return Status::success();
}

} // namespace modelrt::cpu
