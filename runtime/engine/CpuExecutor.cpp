#include "runtime/engine/CpuExecutor.h"
#include "runtime/engine/CpuAttention.h"

#include "runtime/dist/Communicator.h"
#include "runtime/engine/CpuGemm.h"
#include "runtime/engine/CpuMoe.h"
#include "runtime/formats/Dequantize.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <set>

namespace modelrt::engine {

namespace {

using plan::Op;
using plan::OpKind;
using plan::opKindName;

struct OpProfile {
  // Every op kind, and last the LoRA updates after gemms (counted inside gemm's time too).
  static constexpr int kKinds = plan::kNumOpKinds + 1;
  double seconds[kKinds] = {};
  int64_t calls[kKinds] = {};
  void print() const {
    double total = 0;
    for (double s : seconds)
      total += s;
    std::fprintf(stderr, "modelrt: executor time by op (MODELRT_PROFILE)\n");
    for (int k = 0; k < kKinds; ++k)
      if (calls[k])
        std::fprintf(stderr, "  %-12s %9.3f s  %5.1f%%  %9lld calls\n",
                     k < plan::kNumOpKinds ? opKindName(static_cast<OpKind>(k)) : "(lora)",
                     seconds[k],
                     total > 0 ? 100.0 * seconds[k] / total : 0.0,
                     static_cast<long long>(calls[k]));
  }
};

class OpTimer {
public:
  OpTimer(const std::unique_ptr<OpProfile> &profile, OpKind kind)
      : OpTimer(profile, static_cast<int>(kind)) {}
  OpTimer(const std::unique_ptr<OpProfile> &profile, int kind)
      : profile_(profile.get()), kind_(kind) {
    if (profile_)
      start_ = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    if (!profile_)
      return;
    profile_->seconds[kind_] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    ++profile_->calls[kind_];
  }

private:
  OpProfile *profile_;
  int kind_;
  std::chrono::steady_clock::time_point start_;
};

// Below this many element operations an op runs on one thread: waking the others costs
// more, and costs a lot when another process holds a core.
constexpr int64_t kParallelWork = 1 << 15;

Error bad(const std::string &what) { return Error(ErrorCode::InvalidFormat, "program: " + what); }

// Adapters one executor loads in its life (their ids are not reused).
constexpr size_t kMaxAdapterSlots = 4096;

// The most memory all recurrent states of a plan may take (max_num_seqs slots each).
constexpr int64_t kMaxStateBytes = int64_t(64) << 30;

} // namespace

struct CpuExecutor::Impl {
  struct FreeFloats {
    void operator()(float *p) const { std::free(p); }
  };

  plan::Program prog;
  std::vector<const PackedWeight *> packedOf; // per op: a gemm's weight in panels
  // The activations: zeros at load, allocated untouched (calloc), so that only the rows
  // steps write become resident (sized for max_num_batched_tokens rows, it is several
  // hundred MB for a 1B model; a decode step writes one row of each value).
  std::unique_ptr<float[], FreeFloats> arena;
  std::unique_ptr<cpu::CpuKernelLibrary> kernels;
  // GEMM weights repacked into panels at load, by weight name (tied weights pack once).
  std::map<std::string, PackedWeight> packed;
  // A gemm of each head's (llm.head_linear): each head's block packed on its own.
  std::map<std::string, std::vector<PackedWeight>> packedHeads;
  std::vector<const std::vector<PackedWeight> *> headsOf;
  // Per op: a moe's experts, packed at load; scratch space its steps reuse.
  std::vector<std::unique_ptr<PackedExperts>> expertsOf;
  MoeScratch moeScratch;

  // LoRA adapters (ExecutorOptions::loraAdapters), and per gemm op and adapter its update
  // packed as GEMM panels (null: the adapter leaves the op alone); scratch for the products.
  struct PackedLora {
    int64_t rank = 0;
    PackedWeight a;                                                   // [rank, K]
    std::vector<std::pair<const LoraSegment *, PackedWeight>> segments; // B: [outRows, rank]
  };
  std::vector<LoraAdapter> adapters;
  int maxLoraRank = 0, maxLoras = 0; // ExecutorOptions'
  std::map<std::pair<std::string, size_t>, PackedLora> packedLora;
  std::vector<std::vector<const PackedLora *>> loraOf;
  std::vector<float> loraGather, loraShrink, loraExpand;

  // MODELRT_PROFILE=1: time per op kind, printed when the executor goes.
  std::unique_ptr<OpProfile> profile;

  // Tensor parallelism: this rank's group (nullptr for a single-rank plan) and the OpenMP
  // threads each step uses (0: as many as OpenMP gives).
  dist::Communicator *comm = nullptr;
  int threads = 0;
  // Pipeline parallelism: this program's stage; only the last computes logits.
  int64_t stage = 0;
  bool lastStage = true;
  std::vector<float> gathered; // all_gather: every rank's block, before columns interleave

  // The paged KV cache: per layer, numBlocks blocks; a block holds, KV head by KV head,
  // that head's blockSize keys (kHeadDim elements stored as kvDtype: kHeadBytes each, laid
  // out as keyLayout says), and likewise its V rows, K and V apart. Head-major within a block, so that the rows one attention
  // work item reads (one KV head's) lie together: read out of whole token rows (every head's
  // features) they cost this VM as much memory traffic as all heads' (256 bytes of each 768
  // read at 6.7 GB/s, against 23 for contiguous reads). Allocated untouched; pages appear as
  // blocks are first written.
  std::unique_ptr<uint8_t[]> kCache, vCache;
  KvCacheDType kvDtype = KvCacheDType::F32;
  // Keys feature-major within a block (attention scores eight positions per vector), except
  // where values are read from the keys' rows or blocks are not a multiple of 8.
  KeyLayout keyLayout = KeyLayout::Transposed;
  std::vector<float> attentionStates; // split decode tiles' segment states, step by step
  int64_t numKvHeads = 0, kHeadDim = 0, vHeadDim = 0; // vHeadDim 0: values in the keys
  int64_t kHeadBytes = 0, vHeadBytes = 0;
  // Head `head`'s first K row of a block (its rows kHeadBytes apart).
  uint8_t *kHead(int64_t layer, int64_t block, int64_t head, int64_t numBlocks,
                 int64_t blockSize) const {
    return kCache.get() + ((layer * numBlocks + block) * numKvHeads + head) * blockSize * kHeadBytes;
  }
  // With values in the keys (vHeadDim 0) a V row is its K row.
  uint8_t *vHead(int64_t layer, int64_t block, int64_t head, int64_t numBlocks,
                 int64_t blockSize) const {
    if (vHeadDim == 0)
      return kHead(layer, block, head, numBlocks, blockSize);
    return vCache.get() + ((layer * numBlocks + block) * numKvHeads + head) * blockSize * vHeadBytes;
  }
  int64_t vRowBytes() const { return vHeadDim == 0 ? kHeadBytes : vHeadBytes; }

  // Recurrent states, per state index: max_num_seqs slots of the op's floats (a
  // causal_conv1d's [kernel_size - 1, C] window of earlier inputs, oldest first; a delta
  // rule's or a scan's matrices per head), zeros at load and allocated untouched (calloc:
  // pages appear as requests write their slots).
  std::vector<std::unique_ptr<float[], FreeFloats>> states;
  int64_t stateBytes = 0; // all of them

  // Per step: rows of each value, and where its [rows, width] data starts.
  std::vector<int64_t> rows;

