#include "runtime/plan/Program.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace modelrt::plan {

const char *opKindName(OpKind kind) {
  switch (kind) {
  case OpKind::Gemm:
    return "gemm";
  case OpKind::Fused:
    return "fused";
  case OpKind::Attention:
    return "attention";
  case OpKind::CausalConv1d:
    return "causal_conv1d";
  case OpKind::GatedDeltaRule:
    return "gated_delta_rule";
  case OpKind::SsmScan:
    return "ssm_scan";
  case OpKind::Rope:
    return "rope";
  case OpKind::GatherRows:
    return "gather_rows";
  case OpKind::Columns:
    return "columns";
  case OpKind::AllReduce:
    return "all_reduce";
  case OpKind::AllGather:
    return "all_gather";
  case OpKind::Send:
    return "send";
  case OpKind::Recv:
    return "recv";
  case OpKind::Moe:
    return "moe";
  case OpKind::Concat:
    return "concat";
  }
  return "?";
}

std::vector<double> inverseFrequencies(const RopeConfig &c) {
  std::vector<double> inv(c.rotaryDim / 2);
  for (size_t i = 0; i < inv.size(); ++i) {
    double f = std::pow(c.theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.rotaryDim));
    if (c.frequencyBands) {
      // Wavelengths past original/low_freq_factor are slowed by `factor`, those under
      // original/high_freq_factor kept, the band between blended smoothly (no band when
      // the two factors are equal).
      double wavelength = 2.0 * M_PI / f;
      double lowWavelength = c.originalMaxPosition / c.lowFreqFactor;
      double highWavelength = c.originalMaxPosition / c.highFreqFactor;
      if (wavelength > lowWavelength) {
        f /= c.factor;
      } else if (wavelength >= highWavelength && c.highFreqFactor > c.lowFreqFactor) {
        double smooth = (c.originalMaxPosition / wavelength - c.lowFreqFactor) /
                        (c.highFreqFactor - c.lowFreqFactor);
        f = (1.0 - smooth) * f / c.factor + smooth * f;
      }
    }
    if (!c.frequencyFactors.empty())
      f /= c.frequencyFactors[i];
    inv[i] = f / c.linearFactor;
  }
  return inv;
}

int64_t Program::root(int64_t id) const {
  while (values[id].viewOf >= 0)
    id = values[id].viewOf;
  return id;
}

int64_t Program::rootColumn(int64_t id) const {
  int64_t column = 0;
  for (; values[id].viewOf >= 0; id = values[id].viewOf)
    column += values[id].columnOffset;
  return column;
}

