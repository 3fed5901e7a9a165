#include "runtime/engine/CpuExecutor.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

namespace modelrt::engine {

namespace {

enum class OpKind { Gemm, Fused, Attention, Rope, GatherRows, Columns, AllReduce };

struct RopeConfig {
  int64_t numHeads = 0, headDim = 0, rotaryDim = 0;
  double theta = 10000.0;
  bool interleaved = false;
  bool frequencyBands = false; // scale long wavelengths, keep short ones, blend between
  double factor = 1, lowFreqFactor = 1, highFreqFactor = 4;
  int64_t originalMaxPosition = 8192;
};

struct AttentionConfig {
  int64_t layer = 0, numHeads = 0, numKvHeads = 0, headDim = 0, slidingWindow = 0;
  double scale = 1.0;
};

struct Op {
  OpKind kind;
  std::vector<int64_t> inputs, outputs;
  const plan::WeightEntry *weight = nullptr, *bias = nullptr, *table = nullptr;
  std::string kernel;
  std::vector<const plan::WeightEntry *> weights;
  RopeConfig rope;
  AttentionConfig attention;
};

struct ValueInfo {
  int64_t width = 0;
  int64_t arenaOffset = -1; // bytes, for activations with storage
  int64_t viewOf = -1;      // for column views
  int64_t columnOffset = 0;
};

Error bad(const std::string &what) { return Error(ErrorCode::InvalidFormat, "program: " + what); }

} // namespace

struct CpuExecutor::Impl {
  std::vector<Op> ops;
  std::vector<ValueInfo> values;
  int64_t tokenIds = -1, positions = -1, sampleRows = -1, logits = -1;
  int64_t arenaRows = 0;
  std::vector<float> arena;
  std::unique_ptr<cpu::CpuKernelLibrary> kernels;
  std::map<std::string, const plan::WeightEntry *> weights;

  // Per step: rows of each value, and where its [rows, width] data starts.
  std::vector<int64_t> rows;

