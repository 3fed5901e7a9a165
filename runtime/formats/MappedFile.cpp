#include "runtime/formats/MappedFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace modelrt {

Expected<std::shared_ptr<const MappedFile>> MappedFile::open(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::IoError,
                 path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Error(ErrorCode::IoError, path + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(ErrorCode::InvalidArgument, path + ": not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return std::shared_ptr<const MappedFile>(new MappedFile(nullptr, 0, path, false));
  }
  void *addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (addr == MAP_FAILED)
    return Error(ErrorCode::IoError, path + ": cannot map: " + std::strerror(err));
  return std::shared_ptr<const MappedFile>(
      new MappedFile(static_cast<const uint8_t *>(addr), size, path, true));
}

std::shared_ptr<const MappedFile> MappedFile::fromMemory(const uint8_t *data, size_t size,
                                                         std::string name) {
  return std::shared_ptr<const MappedFile>(new MappedFile(data, size, std::move(name), false));
}

MappedFile::~MappedFile() {
  if (owned_ && data_)
    ::munmap(const_cast<uint8_t *>(data_), size_);
}

} // namespace modelrt