  float *data(int64_t id) {
    const plan::ValueInfo &v = prog.values[id];
    if (v.viewOf >= 0)
      return data(v.viewOf) + v.columnOffset;
    return arena.get() + v.arenaOffset / sizeof(float);
  }
  int64_t stride(int64_t id) const { return prog.values[prog.root(id)].width; }
};

namespace {

// Sets this thread's OpenMP team size for a scope (0: leaves it).
class ThreadCount {
public:
  explicit ThreadCount(int threads) : saved_(omp_get_max_threads()), set_(threads > 0) {
    if (set_)
      omp_set_num_threads(threads);
  }
  ~ThreadCount() {
    if (set_)
      omp_set_num_threads(saved_);
  }

private:
  int saved_;
  bool set_;
};

// The blocks of a gemm of each head, packed one by one: rows [h N, (h + 1) N) of the weight,
// or with inputRows its rows [h K, (h + 1) K) transposed (widened to f32 first).
Expected<std::vector<PackedWeight>> packHeads(const plan::Op &op, GemmActivations activations) {
  const plan::WeightEntry &w = *op.weight;
  const int64_t heads = op.gemmHeads, rows = static_cast<int64_t>(w.shape[0]),
                cols = static_cast<int64_t>(w.shape[1]), per = rows / heads;
  std::vector<PackedWeight> packed;
  if (!op.gemmInputRows) {
    const size_t blockBytes = w.size / static_cast<size_t>(heads);
    for (int64_t h = 0; h < heads; ++h) {
      Expected<PackedWeight> p =
          PackedWeight::pack(w.dtype, w.data + h * blockBytes, blockBytes, per, cols, activations);
      if (!p)
        return p.error();
      packed.push_back(std::move(*p));
    }
    return packed;
  }
  std::vector<float> all(static_cast<size_t>(rows * cols)), block(static_cast<size_t>(per * cols));
  if (Status s = convert(w.dtype, w.data, w.size, all.size(), DType::F32, all.data(),
                         all.size() * sizeof(float));
      !s)
    return s.error();
  for (int64_t h = 0; h < heads; ++h) { // [K, N] -> [N, K]
    const float *src = all.data() + h * per * cols;
    for (int64_t kk = 0; kk < per; ++kk)
      for (int64_t nn = 0; nn < cols; ++nn)
        block[static_cast<size_t>(nn * per + kk)] = src[kk * cols + nn];
    packed.push_back(PackedWeight::pack(block.data(), cols, per));
  }
  return packed;
}

} // namespace

// Reads the adapters for this rank and packs each one's update of every gemm it touches.
// Reads `spec` for this rank into a new adapter slot (ids are never reused, so a prefix
// cache keyed by the id never mixes two adapters' KV) and packs its update of every gemm
// it touches. Nothing changes when it fails.
static Status addAdapter(CpuExecutor::Impl &impl, const plan::PlanMetadata &meta,
                         const LoraSpec &spec) {
  for (const LoraAdapter &other : impl.adapters)
    if (other.name == spec.name)
      return Error(ErrorCode::InvalidArgument,
                   "a LoRA adapter named '" + spec.name + "' is already loaded");
  if (impl.adapters.size() >= kMaxAdapterSlots)
    return Error(ErrorCode::ResourceExhausted,
                 "LoRA adapter '" + spec.name + "': " + std::to_string(kMaxAdapterSlots) +
                     " adapters were loaded in this process, the most it takes");
  if (impl.maxLoras > 0 &&
      std::count_if(impl.adapters.begin(), impl.adapters.end(),
                    [](const LoraAdapter &a) { return !a.name.empty(); }) >= impl.maxLoras)
    return Error(ErrorCode::ResourceExhausted,
                 "LoRA adapter '" + spec.name + "': " + std::to_string(impl.maxLoras) +
                     " adapters are loaded, --max-loras");
  Expected<LoraAdapter> adapter = loadLoraAdapter(spec, meta);
  if (!adapter)
    return adapter.error();
  if (impl.maxLoraRank > 0 && adapter->maxRank > impl.maxLoraRank)
    return Error(ErrorCode::InvalidArgument,
                 "LoRA adapter '" + spec.name + "' has rank " + std::to_string(adapter->maxRank) +
                     ", over --max-lora-rank " + std::to_string(impl.maxLoraRank));
  // Which gemms each matrix updates, checked before anything is kept.
  std::vector<std::pair<size_t, const LoraMatrix *>> uses;
  for (const auto &[weight, matrix] : adapter->matrices) {
    bool used = false;
    for (size_t i = 0; i < impl.prog.ops.size(); ++i) {
      const Op &op = impl.prog.ops[i];
      if (op.kind != OpKind::Gemm || op.weight->name != weight)
        continue;
      if (op.gemmHeads > 1 || op.gemmInputRows)
        return Error(ErrorCode::Unsupported,
                     "LoRA adapter '" + spec.name + "': weight " + weight +
                         " runs as a GEMM per head, which adapters cannot update yet");
      uses.emplace_back(i, &matrix);
      used = true;
    }
    if (!used)
      return Error(ErrorCode::Unsupported,
                   "LoRA adapter '" + spec.name + "': weight " + weight +
                       " is not a GEMM's (an embedding table?); adapters update linears");
  }
  const size_t a = impl.adapters.size();
  impl.adapters.push_back(std::move(*adapter)); // its map's nodes (the matrices) stay put
  for (const auto &[i, matrix] : uses) {
    const Op &op = impl.prog.ops[i];
    auto [it, fresh] = impl.packedLora.try_emplace({op.weight->name, a});
    if (fresh) {
      it->second.rank = matrix->rank;
      it->second.a =
          PackedWeight::pack(matrix->a.data(), matrix->rank, static_cast<int64_t>(op.weight->shape[1]));
      for (const LoraSegment &segment : matrix->segments)
        it->second.segments.emplace_back(
            &segment, PackedWeight::pack(segment.b.data(), segment.outRows, segment.rank));
    }
    impl.loraOf[i].resize(a + 1, nullptr);
    impl.loraOf[i][a] = &it->second;
  }
  return Status::success();
}

// --kv-cache-dtype: how the cache stores its rows. auto follows the numerics the GEMMs run:
// float32 on the exact path (full-precision reference numbers), float16 where GEMMs run
// integer dot products on int8 activations (the numerics GGUF runtimes compute, whose
// default cache is f16: half the bytes, decode at long contexts about 1.3x faster). Q8_0's
// 32-element blocks must not straddle heads, so each cached head must be a whole number of
// blocks wide (the plan's KV layout, the same on every rank, so that ranks agree).
static Status chooseKvDtype(CpuExecutor::Impl &impl, const plan::KvCacheLayout &kv,
                            const std::string &name, bool intDots) {
  Expected<KvCacheDType> dtype =
      name == "auto" && intDots ? KvCacheDType::F16 : parseKvCacheDType(name);
  if (!dtype)
    return dtype.error();
  impl.kvDtype = *dtype;
  if (*dtype == KvCacheDType::Q8_0 &&
      (kv.headDim % 32 != 0 || (!kv.valuesInKeys && kv.valueHeadDim % 32 != 0)))
    return Error(ErrorCode::Unsupported,
                 "a q8_0 KV cache stores blocks of 32 features, and this plan's KV heads are " +
                     std::to_string(kv.headDim) + " (keys) and " +
                     std::to_string(kv.valueHeadDim) +
                     " (values) wide; use bfloat16, float16 or fp8 for this plan");
  return Status::success();
}

static Status loadAdapters(CpuExecutor::Impl &impl, const plan::PlanMetadata &meta,
                           const std::vector<LoraSpec> &specs) {
  impl.loraOf.assign(impl.prog.ops.size(), {});
  for (const LoraSpec &spec : specs)
    if (Status s = addAdapter(impl, meta, spec); !s)
      return s;
  return Status::success();
}

// y[r] += sum over segments of B (A x[r]) for each row r whose adapter updates the op: the
// rows of one adapter gathered (wherever they lie in the batch) and run as one GEMM each.
// (Scratch buffers are the rank's own: ranks on threads each have their Impl.)
// Each row's sums run in a fixed order whatever the batch (the packed GEMM's guarantee), so
// the output does not depend on what else is batched.
static void applyLora(CpuExecutor::Impl &impl,
                      const std::vector<const CpuExecutor::Impl::PackedLora *> &loras,
                      const float *x, int64_t xStride, const std::vector<int32_t> &rowAdapter,
                      float *y, int64_t yStride) {
  const int64_t rows = static_cast<int64_t>(rowAdapter.size());
  std::vector<int64_t> picked;
  for (size_t a = 0; a < loras.size(); ++a) {
    const CpuExecutor::Impl::PackedLora *lora = loras[a];
    if (!lora)
      continue;
    picked.clear();
    for (int64_t r = 0; r < rows; ++r)
      if (rowAdapter[size_t(r)] == static_cast<int32_t>(a + 1))
        picked.push_back(r);
    if (picked.empty())
      continue;
    const int64_t n = static_cast<int64_t>(picked.size()), width = lora->a.k();
    // The rows as one block: in place when they are consecutive, else copied together.
    const bool consecutive = picked.back() - picked.front() + 1 == n;
    const float *in = x + picked.front() * xStride;
    int64_t inStride = xStride;
    if (!consecutive) {
      impl.loraGather.resize(size_t(n * width));
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(impl.loraGather.data() + i * width, x + picked[size_t(i)] * xStride,
                    size_t(width) * sizeof(float));
      in = impl.loraGather.data();
      inStride = width;
    }
    impl.loraShrink.resize(size_t(n * lora->rank));
    gemm(in, inStride, n, lora->a, nullptr, impl.loraShrink.data(), lora->rank);
    // Each output's chain continues from the GEMM's result (gemm's accumulate), in y
    // itself when the rows are consecutive, else in a copy of their columns: the same chain.
    for (const auto &[segment, b] : lora->segments) {
      const float *t = impl.loraShrink.data() + segment->rankOffset;
      if (consecutive) {
        gemm(t, lora->rank, n, b, nullptr, y + picked.front() * yStride + segment->outRow,
             yStride, GemmPath::Best, /*accumulate=*/true);
        continue;
      }
      const int64_t m = segment->outRows;
      impl.loraExpand.resize(size_t(n * m));
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(impl.loraExpand.data() + i * m, y + picked[size_t(i)] * yStride + segment->outRow,
                    size_t(m) * sizeof(float));
      gemm(t, lora->rank, n, b, nullptr, impl.loraExpand.data(), m, GemmPath::Best,
           /*accumulate=*/true);
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(y + picked[size_t(i)] * yStride + segment->outRow, impl.loraExpand.data() + i * m,
                    size_t(m) * sizeof(float));
    }
  }
}

Status CpuExecutor::addAdapterHere(const std::string &name, const std::string &path) {
  // An error, never an exception: the ranks of a group must all go on to agree on it.
  try {
    return addAdapter(*impl_, meta_, LoraSpec{name, path});
  } catch (const std::bad_alloc &) {
    return Error(ErrorCode::ResourceExhausted,
                 "LoRA adapter '" + name + "': out of memory while loading it");
  }
}

void CpuExecutor::holdAdapterSlot() { impl_->adapters.emplace_back(); }

Status CpuExecutor::unloadAdapterHere(const std::string &name) {
  Impl &impl = *impl_;
  for (size_t a = 0; a < impl.adapters.size(); ++a) {
    if (name.empty() || impl.adapters[a].name != name)
      continue;
    for (std::vector<const Impl::PackedLora *> &loras : impl.loraOf)
      if (a < loras.size())
        loras[a] = nullptr;
    for (auto it = impl.packedLora.begin(); it != impl.packedLora.end();)
      it = it->first.second == a ? impl.packedLora.erase(it) : std::next(it);
    impl.adapters[a] = LoraAdapter{}; // the slot stays, nameless: ids are not reused
    return Status::success();
  }
  return Error(ErrorCode::NotFound, "no LoRA adapter named '" + name + "' is loaded");
}

std::string CpuExecutor::kvCacheDtype() const { return kvCacheDTypeName(impl_->kvDtype); }

std::vector<std::string> CpuExecutor::adapterNames() const {
  std::vector<std::string> names;
  for (const LoraAdapter &a : impl_->adapters)
    names.push_back(a.name);
  return names;
}

CpuExecutor::~CpuExecutor() {
  stopRanks();
  if (impl_ && impl_->profile)
    impl_->profile->print();
}

Expected<std::unique_ptr<CpuExecutor>> CpuExecutor::loadRank(const std::string &planPath,
                                                             const ExecutorOptions &options,
                                                             dist::Communicator *comm,
                                                             int threads) {
  const int rank = comm ? comm->rank() : 0;
  Expected<plan::OpenedPlan> opened = plan::openPlan(planPath, rank);
  if (!opened)
    return opened.error();
  if (opened->meta.dtype != "f32")
    return Error(ErrorCode::Unsupported, planPath +
                                             ": the CPU executor runs f32 plans so far (this "
                                             "one is " +
                                             opened->meta.dtype + ")");
  // Dummy weights get their values once the plan is known to be runnable here.
  if (Status filled = plan::fillDummyWeights(opened->meta); !filled)
    return filled.error().withContext(planPath);
  std::unique_ptr<CpuExecutor> exec(new CpuExecutor());
  exec->file_ = std::move(opened->file);
  exec->meta_ = std::move(opened->meta);
  exec->impl_ = std::make_unique<Impl>();
  Impl &impl = *exec->impl_;
  impl.comm = comm;
  impl.threads = threads;
  exec->numStages_ = static_cast<int>(exec->meta_.pipelineParallel);
  impl.stage = exec->meta_.pipelineParallel > 1 ? rank : 0;
  impl.lastStage = impl.stage + 1 == exec->meta_.pipelineParallel;
  if (const char *p = std::getenv("MODELRT_PROFILE"); p && *p && std::string(p) != "0")
    impl.profile = std::make_unique<OpProfile>();

  const plan::Section *image = exec->file_.find(plan::SectionKind::KernelImage, rank);
  const plan::Section *programSection = exec->file_.find(plan::SectionKind::Program, rank);
  if (!image || !programSection)
    return Error(ErrorCode::InvalidFormat, planPath + ": no CPU kernels or no program");
  Expected<cpu::CpuKernelLibrary> library = cpu::CpuKernelLibrary::load(image->data, image->size);
  if (!library)
    return library.error().withContext(planPath);
  impl.kernels = std::make_unique<cpu::CpuKernelLibrary>(std::move(*library));

  Expected<plan::Program> program = plan::parseProgram(
      programSection->text(), exec->meta_, impl.stage, impl.lastStage, comm ? comm->size() : 0);
  if (!program)
    return program.error().withContext(planPath);
  impl.prog = std::move(*program);
  // What this executor runs beyond the program's own checks: f32 activations, f32 vectors
  // for biases and fused kernels, tables it can widen, GEMM weights it can pack.
  for (const plan::ValueInfo &v : impl.prog.values)
    if (v.dtype != DType::F32 && v.dtype != DType::I32)
      return bad("the CPU executor runs f32 activations, not " + std::string(dtypeName(v.dtype)))
          .withContext(planPath);
  impl.arena.reset(static_cast<float *>(
      std::calloc(std::max<size_t>(1, static_cast<size_t>(impl.prog.arenaBytes) / sizeof(float)),
                  sizeof(float))));
  if (!impl.arena)
    return Error(ErrorCode::ResourceExhausted,
                 "cannot allocate the " + std::to_string(impl.prog.arenaBytes) +
                     "-byte activation arena of " + planPath);
  exec->cpuActivations_ = options.cpuActivations.value_or(
      exec->meta_.weightNames == "gguf" ? GemmActivations::Int8 : GemmActivations::F32);
  const GemmActivations activations = exec->cpuActivations_;
  std::map<std::string, PackedWeight> &packed = impl.packed;
  impl.packedOf.assign(impl.prog.ops.size(), nullptr);
  impl.headsOf.assign(impl.prog.ops.size(), nullptr);
  impl.expertsOf.resize(impl.prog.ops.size());
  for (size_t i = 0; i < impl.prog.ops.size(); ++i) {
    const Op &op = impl.prog.ops[i];
    if (op.kind == OpKind::Gemm && (op.gemmHeads > 1 || op.gemmInputRows)) {
      // One packing per weight and split (ops may read one weight split two ways).
      const std::string key = op.weight->name + "/" + std::to_string(op.gemmHeads) +
                              (op.gemmInputRows ? "/rows" : "");
      auto it = impl.packedHeads.find(key);
      if (it == impl.packedHeads.end()) {
        Expected<std::vector<PackedWeight>> heads = packHeads(op, activations);
        if (!heads)
          return heads.error().withContext(planPath + ": weight " + op.weight->name);
        it = impl.packedHeads.emplace(key, std::move(*heads)).first;
      }
      impl.headsOf[i] = &it->second;
    } else if (op.kind == OpKind::Gemm) {
      if (op.bias && op.bias->dtype != DType::F32)
        return bad("gemm bias " + op.bias->name + " is not F32").withContext(planPath);
      auto it = packed.find(op.weight->name);
      if (it == packed.end()) {
        Expected<PackedWeight> p = PackedWeight::pack(
            op.weight->dtype, op.weight->data, op.weight->size,
            static_cast<int64_t>(op.weight->shape[0]), static_cast<int64_t>(op.weight->shape[1]),
            activations);
        if (!p)
          return p.error().withContext(planPath + ": weight " + op.weight->name);
        it = packed.emplace(op.weight->name, std::move(*p)).first;
      }
      impl.packedOf[i] = &it->second;
    } else if (op.kind == OpKind::Moe) {
      Expected<PackedExperts> experts = packExperts(op, activations);
      if (!experts)
        return experts.error().withContext(planPath);
      impl.expertsOf[i] = std::make_unique<PackedExperts>(std::move(*experts));
    } else if (op.kind == OpKind::Fused) {
      for (const plan::WeightEntry *w : op.weights)
        if (w->dtype != DType::F32)
          return bad("fused kernel weight " + w->name + " is not F32").withContext(planPath);
    } else if (op.kind == OpKind::Attention && op.attention.sinks &&
               op.attention.sinks->dtype != DType::F32) {
      return bad("attention sinks " + op.attention.sinks->name + " are not F32")
          .withContext(planPath);
    } else if (plan::Program::stateOf(op) >= 0) {
      for (const plan::WeightEntry *w : {op.weight, op.bias, op.delta.aLog, op.delta.dtBias,
                                         op.ssm.aLog, op.ssm.dtBias, op.ssm.d})
        if (w && w->dtype != DType::F32)
          return bad(std::string(plan::opKindName(op.kind)) + " weight " + w->name +
                     " is not F32")
              .withContext(planPath);
      // max_num_seqs slots of the op's state, zeros until a request writes them; all states
      // together at most kMaxStateBytes.
      const int64_t perSlot = impl.prog.stateElements(op);
      if (exec->meta_.maxNumSeqs > (1 << 20) || perSlot > (int64_t(1) << 36) ||
          exec->meta_.maxNumSeqs * perSlot * 4 > kMaxStateBytes - impl.stateBytes)
        return bad(std::string(plan::opKindName(op.kind)) + " state of " +
                   std::to_string(perSlot) + " floats a request, for max_num_seqs " +
                   std::to_string(exec->meta_.maxNumSeqs) +
                   " requests, takes the recurrent states past " +
                   std::to_string(kMaxStateBytes >> 30) + " GiB")
            .withContext(planPath);
      const int64_t elements = exec->meta_.maxNumSeqs * perSlot;
      impl.stateBytes += elements * 4;
      impl.states.resize(static_cast<size_t>(exec->meta_.numRecurrentStates));
      auto &state = impl.states[static_cast<size_t>(plan::Program::stateOf(op))];
      state.reset(static_cast<float *>(std::calloc(static_cast<size_t>(elements), sizeof(float))));
      if (!state)
        return Error(ErrorCode::ResourceExhausted,
                     "cannot allocate " + std::to_string(elements * 4) + " bytes of " +
                         plan::opKindName(op.kind) + " state for max_num_seqs " +
                         std::to_string(exec->meta_.maxNumSeqs) + " requests");
    } else if (op.kind == OpKind::Rope && op.weight && op.weight->dtype != DType::F32) {
      return bad("rope norm weight " + op.weight->name + " is not F32").withContext(planPath);
    } else if (op.kind == OpKind::GatherRows && op.table) {
      const DType t = op.table->dtype;
      if (t != DType::F32 && t != DType::BF16 && t != DType::F16 && !plan::isKeptBlockType(t))
        return bad("gather table " + op.table->name + " is " + dtypeName(t) +
                   ", not F32, BF16, F16 or a kept GGUF block type")
            .withContext(planPath);
    }
  }

  impl.maxLoraRank = options.maxLoraRank;
  impl.maxLoras = options.maxLoras;
  if (Status s = loadAdapters(impl, exec->meta_, options.loraAdapters); !s)
    return s.error();

  // The KV cache: blocks for every sequence at full length, or as many as the budget holds.
  const plan::KvCacheLayout &kv = exec->meta_.kvCache;
  if (options.kvBlockSize < 1 || options.kvCacheBytes < 0)
    return Error(ErrorCode::InvalidArgument, "KV cache block size and size must be positive");
  // Each factor was checked positive when the metadata was read; bound them so the block
  // size cannot overflow.
  if (kv.numLayers > 4096 || kv.numKvHeads > 4096 || kv.headDim > 4096 ||
      kv.valueHeadDim > 4096 ||
      options.kvBlockSize > 4096 || exec->meta_.maxNumSeqs > (1 << 20) ||
      exec->meta_.maxSeqLen > (int64_t(1) << 24))
    return bad("the KV cache layout (" + std::to_string(kv.numLayers) + " layers, " +
               std::to_string(kv.numKvHeads) + " KV heads, head_dim " + std::to_string(kv.headDim) +
               ", value_head_dim " + std::to_string(kv.valueHeadDim) + ") is out of range")
        .withContext(planPath);
  impl.numKvHeads = kv.numKvHeads;
  impl.kHeadDim = kv.headDim;
  impl.vHeadDim = kv.valuesInKeys ? 0 : kv.valueHeadDim;
  // Whether any GEMM runs integer dot products (int8 activations change only the
  // integer-coded weights' GEMMs; a plan of float weights computes the f32 path's bits).
  bool intDots = false;
  for (const auto &[name, weight] : packed)
    intDots |= weight.intDot();
  for (const auto &[key, heads] : impl.packedHeads)
    for (const PackedWeight &head : heads)
      intDots |= head.intDot();
  for (const std::unique_ptr<PackedExperts> &experts : impl.expertsOf)
    if (experts)
      for (const std::vector<PackedWeight> *list :
           {&experts->gateUp, &experts->gate, &experts->up, &experts->down})
        for (const PackedWeight &w : *list)
          intDots |= w.intDot();
  if (Status s = chooseKvDtype(impl, kv, options.kvCacheDtype, intDots); !s)
    return s.error().withContext(planPath);
  impl.kHeadBytes = kvBytes(impl.kvDtype, impl.kHeadDim);
  impl.vHeadBytes = kvBytes(impl.kvDtype, impl.vHeadDim);
  impl.keyLayout = impl.vHeadDim > 0 && options.kvBlockSize % 8 == 0 ? KeyLayout::Transposed
                                                                      : KeyLayout::Rows;
  const int64_t blockBytes = kv.numLayers * options.kvBlockSize * kv.numKvHeads *
                             (impl.kHeadBytes + impl.vHeadBytes);
  const int64_t blocksPerSeq =
      (exec->meta_.maxSeqLen + options.kvBlockSize - 1) / options.kvBlockSize;
  int64_t blocks = exec->meta_.maxNumSeqs * blocksPerSeq;
  int64_t budget =
      options.kvCacheBytes ? options.kvCacheBytes : ExecutorOptions::kDefaultKvCacheBytes;
  blocks = std::min(blocks, budget / std::max<int64_t>(1, blockBytes));
  if (blocks < 1)
    return Error(ErrorCode::InvalidArgument, "a KV cache of " + std::to_string(budget) +
                                                 " bytes holds no block of " +
                                                 std::to_string(blockBytes) + " bytes");
  blocks = std::min<int64_t>(blocks, INT32_MAX / 2);
  exec->numKvBlocks_ = static_cast<int32_t>(blocks);
  exec->kvBlockSize_ = options.kvBlockSize;
  const size_t rows = static_cast<size_t>(blocks * kv.numLayers * options.kvBlockSize * kv.numKvHeads);
  impl.kCache.reset(new (std::nothrow) uint8_t[rows * static_cast<size_t>(impl.kHeadBytes)]);
  if (impl.vHeadDim > 0)
    impl.vCache.reset(new (std::nothrow) uint8_t[rows * static_cast<size_t>(impl.vHeadBytes)]);
  if (!impl.kCache || (impl.vHeadDim > 0 && !impl.vCache))
    return Error(ErrorCode::ResourceExhausted,
                 "cannot allocate a KV cache of " + std::to_string(blocks * blockBytes) + " bytes");
  // Only now: an executor that failed to load must not tell the other ranks to stop (on
  // threads they are not serving yet, and the message would wait for them).
  exec->comm_ = comm;
  return exec;
}

namespace {} // namespace

Status CpuExecutor::runCopy(const std::vector<kv::BlockCopy> &copies) {
  Impl &impl = *impl_;
  for (const kv::BlockCopy &c : copies)
    if (c.src < 0 || c.src >= numKvBlocks_ || c.dst < 0 || c.dst >= numKvBlocks_)
      return Error(ErrorCode::InvalidArgument, "KV block copy " + std::to_string(c.src) + " -> " +
                                                   std::to_string(c.dst) + " is outside the " +
                                                   std::to_string(numKvBlocks_) + " blocks");
  const size_t kBytes = static_cast<size_t>(kvBlockSize_ * impl.numKvHeads * impl.kHeadBytes),
               vBytes = static_cast<size_t>(kvBlockSize_ * impl.numKvHeads * impl.vHeadBytes);
  for (const kv::BlockCopy &c : copies)
    for (int64_t layer = 0; layer < meta_.kvCache.numLayers; ++layer) {
      std::memcpy(impl.kHead(layer, c.dst, 0, numKvBlocks_, kvBlockSize_),
                  impl.kHead(layer, c.src, 0, numKvBlocks_, kvBlockSize_), kBytes);
      if (vBytes > 0)
        std::memcpy(impl.vHead(layer, c.dst, 0, numKvBlocks_, kvBlockSize_),
                    impl.vHead(layer, c.src, 0, numKvBlocks_, kvBlockSize_), vBytes);
    }
  return Status::success();
}

namespace {} // namespace

Expected<std::vector<float>> CpuExecutor::runStep(const std::vector<int32_t> &tokens,
                                                  const std::vector<PagedChunk> &chunks,
                                                  const float *incoming, size_t incomingCount,
                                                  std::vector<float> *outgoing) {
  Impl &impl = *impl_;
  ThreadCount threadCount(impl.threads);
  const int64_t total = static_cast<int64_t>(tokens.size());
  const int64_t blockSize = kvBlockSize_, numBlocks = numKvBlocks_;
  if (Status s = checkStep(meta_, tokens, chunks, numKvBlocks_, kvBlockSize_, impl.prog.arenaRows,
                           false, static_cast<int32_t>(impl.adapters.size()));
      !s)
    return s.error();
  for (const PagedChunk &c : chunks)
    if (c.adapter > 0 && impl.adapters[size_t(c.adapter - 1)].name.empty())
      return Error(ErrorCode::InvalidArgument,
                   "LoRA adapter " + std::to_string(c.adapter) + " was unloaded");

  // Batch layout: each chunk's first row, and the rows to sample.
  std::vector<int64_t> start;
  std::vector<int32_t> positions, sampleRows;
  // Each row's LoRA adapter, of the step's rows and of the sampled rows (what a GEMM after
  // the rows are gathered, the logits', sees).
  std::vector<int32_t> rowAdapter, sampleAdapter;
  int64_t row = 0;
  for (const PagedChunk &c : chunks) {
    start.push_back(row);
    for (int64_t i = 0; i < c.numTokens; ++i)
      positions.push_back(static_cast<int32_t>(c.startPosition + i));
    if (c.allLogits)
      for (int64_t i = 0; i < c.numTokens; ++i)
        sampleRows.push_back(static_cast<int32_t>(row + i));
    else if (c.sample)
      sampleRows.push_back(static_cast<int32_t>(row + c.numTokens - 1));
    if (!impl.adapters.empty()) {
      rowAdapter.insert(rowAdapter.end(), size_t(c.numTokens), c.adapter);
      sampleAdapter.resize(sampleRows.size(), c.adapter);
    }
    row += c.numTokens;
  }

  impl.rows.assign(impl.prog.values.size(), total);
  std::vector<const int32_t *> indexInputs(impl.prog.values.size(), nullptr);
  std::vector<int32_t> tokenTypes; // each row's (PagedChunk::tokenTypes; 0 where none)
  if (impl.prog.tokenTypes >= 0) {
    for (const PagedChunk &c : chunks)
      for (int64_t i = 0; i < c.numTokens; ++i)
        tokenTypes.push_back(c.tokenTypes ? c.tokenTypes[i] : 0);
    indexInputs[impl.prog.tokenTypes] = tokenTypes.data();
  }
  indexInputs[impl.prog.tokenIds] = tokens.data();
  indexInputs[impl.prog.positions] = positions.data();
  indexInputs[impl.prog.sampleRows] = sampleRows.data();
  impl.rows[impl.prog.sampleRows] = static_cast<int64_t>(sampleRows.size());

  for (size_t opIndex = 0; opIndex < impl.prog.ops.size(); ++opIndex) {
    const Op &op = impl.prog.ops[opIndex];
    int64_t out = op.outputs.empty() ? -1 : op.outputs[0];
    OpTimer timer(impl.profile, op.kind);
    switch (op.kind) {
    case OpKind::Columns:
      impl.rows[out] = impl.rows[op.inputs[0]];
      break;
    case OpKind::GatherRows: {
      int64_t index = op.inputs.back();
      const int32_t *ids = indexInputs[index];
      int64_t n = impl.rows[index], width = impl.prog.values[out].width;
      float *dst = impl.data(out);
      for (int64_t r = 0; r < n; ++r) {
        const float *src;
        if (op.table) {
          int64_t id = ids[r];
          if (op.rowOffset >= 0) { // a shard: ids outside it give zeros
            id -= op.rowOffset;
            if (id < 0 || static_cast<uint64_t>(id) >= op.table->shape[0]) {
              std::fill_n(dst + r * impl.stride(out), width, 0.0f);
              continue;
            }
          }
          if (id < 0 || static_cast<uint64_t>(id) >= op.table->shape[0])
            return Error(ErrorCode::InvalidArgument,
                         "row " + std::to_string(ids[r]) + " is outside table " + op.table->name);
          if (op.table->dtype != DType::F32) { // GGUF blocks: dequantize the row
            const size_t rowBytes = op.table->size / op.table->shape[0];
            if (Status s = convert(op.table->dtype, op.table->data + id * rowBytes, rowBytes, width,
                                   DType::F32, dst + r * impl.stride(out), width * sizeof(float));
                !s)
              return s.error();
            continue;
          }
          src = reinterpret_cast<const float *>(op.table->data) + id * width;
        } else {
          if (ids[r] < 0 || ids[r] >= impl.rows[op.inputs[0]])
            return Error(ErrorCode::InvalidArgument,
                         "row " + std::to_string(ids[r]) + " is outside the gathered value");
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
      if (const std::vector<PackedWeight> *heads = impl.headsOf[opIndex]) {
        const int64_t k = impl.prog.values[in].width / op.gemmHeads,
                      n = impl.prog.values[out].width / op.gemmHeads;
        for (int64_t h = 0; h < op.gemmHeads; ++h)
          gemm(impl.data(in) + h * k, impl.stride(in), impl.rows[in], (*heads)[size_t(h)],
               nullptr, impl.data(out) + h * n, impl.stride(out));
        break;
      }
      gemm(impl.data(in), impl.stride(in), impl.rows[in], *impl.packedOf[opIndex],
           op.bias ? reinterpret_cast<const float *>(op.bias->data) : nullptr, impl.data(out),
           impl.stride(out));
      if (!impl.loraOf[opIndex].empty()) {
        const std::vector<int32_t> *adapters =
            impl.rows[in] == total                                       ? &rowAdapter
            : impl.rows[in] == static_cast<int64_t>(sampleAdapter.size()) ? &sampleAdapter
                                                                          : nullptr;
        if (!adapters)
          return Error(ErrorCode::Internal, "gemm of " + op.weight->name + ": " +
                                                std::to_string(impl.rows[in]) +
                                                " rows are neither the step's nor its sampled "
                                                "rows, so no LoRA adapter can be chosen per row");
        OpTimer loraTimer(impl.profile, plan::kNumOpKinds);
        applyLora(impl, impl.loraOf[opIndex], impl.data(in), impl.stride(in), *adapters,
                  impl.data(out), impl.stride(out));
      }
      break;
    }
    case OpKind::Moe: {
      const int64_t in = op.inputs[0], logits = op.inputs[1];
      impl.rows[out] = impl.rows[in];
      SharedExpert shared;
      if (op.inputs.size() > 2) {
        shared.shared = impl.data(op.inputs[2]);
        shared.sharedStride = impl.stride(op.inputs[2]);
      }
      if (op.inputs.size() > 3) {
        shared.gate = impl.data(op.inputs[3]);
        shared.gateStride = impl.stride(op.inputs[3]);
      }
      moe(op.moe, *impl.expertsOf[opIndex], impl.data(in), impl.stride(in), impl.data(logits),
          impl.stride(logits), impl.rows[in], impl.data(out), impl.stride(out), impl.moeScratch,
          shared);
      break;
    }
    case OpKind::Fused: {
      // Rows are independent, so threads take contiguous row ranges of the same kernel.
      const int64_t rows = impl.rows[op.inputs[0]];
      for (int64_t id : op.outputs)
        impl.rows[id] = rows;
      // Threads only pay off past a few thousand rows x columns (tiny models stay serial).
      int64_t width = 0;
      for (int64_t id : op.outputs)
        width += impl.prog.values[id].width;
      const int64_t parts =
          rows * width >= kParallelWork ? std::min<int64_t>(rows, omp_get_max_threads()) : 1;
      std::vector<Status> results(parts, Status::success());
#pragma omp parallel for num_threads(parts) schedule(static)
      for (int64_t part = 0; part < parts; ++part) {
        const int64_t r0 = rows * part / parts, r1 = rows * (part + 1) / parts;
        std::vector<cpu::MemRefDescriptor<float, 2>> acts;
        std::vector<cpu::MemRefDescriptor<float, 1>> vecs;
        acts.reserve(op.inputs.size() + op.outputs.size());
        vecs.reserve(op.weights.size());
        std::vector<void *> args;
        for (int64_t id : op.inputs) {
          acts.push_back(cpu::activationView(impl.data(id) + r0 * impl.stride(id), r1 - r0,
                                             impl.prog.values[id].width, impl.stride(id)));
          args.push_back(&acts.back());
        }
        for (const plan::WeightEntry *w : op.weights) {
          float *p = const_cast<float *>(reinterpret_cast<const float *>(w->data));
          vecs.push_back(cpu::vectorView(p, static_cast<int64_t>(w->shape[0])));
          args.push_back(&vecs.back());
        }
        for (int64_t id : op.outputs) {
          acts.push_back(cpu::activationView(impl.data(id) + r0 * impl.stride(id), r1 - r0,
                                             impl.prog.values[id].width, impl.stride(id)));
          args.push_back(&acts.back());
        }
        results[part] = impl.kernels->call(op.kernel, args);
      }
      for (const Status &result : results)
        if (!result)
          return result.error();
      break;
    }
    case OpKind::Rope: {
      const plan::RopeConfig &c = op.rope;
      int64_t in = op.inputs[0];
      impl.rows[out] = impl.rows[in];
      const std::vector<double> &inv = op.inverseFrequencies;
      const float *src = impl.data(in);
      float *dst = impl.data(out);
      const float *normWeight = op.weight ? reinterpret_cast<const float *>(op.weight->data) : nullptr;
      const int64_t inStride = impl.stride(in), outStride = impl.stride(out),
                    width = impl.prog.values[in].width, pairs = c.rotaryDim / 2;
#pragma omp parallel for schedule(static) if (impl.rows[in] * width >= kParallelWork)
      for (int64_t t = 0; t < impl.rows[in]; ++t) {
        const float *x = src + t * inStride;
        float *y = dst + t * outStride;
        std::memmove(y, x, width * sizeof(float));
        if (c.norm) // each head: x / rms(x) * w (or unweighted), then the rotation below
          for (int64_t h = 0; h < c.numHeads; ++h) {
            float *head = y + h * c.headDim;
            double sum = 0;
            for (int64_t j = 0; j < c.headDim; ++j)
              sum += double(head[j]) * head[j];
            const float scale = static_cast<float>(1.0 / std::sqrt(sum / c.headDim + c.normEps));
            const float offset = static_cast<float>(c.normWeightOffset);
            for (int64_t j = 0; j < c.headDim; ++j)
              head[j] = normWeight ? (offset + normWeight[j]) * (head[j] * scale) : head[j] * scale;
          }
        const float *r = c.norm ? y : x; // what is rotated
        for (int64_t i = 0; i < pairs; ++i) {
          double angle = positions[t] * inv[i];
          double cs = std::cos(angle) * c.magnitude, sn = std::sin(angle) * c.magnitude;
          for (int64_t h = 0; h < c.numHeads; ++h) {
            int64_t a = h * c.headDim + (c.interleaved ? 2 * i : i);
            int64_t b = h * c.headDim + (c.interleaved ? 2 * i + 1 : i + pairs);
            float xa = r[a], xb = r[b];
            y[a] = static_cast<float>(xa * cs - xb * sn);
            y[b] = static_cast<float>(xb * cs + xa * sn);
          }
        }
        if (c.temperatureFloor > 0) { // f32, as transformers computes the factor
          const float f =
              std::log1p(std::floor((static_cast<float>(positions[t]) +
                                     static_cast<float>(c.temperatureOffset)) /
                                    static_cast<float>(c.temperatureFloor))) *
                  static_cast<float>(c.temperatureScale) +
              1.0f;
          for (int64_t j = 0; j < width; ++j)
            y[j] *= f;
        }
      }
      break;
    }
    case OpKind::Attention: {
      const plan::AttentionConfig &c = op.attention;
      const int64_t q = op.inputs[0], k = op.inputs[1], v = op.inputs[2];
      const int64_t hd = c.headDim, vd = c.valueHeadDim, group = c.numHeads / c.numKvHeads;
      impl.rows[out] = impl.rows[q];
      // The new tokens' K and V go into their slots first; then each request attends to
      // its own positions [from, pos] through its table.
      for (size_t r = 0; r < chunks.size(); ++r)
        for (int64_t i = 0; i < chunks[r].numTokens; ++i) {
          const int64_t pos = chunks[r].startPosition + i,
                        block = (*chunks[r].blockTable)[pos / blockSize];
          for (int64_t h = 0; h < impl.numKvHeads; ++h) {
            const float *key = impl.data(k) + (start[r] + i) * impl.stride(k) + h * impl.kHeadDim;
            uint8_t *keys = impl.kHead(c.layer, block, h, numBlocks, blockSize);
            if (impl.keyLayout == KeyLayout::Transposed)
              storeKeyTransposed(impl.kvDtype, key, impl.kHeadDim, blockSize, pos % blockSize,
                                 keys);
            else
              encodeKvRow(impl.kvDtype, key, impl.kHeadDim,
                          keys + (pos % blockSize) * impl.kHeadBytes);
            if (impl.vHeadDim > 0)
              encodeKvRow(impl.kvDtype,
                          impl.data(v) + (start[r] + i) * impl.stride(v) + h * impl.vHeadDim,
                          impl.vHeadDim,
                          impl.vHead(c.layer, block, h, numBlocks, blockSize) +
                              (pos % blockSize) * impl.vHeadBytes);
          }
        }
      // Work items: (request, head, tile of up to kAttentionQueryTile query rows), or for a
      // one-token chunk (a decode step) tiles of up to kAttentionQueryTile heads of one KV
      // head, which read each K and V row once for all of them. Each row's result depends
      // on nothing else, so neither the split nor the tiling changes it.
      struct Item {
        int64_t chunk, head, first, rows;
        bool heads; // rows are heads head.. of token `first`
        // A decode tile of a long context is split over its segments: this item's
        // [seg0, seg1) of the tile's [segFirst, segEnd), their states at states + stateAt.
        int64_t seg0 = 0, seg1 = 0, segFirst = 0, segEnd = 0, stateAt = -1;
      };
      const KeyRange range{c.slidingWindow, c.chunkSize};
      std::vector<Item> items;
      std::vector<size_t> splitTiles; // the first item of each split tile
      int64_t work = 0, stateFloats = 0; // work: query rows x positions x head_dim
      auto tileOf = [&](const Item &it) {
        const PagedChunk &chunk = chunks[it.chunk];
        const int64_t row = start[it.chunk] + it.first;
        // Bidirectional: every row sees up to the request's last position, all of them
        // written above (its prompt runs whole: SchedulerConfig::wholePrompts).
        return QueryTile{
            impl.data(q) + row * impl.stride(q) + it.head * hd,
            it.heads ? hd : impl.stride(q),
            impl.data(out) + row * impl.stride(out) + it.head * vd,
            it.heads ? vd : impl.stride(out),
            it.rows,
            c.bidirectional ? chunk.startPosition + chunk.numTokens - 1
                            : chunk.startPosition + it.first,
            it.heads || c.bidirectional ? 0 : 1,
            c.sinks ? reinterpret_cast<const float *>(c.sinks->data) + it.head : nullptr,
            it.heads ? 1 : 0};
      };
      // A decode step's tile over more than this many segments is split into pieces of it
      // (1024 positions), so that one long request keeps every thread busy.
      constexpr int64_t kSegmentsPerPiece = 4;
      auto add = [&](Item it) {
        int64_t first = 0, end = 0;
        if (chunks[it.chunk].numTokens == 1) // a prompt's tiles run whole
          attentionSegments(tileOf(it), range, first, end);
        if (end - first <= kSegmentsPerPiece) {
          items.push_back(it);
          return;
        }
        it.segFirst = first;
        it.segEnd = end;
        it.stateAt = stateFloats;
        stateFloats += it.rows * (end - first) * attentionStateFloats(vd);
        splitTiles.push_back(items.size());
        for (int64_t j = first; j < end; j += kSegmentsPerPiece) {
          it.seg0 = j;
          it.seg1 = std::min(end, j + kSegmentsPerPiece);
          items.push_back(it);
        }
      };
      for (size_t r = 0; r < chunks.size(); ++r) {
        work +=
            chunks[r].numTokens * (chunks[r].startPosition + chunks[r].numTokens) * hd * c.numHeads;
        if (chunks[r].numTokens == 1 && group > 1) {
          for (int64_t g = 0; g < c.numKvHeads; ++g)
            for (int64_t h = 0; h < group; h += kAttentionQueryTile)
              add({static_cast<int64_t>(r), g * group + h, 0,
                   std::min(kAttentionQueryTile, group - h), true});
          continue;
        }
        for (int64_t h = 0; h < c.numHeads; ++h)
          for (int64_t i = 0; i < chunks[r].numTokens; i += kAttentionQueryTile)
            add({static_cast<int64_t>(r), h, i,
                 std::min(kAttentionQueryTile, chunks[r].numTokens - i), false});
      }
      impl.attentionStates.resize(static_cast<size_t>(stateFloats));
      const int64_t numItems = static_cast<int64_t>(items.size()),
                    numSplit = static_cast<int64_t>(splitTiles.size());
      const KvLayout layout{blockSize, impl.kvDtype, impl.keyLayout};
#pragma omp parallel if (work >= kParallelWork)
      {
        AttentionScratch scratch;
        std::vector<KvBlockView> blocks;
        int64_t blocksOf = -1, headOf = -1; // the chunk and KV head `blocks` holds views of
#pragma omp for schedule(dynamic)
        for (int64_t n = 0; n < numItems; ++n) {
          const Item &it = items[n];
          const int64_t kvHead = it.head / group;
          if (blocksOf != it.chunk || headOf != kvHead) { // each block's rows of the head
            blocks.clear();
            for (int32_t b : *chunks[it.chunk].blockTable)
              blocks.push_back({impl.kHead(c.layer, b, kvHead, numBlocks, blockSize),
                                impl.vHead(c.layer, b, kvHead, numBlocks, blockSize),
                                impl.kHeadBytes, impl.vRowBytes()});
            blocksOf = it.chunk;
            headOf = kvHead;
          }
          if (it.stateAt < 0)
            attendTile(tileOf(it), range, blocks.data(), layout, {hd, vd},
                       static_cast<float>(c.scale), static_cast<float>(c.softcap), scratch);
          else
            attendSegments(tileOf(it), range, blocks.data(), layout, {hd, vd},
                           static_cast<float>(c.scale), static_cast<float>(c.softcap), it.seg0,
                           it.seg1,
                           impl.attentionStates.data() + it.stateAt +
                               (it.seg0 - it.segFirst) * attentionStateFloats(vd),
                           (it.segEnd - it.segFirst) * attentionStateFloats(vd), scratch);
        }
        // (The loop's barrier: every piece's states are in.)
#pragma omp for schedule(static)
        for (int64_t n = 0; n < numSplit; ++n) {
          const Item &it = items[splitTiles[size_t(n)]];
          finishAttention(tileOf(it), range, vd, it.segFirst, it.segEnd,
                          impl.attentionStates.data() + it.stateAt,
                          (it.segEnd - it.segFirst) * attentionStateFloats(vd));
        }
      }
      break;
    }
    case OpKind::CausalConv1d: {
      // Each request's rows in order, each feature on its own: the window of the last K - 1
      // inputs (the request's state, zeros at position 0) slides over its rows.
      const plan::ConvConfig &c = op.conv;
      const int64_t in = op.inputs[0], width = impl.prog.values[in].width, k = c.kernelSize;
      if (impl.rows[in] != total) // a request's rows must all be there, in order
        return bad("causal_conv1d reads " + std::to_string(impl.rows[in]) +
                   " rows, not the step's " + std::to_string(total));
      impl.rows[out] = impl.rows[in];
      const float *w = reinterpret_cast<const float *>(op.weight->data);
      const float *bias = op.bias ? reinterpret_cast<const float *>(op.bias->data) : nullptr;
      const float *src = impl.data(in);
      float *dst = impl.data(out);
      const int64_t inStride = impl.stride(in), outStride = impl.stride(out);
      float *const states = impl.states[static_cast<size_t>(c.state)].get();
      int64_t work = 0;
      for (size_t r = 0; r < chunks.size(); ++r) {
        work += chunks[r].numTokens * width * k;
        if (chunks[r].startPosition == 0)
          std::fill_n(states + int64_t(chunks[r].stateSlot) * (k - 1) * width, (k - 1) * width,
                      0.0f);
      }
      // Work items: (request, feature), every request's features in parallel.
      const int64_t items = static_cast<int64_t>(chunks.size()) * width;
#pragma omp parallel for schedule(static) if (work >= kParallelWork)
      for (int64_t item = 0; item < items; ++item) {
        const size_t r = static_cast<size_t>(item / width);
        const int64_t f = item % width;
        float *state = states + int64_t(chunks[r].stateSlot) * (k - 1) * width;
        const int64_t n = chunks[r].numTokens, first = start[r];
        {
          float window[64]; // inputs t - K + 1 .. t, oldest first
          for (int64_t j = 0; j + 1 < k; ++j)
            window[j] = state[j * width + f];
          const float *taps = w + f * k;
          for (int64_t t = 0; t < n; ++t) {
            window[k - 1] = src[(first + t) * inStride + f];
            float acc = 0.0f;
            for (int64_t j = 0; j < k; ++j)
              acc += taps[j] * window[j];
            if (bias)
              acc += bias[f];
            if (c.silu)
              acc = acc / (1.0f + std::exp(-acc));
            dst[(first + t) * outStride + f] = acc;
            for (int64_t j = 0; j + 1 < k; ++j)
              window[j] = window[j + 1];
          }
          for (int64_t j = 0; j + 1 < k; ++j)
            state[j * width + f] = window[j];
        }
      }
      break;
    }
    case OpKind::GatedDeltaRule: {
      // Each request's rows in order; its value heads apart (in parallel), each a dk x dv
      // state matrix S: decayed, corrected towards the row's value along its key (the delta
      // rule), then read along its query.
      const plan::DeltaRuleConfig &c = op.delta;
      const int64_t dk = c.keyHeadDim, dv = c.valueHeadDim, group = c.numVHeads / c.numKHeads;
      const int64_t q = op.inputs[0], k = op.inputs[1], v = op.inputs[2], a = op.inputs[3],
                    b = op.inputs[4];
      for (int64_t id : op.inputs)
        if (impl.rows[id] != total)
          return bad("gated_delta_rule reads " + std::to_string(impl.rows[id]) +
                     " rows, not the step's " + std::to_string(total));
      impl.rows[out] = impl.rows[q];
      const float *aLog = reinterpret_cast<const float *>(c.aLog->data);
      const float *dtBias = reinterpret_cast<const float *>(c.dtBias->data);
      float *const states = impl.states[static_cast<size_t>(c.state)].get();
      const int64_t perSlot = c.numVHeads * dk * dv;
      int64_t work = 0;
      for (const PagedChunk &ch : chunks)
        work += ch.numTokens * perSlot;
      for (size_t r = 0; r < chunks.size(); ++r) {
        float *state = states + int64_t(chunks[r].stateSlot) * perSlot;
        if (chunks[r].startPosition == 0)
          std::fill(state, state + perSlot, 0.0f);
      }
      // Work items: (request, value head); each walks its request's rows in order.
      const int64_t items = static_cast<int64_t>(chunks.size()) * c.numVHeads;
#pragma omp parallel if (work >= kParallelWork)
      {
        std::vector<float> qn(static_cast<size_t>(dk)), kn(static_cast<size_t>(dk)),
            delta(static_cast<size_t>(dv));
#pragma omp for schedule(dynamic)
        for (int64_t it = 0; it < items; ++it) {
          const size_t r = static_cast<size_t>(it / c.numVHeads);
          const int64_t h = it % c.numVHeads, kh = h / group;
          float *s = states + int64_t(chunks[r].stateSlot) * perSlot + h * dk * dv;
          const float bound = std::sqrt(float(dk));
          for (int64_t t = start[r]; t < start[r] + chunks[r].numTokens; ++t) {
            const float *qr = impl.data(q) + t * impl.stride(q) + kh * dk;
            const float *kr = impl.data(k) + t * impl.stride(k) + kh * dk;
            const float *vr = impl.data(v) + t * impl.stride(v) + h * dv;
            float qs = 0.0f, ks = 0.0f;
            for (int64_t i = 0; i < dk; ++i) {
              qs += qr[i] * qr[i];
              ks += kr[i] * kr[i];
            }
            const float qScale = 1.0f / std::sqrt(qs + 1e-6f) / bound,
                        kScale = 1.0f / std::sqrt(ks + 1e-6f);
            for (int64_t i = 0; i < dk; ++i) {
              qn[i] = qr[i] * qScale;
              kn[i] = kr[i] * kScale;
            }
            const float beta = 1.0f / (1.0f + std::exp(-impl.data(b)[t * impl.stride(b) + h]));
            const float x = impl.data(a)[t * impl.stride(a) + h] + dtBias[h];
            const float softplus = x > 20.0f ? x : std::log1p(std::exp(x));
            const float decay = std::exp(-std::exp(aLog[h]) * softplus);
            // delta = beta (v - S^T k) with S decayed; then S += k delta^T; out = S^T q.
            std::fill(delta.begin(), delta.end(), 0.0f);
            for (int64_t i = 0; i < dk; ++i) {
              float *row = s + i * dv;
              for (int64_t j = 0; j < dv; ++j) {
                row[j] *= decay;
                delta[j] += row[j] * kn[i];
              }
            }
            for (int64_t j = 0; j < dv; ++j)
              delta[j] = (vr[j] - delta[j]) * beta;
            float *o = impl.data(out) + t * impl.stride(out) + h * dv;
            std::fill(o, o + dv, 0.0f);
            for (int64_t i = 0; i < dk; ++i) {
              float *row = s + i * dv;
              for (int64_t j = 0; j < dv; ++j) {
                row[j] += kn[i] * delta[j];
                o[j] += row[j] * qn[i];
              }
            }
          }
        }
      }
      break;
    }
    case OpKind::SsmScan: {
      // Each request's rows in order; its heads apart (in parallel), each a P x N state: decayed
      // by exp(dt A), plus dt x B^T; read along C, plus D x.
      const plan::SsmConfig &c = op.ssm;
      const int64_t p = c.headDim, n = c.stateSize, group = c.numHeads / c.numGroups;
      const int64_t x = op.inputs[0], dt = op.inputs[1], bIn = op.inputs[2], cIn = op.inputs[3];
      for (int64_t id : op.inputs)
        if (impl.rows[id] != total)
          return bad("ssm_scan reads " + std::to_string(impl.rows[id]) + " rows, not the step's " +
                     std::to_string(total));
      impl.rows[out] = impl.rows[x];
      const float *aLog = reinterpret_cast<const float *>(c.aLog->data);
      const float *dtBias = reinterpret_cast<const float *>(c.dtBias->data);
      const float *dSkip = reinterpret_cast<const float *>(c.d->data);
      float *const states = impl.states[static_cast<size_t>(c.state)].get();
      const int64_t perSlot = c.numHeads * p * n;
      int64_t work = 0;
      for (size_t r = 0; r < chunks.size(); ++r) {
        work += chunks[r].numTokens * perSlot;
        float *state = states + int64_t(chunks[r].stateSlot) * perSlot;
        if (chunks[r].startPosition == 0)
          std::fill(state, state + perSlot, 0.0f);
      }
      const int64_t items = static_cast<int64_t>(chunks.size()) * c.numHeads;
#pragma omp parallel for schedule(dynamic) if (work >= kParallelWork)
      for (int64_t it = 0; it < items; ++it) {
        const size_t r = static_cast<size_t>(it / c.numHeads);
        const int64_t h = it % c.numHeads, g = h / group;
        float *s = states + int64_t(chunks[r].stateSlot) * perSlot + h * p * n;
        const float a = -std::exp(aLog[h]);
        for (int64_t t = start[r]; t < start[r] + chunks[r].numTokens; ++t) {
          const float *xr = impl.data(x) + t * impl.stride(x) + h * p;
          const float *br = impl.data(bIn) + t * impl.stride(bIn) + g * n;
          const float *cr = impl.data(cIn) + t * impl.stride(cIn) + g * n;
          const float raw = impl.data(dt)[t * impl.stride(dt) + h] + dtBias[h];
          const float step = raw > 20.0f ? raw : std::log1p(std::exp(raw));
          const float decay = std::exp(step * a);
          float *o = impl.data(out) + t * impl.stride(out) + h * p;
          for (int64_t i = 0; i < p; ++i) {
            float *row = s + i * n;
            float acc = 0.0f;
            for (int64_t j = 0; j < n; ++j) {
              row[j] = row[j] * decay + step * br[j] * xr[i];
              acc += row[j] * cr[j];
            }
            o[i] = acc + xr[i] * dSkip[h];
          }
        }
      }
      break;
    }
    case OpKind::Concat: { // each result head: each input's head (or its only one), in order
      const int64_t rows = impl.rows[op.inputs[0]], heads = op.concatHeads;
      impl.rows[out] = rows;
      float *dst = impl.data(out);
      int64_t at = 0; // where the next input's features start in each result head
      const int64_t perHead = impl.prog.values[out].width / heads;
      for (size_t i = 0; i < op.inputs.size(); ++i) {
        const int64_t in = op.inputs[i], width = impl.prog.values[in].width,
                      w = op.concatShared[i] ? width : width / heads;
        const float *src = impl.data(in);
        for (int64_t t = 0; t < rows; ++t)
          for (int64_t h = 0; h < heads; ++h)
            std::memcpy(dst + t * impl.stride(out) + h * perHead + at,
                        src + t * impl.stride(in) + (op.concatShared[i] ? 0 : h * w),
                        static_cast<size_t>(w) * sizeof(float));
        at += w;
      }
      break;
    }
    case OpKind::AllReduce: {
      int64_t in = op.inputs[0];
      impl.rows[out] = impl.rows[in];
      const int64_t count = impl.rows[in] * impl.prog.values[in].width;
      if (out != in)
        std::memcpy(impl.data(out), impl.data(in), count * sizeof(float));
      if (Status s = impl.comm->allReduceSum(impl.data(out), count); !s)
        return s.error();
      break;
    }
    case OpKind::Recv: { // the stage before's activation, all rows
      const int64_t width = impl.prog.values[out].width, n = total * width;
      if (static_cast<int64_t>(incomingCount) < n)
        return Error(ErrorCode::InvalidArgument,
                     "the stage before sent " + std::to_string(incomingCount) +
                         " values, the step needs " + std::to_string(n) + " more");
      impl.rows[out] = total;
      for (int64_t r = 0; r < total; ++r)
        std::memcpy(impl.data(out) + r * impl.stride(out), incoming + r * width,
                    width * sizeof(float));
      incoming += n;
      incomingCount -= static_cast<size_t>(n);
      break;
    }
    case OpKind::Send: {
      int64_t in = op.inputs[0];
      const int64_t width = impl.prog.values[in].width;
      if (!outgoing)
        return Error(ErrorCode::Internal, "a pipeline stage's send has no channel");
      for (int64_t r = 0; r < impl.rows[in]; ++r)
        outgoing->insert(outgoing->end(), impl.data(in) + r * impl.stride(in),
                         impl.data(in) + r * impl.stride(in) + width);
      break;
    }
    case OpKind::AllGather: {
      // Rank k's [rows, width] lands in columns k * width.. of every row.
      int64_t in = op.inputs[0];
      const int64_t rows = impl.rows[in], width = impl.prog.values[in].width, ranks = op.groupSize;
      impl.rows[out] = rows;
      impl.gathered.resize(static_cast<size_t>(ranks * rows * width));
      if (Status s = impl.comm->allGather(impl.data(in), rows * width, impl.gathered.data()); !s)
        return s.error();
      float *dst = impl.data(out);
      for (int64_t k = 0; k < ranks; ++k)
        for (int64_t r = 0; r < rows; ++r)
          std::memcpy(dst + r * impl.stride(out) + k * width,
                      impl.gathered.data() + (k * rows + r) * width, width * sizeof(float));
      break;
    }
    }
  }

  if (impl.prog.logits < 0)
    return std::vector<float>(); // a pipeline stage before the last
  int64_t vocab = impl.prog.values[impl.prog.logits].width, n = impl.rows[impl.prog.logits];
  std::vector<float> logits(n * vocab);
  for (int64_t r = 0; r < n; ++r)
    std::memcpy(logits.data() + r * vocab,
                impl.data(impl.prog.logits) + r * impl.stride(impl.prog.logits),
                vocab * sizeof(float));
  return logits;
}

} // namespace modelrt::engine
