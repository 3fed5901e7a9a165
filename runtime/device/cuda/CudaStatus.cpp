#include "runtime/device/cuda/CudaStatus.h"

#include <string>

namespace modelrt::cuda {

namespace {
std::string where(const char *file, int line) {
  std::string path(file);
  size_t cut = path.rfind("runtime/");
  return (cut == std::string::npos ? path : path.substr(cut)) + ":" + std::to_string(line);
}
} // namespace

Status cudaStatus(cudaError_t err, const char *call, const char *file, int line) {
  if (err == cudaSuccess)
    return Status::success();
  ErrorCode code = err == cudaErrorMemoryAllocation ? ErrorCode::ResourceExhausted
                   : err == cudaErrorInvalidValue   ? ErrorCode::InvalidArgument
                   : err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver
                       ? ErrorCode::Unsupported
                       : ErrorCode::Internal;
  return Error(code, where(file, line) + ": " + call + ": " + cudaGetErrorName(err) + ": " +
                         cudaGetErrorString(err));
}

Status cublasStatus(cublasStatus_t status, const char *call, const char *file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS)
    return Status::success();
  ErrorCode code = status == CUBLAS_STATUS_ALLOC_FAILED    ? ErrorCode::ResourceExhausted
                   : status == CUBLAS_STATUS_INVALID_VALUE ? ErrorCode::InvalidArgument
                   : status == CUBLAS_STATUS_NOT_SUPPORTED ? ErrorCode::Unsupported
                                                           : ErrorCode::Internal;
  return Error(code, where(file, line) + ": " + call + ": " + cublasLtGetStatusName(status) +
                         ": " + cublasLtGetStatusString(status));
}

Status launchStatus(const char *kernel, const char *file, int line) {
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess)
    return Status::success();
  return cudaStatus(err, (std::string("launch of ") + kernel).c_str(), file, line);
}

} // namespace modelrt::cuda
