// LoRA adapters on arbitrary bytes: [4 bytes little-endian: n][n bytes of adapter_config.json]
// [the rest: adapter_model.safetensors], read against a fixed plan whose matrices have a
// merged QKV of three sources, a column-parallel shard and a strided row-parallel one (what
// the adapter's modules are mapped onto). Every accepted adapter's matrices are read back to
// the last element (an over-read shows as an ASan report).
#include "runtime/engine/LoraAdapter.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

using namespace modelrt;

namespace {

plan::WeightSource source(const char *name, int64_t rows, int64_t cols, std::vector<int64_t> r,
                          std::vector<int64_t> c, int64_t colStride = 1) {
  plan::WeightSource s;
  s.name = name;
  s.sourceRows = rows;
  s.sourceCols = cols;
  s.rows = std::move(r);
  s.cols = std::move(c);
  s.colStride = colStride;
  return s;
}

plan::PlanMetadata makePlan() {
  plan::PlanMetadata m;
  m.weightNames = "huggingface";
  plan::WeightEntry qkv;
  qkv.name = "layers.0.attn.qkv";
  qkv.shape = {16, 8};
  qkv.sources = {source("model.layers.0.self_attn.q_proj.weight", 8, 8, {0, 8}, {0, 8}),
                 source("model.layers.0.self_attn.k_proj.weight", 4, 8, {0, 4}, {0, 8}),
                 source("model.layers.0.self_attn.v_proj.weight", 4, 8, {0, 4}, {0, 8})};
  plan::WeightEntry up; // a column-parallel shard: rows 4..11 of 16
  up.name = "layers.0.mlp.up";
  up.shape = {8, 8};
  up.sources = {source("model.layers.0.mlp.up_proj.weight", 16, 8, {4, 8}, {0, 8})};
  plan::WeightEntry down; // a row-parallel shard: every other column
  down.name = "layers.0.mlp.down";
  down.shape = {8, 8};
  down.sources = {source("model.layers.0.mlp.down_proj.weight", 8, 16, {0, 8}, {1, 8}, 2)};
  for (const plan::WeightEntry *w : {&qkv, &up, &down})
    for (const plan::WeightSource &s : w->sources)
      m.matrixSources[s.name] = {s.sourceRows, s.sourceCols};
  m.weights = {qkv, up, down};
  return m;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const plan::PlanMetadata meta = makePlan();
  if (size < 4)
    return 0;
  uint32_t n = 0;
  std::memcpy(&n, data, 4);
  if (n > size - 4)
    return 0;
  const std::string_view config(reinterpret_cast<const char *>(data + 4), n);
  Expected<SafetensorsFile> file =
      SafetensorsFile::parse(data + 4 + n, size - 4 - n, "adapter_model.safetensors");
  if (!file)
    return 0;
  Expected<engine::LoraAdapter> adapter =
      engine::parseLoraAdapter({"fuzz", "fuzz"}, config, *file, meta);
  if (!adapter)
    return 0;
  volatile float sink = 0;
  for (const auto &[weight, matrix] : adapter->matrices) {
    if (!matrix.a.empty())
      sink = sink + matrix.a.front() + matrix.a.back();
    for (const engine::LoraSegment &s : matrix.segments)
      if (!s.b.empty())
        sink = sink + s.b.front() + s.b.back();
  }
  return 0;
}
