// modelrt-ptx-check: runs the CUDA kernels modelc generates from kern.fused (modelc
// --emit=ptx) on the GPU, on the cases modelrt-fused-cases wrote from the CPU kernels of the
// same fused bodies, and compares: every output element within 2e-5 * (|cpu| + 1) of the
// CPU's (the GPU sums rows in another order and takes libdevice's math), and the padding
// between rows left untouched. The PTX is loaded through the CUDA driver (JIT for the GPU
// at hand), each memref argument passed as its descriptor's fields.
//
//   modelrt-ptx-check CASEDIR...    (each CASEDIR: kernels.ptx, manifest.json, data files)
#include <cuda.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

bool ok(CUresult r, const char *what) {
  if (r == CUDA_SUCCESS)
    return true;
  const char *name = nullptr;
  cuGetErrorName(r, &name);
  std::fprintf(stderr, "modelrt-ptx-check: %s failed: %s\n", what, name ? name : "?");
  return false;
}
#define CU_OK(call)                                                                                \
  do {                                                                                             \
    if (!ok((call), #call))                                                                        \
      return false;                                                                                \
  } while (0)

std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
std::vector<float> readFloats(const std::string &path) {
  std::string bytes = readText(path);
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// The `.maxntid` of kernel `name` in the PTX (the block size its loops assume), or 0.
int maxntid(const std::string &ptx, const std::string &name) {
  const size_t entry = ptx.find(".entry " + name + "(");
  if (entry == std::string::npos)
    return 0;
  const size_t body = ptx.find('{', entry), at = ptx.find(".maxntid ", entry);
  if (at == std::string::npos || at > body)
    return 0;
  return std::atoi(ptx.c_str() + at + std::strlen(".maxntid "));
}

// One kernel of a case directory: launch, compare. False on a failed check or CUDA error.
bool runCase(CUmodule module, const std::string &dir, const nlohmann::json &c, int blockSize) {
  const std::string kernel = c.at("kernel");
  const int64_t rows = c.at("rows");
  CUfunction fn;
  CU_OK(cuModuleGetFunction(&fn, module, kernel.c_str()));
  // The generated loops stride by the block size the compiler chose (.maxntid): launch with
  // exactly that many threads.
  int threads = 0;
  CU_OK(cuFuncGetAttribute(&threads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fn));
  if (threads != blockSize) {
    std::printf("FAIL %s/%s: .maxntid %d, but the driver allows %d threads\n", dir.c_str(),
                kernel.c_str(), blockSize, threads);
    return false;
  }

  std::vector<uint64_t> params; // every descriptor field is 8 bytes (pointer or i64)
  std::vector<CUdeviceptr> buffers;
  struct Out {
    CUdeviceptr ptr;
    std::vector<float> expected;
    int64_t width, stride;
  };
  std::vector<Out> outs;
  auto upload = [&](const std::vector<float> &host) -> CUdeviceptr {
    CUdeviceptr d = 0;
    if (cuMemAlloc(&d, host.size() * sizeof(float)) != CUDA_SUCCESS ||
        cuMemcpyHtoD(d, host.data(), host.size() * sizeof(float)) != CUDA_SUCCESS)
      return 0;
    buffers.push_back(d);
    return d;
  };
  auto activation = [&](CUdeviceptr d, int64_t width, int64_t stride) {
    params.insert(params.end(), {uint64_t(d), uint64_t(d), 0, uint64_t(rows), uint64_t(width),
                                 uint64_t(stride), 1});
  };
  bool good = true;
  for (const nlohmann::json &a : c.at("inputs")) {
    CUdeviceptr d = upload(readFloats(dir + "/" + a.at("file").get<std::string>()));
    good = good && d;
    activation(d, a.at("width"), a.at("stride"));
  }
  for (const nlohmann::json &w : c.at("weights")) {
    CUdeviceptr d = upload(readFloats(dir + "/" + w.at("file").get<std::string>()));
    good = good && d;
    params.insert(params.end(), {uint64_t(d), uint64_t(d), 0, w.at("width").get<uint64_t>(), 1});
  }
  for (const nlohmann::json &o : c.at("outputs")) {
    Out out{0, readFloats(dir + "/" + o.at("file").get<std::string>()), o.at("width"),
            o.at("stride")};
    out.ptr = upload(std::vector<float>(out.expected.size(), NAN)); // poisoned
    good = good && out.ptr;
    activation(out.ptr, out.width, out.stride);
    outs.push_back(std::move(out));
  }
  std::vector<void *> args;
  for (uint64_t &p : params)
    args.push_back(&p);
  double worst = 0.0;
  int64_t bad = 0;
  if (good) {
    good = ok(cuLaunchKernel(fn, unsigned(rows), 1, 1, unsigned(threads), 1, 1, 0, nullptr,
                             args.data(), nullptr),
              "cuLaunchKernel") &&
           ok(cuCtxSynchronize(), "cuCtxSynchronize");
  }
  for (const Out &out : outs) {
    if (!good)
      break;
    std::vector<float> got(out.expected.size());
    good = ok(cuMemcpyDtoH(got.data(), out.ptr, got.size() * sizeof(float)), "cuMemcpyDtoH");
    for (size_t i = 0; good && i < got.size(); ++i) {
      const bool inRow = int64_t(i % size_t(out.stride)) < out.width;
      if (!inRow) {
        bad += !std::isnan(got[i]); // padding must stay untouched
        continue;
      }
      const double e = out.expected[i], g = got[i];
      const double err = std::fabs(g - e) / (std::fabs(e) + 1.0);
      if (!std::isfinite(g) || err > 2e-5)
        ++bad;
      if (std::isfinite(g))
        worst = std::max(worst, err);
    }
  }
  for (CUdeviceptr d : buffers)
    cuMemFree(d);
  std::printf("%s %s/%s: %lld rows, %d threads, max |gpu - cpu| / (|cpu| + 1) = %.2e%s\n",
              good && bad == 0 ? "PASS" : "FAIL", dir.c_str(), kernel.c_str(),
              static_cast<long long>(rows), threads, worst,
              bad ? (", " + std::to_string(bad) + " elements off").c_str() : "");
  return good && bad == 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: modelrt-ptx-check CASEDIR...\n");
    return 2;
  }
  CUdevice dev;
  CUcontext ctx;
  if (!ok(cuInit(0), "cuInit") || !ok(cuDeviceGet(&dev, 0), "cuDeviceGet") ||
      !ok(cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain") ||
      !ok(cuCtxSetCurrent(ctx), "cuCtxSetCurrent"))
    return 1;
  int passed = 0, total = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string dir = argv[i];
    const std::string ptx = readText(dir + "/kernels.ptx");
    char log[8192] = {0};
    CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *values[] = {log, reinterpret_cast<void *>(sizeof(log))};
    CUmodule module;
    if (cuModuleLoadDataEx(&module, ptx.c_str(), 2, opts, values) != CUDA_SUCCESS) {
      std::printf("FAIL %s: the driver did not load the PTX: %s\n", dir.c_str(), log);
      ++total;
      continue;
    }
    const nlohmann::json manifest = nlohmann::json::parse(readText(dir + "/manifest.json"));
    for (const nlohmann::json &c : manifest) {
      ++total;
      const int blockSize = maxntid(ptx, c.at("kernel").get<std::string>());
      if (blockSize <= 0) {
        std::printf("FAIL %s: no .entry with .maxntid for %s in the PTX\n", dir.c_str(),
                    c.at("kernel").get<std::string>().c_str());
        continue;
      }
      passed += runCase(module, dir, c, blockSize);
    }
    cuModuleUnload(module);
  }
  std::printf("%d/%d generated CUDA kernels match the CPU kernels\n", passed, total);
  return passed == total && total > 0 ? 0 : 1;
}
