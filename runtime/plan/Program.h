// One rank's program (the plan's "program" section), parsed and checked once at load, for
// every executor: numbered values (activations of [rows, width] in the arena, column views
// of them, and the index inputs), and the kernels in order. Each backend maps the ops to its
// own kernels; what it supports beyond this (dtypes, head dims) it checks itself.
#pragma once

#include "runtime/formats/DType.h"
#include "runtime/plan/PlanMetadata.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace modelrt::plan {

enum class OpKind {
  Gemm,
  Fused,
  Attention,
  Rope,
  GatherRows,
  Columns,
  AllReduce,
  AllGather,
  Send,
  Recv,
  Moe,
  Concat,
  CausalConv1d,
  GatedDeltaRule,
  SsmScan
};
inline constexpr int kNumOpKinds = static_cast<int>(OpKind::SsmScan) + 1;
const char *opKindName(OpKind kind);

struct RopeConfig {
  int64_t numHeads = 0, headDim = 0, rotaryDim = 0;
  double theta = 10000.0;
  bool interleaved = false;
  bool frequencyBands = false; // scale long wavelengths, keep short ones, blend between
  double factor = 1, lowFreqFactor = 1, highFreqFactor = 4;
  int64_t originalMaxPosition = 8192;
  double linearFactor = 1; // every frequency divided by it (positions interpolated)
  // Pair i's frequency divided by frequencyFactors[i] (LongRoPE's rescale factors; empty:
  // none), and the rotated features multiplied by magnitude (LongRoPE's attention factor).
  std::vector<double> frequencyFactors;
  double magnitude = 1;
  // Each head RMS-normalized over head_dim and scaled by the op's `weight` ([head_dim]; null:
  // no weight: a plain L2-style norm) before rotation (a per-head query/key norm); the
  // normalized value is rounded to the activation type before the rotation, as the
  // reference does.
  bool norm = false;
  double normEps = 1e-6;
  double normWeightOffset = 0; // added to the weight in f32 (Gemma's 1 + w)
  // > 0: every feature of a row at position p multiplied at the end by
  // 1 + temperatureScale * log(1 + floor((p + temperatureOffset) / temperatureFloor))
  // (an attention temperature; the offset, 0 or more, is the plan's).
  int64_t temperatureFloor = 0, temperatureOffset = 0;
  double temperatureScale = 0;
};

// One inverse frequency per rotated pair, in double (as the CPU executor rotates).
std::vector<double> inverseFrequencies(const RopeConfig &c);

struct AttentionConfig {
  int64_t layer = 0, numHeads = 0, numKvHeads = 0, headDim = 0, slidingWindow = 0;
  int64_t chunkSize = 0; // > 0: a query at position p sees keys from p - p % chunkSize on
  int64_t valueHeadDim = 0; // of each value (and result) head: headDim unless narrower
  bool valueInKey = false;  // each value head: the first valueHeadDim features of its key
  // Each query sees every position of its request, after it too (an encoder's); the plan's
  // metadata says so (PlanMetadata::bidirectional), and then every prompt runs whole.
  bool bidirectional = false;
  double scale = 1.0;
  double softcap = 0; // > 0: scores capped at softcap * tanh(score / softcap)
  // [numHeads]: one more logit per head in each row's softmax, with no value (null: none)
  const WeightEntry *sinks = nullptr;
};

// A depthwise causal convolution over each request's own tokens (the op's weight [C, K],
// oldest tap first; bias [C] or none), whose window of the K - 1 inputs before a chunk is
// the request's recurrent state `state` (zeros at position 0); SiLU after it if asked.
struct ConvConfig {
  int64_t state = 0, kernelSize = 0;
  bool silu = false;
};

// Gated DeltaNet's recurrence over each request's tokens (inputs q, k [rows, Hk dk], v
// [rows, Hv dv], a, b [rows, Hv]; weights aLog, dtBias [Hv]), its state Hv matrices of
// dk x dv floats (llm.gated_delta_rule in docs/dialects/LlmDialect.md).
struct DeltaRuleConfig {
  int64_t state = 0, numKHeads = 0, numVHeads = 0, keyHeadDim = 0, valueHeadDim = 0;
  const WeightEntry *aLog = nullptr, *dtBias = nullptr;
};

// Mamba 2's selective scan over each request's tokens (inputs x [rows, H P], dt [rows, H],
// b, c [rows, G N]; weights aLog, dtBias, d [H]), its state H matrices of P x N floats
// (llm.ssm_scan in docs/dialects/LlmDialect.md).
struct SsmConfig {
  int64_t state = 0, numHeads = 0, headDim = 0, numGroups = 0, stateSize = 0;
  const WeightEntry *aLog = nullptr, *dtBias = nullptr, *d = nullptr;
};