  float *data(int64_t id) {
    const ValueInfo &v = values[id];
    if (v.viewOf >= 0)
      return data(v.viewOf) + v.columnOffset;
    return arena.data() + v.arenaOffset / sizeof(float);
  }
  int64_t stride(int64_t id) const {
    const ValueInfo &v = values[id];
    return v.viewOf >= 0 ? stride(v.viewOf) : v.width;
  }
};

CpuExecutor::~CpuExecutor() = default;

int64_t CpuExecutor::cachedTokens(uint64_t sequence) const {
  auto it = cache_.find(sequence);
  return it == cache_.end() ? 0 : it->second.length;
}

Expected<std::unique_ptr<CpuExecutor>> CpuExecutor::load(const std::string &planPath) {
  Expected<plan::PlanFile> file = plan::PlanFile::open(planPath);
  if (!file)
    return file.error();
  Expected<plan::PlanMetadata> meta = plan::readMetadata(*file);
  if (!meta)
    return meta.error();
  if (meta->dtype != "f32" || meta->tensorParallel != 1 || meta->pipelineParallel != 1)
    return Error(ErrorCode::Unsupported, planPath +
                                             ": the CPU executor runs f32 single-rank "
                                             "plans so far (this one is " +
                                             meta->dtype + ")");
  std::unique_ptr<CpuExecutor> exec(new CpuExecutor());
  exec->file_ = std::move(*file);
  exec->meta_ = std::move(*meta);
  exec->impl_ = std::make_unique<Impl>();
  Impl &impl = *exec->impl_;
  for (const plan::WeightEntry &w : exec->meta_.weights)
    impl.weights[w.name] = &w;

  const plan::Section *image = exec->file_.find(plan::SectionKind::KernelImage);
  const plan::Section *programSection = exec->file_.find(plan::SectionKind::Program);
  if (!image || !programSection)
    return Error(ErrorCode::InvalidFormat, planPath + ": no CPU kernels or no program");
  Expected<cpu::CpuKernelLibrary> library = cpu::CpuKernelLibrary::load(image->data, image->size);
  if (!library)
    return library.error().withContext(planPath);
  impl.kernels = std::make_unique<cpu::CpuKernelLibrary>(std::move(*library));

  nlohmann::json program = nlohmann::json::parse(programSection->text(), nullptr, false);
  if (program.is_discarded())
    return bad("not JSON").withContext(planPath);
  try {
    auto weight = [&](const nlohmann::json &attrs, const char *key) -> const plan::WeightEntry * {
      if (!attrs.contains(key))
        return nullptr;
      auto it = impl.weights.find(attrs.at(key).get<std::string>());
      return it == impl.weights.end() ? nullptr : it->second;
    };
    for (const nlohmann::json &v : program.at("values")) {
      ValueInfo info;
      info.width = v.at("width").get<int64_t>();
      info.arenaOffset = v.value("arena_offset", int64_t(-1));
      info.viewOf = v.value("view_of", int64_t(-1));
      info.columnOffset = v.value("column_offset", int64_t(0));
      impl.values.push_back(info);
    }
    const nlohmann::json &inputs = program.at("inputs");
    impl.tokenIds = inputs.at("token_ids");
    impl.positions = inputs.at("positions");
    impl.sampleRows = inputs.at("sample_rows");
    impl.logits = program.at("outputs").at(0);
    impl.arenaRows = program.at("arena").at("rows");
    impl.arena.assign(program.at("arena").at("bytes").get<size_t>() / sizeof(float), 0.0f);
    for (const nlohmann::json &j : program.at("ops")) {
      Op op;
      std::string kind = j.at("op");
      const nlohmann::json &attrs = j.at("attrs");
      op.inputs = j.at("inputs").get<std::vector<int64_t>>();
      op.outputs = j.at("outputs").get<std::vector<int64_t>>();
      for (int64_t id : op.inputs)
        if (id < 0 || id >= static_cast<int64_t>(impl.values.size()))
          return bad("value id out of range").withContext(planPath);
      if (kind == "gemm") {
        op.kind = OpKind::Gemm;
        op.weight = weight(attrs, "weight");
        op.bias = weight(attrs, "bias");
        if (!op.weight)
          return bad("gemm without a known weight").withContext(planPath);
      } else if (kind == "fused") {
        op.kind = OpKind::Fused;
        op.kernel = attrs.at("kernel");
        for (const nlohmann::json &w : attrs.at("weights")) {
          auto it = impl.weights.find(w.get<std::string>());
          if (it == impl.weights.end())
            return bad("fused kernel reads an unknown weight").withContext(planPath);
          op.weights.push_back(it->second);
        }
      } else if (kind == "gather_rows") {
        op.kind = OpKind::GatherRows;
        op.table = weight(attrs, "table");
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
            return bad("unknown rope scaling '" + s.at("type").get<std::string>() + "'")
                .withContext(planPath);
          op.rope.frequencyBands = true;
          op.rope.factor = s.at("factor");
          op.rope.lowFreqFactor = s.at("low_freq_factor");
          op.rope.highFreqFactor = s.at("high_freq_factor");
          op.rope.originalMaxPosition = s.at("original_max_position");
        }
      } else if (kind == "attention") {
        op.kind = OpKind::Attention;
        const nlohmann::json &c = attrs.at("config");
        op.attention.layer = c.at("layer");
        op.attention.numHeads = c.at("num_heads");
        op.attention.numKvHeads = c.at("num_kv_heads");
        op.attention.headDim = c.at("head_dim");
        op.attention.scale = c.at("scale");
        op.attention.slidingWindow = c.value("sliding_window", int64_t(0));
      } else if (kind == "all_reduce") {
        op.kind = OpKind::AllReduce;
      } else {
        return bad("unknown op '" + kind + "'").withContext(planPath);
      }
      impl.ops.push_back(std::move(op));
    }
  } catch (const nlohmann::json::exception &e) {
    return bad(e.what()).withContext(planPath);
  }
  return exec;
}

namespace {

// One dot product in a fixed order: 8 interleaved partial sums, combined pairwise. The
// order depends only on k, never on how many rows the batch has, so a row's result is the
// same alone or batched (selective batching must not change a request's output).
inline float dot(const float *a, const float *b, int64_t k) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= k; i += 8)
    for (int l = 0; l < 8; ++l)
      acc[l] += a[i + l] * b[i + l];
  for (int l = 0; i < k; ++i, ++l)
    acc[l] += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// out[t, n] = sum_k in[t, k] * w[n, k] (+ bias[n]); rows of `in` are `inStride` apart.
