#include "compiler/codegen/CudaCubin.h"

#ifdef MODELC_HAVE_NVJITLINK
#include <nvJitLink.h>
#endif

#include <string>

using namespace llvm;

namespace modelc {

#ifdef MODELC_HAVE_NVJITLINK

bool canAssembleCubins() { return true; }

Expected<std::vector<uint8_t>> assembleCubin(StringRef ptx, StringRef arch) {
  const std::string archOption = ("-arch=" + arch).str();
  const char *options[] = {archOption.c_str(), "-O3"};
  nvJitLinkHandle handle = nullptr;
  auto failure = [&](nvJitLinkResult result, const char *what) -> Error {
    std::string log;
    size_t size = 0;
    if (handle && nvJitLinkGetErrorLogSize(handle, &size) == NVJITLINK_SUCCESS && size > 1) {
      log.resize(size);
      if (nvJitLinkGetErrorLog(handle, log.data()) != NVJITLINK_SUCCESS)
        log.clear();
      while (!log.empty() && (log.back() == '\0' || log.back() == '\n'))
        log.pop_back();
    }
    if (handle)
      nvJitLinkDestroy(&handle);
    return createStringError(inconvertibleErrorCode(),
                             "assembling the CUDA kernels for " + arch + ": nvJitLink " + what +
                                 " failed (error " + std::to_string(int(result)) + ")" +
                                 (log.empty() ? "" : ": " + log));
  };
  if (nvJitLinkResult r = nvJitLinkCreate(&handle, 2, options); r != NVJITLINK_SUCCESS)
    return failure(r, "create");
  std::string text = ptx.str(); // NUL-terminated
  if (nvJitLinkResult r = nvJitLinkAddData(handle, NVJITLINK_INPUT_PTX, text.c_str(),
                                           text.size() + 1, "cuda-kernels.ptx");
      r != NVJITLINK_SUCCESS)
    return failure(r, "reading the PTX");
  if (nvJitLinkResult r = nvJitLinkComplete(handle); r != NVJITLINK_SUCCESS)
    return failure(r, "assembling");
  size_t size = 0;
  if (nvJitLinkResult r = nvJitLinkGetLinkedCubinSize(handle, &size); r != NVJITLINK_SUCCESS)
    return failure(r, "sizing the cubin");
  std::vector<uint8_t> cubin(size);
  if (nvJitLinkResult r = nvJitLinkGetLinkedCubin(handle, cubin.data()); r != NVJITLINK_SUCCESS)
    return failure(r, "copying the cubin");
  nvJitLinkDestroy(&handle);
  return cubin;
}

#else

bool canAssembleCubins() { return false; }

Expected<std::vector<uint8_t>> assembleCubin(StringRef, StringRef arch) {
  return createStringError(inconvertibleErrorCode(),
                           "cannot assemble a cubin for " + arch +
                               ": this modelc was built without nvJitLink (the CUDA toolkit)");
}

#endif

} // namespace modelc
