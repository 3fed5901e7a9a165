// LoRA adapters (PEFT's adapter_config.json and adapter_model.safetensors), read against a
// plan: the runtime knows no model architecture, so an adapter's modules are found through
// the plan's weight sources (each matrix's rows and columns by the checkpoint tensors they
// came from, docs/plan-format.md). A module whose weight the compiler merged with others
// (q, k and v in one GEMM) updates its rows of the merged matrix; a tensor-parallel shard
// takes its rows of B (column-parallel) or its columns of A (row-parallel, whose partial
// products the all-reduce sums as it sums the GEMM's).
#pragma once

#include "runtime/formats/Safetensors.h"
#include "runtime/plan/PlanMetadata.h"
#include "runtime/support/Error.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace modelrt::engine {

// An adapter to load: the name requests ask for it by, and its directory.
struct LoraSpec {
  std::string name;
  std::string path;
};

// Parses "name=path" (vLLM's --lora-modules); a bare path is named by its last component.
Expected<LoraSpec> parseLoraSpec(const std::string &text);

// One module's update of some rows of a matrix: rows [outRow, outRow + outRows) get
// B (A x) where A x are entries [rankOffset, rankOffset + rank) of the matrix's shrink.
struct LoraSegment {
  int64_t outRow = 0, outRows = 0;
  int64_t rankOffset = 0, rank = 0;
  std::vector<float> b; // [outRows, rank], times the module's scaling (alpha / r)
};

// The update of one matrix [N, K] of this rank: y += sum over segments of B_s (A x)_s.
struct LoraMatrix {
  int64_t rank = 0;     // rows of a: every segment's rank
  std::vector<float> a; // [rank, K]: the segments' A, each restricted to this shard's columns
  std::vector<LoraSegment> segments;
};

struct LoraAdapter {
  std::string name, path;
  int64_t maxRank = 0;
  // By the plan weight's name; only this rank's matrices (other ranks' modules are theirs).
  std::map<std::string, LoraMatrix> matrices;
};

// Reads `spec` for the rank whose metadata `meta` is. Errors name the adapter and what is
// wrong: a module that is no matrix of the plan (on any rank), a tensor that is not a
// LoRA A/B pair in f32/f16/bf16, shapes that disagree with the plan, DoRA, trained
// biases or modules_to_save (which replace weights rather than add to them), a plan whose
// weights are named after a GGUF file.
Expected<LoraAdapter> loadLoraAdapter(const LoraSpec &spec, const plan::PlanMetadata &meta);

// The same from adapter_config.json's text and the parsed adapter_model.safetensors (the
// fuzzer's entry point); `spec` names the adapter in errors.
Expected<LoraAdapter> parseLoraAdapter(const LoraSpec &spec, std::string_view configText,
                                       const SafetensorsFile &file, const plan::PlanMetadata &meta);

} // namespace modelrt::engine