namespace {

Error bad(const std::string &what) { return Error(ErrorCode::InvalidFormat, "program: " + what); }

bool valueDType(const std::string &name, DType &dtype) {
  static const std::map<std::string, DType> kinds = {
      {"f32", DType::F32}, {"bf16", DType::BF16}, {"f16", DType::F16}, {"i32", DType::I32}};
  auto it = kinds.find(name);
  if (it == kinds.end())
    return false;
  dtype = it->second;
  return true;
}

Status checkProgram(const Program &p, const PlanMetadata &meta, int64_t stage, bool lastStage,
                    int64_t groupSize) {
  const int64_t n = static_cast<int64_t>(p.values.size());
  auto inRange = [&](int64_t id) { return id >= 0 && id < n; };
  // Which value holds each value's storage (-1: none, an index input).
  std::vector<int64_t> root(n, -1);
  for (int64_t id = 0; id < n; ++id) {
    const ValueInfo &v = p.values[id];
    if (v.width < 1 || v.width > (int64_t(1) << 24))
      return bad("value " + std::to_string(id) + " has width " + std::to_string(v.width));
    int64_t at = id, steps = 0, columns = 0;
    while (p.values[at].viewOf >= 0) {
      if (!inRange(p.values[at].viewOf) || ++steps > n || p.values[at].columnOffset < 0)
        return bad("value " + std::to_string(id) + " is a view of nothing valid");
      columns += p.values[at].columnOffset;
      at = p.values[at].viewOf;
    }
    const ValueInfo &r = p.values[at];
    if (r.dtype != v.dtype)
      return bad("value " + std::to_string(id) + " views storage of another element type");
    if (r.arenaOffset >= 0) {
      const int64_t bytes = dtypeInfo(r.dtype).blockBytes;
      if (r.dtype == DType::I32 || r.arenaOffset % bytes ||
          r.arenaOffset + p.arenaRows * r.width * bytes > p.arenaBytes)
        return bad("value " + std::to_string(at) + " lies outside the arena");
      if (columns + v.width > r.width)
        return bad("value " + std::to_string(id) + " reaches past the columns of its storage");
      root[id] = at;
    }
  }
  auto stored = [&](int64_t id) { return inRange(id) && root[id] >= 0; };
  for (int64_t id : {p.tokenIds, p.positions, p.sampleRows})
    if (!inRange(id) || p.values[id].dtype != DType::I32 || root[id] >= 0)
      return bad("a program input is not an i32 index vector");
  if (p.tokenTypes >= 0 &&
      (!inRange(p.tokenTypes) || p.values[p.tokenTypes].dtype != DType::I32 ||
       root[p.tokenTypes] >= 0))
    return bad("a program input is not an i32 index vector");
  const int64_t types = meta.classifier ? meta.classifier->tokenTypes : 0;
  if ((p.tokenTypes >= 0) != (types > 0))
    return bad(p.tokenTypes >= 0 ? "the program takes token types the metadata does not count"
                                 : "the metadata counts token types the program does not take");
  // Every program ends in the logits but a pipeline stage's before the last.
  if (p.logits < 0 ? lastStage
                   : !stored(p.logits) || p.values[p.logits].width != meta.outputWidth() ||
                         p.values[p.logits].dtype != DType::F32)
    return bad(lastStage ? (meta.pooling ? "the embeddings are not a stored f32 value of "
                                           "pooling.dimensions columns"
                                         : "the logits are not a stored f32 value of vocab_size columns")
                         : "a pipeline stage before the last returns logits");
  // Each recurrent state belongs to one op (its size is that op's).
  std::vector<bool> stateUsed(static_cast<size_t>(meta.numRecurrentStates), false);
  for (const Op &op : p.ops)
    if (const int64_t s = Program::stateOf(op); s >= 0) {
      if (stateUsed[static_cast<size_t>(s)])
        return bad("recurrent state " + std::to_string(s) + " is kept by two ops");
      stateUsed[static_cast<size_t>(s)] = true;
    }
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const Op &op = p.ops[i];
    const std::string which = "op " + std::to_string(i) + " (" + opKindName(op.kind) + "): ";
    auto count = [&](size_t inputs, size_t outputs) {
      return op.inputs.size() == inputs && op.outputs.size() == outputs;
    };
    auto allStored = [&](const std::vector<int64_t> &ids) {
      return std::all_of(ids.begin(), ids.end(), stored);
    };
    auto width = [&](int64_t id) { return p.values[id].width; };
    auto dtype = [&](int64_t id) { return p.values[id].dtype; };
    bool ok = true;
    switch (op.kind) {
    case OpKind::Gemm: { // per head (heads > 1): [T, H K] x H blocks -> [T, H N]
      const uint64_t h = static_cast<uint64_t>(op.gemmHeads);
      ok = count(1, 1) && allStored(op.inputs) && allStored(op.outputs) &&
           width(op.inputs[0]) % op.gemmHeads == 0 && width(op.outputs[0]) % op.gemmHeads == 0;
      const uint64_t k = ok ? static_cast<uint64_t>(width(op.inputs[0])) / h : 0,
                     n = ok ? static_cast<uint64_t>(width(op.outputs[0])) / h : 0;
      ok = ok && (op.gemmInputRows ? op.weight->shape == std::vector<uint64_t>{h * k, n}
                                   : op.weight->shape == std::vector<uint64_t>{h * n, k});
      break;
    }
    case OpKind::Fused:
      ok = !op.inputs.empty() && !op.outputs.empty() && allStored(op.inputs) &&
           allStored(op.outputs);
      break;
    case OpKind::Columns:
      ok = count(1, 1) && stored(op.inputs[0]) && stored(op.outputs[0]) &&
           root[op.outputs[0]] == root[op.inputs[0]];
      break;
    case OpKind::GatherRows:
      ok = op.outputs.size() == 1 && stored(op.outputs[0]) && !op.inputs.empty() &&
           p.isIndex(op.inputs.back()) &&
           (op.table ? op.inputs.size() == 1 &&
                           width(op.outputs[0]) == static_cast<int64_t>(op.table->shape[1])
                     : op.inputs.size() == 2 && stored(op.inputs[0]) &&
                           width(op.inputs[0]) == width(op.outputs[0]) &&
                           dtype(op.inputs[0]) == dtype(op.outputs[0]));
      break;
    case OpKind::Rope: // x, positions
      ok = count(2, 1) && stored(op.inputs[0]) && p.isIndex(op.inputs[1]) &&
           stored(op.outputs[0]) && width(op.inputs[0]) == width(op.outputs[0]) &&
           dtype(op.inputs[0]) == dtype(op.outputs[0]) &&
           op.rope.numHeads * op.rope.headDim == width(op.inputs[0]);
      break;
    case OpKind::Attention: {
      const AttentionConfig &a = op.attention;
      const KvCacheLayout &kv = meta.kvCache;
      ok = count(3, 1) && allStored(op.inputs) && allStored(op.outputs) && a.layer >= 0 &&
           a.layer < kv.numLayers && a.numKvHeads == kv.numKvHeads && a.headDim == kv.headDim &&
           a.valueHeadDim == kv.valueHeadDim && a.valueInKey == kv.valuesInKeys &&
           a.numKvHeads > 0 && a.numHeads % a.numKvHeads == 0 &&
           width(op.inputs[0]) == a.numHeads * a.headDim &&
           width(op.inputs[1]) == a.numKvHeads * a.headDim &&
           (a.valueInKey ? op.inputs[2] == op.inputs[1] && a.valueHeadDim <= a.headDim
                         : width(op.inputs[2]) == a.numKvHeads * a.valueHeadDim) &&
           width(op.outputs[0]) == a.numHeads * a.valueHeadDim &&
           (!a.sinks || a.sinks->shape == std::vector<uint64_t>{uint64_t(a.numHeads)});
      ok = ok && dtype(op.inputs[1]) == dtype(op.inputs[0]) &&
           dtype(op.inputs[2]) == dtype(op.inputs[0]) &&
           dtype(op.outputs[0]) == dtype(op.inputs[0]);
      break;
    }
    case OpKind::CausalConv1d: { // x [rows, C] -> [rows, C]; weight [C, K], bias [C]
      const uint64_t ch = static_cast<uint64_t>(width(op.inputs[0]));
      ok = count(1, 1) && stored(op.inputs[0]) && stored(op.outputs[0]) &&
           width(op.outputs[0]) == width(op.inputs[0]) &&
           dtype(op.outputs[0]) == dtype(op.inputs[0]) &&
           op.weight->shape == std::vector<uint64_t>{ch, uint64_t(op.conv.kernelSize)} &&
           (!op.bias || op.bias->shape == std::vector<uint64_t>{ch});
      break;
    }
    case OpKind::GatedDeltaRule: { // q, k [rows, Hk dk], v [rows, Hv dv], a, b [rows, Hv]
      const DeltaRuleConfig &d = op.delta;
      ok = count(5, 1) && allStored(op.inputs) && allStored(op.outputs) &&
           width(op.inputs[0]) == d.numKHeads * d.keyHeadDim &&
           width(op.inputs[1]) == d.numKHeads * d.keyHeadDim &&
           width(op.inputs[2]) == d.numVHeads * d.valueHeadDim &&
           width(op.inputs[3]) == d.numVHeads && width(op.inputs[4]) == d.numVHeads &&
           width(op.outputs[0]) == d.numVHeads * d.valueHeadDim;
      for (size_t i = 1; ok && i < op.inputs.size(); ++i)
        ok = dtype(op.inputs[i]) == dtype(op.inputs[0]);
      ok = ok && dtype(op.outputs[0]) == dtype(op.inputs[0]);
      break;
    }
    case OpKind::SsmScan: { // x [rows, H P], dt [rows, H], b, c [rows, G N]
      const SsmConfig &m = op.ssm;
      ok = count(4, 1) && allStored(op.inputs) && allStored(op.outputs) &&
           width(op.inputs[0]) == m.numHeads * m.headDim && width(op.inputs[1]) == m.numHeads &&
           width(op.inputs[2]) == m.numGroups * m.stateSize &&
           width(op.inputs[3]) == m.numGroups * m.stateSize &&
           width(op.outputs[0]) == m.numHeads * m.headDim;
      for (size_t i = 1; ok && i < op.inputs.size(); ++i)
        ok = dtype(op.inputs[i]) == dtype(op.inputs[0]);
      ok = ok && dtype(op.outputs[0]) == dtype(op.inputs[0]);
      break;
    }
    case OpKind::Moe: { // x [rows, D], router logits [rows, E] (, shared [rows, D] (, its
                        // gate [rows, 1])) -> [rows, D]
      const MoeConfig &m = op.moe;
      ok = op.inputs.size() >= 2 && op.inputs.size() <= 4 && op.outputs.size() == 1 &&
           allStored(op.inputs) && allStored(op.outputs) &&
           dtype(op.outputs[0]) == dtype(op.inputs[0]) &&
           width(op.outputs[0]) == width(op.inputs[0]) && width(op.inputs[1]) == m.numExperts &&
           (op.inputs.size() < 3 || (width(op.inputs[2]) == width(op.inputs[0]) &&
                                     dtype(op.inputs[2]) == dtype(op.inputs[0]))) &&
           (op.inputs.size() < 4 ||
            (width(op.inputs[3]) == 1 && dtype(op.inputs[3]) == dtype(op.inputs[0])));
      if (ok) {
        const uint64_t e = static_cast<uint64_t>(m.numExperts),
                       i = static_cast<uint64_t>(m.intermediate),
                       d = static_cast<uint64_t>(width(op.inputs[0]));
        ok = op.weights[0]->shape == std::vector<uint64_t>{e * i, d} &&
             op.weights[1]->shape == std::vector<uint64_t>{e * i, d} &&
             op.weights[2]->shape == std::vector<uint64_t>{e * d, i} &&
             (!m.gateBias || m.gateBias->shape == std::vector<uint64_t>{e, i}) &&
             (!m.upBias || m.upBias->shape == std::vector<uint64_t>{e, i}) &&
             (!m.downBias || m.downBias->shape == std::vector<uint64_t>{e, d});
      }
      break;
    }
    case OpKind::Concat: { // inputs' heads joined, a shared input repeated in every head
      ok = !op.inputs.empty() && op.outputs.size() == 1 && allStored(op.inputs) &&
           allStored(op.outputs) && op.concatShared.size() == op.inputs.size() &&
           op.concatHeads > 0;
      int64_t perHead = 0;
      for (size_t i = 0; ok && i < op.inputs.size(); ++i) {
        const int64_t w = width(op.inputs[i]);
        ok = dtype(op.inputs[i]) == dtype(op.outputs[0]) &&
             (op.concatShared[i] || w % op.concatHeads == 0);
        perHead += op.concatShared[i] ? w : w / op.concatHeads;
      }
      ok = ok && width(op.outputs[0]) == op.concatHeads * perHead;
      break;
    }
    case OpKind::Send: // a stored [rows, width] to the next stage
      ok = count(1, 0) && stored(op.inputs[0]) && !lastStage;
      break;
    case OpKind::Recv: // a stored [rows, width] from the stage before
      ok = count(0, 1) && stored(op.outputs[0]) && stage > 0;
      break;
    case OpKind::AllReduce: // a contiguous [rows, width] partial, summed into the output
    case OpKind::AllGather: // a contiguous [rows, width], gathered into [rows, ranks x width]
      ok = count(1, 1) && stored(op.inputs[0]) && stored(op.outputs[0]) &&
           p.values[op.inputs[0]].viewOf < 0 && p.values[op.outputs[0]].viewOf < 0 &&
           groupSize > 1 && op.groupSize == groupSize &&
           width(op.outputs[0]) ==
               width(op.inputs[0]) * (op.kind == OpKind::AllGather ? op.groupSize : 1);
      break;
    }
    if (!ok)
      return bad(which + "its operands do not fit the op");
  }
  return Status::success();
}

} // namespace