// Columns are split over threads; each weight row is read once for all batch rows.
void gemm(const float *in, int64_t inStride, int64_t rows, int64_t k, const float *w, int64_t n,
          const float *bias, float *out, int64_t outStride) {
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n; ++j) {
    const float *b = w + j * k;
    for (int64_t t = 0; t < rows; ++t)
      out[t * outStride + j] = dot(in + t * inStride, b, k) + (bias ? bias[j] : 0.0f);
  }
}

std::vector<double> inverseFrequencies(const RopeConfig &c) {
  std::vector<double> inv(c.rotaryDim / 2);
  for (size_t i = 0; i < inv.size(); ++i) {
    double f = std::pow(c.theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.rotaryDim));
    if (c.frequencyBands) {
      // Wavelengths past original/low_freq_factor are slowed by `factor`, those under
      // original/high_freq_factor kept, the band between blended smoothly.
      double wavelength = 2.0 * M_PI / f;
      double lowWavelength = c.originalMaxPosition / c.lowFreqFactor;
      double highWavelength = c.originalMaxPosition / c.highFreqFactor;
      if (wavelength > lowWavelength) {
        f /= c.factor;
      } else if (wavelength >= highWavelength) {
        double smooth = (c.originalMaxPosition / wavelength - c.lowFreqFactor) /
                        (c.highFreqFactor - c.lowFreqFactor);
        f = (1.0 - smooth) * f / c.factor + smooth * f;
      }
    }
    inv[i] = f;
  }
  return inv;
}

} // namespace

