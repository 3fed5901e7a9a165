// Subcommands of the modelrt CLI. Each lives in its own file and registers itself on the
// app from main.cpp; its callback stores the process exit code in `exitCode`.
#pragma once

#include "runtime/dist/Communicator.h"
#include "runtime/engine/CpuExecutor.h"

#include <CLI/CLI.hpp>

namespace modelrt::cli {

void addTokenizeCommand(CLI::App &app, int &exitCode);
void addInspectCommand(CLI::App &app, int &exitCode);
void addGenerateCommand(CLI::App &app, int &exitCode);
// modelrt embed (classify false) and modelrt classify.
void addPoolingCommand(CLI::App &app, int &exitCode, bool classify);
void addBenchCommand(CLI::App &app, int &exitCode);
void addServeCommand(CLI::App &app, int &exitCode);

// The MPI rank of this process when mpirun started it (nullptr otherwise); set by main.
dist::Communicator *&mpiWorld();

// For generate, bench and serve under mpirun: on ranks other than 0, loads this rank's
// part of the plan and runs the steps rank 0 sends, then returns true with the exit code
// in `exitCode` (a rank that cannot load ends the whole job). On rank 0 it points the
// executor options at the MPI group and returns false: the command goes on.
bool runAsWorker(const std::string &plan, engine::ExecutorOptions &options, int &exitCode);

// --kv-cache-mib, --kv-block-size, --kv-cache-dtype, --device, --sampling, --enforce-eager and
// --batch-invariant-gemm, for the commands that run a plan.
inline void addExecutorOptions(CLI::App *cmd, engine::ExecutorOptions &options) {
  cmd->add_option_function<int64_t>(
         "--kv-cache-mib", [&options](int64_t mib) { options.kvCacheBytes = mib << 20; },
         "KV cache memory (default: enough for max_num_seqs x max_seq_len, at most 1024 on the "
         "CPU, at most 80% of the free GPU memory on CUDA)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  cmd->add_option("--kv-block-size", options.kvBlockSize, "Tokens per KV cache block (default 16)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--kv-cache-dtype", options.kvCacheDtype,
                  "How the KV cache stores keys and values: auto (default: on the CPU float16 with "
                  "int8 activations, llama.cpp's default, float32 with f32 activations; the "
                  "plan's dtype on CUDA), float32, bfloat16, float16, fp8 (= fp8_e4m3, scale 1, as "
                  "vLLM's), fp8_e5m2, or q8_0 (llama.cpp's) on the CPU executor; on CUDA the "
                  "plan's dtype only")
      ->check(CLI::IsMember({"auto", "float32", "f32", "bfloat16", "bf16", "float16", "f16",
                             "half", "fp8", "fp8_e4m3", "fp8_e5m2", "q8_0"}));
  cmd->add_option("--device", options.device,
                  "cpu, cuda, or auto (default): the plan's target (modelc --target)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  cmd->add_option_function<std::string>(
         "--sampling",
         [&options](const std::string &where) { options.deviceSampling = where == "device"; },
         "device (default): on CUDA, tokens are chosen on the GPU (requests with logit_bias, "
         "penalties or guided decoding still on the host); host: every row's logits come back")
      ->check(CLI::IsMember({"device", "host"}));
  cmd->add_flag("--enforce-eager{false}", options.cudaGraphs,
                "On CUDA, launch every kernel of a decode step from the host instead of "
                "replaying the step's CUDA graph (decode steps are padded to 1, 2, 4, 8, 16, "
                "24, ... sequences and captured by default)");
  cmd->add_flag(
      "--batch-invariant-gemm", options.batchInvariantGemm,
      "On CUDA, run every GEMM of one weight with one cuBLASLt algorithm (without "
      "split-k) whatever the step's row count, so a request's GEMMs do not depend on what "
      "else is batched (as its attention does not); slower for steps of few rows");
  options.cpuActivations.reset(); // auto: as the plan's weights came
  cmd->add_option_function<std::string>(
         "--cpu-activations",
         [&options](const std::string &how) {
           if (how == "auto")
             options.cpuActivations.reset();
           else
             options.cpuActivations =
                 how == "int8" ? engine::GemmActivations::Int8 : engine::GemmActivations::F32;
         },
         "How the CPU executor multiplies GGUF-quantized weights: int8 (each row quantized to "
         "8 bits as llama.cpp quantizes it, integer dot products: llama.cpp's numbers, about 2x "
         "faster), f32 (weights widened exactly: the dequantized plan's bits, transformers' "
         "numbers), or auto (default: int8 for a plan compiled from a GGUF file, f32 for a "
         "checkpoint's quantized weights)")
      ->check(CLI::IsMember({"auto", "f32", "int8"}));
}

// LoRA adapters to load with the plan ("name=path", or a directory named by its last
// component), appended to options.loraAdapters.
inline CLI::Option *addLoraOption(CLI::App *cmd, const std::string &name, engine::ExecutorOptions &options,
                          const std::string &help) {
  return cmd->add_option_function<std::vector<std::string>>(
      name,
      [&options](const std::vector<std::string> &specs) {
        for (const std::string &text : specs) {
          Expected<engine::LoraSpec> spec = engine::parseLoraSpec(text);
          if (!spec)
            throw CLI::ValidationError(spec.error().message());
          options.loraAdapters.push_back(*spec);
        }
      },
      help);
}

// vLLM's --max-loras and --max-lora-rank (and its --enable-lora, which --lora-modules
// implies here), for the commands that serve adapters.
inline void addLoraLimits(CLI::App *cmd, engine::ExecutorOptions &options) {
  cmd->add_option("--max-loras", options.maxLoras,
                  "LoRA adapters loaded at once, at most (default: no limit)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--max-lora-rank", options.maxLoraRank,
                  "Refuse LoRA adapters of a higher rank (default: up to 1024)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--enable-lora", "Accepted for vLLM's command lines: adapters are enabled by "
                                 "--lora-modules or --allow-runtime-lora-updating");
}

} // namespace modelrt::cli