int64_t Program::stateOf(const Op &op) {
  return op.kind == OpKind::CausalConv1d     ? op.conv.state
         : op.kind == OpKind::GatedDeltaRule ? op.delta.state
         : op.kind == OpKind::SsmScan        ? op.ssm.state
                                             : -1;
}

int64_t Program::stateElements(const Op &op) const {
  if (op.kind == OpKind::CausalConv1d)
    return (op.conv.kernelSize - 1) * values[op.inputs[0]].width;
  if (op.kind == OpKind::GatedDeltaRule)
    return op.delta.numVHeads * op.delta.keyHeadDim * op.delta.valueHeadDim;
  if (op.kind == OpKind::SsmScan)
    return op.ssm.numHeads * op.ssm.headDim * op.ssm.stateSize;
  return 0;
}

Expected<Program> parseProgram(std::string_view text, const PlanMetadata &meta, int64_t stage,
                               bool lastStage, int64_t groupSize) {
  nlohmann::json program = nlohmann::json::parse(text, nullptr, false);
  if (program.is_discarded())
    return bad("not JSON");
  std::map<std::string, const WeightEntry *> weights;
  for (const WeightEntry &w : meta.weights)
    weights[w.name] = &w;
  Program p;
  try {
    auto weight = [&](const nlohmann::json &attrs, const char *key) -> const WeightEntry * {
      if (!attrs.contains(key))
        return nullptr;
      auto it = weights.find(attrs.at(key).get<std::string>());
      return it == weights.end() ? nullptr : it->second;
    };
    // A recurrent-state op's `state`: one of the plan's.
    auto stateIndex = [&](const nlohmann::json &c, const std::string &kind,
                          int64_t &state) -> Status {
      state = c.at("state");
      if (state < 0 || state >= meta.numRecurrentStates)
        return bad(kind + " state " + std::to_string(state) + " is not one of the plan's " +
                   std::to_string(meta.numRecurrentStates) + " recurrent states");
      return Status::success();
    };
    // Weights of one value per head, named by `keys`.
    auto perHead = [&](const nlohmann::json &c, const std::string &kind, int64_t heads,
                       std::initializer_list<std::pair<const char *, const WeightEntry **>> keys)
        -> Status {
      for (auto [key, slot] : keys)
        if (!(*slot = weight(c, key)) || (*slot)->shape != std::vector<uint64_t>{uint64_t(heads)})
          return bad(kind + " " + key + " is not a plan weight of one value per head");
      return Status::success();
    };
    for (const nlohmann::json &v : program.at("values")) {
      ValueInfo info;
      info.width = v.at("width").get<int64_t>();
      // Plans before per-value dtypes held f32 activations and i32 indices only.
      const std::string dtype = v.value("dtype", std::string(""));
      if (!dtype.empty() && !valueDType(dtype, info.dtype))
        return bad("value of unknown element type '" + dtype + "'");
      info.arenaOffset = v.value("arena_offset", int64_t(-1));
      info.viewOf = v.value("view_of", int64_t(-1));
      info.columnOffset = v.value("column_offset", int64_t(0));
      p.values.push_back(info);
    }
    const nlohmann::json &inputs = program.at("inputs");
    p.tokenIds = inputs.at("token_ids");
    p.positions = inputs.at("positions");
    p.sampleRows = inputs.at("sample_rows");
    p.tokenTypes = inputs.value("token_types", int64_t(-1));
    if (p.tokenTypes >= 0 && p.tokenTypes < static_cast<int64_t>(p.values.size()))
      p.values[p.tokenTypes].dtype = DType::I32;
    for (int64_t id : {p.tokenIds, p.positions, p.sampleRows})
      if (id >= 0 && id < static_cast<int64_t>(p.values.size()))
        p.values[id].dtype = DType::I32;
    const nlohmann::json &outputs = program.at("outputs");
    p.logits = outputs.empty() ? -1 : outputs.at(0).get<int64_t>();
    p.arenaRows = program.at("arena").at("rows");
    p.arenaBytes = program.at("arena").at("bytes");
    if (p.arenaRows < 1 || p.arenaRows > meta.maxNumBatchedTokens || p.arenaBytes < 0 ||
        p.arenaBytes > (int64_t(1) << 36))
      return bad("the activation arena (" + std::to_string(p.arenaBytes) + " bytes, " +
                 std::to_string(p.arenaRows) + " rows) is out of range");
    for (const nlohmann::json &j : program.at("ops")) {
      Op op;
      std::string kind = j.at("op");
      const nlohmann::json &attrs = j.at("attrs");
      op.inputs = j.at("inputs").get<std::vector<int64_t>>();
      op.outputs = j.at("outputs").get<std::vector<int64_t>>();
      for (const std::vector<int64_t> *ids : {&op.inputs, &op.outputs})
        for (int64_t id : *ids)
          if (id < 0 || id >= static_cast<int64_t>(p.values.size()))
            return bad("value id out of range");
      if (kind == "gemm") {
        op.kind = OpKind::Gemm;
        op.weight = weight(attrs, "weight");
        op.bias = weight(attrs, "bias");
        if (!op.weight)
          return bad("gemm without a known weight");
        if (op.weight->shape.size() != 2)
          return bad("gemm weight " + op.weight->name + " is not a matrix");
        if (op.bias && (op.bias->shape.size() != 1 || op.bias->shape[0] != op.weight->shape[0]))
          return bad("gemm bias " + op.bias->name + " is not a vector of the output width");
        op.gemmHeads = attrs.value("num_heads", int64_t(1));
        op.gemmInputRows = attrs.value("input_rows", false);
        if (op.gemmHeads < 1 || op.gemmHeads > 65536 ||
            ((op.gemmHeads > 1 || op.gemmInputRows) && op.bias))
          return bad("gemm num_heads must be in [1, 65536], and a gemm of heads has no bias");
      } else if (kind == "fused") {
        op.kind = OpKind::Fused;
        op.kernel = attrs.at("kernel");
        op.cudaKernel = attrs.value("cuda_kernel", std::string());
        op.cudaBlockSize = attrs.value("cuda_block_size", int64_t(0));
        for (const nlohmann::json &w : attrs.at("weights")) {
          auto it = weights.find(w.get<std::string>());
          if (it == weights.end())
            return bad("fused kernel reads an unknown weight");
          if (it->second->shape.size() != 1)
            return bad("fused kernel weight " + it->second->name + " is not a vector");
          op.weights.push_back(it->second);
        }
      } else if (kind == "gather_rows") {
        op.kind = OpKind::GatherRows;
        op.table = weight(attrs, "table");
        op.rowOffset = attrs.value("row_offset", int64_t(-1));
        if (attrs.contains("row_offset") && (!op.table || op.rowOffset < 0))
          return bad("gather_rows has a row_offset but no table shard");
        if (op.table && op.table->shape.size() != 2)
          return bad("gather table " + op.table->name + " is not a matrix");
      } else if (kind == "columns") {
        op.kind = OpKind::Columns;
      } else if (kind == "rope") {
        op.kind = OpKind::Rope;
        const nlohmann::json &c = attrs.at("config");
        op.rope.numHeads = c.at("num_heads");
        op.rope.headDim = c.at("head_dim");
        op.rope.rotaryDim = c.at("rotary_dim");
        op.rope.theta = c.at("theta");
        op.rope.interleaved = c.value("interleaved", false);
        if (c.contains("scaling")) {
          const nlohmann::json &s = c.at("scaling");
          if (s.at("type") != "frequency_bands")
            return bad("unknown rope scaling '" + s.at("type").get<std::string>() + "'");
          op.rope.frequencyBands = true;
          op.rope.factor = s.at("factor");
          op.rope.lowFreqFactor = s.at("low_freq_factor");
          op.rope.highFreqFactor = s.at("high_freq_factor");
          op.rope.originalMaxPosition = s.at("original_max_position");
        }
        op.rope.linearFactor = c.value("linear_scaling", 1.0);
        if (!(op.rope.linearFactor >= 1.0))
          return bad("rope linear_scaling must be at least 1");
        op.rope.magnitude = c.value("magnitude", 1.0);
        if (!(op.rope.magnitude > 0.0 && op.rope.magnitude < 1e6))
          return bad("rope magnitude must be positive");
        if (c.contains("frequency_factors")) {
          op.rope.frequencyFactors = c.at("frequency_factors").get<std::vector<double>>();
          if (static_cast<int64_t>(op.rope.frequencyFactors.size()) * 2 != c.at("rotary_dim"))
            return bad("rope frequency_factors must hold rotary_dim / 2 values");
          for (double f : op.rope.frequencyFactors)
            if (!(f > 0.0 && f < 1e30))
              return bad("rope frequency_factors must be positive");
        }
        if (op.rope.rotaryDim < 0 || op.rope.rotaryDim % 2 || op.rope.rotaryDim > op.rope.headDim)
          return bad("rope rotary_dim does not fit the head");
        if (c.contains("norm_weight") || c.contains("norm_eps")) {
          op.rope.norm = true;
          if (c.contains("norm_weight")) {
            op.weight = weight(c, "norm_weight");
            if (!op.weight)
              return bad("rope norm weight '" + c.at("norm_weight").get<std::string>() +
                         "' is not in the weight table");
            if (op.weight->shape != std::vector<uint64_t>{uint64_t(op.rope.headDim)})
              return bad("rope norm weight " + op.weight->name + " is not [head_dim]");
          }
          op.rope.normEps = c.at("norm_eps");
          if (!(op.rope.normEps > 0.0))
            return bad("rope norm_eps must be positive");
          op.rope.normWeightOffset = c.value("norm_weight_offset", 0.0);
          if (!std::isfinite(op.rope.normWeightOffset))
            return bad("rope norm_weight_offset must be finite");
        }
        if (c.contains("temperature_floor") || c.contains("temperature_scale")) {
          op.rope.temperatureFloor = c.at("temperature_floor");
          op.rope.temperatureScale = c.at("temperature_scale");
          op.rope.temperatureOffset = c.value("temperature_offset", int64_t(0));
          if (op.rope.temperatureFloor < 1 || !std::isfinite(op.rope.temperatureScale) ||
              op.rope.temperatureOffset < 0 || op.rope.temperatureOffset > (int64_t(1) << 40))
            return bad("rope temperature_floor must be positive, temperature_scale finite and "
                       "temperature_offset non-negative");
        }
        op.inverseFrequencies = inverseFrequencies(op.rope);
      } else if (kind == "attention") {
        op.kind = OpKind::Attention;
        const nlohmann::json &c = attrs.at("config");
        op.attention.layer = c.at("layer");
        op.attention.numHeads = c.at("num_heads");
        op.attention.numKvHeads = c.at("num_kv_heads");
        op.attention.headDim = c.at("head_dim");
        op.attention.scale = c.at("scale");
        op.attention.slidingWindow = c.value("sliding_window", int64_t(0));
        op.attention.chunkSize = c.value("chunk_size", int64_t(0));
        if (op.attention.slidingWindow < 0 || op.attention.chunkSize < 0 ||
            (op.attention.slidingWindow > 0 && op.attention.chunkSize > 0))
          return bad("attention sliding_window and chunk_size must be positive, and not both");
        op.attention.bidirectional = c.value("bidirectional", false);
        if (op.attention.bidirectional != meta.bidirectional)
          return bad(op.attention.bidirectional
                         ? "bidirectional attention in a plan whose metadata does not say "
                           "bidirectional"
                         : "causal attention in a plan whose metadata says bidirectional");
        if (op.attention.bidirectional &&
            (op.attention.slidingWindow > 0 || op.attention.chunkSize > 0))
          return bad("bidirectional attention with a sliding_window or chunk_size");
        op.attention.valueHeadDim = c.value("value_head_dim", op.attention.headDim);
        op.attention.valueInKey = c.value("value_in_key", false);
        op.attention.softcap = c.value("logit_softcap", 0.0);
        if (c.contains("logit_softcap") &&
            !(op.attention.softcap > 0.0 && op.attention.softcap < 1e30))
          return bad("attention logit_softcap must be positive");
        if (c.contains("sinks") && !(op.attention.sinks = weight(c, "sinks")))
          return bad("attention sinks weight " + c.at("sinks").dump() + " is not in the plan");
      } else if (kind == "causal_conv1d") {
        op.kind = OpKind::CausalConv1d;
        const nlohmann::json &c = attrs.at("config");
        if (Status st = stateIndex(c, kind, op.conv.state); !st)
          return st.error();
        op.conv.kernelSize = c.at("kernel_size");
        const std::string activation = c.value("activation", std::string());
        if (!activation.empty() && activation != "silu")
          return bad("causal_conv1d activation '" + activation + "' is not silu");
        op.conv.silu = activation == "silu";
        if (op.conv.kernelSize < 2 || op.conv.kernelSize > 64)
          return bad("causal_conv1d kernel_size must be in [2, 64]");
        if (!(op.weight = weight(c, "weight")))
          return bad("causal_conv1d without a known weight");
        if (c.contains("bias") && !(op.bias = weight(c, "bias")))
          return bad("causal_conv1d bias " + c.at("bias").dump() + " is not in the plan");
      } else if (kind == "gated_delta_rule") {
        op.kind = OpKind::GatedDeltaRule;
        const nlohmann::json &c = attrs.at("config");
        DeltaRuleConfig &d = op.delta;
        if (Status st = stateIndex(c, kind, d.state); !st)
          return st.error();
        d.numKHeads = c.at("num_k_heads");
        d.numVHeads = c.at("num_v_heads");
        d.keyHeadDim = c.at("key_head_dim");
        d.valueHeadDim = c.at("value_head_dim");
        if (d.numKHeads < 1 || d.numVHeads < 1 || d.numVHeads > 4096 ||
            d.numVHeads % d.numKHeads != 0 || d.keyHeadDim < 1 || d.keyHeadDim > 1024 ||
            d.valueHeadDim < 1 || d.valueHeadDim > 1024)
          return bad("gated_delta_rule heads or head dims out of range");
        if (Status st = perHead(c, kind, d.numVHeads,
                                {{"a_log", &d.aLog}, {"dt_bias", &d.dtBias}});
            !st)
          return st.error();
      } else if (kind == "ssm_scan") {
        op.kind = OpKind::SsmScan;
        const nlohmann::json &c = attrs.at("config");
        SsmConfig &m = op.ssm;
        if (Status st = stateIndex(c, kind, m.state); !st)
          return st.error();
        m.numHeads = c.at("num_heads");
        m.headDim = c.at("head_dim");
        m.numGroups = c.at("num_groups");
        m.stateSize = c.at("state_size");
        if (m.numHeads < 1 || m.numHeads > 65536 || m.numGroups < 1 ||
            m.numHeads % m.numGroups != 0 || m.headDim < 1 || m.headDim > 4096 ||
            m.stateSize < 1 || m.stateSize > 4096)
          return bad("ssm_scan heads, groups or sizes out of range");
        if (Status st = perHead(c, kind, m.numHeads,
                                {{"a_log", &m.aLog}, {"dt_bias", &m.dtBias}, {"d", &m.d}});
            !st)
          return st.error();
      } else if (kind == "moe") {
        op.kind = OpKind::Moe;
        for (const char *role : {"gate", "up", "down"}) {
          const WeightEntry *w = weight(attrs, role);
          if (!w)
            return bad(std::string("moe without a known ") + role + " weight");
          if (w->shape.size() != 2)
            return bad("moe " + std::string(role) + " weight " + w->name + " is not a matrix");
          op.weights.push_back(w);
        }
        op.moe.numExperts = attrs.at("num_experts");
        op.moe.topK = attrs.at("top_k");
        op.moe.normalizeTopK = attrs.value("normalize_top_k", false);
        op.moe.roundWeights = attrs.value("round_weights", false);
        for (auto [role, slot] : {std::pair("gate_bias", &op.moe.gateBias),
                                  std::pair("up_bias", &op.moe.upBias),
                                  std::pair("down_bias", &op.moe.downBias)})
          if (attrs.contains(role) && !(*slot = weight(attrs, role)))
            return bad(std::string("moe ") + role + " weight " + attrs.at(role).dump() +
                       " is not in the plan");
        if (attrs.contains("swiglu_limit") || attrs.contains("swiglu_alpha")) {
          op.moe.swigluLimit = attrs.at("swiglu_limit");
          op.moe.swigluAlpha = attrs.at("swiglu_alpha");
          if (!(op.moe.swigluLimit > 0.0 && op.moe.swigluLimit < 1e30) ||
              !std::isfinite(op.moe.swigluAlpha))
            return bad("moe swiglu_limit must be positive and swiglu_alpha finite");
        }
        if (op.moe.numExperts < 1 || op.moe.numExperts > 4096 || op.moe.topK < 1 ||
            op.moe.topK > op.moe.numExperts)
          return bad("moe needs 1 <= top_k <= num_experts <= 4096");
        op.moe.sigmoidScores = attrs.value("sigmoid_scores", false);
        op.moe.scaleInputs = attrs.value("scale_inputs", false);
        op.moe.normalizeEpsilon =
            attrs.value("normalize_epsilon", op.moe.sigmoidScores ? 1e-20 : 0.0);
        if (!(op.moe.normalizeEpsilon >= 0.0 && op.moe.normalizeEpsilon < 1.0))
          return bad("moe normalize_epsilon must be in [0, 1)");
        if (attrs.contains("score_bias")) {
          op.moe.scoreBias = weight(attrs, "score_bias");
          if (!op.moe.scoreBias || op.moe.scoreBias->shape.size() != 1 ||
              op.moe.scoreBias->shape[0] != static_cast<uint64_t>(op.moe.numExperts))
            return bad("moe score_bias " + attrs.at("score_bias").dump() +
                       " is not a plan weight of one value per expert");
        }
        op.moe.numGroups = attrs.value("num_groups", int64_t(1));
        op.moe.topGroups = attrs.value("top_groups", int64_t(1));
        op.moe.groupTop = attrs.value("group_top", int64_t(2));
        op.moe.routedScale = attrs.value("routed_scale", 1.0);
        const int64_t groups = op.moe.numGroups, perGroup = groups > 0 ? op.moe.numExperts / groups : 0;
        if (groups < 1 || op.moe.numExperts % groups || (groups > 1 && perGroup < 2) ||
            op.moe.topGroups < 1 || op.moe.topGroups > groups ||
            op.moe.topK > op.moe.topGroups * perGroup)
          return bad("moe num_groups must split the experts into groups of two or more, and "
                     "top_groups of them must hold top_k experts");
        if (groups > 1 && (op.moe.groupTop < 1 || op.moe.groupTop > perGroup))
          return bad("moe group_top must be between 1 and a group's experts");
        if (!(op.moe.routedScale > 0.0 && op.moe.routedScale < 1e30))
          return bad("moe routed_scale must be positive");
        if (op.weights[0]->shape[0] % static_cast<uint64_t>(op.moe.numExperts))
          return bad("moe gate weight " + op.weights[0]->name + " does not split into " +
                     std::to_string(op.moe.numExperts) + " experts");
        op.moe.intermediate = static_cast<int64_t>(op.weights[0]->shape[0]) / op.moe.numExperts;
      } else if (kind == "concat") {
        op.kind = OpKind::Concat;
        op.concatHeads = attrs.at("num_heads");
        if (op.concatHeads < 1 || op.concatHeads > 65536)
          return bad("concat num_heads must be in [1, 65536]");
        op.concatShared.assign(op.inputs.size(), false);
        if (attrs.contains("shared"))
          for (int64_t i : attrs.at("shared").get<std::vector<int64_t>>()) {
            if (i < 0 || static_cast<size_t>(i) >= op.inputs.size())
              return bad("concat shares input " + std::to_string(i) + ", which it does not have");
            op.concatShared[static_cast<size_t>(i)] = true;
          }
      } else if (kind == "send" || kind == "recv") {
        op.kind = kind == "send" ? OpKind::Send : OpKind::Recv;
      } else if (kind == "all_reduce" || kind == "all_gather") {
        op.kind = kind == "all_reduce" ? OpKind::AllReduce : OpKind::AllGather;
        op.groupSize = attrs.at("group_size");
      } else {
        return bad("unknown op '" + kind + "'");
      }
      p.ops.push_back(std::move(op));
    }
  } catch (const nlohmann::json::exception &e) {
    return bad(e.what());
  } catch (const std::bad_alloc &) {
    return Error(ErrorCode::ResourceExhausted, "not enough memory for the program");
  } catch (const std::exception &e) { // std::out_of_range from an operand list too short
    return bad(e.what());
  }
  if (Status valid = checkProgram(p, meta, stage, lastStage, groupSize); !valid)
    return valid.error();
  return p;
}

} // namespace modelrt::plan