// Mixture of experts (the op's weights: gate [E * I, D], up [E * I, D], down [E * D, I]).
struct MoeConfig {
  int64_t numExperts = 0, topK = 0;
  int64_t intermediate = 0;   // I: each expert's rows of gate and up
  bool normalizeTopK = false; // the chosen experts' weights divided by their sum
  bool roundWeights = false;  // the weights rounded to the activation type
  // Optional biases, one row per expert: gate and up [E, I], down [E, D] (null: none).
  const WeightEntry *gateBias = nullptr, *upBias = nullptr, *downBias = nullptr;
  // > 0: the clamped SwiGLU (up + 1) * g * sigmoid(alpha * g), g = min(gate, limit), up
  // clamped to [-limit, limit], in place of silu(gate) * up.
  double swigluLimit = 0, swigluAlpha = 0;
  // Sigmoid scores in place of the softmax; scoreBias [E] added to them for choosing only
  // (null: none); the choice limited to the topGroups best of numGroups equal groups (each
  // scored by the sum of its groupTop largest biased scores); the weights times routedScale
  // at the end.
  bool sigmoidScores = false;
  const WeightEntry *scoreBias = nullptr;
  // Each chosen expert's input row times its weight, the outputs summed unweighted.
  bool scaleInputs = false;
  int64_t numGroups = 1, topGroups = 1, groupTop = 2;
  double normalizeEpsilon = 0; // added to the chosen weights' sum by normalizeTopK
  double routedScale = 1.0;
};

struct Op {
  OpKind kind;
  std::vector<int64_t> inputs, outputs;
  const WeightEntry *weight = nullptr, *bias = nullptr, *table = nullptr;
  std::string kernel;     // fused: the CPU kernel's symbol
  std::string cudaKernel; // fused: the CUDA kernel's name in the plan's PTX (if any)
  int64_t cudaBlockSize = 0;
  // fused: vector weights, in argument order; moe: gate, up, down
  std::vector<const WeightEntry *> weights;
  RopeConfig rope;
  std::vector<double> inverseFrequencies; // rope: one per rotated pair
  AttentionConfig attention;
  ConvConfig conv;
  DeltaRuleConfig delta;
  SsmConfig ssm;
  MoeConfig moe;
  // gemm of each head (llm.head_linear): heads > 1 splits the input, output and weight
  // rows into that many blocks; inputRows: each block is [K, N] (the input times it)
  int64_t gemmHeads = 1;
  bool gemmInputRows = false;
  // concat: the result's heads, and which inputs have one head that every result head
  // repeats (the others have numHeads heads)
  int64_t concatHeads = 0;
  std::vector<bool> concatShared;
  int64_t groupSize = 1;  // all_reduce, all_gather: ranks summed over or gathered from
  int64_t rowOffset = -1; // gather_rows of a table shard: its first row (-1: whole table)
};

struct ValueInfo {
  int64_t width = 0;
  DType dtype = DType::F32; // of each element: F32, BF16, F16 (activations) or I32 (indices)
  int64_t arenaOffset = -1; // bytes, for activations with storage
  int64_t viewOf = -1;      // for column views
  int64_t columnOffset = 0; // elements
};

struct Program {
  std::vector<Op> ops;
  std::vector<ValueInfo> values;
  int64_t tokenIds = -1, positions = -1, sampleRows = -1;
  // Each row's token type (segment; PagedChunk::tokenTypes); -1: none.
  int64_t tokenTypes = -1;
  int64_t logits = -1; // -1: a pipeline stage before the last
  int64_t arenaRows = 0, arenaBytes = 0;

  // The recurrent state `op` keeps (causal_conv1d, gated_delta_rule, ssm_scan), -1 for
  // other ops;
  // and its floats per request.
  static int64_t stateOf(const Op &op);
  int64_t stateElements(const Op &op) const;

  // The value whose arena storage `id` views (itself when it has storage), and the column
  // of that storage where `id` starts.
  int64_t root(int64_t id) const;
  int64_t rootColumn(int64_t id) const;
  bool isIndex(int64_t id) const {
    return id == tokenIds || id == positions || id == sampleRows ||
           (tokenTypes >= 0 && id == tokenTypes);
  }
};

// Parses rank `rank`'s program against its metadata (weights by name, KV layout, vocabulary)
// and checks it, so that a step cannot read or write outside the arena or a weight: ids in
// range, views inside their storage, operand counts and widths as each op needs them, the
// logits as wide as the vocabulary. `groupSize`: the ranks a collective may span (the
// plan's tp, 1 when the executor runs no collectives).
Expected<Program> parseProgram(std::string_view json, const PlanMetadata &meta, int64_t stage,
                               bool lastStage, int64_t groupSize);

} // namespace modelrt::plan
