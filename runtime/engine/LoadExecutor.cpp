#include "runtime/engine/CpuAttention.h"
#include "runtime/engine/CpuExecutor.h"

#ifdef MODELRT_HAVE_CUDA_EXECUTOR
#include "runtime/device/cuda/CudaExecutor.h"
#endif

namespace modelrt::engine {

std::string describeCpuGemms(const Executor &executor) {
  const auto *cpu = dynamic_cast<const CpuExecutor *>(&executor);
  if (!cpu)
    return "";
  if (cpu->cpuActivations() == GemmActivations::F32)
    return "CPU GEMMs: f32 activations (quantized weights widened exactly; --cpu-activations "
           "int8 for integer dot products)";
  return std::string("CPU GEMMs: int8 activations, integer dot products (") +
         intDotInstructions() + "; --cpu-activations f32 for exact f32)";
}

Expected<std::unique_ptr<Executor>> loadExecutor(const std::string &planPath,
                                                 const ExecutorOptions &options) {
  std::string device = options.device;
  if (device == "auto") {
    Expected<plan::OpenedPlan> opened = plan::openPlan(planPath, 0);
    if (!opened)
      return opened.error();
    device = opened->meta.target == "cuda" ? "cuda" : "cpu";
  }
  if (device == "cpu") {
    Expected<std::unique_ptr<CpuExecutor>> cpu = CpuExecutor::load(planPath, options);
    if (!cpu)
      return cpu.error();
    return std::unique_ptr<Executor>(std::move(*cpu));
  }
  if (device != "cuda")
    return Error(ErrorCode::InvalidArgument,
                 "device '" + device + "' is not one of cpu, cuda, auto");
  if (!options.loraAdapters.empty())
    return Error(ErrorCode::Unsupported,
                 "LoRA adapters run on the CPU executor so far, not on CUDA (adapter '" +
                     options.loraAdapters.front().name + "')");
  if (options.kvCacheDtype != "auto") { // only the plan's own dtype (vLLM's command lines)
    Expected<plan::OpenedPlan> opened = plan::openPlan(planPath, 0);
    if (!opened)
      return opened.error();
    Expected<KvCacheDType> asked = parseKvCacheDType(options.kvCacheDtype);
    if (!asked)
      return asked.error();
    const std::string &own = opened->meta.dtype;
    if (!((*asked == KvCacheDType::BF16 && own == "bf16") ||
          (*asked == KvCacheDType::F16 && own == "f16")))
      return Error(ErrorCode::Unsupported,
                   "the CUDA executor keeps its KV cache in the plan's dtype (" + own +
                       "); --kv-cache-dtype " + options.kvCacheDtype +
                       " runs on the CPU executor so far");
  }
#ifdef MODELRT_HAVE_CUDA_EXECUTOR
  if (options.comm)
    return Error(ErrorCode::Unsupported, "the CUDA executor does not run under mpirun yet");
  cuda::CudaExecutorOptions cudaOptions;
  cudaOptions.kvCacheBytes = options.kvCacheBytes;
  cudaOptions.kvBlockSize = options.kvBlockSize;
  cudaOptions.deviceSampling = options.deviceSampling;
  cudaOptions.cudaGraphs = options.cudaGraphs;
  cudaOptions.batchInvariantGemm = options.batchInvariantGemm;
  Expected<std::unique_ptr<cuda::CudaExecutor>> gpu =
      cuda::CudaExecutor::load(planPath, cudaOptions);
  if (!gpu)
    return gpu.error();
  return std::unique_ptr<Executor>(std::move(*gpu));
#else
  return Error(ErrorCode::Unsupported,
               planPath + " is a CUDA plan, and this modelrt was built without CUDA (run it with "
                          "--device cpu if the plan is f32, or rebuild where nvcc is found)");
#endif
}

} // namespace modelrt::engine
