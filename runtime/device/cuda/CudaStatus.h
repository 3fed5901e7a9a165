// Turns CUDA runtime and cuBLAS status codes into modelrt::Status with the file, the call
// and the library's own error string; nothing in modelrt_cuda aborts on a device error.
#pragma once

#include "runtime/support/Error.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

namespace modelrt::cuda {

Status cudaStatus(cudaError_t err, const char *call, const char *file, int line);
Status cublasStatus(cublasStatus_t status, const char *call, const char *file, int line);
// The error of the last kernel launch (cudaGetLastError), named after the kernel.
Status launchStatus(const char *kernel, const char *file, int line);

} // namespace modelrt::cuda

#define MODELRT_STATUS_TRY(expr)                                                             \
  do {                                                                                       \
    ::modelrt::Status _st = (expr);                                                          \
    if (!_st)                                                                                \
      return _st;                                                                            \
  } while (0)
#define MODELRT_CUDA_TRY(call)                                                               \
  MODELRT_STATUS_TRY(::modelrt::cuda::cudaStatus((call), #call, __FILE__, __LINE__))
#define MODELRT_CUBLAS_TRY(call)                                                             \
  MODELRT_STATUS_TRY(::modelrt::cuda::cublasStatus((call), #call, __FILE__, __LINE__))
#define MODELRT_LAUNCH_TRY(kernel)                                                           \
  MODELRT_STATUS_TRY(::modelrt::cuda::launchStatus(kernel, __FILE__, __LINE__))
