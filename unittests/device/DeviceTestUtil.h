// Helpers for the CUDA kernel tests: a visible skip without a GPU, device buffers that are
// poisoned (NaN / -1 bytes) before each run, f16/bf16 conversions on the host and the
// relative error ||out - ref|| / ||ref||.
#pragma once

#include "runtime/device/Attention.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace modelrt::cuda::test {

// Empty when a CUDA device is usable, else why not.
inline std::string noGpuReason() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess)
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(err);
  if (count == 0)
    return "cudaGetDeviceCount reports 0 devices";
  return "";
}

#define MODELRT_REQUIRE_GPU()                                                                 \
  do {                                                                                        \
    std::string _why = ::modelrt::cuda::test::noGpuReason();                                  \
    if (!_why.empty())                                                                        \
      GTEST_SKIP() << "no CUDA device, GPU test skipped (" << _why << ")";                   \
  } while (0)

#define CUDA_OK(call) ASSERT_EQ((call), cudaSuccess) << #call << ": " << cudaGetErrorString(call)
#define STATUS_OK(expr)                                                                       \
  do {                                                                                        \
    ::modelrt::Status _st = (expr);                                                           \
    ASSERT_TRUE(_st.ok()) << _st.error().toString();                                          \
  } while (0)

// Host storage of a 16-bit element, as raw bits.
inline uint16_t toBits(float x, ElementType t) {
  if (t == ElementType::F16) {
    __half h = __float2half_rn(x);
    return *reinterpret_cast<uint16_t *>(&h);
  }
  __nv_bfloat16 b = __float2bfloat16_rn(x);
  return *reinterpret_cast<uint16_t *>(&b);
}
inline float fromBits(uint16_t bits, ElementType t) {
  if (t == ElementType::F16)
    return __half2float(*reinterpret_cast<__half *>(&bits));
  return __bfloat162float(*reinterpret_cast<__nv_bfloat16 *>(&bits));
}

// Random values in [lo, hi), rounded to `t` so the reference sees exactly the device input.
inline std::vector<uint16_t> randomBits(std::mt19937 &rng, size_t n, ElementType t, float lo,
                                        float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<uint16_t> out(n);
  for (auto &v : out)
    v = toBits(dist(rng), t);
  return out;
}
inline std::vector<float> toFloats(const std::vector<uint16_t> &bits, ElementType t) {
  std::vector<float> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i)
    out[i] = fromBits(bits[i], t);
  return out;
}

template <typename T> class DeviceBuffer {
public:
  explicit DeviceBuffer(size_t n = 0) : n_(n) {
    if (n_ && cudaMalloc(&ptr_, n_ * sizeof(T)) != cudaSuccess)
      ptr_ = nullptr;
  }
  explicit DeviceBuffer(const std::vector<T> &host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() {
    if (ptr_)
      cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  T *get() const { return static_cast<T *>(ptr_); }
  size_t size() const { return n_; }
  bool ok() const { return n_ == 0 || ptr_ != nullptr; }
  cudaError_t upload(const std::vector<T> &host) {
    return cudaMemcpy(ptr_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
  }
  // All bytes 0xFF: NaN for f16, bf16 and f32, -1 for integers.
  cudaError_t poison() { return cudaMemset(ptr_, 0xFF, n_ * sizeof(T)); }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    if (cudaMemcpy(host.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess)
      host.assign(n_, T(-1));
    return host;
  }

private:
  void *ptr_ = nullptr;
  size_t n_ = 0;
};

// ||out - ref|| / ||ref||; any NaN or infinity in out gives infinity.
inline double relativeError(const std::vector<float> &out, const std::vector<double> &ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i]))
      return INFINITY;
    num += (out[i] - ref[i]) * (out[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

inline double tolerance(ElementType t) { return t == ElementType::F16 ? 2e-3 : 1e-2; }
inline const char *typeName(ElementType t) {
  return t == ElementType::F16 ? "f16" : t == ElementType::BF16 ? "bf16" : "f32";
}

} // namespace modelrt::cuda::test