Expected<std::vector<float>> CpuExecutor::step(const std::vector<int32_t> &tokens,
                                               const std::vector<SequenceChunk> &chunks) {
  Impl &impl = *impl_;
  const int64_t total = static_cast<int64_t>(tokens.size());
  int64_t sum = 0;
  std::set<uint64_t> seen;
  for (const SequenceChunk &c : chunks) {
    if (c.numTokens <= 0)
      return Error(ErrorCode::InvalidArgument, "a chunk must have at least one token");
    if (!seen.insert(c.sequence).second)
      return Error(ErrorCode::InvalidArgument,
                   "sequence " + std::to_string(c.sequence) + " appears twice in one step");
    sum += c.numTokens;
  }
  if (sum != total || total == 0)
    return Error(ErrorCode::InvalidArgument, "the chunks cover " + std::to_string(sum) +
                                                 " tokens, the batch has " + std::to_string(total));
  if (total > impl.arenaRows)
    return Error(ErrorCode::InvalidArgument, std::to_string(total) +
                                                 " tokens exceed max_num_batched_tokens " +
                                                 std::to_string(impl.arenaRows));
  for (int32_t t : tokens)
    if (t < 0 || t >= meta_.vocabSize)
      return Error(ErrorCode::InvalidArgument,
                   "token id " + std::to_string(t) + " is outside the vocabulary");

  // Batch layout: each chunk's first row, its first position, and the rows to sample.
  std::vector<int64_t> start, firstPosition;
  std::vector<int32_t> positions, sampleRows;
  int64_t row = 0;
  for (const SequenceChunk &c : chunks) {
    int64_t past = cachedTokens(c.sequence);
    if (past + c.numTokens > meta_.maxSeqLen)
      return Error(ErrorCode::InvalidArgument,
                   "sequence " + std::to_string(c.sequence) + " would exceed max_seq_len");
    start.push_back(row);
    firstPosition.push_back(past);
    for (int64_t i = 0; i < c.numTokens; ++i)
      positions.push_back(static_cast<int32_t>(past + i));
    if (c.sample)
      sampleRows.push_back(static_cast<int32_t>(row + c.numTokens - 1));
    row += c.numTokens;
  }
  for (const SequenceChunk &c : chunks) {
    SequenceCache &cache = cache_[c.sequence];
    cache.k.resize(meta_.kvCache.numLayers);
    cache.v.resize(meta_.kvCache.numLayers);
  }

  impl.rows.assign(impl.values.size(), total);
  std::vector<const int32_t *> indexInputs(impl.values.size(), nullptr);
  indexInputs[impl.tokenIds] = tokens.data();
  indexInputs[impl.positions] = positions.data();
  indexInputs[impl.sampleRows] = sampleRows.data();
  impl.rows[impl.sampleRows] = static_cast<int64_t>(sampleRows.size());

  // Runs the ops; a failure part-way leaves the caches as they were (see below).
  auto runProgram = [&]() -> Status {
    for (const Op &op : impl.ops) {
      int64_t out = op.outputs.empty() ? -1 : op.outputs[0];
      switch (op.kind) {
      case OpKind::Columns:
        impl.rows[out] = impl.rows[op.inputs[0]];
        break;
      case OpKind::GatherRows: {
        int64_t index = op.inputs.back();
        const int32_t *ids = indexInputs[index];
        int64_t n = impl.rows[index], width = impl.values[out].width;
        float *dst = impl.data(out);
        for (int64_t r = 0; r < n; ++r) {
          const float *src;
          if (op.table) {
            if (static_cast<uint64_t>(ids[r]) >= op.table->shape[0])
              return Error(ErrorCode::InvalidArgument,
                           "row " + std::to_string(ids[r]) + " is outside table " + op.table->name);
            src = reinterpret_cast<const float *>(op.table->data) + int64_t(ids[r]) * width;
          } else {
            src = impl.data(op.inputs[0]) + int64_t(ids[r]) * impl.stride(op.inputs[0]);
          }
          std::memcpy(dst + r * impl.stride(out), src, width * sizeof(float));
        }
        impl.rows[out] = n;
        break;
      }
      case OpKind::Gemm: {
        int64_t in = op.inputs[0];
        impl.rows[out] = impl.rows[in];
        gemm(impl.data(in), impl.stride(in), impl.rows[in], impl.values[in].width,
             reinterpret_cast<const float *>(op.weight->data), impl.values[out].width,
             op.bias ? reinterpret_cast<const float *>(op.bias->data) : nullptr, impl.data(out),
             impl.stride(out));
        break;
      }
      case OpKind::Fused: {
        int64_t rows = impl.rows[op.inputs[0]];
        std::vector<cpu::MemRefDescriptor<float, 2>> acts;
        std::vector<cpu::MemRefDescriptor<float, 1>> vecs;
        acts.reserve(op.inputs.size() + op.outputs.size());
        vecs.reserve(op.weights.size());
        std::vector<void *> args;
        for (int64_t id : op.inputs) {
          acts.push_back(
              cpu::activationView(impl.data(id), rows, impl.values[id].width, impl.stride(id)));
          args.push_back(&acts.back());
        }
        for (const plan::WeightEntry *w : op.weights) {
          float *p = const_cast<float *>(reinterpret_cast<const float *>(w->data));
          vecs.push_back(cpu::vectorView(p, static_cast<int64_t>(w->shape[0])));
          args.push_back(&vecs.back());
        }
        for (int64_t id : op.outputs) {
          impl.rows[id] = rows;
          acts.push_back(
              cpu::activationView(impl.data(id), rows, impl.values[id].width, impl.stride(id)));
          args.push_back(&acts.back());
        }
        if (Status s = impl.kernels->call(op.kernel, args); !s)
          return s.error();
        break;
      }
      case OpKind::Rope: {
        const RopeConfig &c = op.rope;
        int64_t in = op.inputs[0];
        impl.rows[out] = impl.rows[in];
        std::vector<double> inv = inverseFrequencies(c);
        const float *src = impl.data(in);
        float *dst = impl.data(out);
        for (int64_t t = 0; t < impl.rows[in]; ++t) {
          const float *x = src + t * impl.stride(in);
          float *y = dst + t * impl.stride(out);
          std::memmove(y, x, impl.values[in].width * sizeof(float));
          for (int64_t h = 0; h < c.numHeads; ++h)
            for (int64_t i = 0; i < c.rotaryDim / 2; ++i) {
              int64_t a = h * c.headDim + (c.interleaved ? 2 * i : i);
              int64_t b = h * c.headDim + (c.interleaved ? 2 * i + 1 : i + c.rotaryDim / 2);
              double angle = positions[t] * inv[i];
              double cs = std::cos(angle), sn = std::sin(angle);
              float xa = x[a], xb = x[b];
              y[a] = static_cast<float>(xa * cs - xb * sn);
              y[b] = static_cast<float>(xb * cs + xa * sn);
            }
        }
        break;
      }
      case OpKind::Attention: {
        const AttentionConfig &c = op.attention;
        int64_t q = op.inputs[0], k = op.inputs[1], v = op.inputs[2];
        int64_t kvWidth = c.numKvHeads * c.headDim, group = c.numHeads / c.numKvHeads;
        impl.rows[out] = impl.rows[q];
        for (size_t r = 0; r < chunks.size(); ++r) {
          SequenceCache &cache = cache_[chunks[r].sequence];
          std::vector<float> &kc = cache.k[c.layer], &vc = cache.v[c.layer];
          for (int64_t i = 0; i < chunks[r].numTokens; ++i) {
            const float *kr = impl.data(k) + (start[r] + i) * impl.stride(k);
            const float *vr = impl.data(v) + (start[r] + i) * impl.stride(v);
            kc.insert(kc.end(), kr, kr + kvWidth);
            vc.insert(vc.end(), vr, vr + kvWidth);
          }
          std::vector<double> scores;
          for (int64_t i = 0; i < chunks[r].numTokens; ++i) {
            int64_t pos = firstPosition[r] + i;
            int64_t from =
                c.slidingWindow > 0 ? std::max<int64_t>(0, pos - c.slidingWindow + 1) : 0;
            const float *qr = impl.data(q) + (start[r] + i) * impl.stride(q);
            float *o = impl.data(out) + (start[r] + i) * impl.stride(out);
            for (int64_t h = 0; h < c.numHeads; ++h) {
              int64_t kvh = h / group;
              scores.assign(pos + 1 - from, 0.0);
              double maxScore = -INFINITY;
              for (int64_t p = from; p <= pos; ++p) {
                double s = 0;
                for (int64_t d = 0; d < c.headDim; ++d)
                  s += double(qr[h * c.headDim + d]) * kc[p * kvWidth + kvh * c.headDim + d];
                scores[p - from] = s * c.scale;
                maxScore = std::max(maxScore, scores[p - from]);
              }
              double denom = 0;
              for (double &s : scores)
                denom += (s = std::exp(s - maxScore));
              for (int64_t d = 0; d < c.headDim; ++d) {
                double acc = 0;
                for (int64_t p = from; p <= pos; ++p)
                  acc += scores[p - from] * vc[p * kvWidth + kvh * c.headDim + d];
                o[h * c.headDim + d] = static_cast<float>(acc / denom);
              }
            }
          }
        }
        break;
      }
      case OpKind::AllReduce:
        return Error(ErrorCode::Unsupported, "all_reduce needs more than one rank");
      }
    }
    return Status::success();
  };
  if (Status ran = runProgram(); !ran) {
    const size_t kvWidth = static_cast<size_t>(meta_.kvCache.numKvHeads * meta_.kvCache.headDim);
    for (const SequenceChunk &c : chunks) {
      SequenceCache &cache = cache_[c.sequence];
      for (auto *layers : {&cache.k, &cache.v})
        for (std::vector<float> &layer : *layers)
          layer.resize(std::min(layer.size(), static_cast<size_t>(cache.length) * kvWidth));
      if (cache.length == 0)
        cache_.erase(c.sequence);
    }
    return ran.error();
  }
  for (const SequenceChunk &c : chunks)
    cache_[c.sequence].length += c.numTokens;

  int64_t vocab = impl.values[impl.logits].width, n = impl.rows[impl.logits];
  std::vector<float> logits(n * vocab);
  for (int64_t r = 0; r < n; ++r)
    std::memcpy(logits.data() + r * vocab, impl.data(impl.logits) + r * impl.stride(impl.logits),
                vocab * sizeof(float));
  return logits;
}

} // namespace modelrt::engine
