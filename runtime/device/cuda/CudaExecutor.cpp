#include "runtime/device/cuda/CudaExecutor.h"

#include "runtime/device/StepMetadata.h"
#include "runtime/device/cuda/CudaAttention.h"
#include "runtime/device/cuda/CudaStatus.h"
#include "runtime/device/cuda/ExecutorKernels.h"
#include "runtime/device/cuda/Gemm.h"
#include "runtime/device/cuda/Sampling.h"
#include "runtime/formats/Dequantize.h"
#include "runtime/plan/CudaImage.h"
#include "runtime/plan/PlanFile.h"
#include "runtime/plan/Program.h"

#include <cuda.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <type_traits>

namespace modelrt::cuda {

namespace {

using plan::Op;
using plan::OpKind;

Error bad(const std::string &what) { return Error(ErrorCode::InvalidFormat, "program: " + what); }

// The driver API functions used here, found through the runtime (cudart loads the driver
// when it starts), so that modelrt does not link libcuda and starts where no driver is.
struct DriverApi {
  decltype(&cuGetErrorName) getErrorName = nullptr;
  decltype(&cuGetErrorString) getErrorString = nullptr;
  decltype(&cuModuleLoadDataEx) moduleLoadDataEx = nullptr;
  decltype(&cuModuleUnload) moduleUnload = nullptr;
  decltype(&cuModuleGetFunction) moduleGetFunction = nullptr;
  decltype(&cuFuncGetAttribute) funcGetAttribute = nullptr;
  decltype(&cuLaunchKernel) launchKernel = nullptr;
};

// Null (with the missing symbol in *why) where the driver lacks one of them.
const DriverApi *driverApi(std::string *why) {
  static std::string missing;
  static const DriverApi api = [] {
    DriverApi a;
    auto find = [&](const char *symbol, auto &fn) {
      void *p = nullptr;
      cudaDriverEntryPointQueryResult found{};
      if (cudaGetDriverEntryPointByVersion(symbol, &p, 12000, cudaEnableDefault, &found) !=
              cudaSuccess ||
          found != cudaDriverEntryPointSuccess || !p) {
        cudaGetLastError();
        if (missing.empty())
          missing = symbol;
        return;
      }
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
    };
    find("cuGetErrorName", a.getErrorName);
    find("cuGetErrorString", a.getErrorString);
    find("cuModuleLoadDataEx", a.moduleLoadDataEx);
    find("cuModuleUnload", a.moduleUnload);
    find("cuModuleGetFunction", a.moduleGetFunction);
    find("cuFuncGetAttribute", a.funcGetAttribute);
    find("cuLaunchKernel", a.launchKernel);
    return a;
  }();
  if (!missing.empty()) {
    if (why)
      *why = "the CUDA driver has no " + missing;
    return nullptr;
  }
  return &api;
}

Status driverStatus(CUresult r, const char *call) {
  if (r == CUDA_SUCCESS)
    return Status::success();
  const char *name = nullptr, *text = nullptr;
  if (const DriverApi *api = driverApi(nullptr)) {
    api->getErrorName(r, &name);
    api->getErrorString(r, &text);
  }
  return Error(ErrorCode::Internal, std::string(call) + " failed: " + (name ? name : "?") + " (" +
                                        (text ? text : "") + ")");
}
// In functions that return Status or Expected: a failed step returns its error.
#define TRY(expr)                                                                                  \
  do {                                                                                             \
    ::modelrt::Status _status = (expr);                                                            \
    if (!_status)                                                                                  \
      return _status.error();                                                                      \
  } while (0)
#define CUDA_TRY(call) TRY(::modelrt::cuda::cudaStatus((call), #call, __FILE__, __LINE__))
#define CU_TRY(call) TRY(driverStatus((call), #call))

bool elementType(DType d, ElementType &out) {
  switch (d) {
  case DType::F32:
    out = ElementType::F32;
    return true;
  case DType::F16:
    out = ElementType::F16;
    return true;
  case DType::BF16:
    out = ElementType::BF16;
    return true;
  default:
    return false;
  }
}

DType dtypeOf(ElementType t) {
  return t == ElementType::F32 ? DType::F32 : t == ElementType::F16 ? DType::F16 : DType::BF16;
}

// Memory freed with the executor: on the device, or page-locked on the host (for
// asynchronous copies).
template <bool Pinned> struct Buffer {
  void *ptr = nullptr;
  size_t bytes = 0;
  Buffer() = default;
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  ~Buffer() { release(); }
  void release() {
    if (ptr)
      Pinned ? cudaFreeHost(ptr) : cudaFree(ptr);
    ptr = nullptr;
    bytes = 0;
  }
  Status allocate(size_t n, const char *what) {
    release();
    if (n == 0)
      return Status::success();
    if ((Pinned ? cudaMallocHost(&ptr, n) : cudaMalloc(&ptr, n)) != cudaSuccess) {
      cudaGetLastError(); // clear the sticky-free error state of a failed allocation
      ptr = nullptr;
      return Error(ErrorCode::ResourceExhausted,
                   "cannot allocate " + std::to_string(n) + " bytes of " +
                       (Pinned ? "pinned host memory" : "GPU memory") + " for " + what);
    }
    bytes = n;
    return Status::success();
  }
  // At least n bytes (twice that when it grows); only between steps, when nothing copies
  // to or from it.
  Status reserve(size_t n, const char *what) {
    return n <= bytes ? Status::success() : allocate(2 * n, what);
  }
};
using DeviceBuffer = Buffer<false>;
using PinnedBuffer = Buffer<true>;

constexpr size_t kGemmWorkspaceBytes = size_t(32) << 20;

size_t alignUp(size_t n, size_t a) { return (n + a - 1) / a * a; }

// A moe op's scratch space for `rows` token rows of `width`, laid out in this order (each
// part 256-byte aligned): experts and weights per pair, counts and offsets per expert, each
// pair's row and position, then the pairs' rows: gathered inputs [pairs, width], gate and
// up [pairs, I], the experts' outputs [pairs, width].
struct MoeScratchLayout {
  size_t experts, weights, counts, offsets, tokenOf, positionOf, in, gate, up, out, bytes;
};
MoeScratchLayout moeScratchLayout(const plan::Op &op, int64_t width, int64_t rows,
                                  size_t elementSize) {
  const size_t pairs = static_cast<size_t>(rows * op.moe.topK),
               experts = static_cast<size_t>(op.moe.numExperts),
               inter = static_cast<size_t>(op.moe.intermediate), d = static_cast<size_t>(width);
  MoeScratchLayout l{};
  size_t at = 0;
  auto take = [&](size_t &field, size_t bytes) {
    field = at;
    at = alignUp(at + bytes, 256);
  };
  take(l.experts, pairs * sizeof(int32_t));
  take(l.weights, pairs * sizeof(float));
  take(l.counts, experts * sizeof(int32_t));
  take(l.offsets, (experts + 1) * sizeof(int32_t));
  take(l.tokenOf, pairs * sizeof(int32_t));
  take(l.positionOf, pairs * sizeof(int32_t));
  take(l.in, pairs * d * elementSize);
  take(l.gate, pairs * inter * elementSize);
  take(l.up, pairs * inter * elementSize);
  take(l.out, pairs * d * elementSize);
  l.bytes = at;
  return l;
}
size_t moeScratchBytes(const plan::Op &op, int64_t width, int64_t rows, size_t elementSize) {
  return moeScratchLayout(op, width, rows, elementSize).bytes;
}

} // namespace

struct CudaExecutor::Impl {
  plan::PlanFile file;
  plan::PlanMetadata meta;
  plan::Program prog;
  ElementType act = ElementType::BF16; // the plan's activation and KV-cache type
  int smCount = 0;
  int device = 0; // set current on every thread that calls in (the server's engine thread)

  cudaStream_t stream = nullptr;
  CUmodule module = nullptr;
  std::vector<CUfunction> functions; // per op: a fused op's kernel
  std::unique_ptr<CublasLtGemm> gemm;

  // Weights on the device, by (name, element type): each converted once at load.
  std::map<std::pair<std::string, int>, DeviceBuffer> weights;
  // Per op: its weight (an attention op's sinks, f32) and bias.
  std::vector<const void *> weightOf, biasOf;
  std::vector<std::vector<const void *>> fusedWeights;
  std::vector<DeviceBuffer> invFreq; // per op: a rope's inverse frequencies (f32)

  // Mixtures of experts: per op its gate, up and down weights on the device, and the
  // scratch space of the largest (routing, grouping, the pairs' rows through the experts),
  // sized at load for the arena's rows; each step reads the experts' row counts back
  // (moeOffsetsHost) to size its GEMMs, so a plan with a moe op runs without CUDA graphs.
  std::vector<std::array<const void *, 3>> expertWeights;
  std::vector<std::array<const void *, 3>> expertBiases; // gate, up, down (null: none)
  DeviceBuffer moeScratch;
  PinnedBuffer moeOffsetsHost;
  Status enqueueMoe(size_t opIndex, int64_t rows);

  DeviceBuffer arena, gemmWorkspace, attentionWorkspace;
  uint64_t attentionWorkspaceGeneration = 0; // bumped at each allocation
  // The step's metadata, one upload: tokens, positions, sample rows, slot mapping,
  // query starts, context lengths, block tables (int32 each).
  DeviceBuffer meta32;
  PinnedBuffer metaHost; // the step's metadata on its way up

  // CUDA graphs of decode steps, one per padded batch size (decodeGraphBatch) and context
  // bucket (the step's longest context rounded up to a power of two, at least 256 tokens,
  // at most max_seq_len: it sets the block tables' width and the attention's split grid):
  // a graph's first step runs eagerly (it loads modules and picks GEMM algorithms), its
  // second is captured, later ones replay. The graphs read their metadata from graphMeta,
  // allocated once for the largest layout, so their pointers never move; a graph made
  // before the attention workspace grew is made again.
  struct DecodeGraph {
    bool seen = false, failed = false;
    cudaGraphExec_t exec = nullptr;
    // The attention workspace it was captured with: its allocation's number (a regrown
    // buffer may come back at the same address, with a layout the graph does not hold).
    uint64_t workspace = 0;
  };
  bool useGraphs = false;
  int32_t graphLimit = 0, graphTableWidth = 0; // the largest layout's
  DeviceBuffer graphMeta;
  std::map<std::pair<int32_t, int32_t>, DecodeGraph> graphs; // (padded size, context bucket)
  int capturedGraphs = 0;
  void dropGraph(DecodeGraph &g) {
    if (g.exec)
      cudaGraphExecDestroy(g.exec);
    g.exec = nullptr;
  }

  // The paged KV cache: per layer, K then V, each [numBlocks][numKvHeads][blockSize][headDim].
  DeviceBuffer kvCache;
  int32_t numBlocks = 0, blockSize = 16;
  int64_t blockElements = 0; // of one block of one layer's K (or V)

  // Sampling on the device: per-row parameters up (one copy), tokens and log-probabilities
  // back (one copy), each through one pinned host buffer; the host's logits rows come back
  // through another.
  bool deviceSampling = true;
  DeviceBuffer sampleIn, sampleOut;
  PinnedBuffer sampleHostIn, sampleHostOut, logitsHost;

  std::deque<Expected<StepOutput>> done; // submitted steps' outputs

  // One step; chunks with deviceSampling only when `sampleHere`.
  Expected<StepOutput> run(const std::vector<int32_t> &tokens,
                           const std::vector<PagedChunk> &chunks, bool sampleHere);
  // The logits rows' tokens on the device (`picks`: logits row -> the chunk's parameters);
  // the other wanted rows' logits to `out.logits`.
  Status sampleAndCopy(int64_t numRows,
                       const std::vector<std::pair<int64_t, const DeviceSampling *>> &picks,
                       StepOutput &out);

  const DriverApi *driver = nullptr;
  std::string kernelImage = "none"; // which of the plan's CUDA images runs

  // Enqueues the program's ops on `stream` for a step of the metadata at `d` (on the device).
  Status enqueueProgram(const StepMetadata &md, const int32_t *d);
  // Grows the attention workspace (between steps) to what every attention op of a step of
  // `md` needs, so that a graph never replays with one too small for its step (the decode
  // partials follow the step's total context, which its graph key does not fix).
  Status reserveAttentionWorkspace(const StepMetadata &md);

  ~Impl() {
    for (auto &[size, g] : graphs)
      dropGraph(g);
    if (module && driver)
      driver->moduleUnload(module);
    if (stream)
      cudaStreamDestroy(stream);
  }

  ElementType typeOf(int64_t id) const {
    ElementType t = ElementType::F32;
    elementType(prog.values[id].dtype, t);
    return t;
  }
  char *data(int64_t id) const {
    const int64_t root = prog.root(id);
    return static_cast<char *>(arena.ptr) + prog.values[root].arenaOffset +
           prog.rootColumn(id) * elementBytes(typeOf(id));
  }
  int64_t stride(int64_t id) const { return prog.values[prog.root(id)].width; }
  void *kCache(int64_t layer) const {
    return static_cast<char *>(kvCache.ptr) +
           (2 * layer) * numBlocks * blockElements * elementBytes(act);
  }
  void *vCache(int64_t layer) const {
    return static_cast<char *>(kvCache.ptr) +
           (2 * layer + 1) * numBlocks * blockElements * elementBytes(act);
  }

  // Uploads weight `w` as `type` (converted on the host when it is stored otherwise).
  Expected<const void *> upload(const plan::WeightEntry &w, ElementType type) {
    auto key = std::make_pair(w.name, static_cast<int>(type));
    auto it = weights.find(key);
    if (it != weights.end())
      return static_cast<const void *>(it->second.ptr);
    uint64_t count = 1;
    for (uint64_t d : w.shape)
      count *= d;
    const size_t bytes = count * elementBytes(type);
    std::vector<uint8_t> converted;
    const void *src = w.data;
    if (w.dtype != dtypeOf(type)) {
      if (!canDequantize(w.dtype))
        return Error(ErrorCode::Unsupported, "weight " + w.name + " is stored as " +
                                                 dtypeName(w.dtype) +
                                                 ", which the CUDA executor cannot convert");
      converted.resize(bytes);
      TRY(convert(w.dtype, w.data, w.size, count, dtypeOf(type), converted.data(), bytes));
      src = converted.data();
    }
    DeviceBuffer &buffer = weights[key];
    TRY(buffer.allocate(bytes, ("weight " + w.name).c_str()));
    CUDA_TRY(cudaMemcpy(buffer.ptr, src, bytes, cudaMemcpyHostToDevice));
    return static_cast<const void *>(buffer.ptr);
  }
};

CudaExecutor::CudaExecutor() : impl_(std::make_unique<Impl>()) {}
CudaExecutor::~CudaExecutor() {
  if (impl_ && impl_->stream)
    cudaStreamSynchronize(impl_->stream);
}

const plan::PlanMetadata &CudaExecutor::metadata() const { return impl_->meta; }
int32_t CudaExecutor::numKvBlocks() const { return impl_->numBlocks; }
int32_t CudaExecutor::kvBlockSize() const { return impl_->blockSize; }

bool cudaDeviceAvailable(std::string *why) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    if (why)
      *why = err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device";
    cudaGetLastError();
    return false;
  }
  return true;
}

Expected<std::unique_ptr<CudaExecutor>> CudaExecutor::load(const std::string &planPath,
                                                           const CudaExecutorOptions &options) {
  auto fail = [&](const Error &e) { return e.withContext(planPath); };
  std::string why;
  if (!cudaDeviceAvailable(&why))
    return Error(ErrorCode::Unsupported, "no CUDA device to run on (" + why + ")");
  Expected<plan::OpenedPlan> opened = plan::openPlan(planPath, 0);
  if (!opened)
    return opened.error();
  std::unique_ptr<CudaExecutor> exec(new CudaExecutor());
  Impl &impl = *exec->impl_;
  impl.file = std::move(opened->file);
  impl.meta = std::move(opened->meta);
  impl.deviceSampling = options.deviceSampling;
  const plan::PlanMetadata &m = impl.meta;
  impl.useGraphs = options.cudaGraphs;
  if (m.tensorParallel * m.pipelineParallel != 1)
    return fail(Error(ErrorCode::Unsupported,
                      "the CUDA executor runs single-rank plans so far (this one has tp " +
                          std::to_string(m.tensorParallel) + ", pp " +
                          std::to_string(m.pipelineParallel) + ")"));
  if (m.dtype == "bf16")
    impl.act = ElementType::BF16;
  else if (m.dtype == "f16")
    impl.act = ElementType::F16;
  else
    return fail(
        Error(ErrorCode::Unsupported, "the CUDA executor runs bf16 and f16 plans (this one is " +
                                          m.dtype + "): compile it with --dtype bf16"));
  const plan::Section *ptx = impl.file.find(plan::SectionKind::CudaKernels, 0);
  const plan::Section *programSection = impl.file.find(plan::SectionKind::Program, 0);
  if (!programSection)
    return fail(Error(ErrorCode::InvalidFormat, "no program"));
  Expected<plan::Program> program = plan::parseProgram(programSection->text(), m, 0, true, 0);
  if (!program)
    return fail(program.error());
  impl.prog = std::move(*program);
  plan::Program &p = impl.prog;

  // What this executor supports beyond the program's own checks.
  if (p.tokenTypes >= 0)
    return fail(Error(ErrorCode::Unsupported, "a program that takes token types is not "
                                              "supported on CUDA: serve this plan with --device "
                                              "cpu"));
  for (size_t id = 0; id < p.values.size(); ++id) {
    const DType d = p.values[id].dtype;
    if (d != DType::I32 && d != DType::F32 && d != dtypeOf(impl.act))
      return fail(bad("value " + std::to_string(id) + " is " + dtypeName(d) + " in a " + m.dtype +
                      " plan"));
  }
  bool hasFused = false;
  for (const Op &op : p.ops) {
    hasFused = hasFused || op.kind == OpKind::Fused;
    switch (op.kind) {
    case OpKind::AllReduce:
    case OpKind::AllGather:
    case OpKind::Send:
    case OpKind::Recv:
    case OpKind::Concat: // the latent attention's head joins: the CPU executor's for now
    case OpKind::CausalConv1d: // recurrent state: the CPU executor's for now
    case OpKind::GatedDeltaRule:
    case OpKind::SsmScan:
      return fail(Error(ErrorCode::Unsupported, std::string("the CUDA executor runs no ") +
                                                    plan::opKindName(op.kind) + " yet"));
    case OpKind::Gemm:
      if (op.gemmHeads > 1 || op.gemmInputRows)
        return fail(Error(ErrorCode::Unsupported,
                          "the CUDA executor runs no gemm of each head (llm.head_linear) yet: "
                          "serve this plan with --device cpu"));
      // cuBLASLt reads A and writes C as dense row-major matrices.
      if (p.values[op.inputs[0]].viewOf >= 0 || p.values[op.outputs[0]].viewOf >= 0 ||
          p.values[op.inputs[0]].dtype != dtypeOf(impl.act))
        return fail(bad("a gemm's operands are views or not " + m.dtype));
      break;
    case OpKind::Rope:
      if ((op.rope.norm && !op.weight) || op.rope.temperatureFloor > 0)
        return fail(Error(ErrorCode::Unsupported,
                          "the CUDA rope kernel takes no unweighted head norm and no attention "
                          "temperature (rope temperature_floor): serve this plan with --device cpu"));
      break;
    case OpKind::Fused:
      if (op.cudaKernel.empty() || op.cudaBlockSize < 1 || op.cudaBlockSize > 1024)
        return fail(Error(ErrorCode::Unsupported,
                          "fused kernel " + op.kernel +
                              " has no CUDA kernel: compile the plan with --target cuda"));
      break;
    case OpKind::Moe:
      if (op.moe.sigmoidScores || op.moe.scoreBias || op.moe.numGroups > 1 ||
          op.moe.routedScale != 1.0 || op.moe.scaleInputs)
        return fail(Error(ErrorCode::Unsupported,
                          "the CUDA mixture-of-experts routing is the softmax's: sigmoid scores, "
                          "score biases, expert groups, routed scales and scaled inputs run on "
                          "the CPU executor"));
      if (op.moe.topK > kMaxMoeTopK)
        return fail(Error(ErrorCode::Unsupported,
                          "the CUDA mixture-of-experts kernels take at most " +
                              std::to_string(kMaxMoeTopK) + " experts per token, not " +
                              std::to_string(op.moe.topK)));
      for (int64_t id : op.inputs)
        if (p.values[id].dtype != dtypeOf(impl.act))
          return fail(bad("moe operands are not " + m.dtype));
      if (p.values[op.outputs[0]].dtype != dtypeOf(impl.act))
        return fail(bad("moe operands are not " + m.dtype));
      break;
    case OpKind::Attention:
      if (op.attention.valueHeadDim != op.attention.headDim || op.attention.valueInKey)
        return fail(Error(ErrorCode::Unsupported,
                          "the CUDA attention kernels take value heads as wide as key heads, not " +
                              std::to_string(op.attention.valueHeadDim) + " of " +
                              std::to_string(op.attention.headDim) +
                              ": serve this plan with --device cpu"));
      if (op.attention.headDim != 64 && op.attention.headDim != 80 && op.attention.headDim != 96 &&
          op.attention.headDim != 128)
        return fail(Error(ErrorCode::Unsupported,
                          "the CUDA attention kernels take head dims 64, 80, 96 and 128, not " +
                              std::to_string(op.attention.headDim)));
      if (op.attention.softcap > 0)
        return fail(Error(ErrorCode::Unsupported,
                          "attention logit soft-capping (Gemma 2) is not supported by the CUDA "
                          "attention kernels: serve this plan with --device cpu"));
      if (op.attention.chunkSize > 0)
        return fail(Error(ErrorCode::Unsupported,
                          "chunked attention (Llama 4) is not supported by the CUDA attention "
                          "kernels: serve this plan with --device cpu"));
      if (op.attention.bidirectional)
        return fail(Error(ErrorCode::Unsupported,
                          "bidirectional attention (an encoder's) is not supported by the CUDA "
                          "attention kernels: serve this plan with --device cpu"));
      for (int64_t id : {op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]})
        if (p.values[id].dtype != dtypeOf(impl.act))
          return fail(bad("attention operands are not " + m.dtype));
      break;
    default:
      break;
    }
  }
  if (hasFused && !ptx)
    return fail(Error(ErrorCode::Unsupported,
                      "the plan has no CUDA kernels: compile it with --target cuda"));

  // The device, its stream, the kernels' module (a cubin for this GPU, else the PTX, which
  // the driver compiles).
  CUDA_TRY(cudaSetDevice(options.device));
  impl.device = options.device;
  CUDA_TRY(cudaFree(nullptr)); // makes the primary context current
  cudaDeviceProp prop{};
  CUDA_TRY(cudaGetDeviceProperties(&prop, options.device));
  impl.smCount = prop.multiProcessorCount;
  impl.driver = driverApi(&why);
  if (!impl.driver)
    return Error(ErrorCode::Unsupported, why);
  if (prop.major < 8)
    return Error(ErrorCode::Unsupported, std::string("GPU ") + prop.name + " (sm_" +
                                             std::to_string(prop.major * 10 + prop.minor) +
                                             ") is older than sm_80, which the kernels need");
  CUDA_TRY(cudaStreamCreateWithFlags(&impl.stream, cudaStreamNonBlocking));
  if (ptx && hasFused) { // a plan without fused kernels has an empty PTX section
    Expected<plan::CudaImage> image = plan::chooseCudaImage(impl.file, 0, prop.major, prop.minor);
    if (!image)
      return fail(image.error());
    // The driver reads PTX as a C string, a cubin as an ELF image of its own size.
    char log[8192] = {0};
    auto loadImage = [&](const plan::Section &section) {
      std::string text(section.text());
      log[0] = '\0';
      CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
      void *values[] = {log, reinterpret_cast<void *>(sizeof(log))};
      return impl.driver->moduleLoadDataEx(&impl.module, text.c_str(), 2, opts, values);
    };
    impl.kernelImage = image->describe();
    CUresult r = loadImage(*image->section);
    // A cubin this driver refuses (one built by a newer toolkit): the PTX, if it fits.
    const int gpu = prop.major * 10 + prop.minor;
    if (r != CUDA_SUCCESS && image->cubin && ptx->size > 0 &&
        !plan::ptxTarget(ptx->text()).empty() &&
        std::stoi(plan::ptxTarget(ptx->text()).substr(3)) <= gpu) {
      std::fprintf(stderr, "modelrt: the driver refused the plan's %s (%s); using its PTX\n",
                   impl.kernelImage.c_str(),
                   driverStatus(r, "cuModuleLoadDataEx").error().message().c_str());
      impl.kernelImage = "PTX " + plan::ptxTarget(ptx->text()) +
                         " (compiled by the driver; the cubin was refused)";
      r = loadImage(*ptx);
    }
    if (r != CUDA_SUCCESS)
      return fail(
          Error(ErrorCode::InvalidFormat, driverStatus(r, "cuModuleLoadDataEx").error().message() +
                                              ": the driver did not load the plan's " +
                                              impl.kernelImage + ": " + log));
  }
  Expected<std::unique_ptr<CublasLtGemm>> gemm = CublasLtGemm::create(options.batchInvariantGemm);
  if (!gemm)
    return gemm.error();
  impl.gemm = std::move(*gemm);

  // Dummy weights get their values once the plan is known to be runnable here.
  TRY(plan::fillDummyWeights(impl.meta));
  // Weights (converted to the activation type; GEMM biases to the output's), functions,
  // rope tables.
  const size_t n = p.ops.size();
  impl.functions.assign(n, nullptr);
  impl.weightOf.assign(n, nullptr);
  impl.biasOf.assign(n, nullptr);
  impl.fusedWeights.assign(n, {});
  impl.invFreq = std::vector<DeviceBuffer>(n);
  impl.expertWeights.assign(n, {nullptr, nullptr, nullptr});
  impl.expertBiases.assign(n, {nullptr, nullptr, nullptr});
  for (size_t i = 0; i < n; ++i) {
    const Op &op = p.ops[i];
    auto take = [&](const plan::WeightEntry &w, ElementType t) -> Expected<const void *> {
      Expected<const void *> d = impl.upload(w, t);
      if (!d)
        return d.error().withContext(planPath);
      return d;
    };
    switch (op.kind) {
    case OpKind::Gemm: {
      Expected<const void *> w = take(*op.weight, impl.act);
      if (!w)
        return w.error();
      impl.weightOf[i] = *w;
      if (op.bias) {
        Expected<const void *> b = take(*op.bias, impl.typeOf(op.outputs[0]));
        if (!b)
          return b.error();
        impl.biasOf[i] = *b;
      }
      break;
    }
    case OpKind::GatherRows:
      if (op.table) {
        Expected<const void *> t = take(*op.table, impl.typeOf(op.outputs[0]));
        if (!t)
          return t.error();
        impl.weightOf[i] = *t;
      }
      break;
    case OpKind::Fused: {
      CUfunction fn = nullptr;
      CUresult r = impl.driver->moduleGetFunction(&fn, impl.module, op.cudaKernel.c_str());
      if (r != CUDA_SUCCESS)
        return fail(Error(ErrorCode::InvalidFormat,
                          "the plan's PTX has no kernel " + op.cudaKernel + " (" +
                              driverStatus(r, "cuModuleGetFunction").error().message() + ")"));
      int maxThreads = 0;
      CU_TRY(
          impl.driver->funcGetAttribute(&maxThreads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fn));
      if (maxThreads < op.cudaBlockSize)
        return fail(Error(ErrorCode::Unsupported,
                          "kernel " + op.cudaKernel + " needs " + std::to_string(op.cudaBlockSize) +
                              " threads, the GPU allows " + std::to_string(maxThreads)));
      impl.functions[i] = fn;
      for (const plan::WeightEntry *w : op.weights) {
        Expected<const void *> d = take(*w, impl.act);
        if (!d)
          return d.error();
        impl.fusedWeights[i].push_back(*d);
      }
      break;
    }
    case OpKind::Moe:
      for (size_t w = 0; w < 3; ++w) {
        Expected<const void *> d = take(*op.weights[w], impl.act);
        if (!d)
          return d.error();
        impl.expertWeights[i][w] = *d;
      }
      for (size_t b = 0; b < 3; ++b) // biases in the activation type (the GEMM epilogue's)
        if (const plan::WeightEntry *bias =
                b == 0 ? op.moe.gateBias : b == 1 ? op.moe.upBias : op.moe.downBias) {
          Expected<const void *> d = take(*bias, impl.act);
          if (!d)
            return d.error();
          impl.expertBiases[i][b] = *d;
        }
      break;
    case OpKind::Attention:
      if (op.attention.sinks) {
        Expected<const void *> d = take(*op.attention.sinks, ElementType::F32);
        if (!d)
          return d.error();
        impl.weightOf[i] = *d;
      }
      break;
    case OpKind::Rope: {
      std::vector<float> inv(op.inverseFrequencies.begin(), op.inverseFrequencies.end());
      TRY(impl.invFreq[i].allocate(inv.size() * sizeof(float), "rope"));
      if (!inv.empty())
        CUDA_TRY(cudaMemcpy(impl.invFreq[i].ptr, inv.data(), inv.size() * sizeof(float),
                            cudaMemcpyHostToDevice));
      if (op.rope.norm) { // the per-head norm's weight, in the activation type
        Expected<const void *> w = take(*op.weight, impl.typeOf(op.inputs[0]));
        if (!w)
          return w.error();
        impl.weightOf[i] = *w;
      }
      break;
    }
    default:
      break;
    }
  }

  TRY(impl.arena.allocate(static_cast<size_t>(p.arenaBytes), "the activations"));
  size_t moeBytes = 0;
  int64_t maxExperts = 0;
  for (const Op &op : p.ops)
    if (op.kind == OpKind::Moe) {
      moeBytes = std::max(moeBytes, moeScratchBytes(op, p.values[op.inputs[0]].width, p.arenaRows,
                                                    elementBytes(impl.act)));
      maxExperts = std::max(maxExperts, op.moe.numExperts);
    }
  if (moeBytes) {
    TRY(impl.moeScratch.allocate(moeBytes, "the mixture-of-experts scratch space"));
    TRY(impl.moeOffsetsHost.allocate(static_cast<size_t>(maxExperts + 1) * sizeof(int32_t),
                                     "the experts' row counts"));
    impl.useGraphs = false; // each step reads the experts' row counts back
  }
  TRY(impl.gemmWorkspace.allocate(kGemmWorkspaceBytes, "the GEMM workspace"));

  // The KV cache: every sequence at full length, or what the budget (80% of the free
  // memory by default) holds.
  const plan::KvCacheLayout &kv = m.kvCache;
  if (options.kvBlockSize < 1 || options.kvBlockSize > 4096 ||
      (options.kvBlockSize & (options.kvBlockSize - 1)) || options.kvCacheBytes < 0)
    return Error(ErrorCode::InvalidArgument,
                 "the KV block size must be a power of two and the KV cache size positive");
  impl.blockSize = options.kvBlockSize;
  impl.blockElements = kv.numKvHeads * options.kvBlockSize * kv.headDim;
  const int64_t blockBytes = 2 * kv.numLayers * impl.blockElements * elementBytes(impl.act);
  const int64_t blocksPerSeq = (m.maxSeqLen + options.kvBlockSize - 1) / options.kvBlockSize;
  int64_t budget = options.kvCacheBytes;
  if (budget == 0) {
    size_t freeBytes = 0, totalBytes = 0;
    CUDA_TRY(cudaMemGetInfo(&freeBytes, &totalBytes));
    budget = static_cast<int64_t>(freeBytes / 10 * 8);
  }
  int64_t blocks = std::min(m.maxNumSeqs * blocksPerSeq, budget / std::max<int64_t>(1, blockBytes));
  blocks = std::min<int64_t>(blocks, INT32_MAX / options.kvBlockSize); // slots are int32
  if (blocks < 1)
    return Error(ErrorCode::InvalidArgument, "a KV cache of " + std::to_string(budget) +
                                                 " bytes holds no block of " +
                                                 std::to_string(blockBytes) + " bytes");
  impl.numBlocks = static_cast<int32_t>(blocks);
  TRY(impl.kvCache.allocate(static_cast<size_t>(blocks * blockBytes), "the KV cache"));
  // Zeros, so that no slot ever holds a non-finite bit pattern: kernels that read whole pages
  // (the TMA prefill candidates) multiply the unwritten tail of a request's last page by a
  // zero weight, and 0 x NaN would be NaN. Later, slots hold what requests wrote there.
  CUDA_TRY(cudaMemset(impl.kvCache.ptr, 0, impl.kvCache.bytes));
  // Decode graphs: padded sizes up to the sequences a step may hold (and the arena's rows),
  // block tables wide enough for max_seq_len.
  impl.graphLimit = static_cast<int32_t>(std::min<int64_t>({m.maxNumSeqs, p.arenaRows, 512}));
  impl.graphTableWidth = static_cast<int32_t>(blocksPerSeq);
  impl.useGraphs = impl.useGraphs && impl.graphLimit >= 1;
  // The uploads ran on the legacy stream, which the executor's non-blocking stream does not
  // wait for: they are done before the first step.
  CUDA_TRY(cudaDeviceSynchronize());
  return exec;
}

Status CudaExecutor::copyBlocks(const std::vector<kv::BlockCopy> &copies) {
  Impl &impl = *impl_;
  CUDA_TRY(cudaSetDevice(impl.device));
  for (const kv::BlockCopy &c : copies)
    if (c.src < 0 || c.src >= impl.numBlocks || c.dst < 0 || c.dst >= impl.numBlocks)
      return Error(ErrorCode::InvalidArgument, "KV block copy " + std::to_string(c.src) + " -> " +
                                                   std::to_string(c.dst) + " is outside the " +
                                                   std::to_string(impl.numBlocks) + " blocks");
  const size_t bytes = static_cast<size_t>(impl.blockElements) * elementBytes(impl.act);
  for (const kv::BlockCopy &c : copies)
    for (int64_t layer = 0; layer < impl.meta.kvCache.numLayers; ++layer)
      for (void *base : {impl.kCache(layer), impl.vCache(layer)}) {
        char *b = static_cast<char *>(base);
        CUDA_TRY(cudaMemcpyAsync(b + c.dst * bytes, b + c.src * bytes, bytes,
                                 cudaMemcpyDeviceToDevice, impl.stream));
      }
  return Status::success();
}

Status CudaExecutor::submit(const std::vector<int32_t> &tokens,
                            const std::vector<PagedChunk> &chunks,
                            const std::vector<kv::BlockCopy> &copies) {
  if (Status s = copyBlocks(copies); !s)
    return s;
  impl_->done.push_back(impl_->run(tokens, chunks, impl_->deviceSampling));
  return Status::success();
}

Expected<StepOutput> CudaExecutor::collect() {
  if (impl_->done.empty())
    return Error(ErrorCode::Internal, "collect() without a submitted step");
  Expected<StepOutput> output = std::move(impl_->done.front());
  impl_->done.pop_front();
  return output;
}

bool CudaExecutor::samplesOnDevice() const { return impl_->deviceSampling; }
int CudaExecutor::capturedGraphs() const { return impl_->capturedGraphs; }
const std::string &CudaExecutor::kernelImage() const { return impl_->kernelImage; }

Expected<std::vector<float>> CudaExecutor::step(const std::vector<int32_t> &tokens,
                                                const std::vector<PagedChunk> &chunks) {
  Expected<StepOutput> output = impl_->run(tokens, chunks, false);
  if (!output)
    return output.error();
  return std::move(output->logits);
}

Expected<StepOutput> CudaExecutor::Impl::run(const std::vector<int32_t> &tokens,
                                             const std::vector<PagedChunk> &chunks,
                                             bool sampleHere) {
  Impl &impl = *this;
  const plan::Program &p = impl.prog;
  if (Status s = checkStep(impl.meta, tokens, chunks, impl.numBlocks, impl.blockSize, p.arenaRows,
                           sampleHere);
      !s)
    return s.error();
  CUDA_TRY(cudaSetDevice(impl.device));
  const int32_t numSeqs = static_cast<int32_t>(chunks.size());

  // Host metadata, laid out in one int32 buffer and uploaded once; a decode step that a
  // graph size fits is padded to it.
  const int32_t graphSize =
      impl.useGraphs && isDecodeStep(chunks) ? decodeGraphBatch(numSeqs, impl.graphLimit) : 0;
  const int32_t contextBucket =
      graphSize ? decodeGraphContext(chunks, static_cast<int32_t>(impl.meta.maxSeqLen)) : 0;
  const int32_t tableWidth = (contextBucket + impl.blockSize - 1) / impl.blockSize;
  const StepMetadata md =
      buildStepMetadata(tokens, chunks, impl.blockSize, graphSize, tableWidth, contextBucket);
  const size_t metaBytes = md.data.size() * sizeof(int32_t);
  DeviceBuffer &metaBuffer = graphSize ? impl.graphMeta : impl.meta32;
  if (graphSize && !impl.graphMeta.ptr) {
    // Sized once for the largest graph, whose layout is the longest.
    const StepMetadata largest =
        buildStepMetadata({}, {}, impl.blockSize, impl.graphLimit, impl.graphTableWidth, 0);
    CUDA_TRY(cudaStreamSynchronize(impl.stream));
    TRY(impl.graphMeta.allocate(largest.data.size() * sizeof(int32_t), "graph step metadata"));
  }
  if (metaBuffer.bytes < metaBytes) {
    if (graphSize)
      return Error(ErrorCode::Internal, "graph step metadata outgrew its buffer");
    CUDA_TRY(cudaStreamSynchronize(impl.stream));
    TRY(impl.meta32.allocate(metaBytes * 2, "step metadata"));
  }
  // Through pinned memory, so the copy is queued rather than staged by the driver (the step
  // ends with a synchronization, so the buffer is free again for the next one).
  TRY(impl.metaHost.reserve(metaBytes, "step metadata"));
  std::memcpy(impl.metaHost.ptr, md.data.data(), metaBytes);
  CUDA_TRY(cudaMemcpyAsync(metaBuffer.ptr, impl.metaHost.ptr, metaBytes, cudaMemcpyHostToDevice,
                           impl.stream));
  const int32_t *d = static_cast<const int32_t *>(metaBuffer.ptr);
  TRY(impl.reserveAttentionWorkspace(md));

  bool eager = true;
  if (graphSize) {
    Impl::DecodeGraph &g = impl.graphs[{graphSize, contextBucket}];
    if (g.exec && g.workspace != impl.attentionWorkspaceGeneration)
      impl.dropGraph(g); // the workspace was reallocated since the capture
    if (!g.exec && g.seen && !g.failed) {
      g.workspace = impl.attentionWorkspaceGeneration;
      Status captured = [&]() -> Status {
        CUDA_TRY(cudaStreamBeginCapture(impl.stream, cudaStreamCaptureModeThreadLocal));
        Status st = impl.enqueueProgram(md, d);
        cudaGraph_t graph = nullptr;
        const cudaError_t ended = cudaStreamEndCapture(impl.stream, &graph);
        if (st && ended != cudaSuccess)
          st = cudaStatus(ended, "cudaStreamEndCapture", __FILE__, __LINE__);
        if (st && graph)
          st = cudaStatus(cudaGraphInstantiate(&g.exec, graph, 0), "cudaGraphInstantiate", __FILE__,
                          __LINE__);
        if (graph)
          cudaGraphDestroy(graph);
        return st;
      }();
      if (!captured || impl.attentionWorkspaceGeneration != g.workspace) {
        // Not capturable (an op that cannot be captured, or a workspace reallocated during
        // the capture, which reserveAttentionWorkspace should have made impossible):
        // this size runs eagerly from now on.
        cudaGetLastError();
        impl.dropGraph(g);
        g.failed = true;
      } else {
        ++impl.capturedGraphs;
      }
    }
    g.seen = true;
    if (g.exec) {
      CUDA_TRY(cudaGraphLaunch(g.exec, impl.stream));
      eager = false;
    }
  }
  if (eager)
    TRY(impl.enqueueProgram(md, d));

  StepOutput output;
  TRY(sampleAndCopy(md.realSampleRows, md.picks, output));
  return output;
}

namespace {
AttentionBatch attentionBatchOf(const StepMetadata &md, const int32_t *d) {
  AttentionBatch batch;
  if (d) { // else sizes only
    batch.queryStart = d + md.queryAt;
    batch.contextLen = d + md.contextAt;
    batch.blockTable = d + md.tableAt;
  }
  batch.numSeqs = md.numSeqs;
  batch.numTokens = md.numTokens;
  batch.maxBlocksPerSeq = md.maxBlocksPerSeq;
  batch.maxQueryLen = md.maxQueryLen;
  batch.maxContextLen = md.maxContextLen;
  batch.singleRowSeqs = md.singleRowSeqs;
  batch.maxSingleRowContextLen = md.maxSingleRowContextLen;
  batch.sumContextLen = md.sumContextLen;
  return batch;
}

AttentionShape attentionShapeOf(const plan::AttentionConfig &c) {
  AttentionShape shape;
  shape.numHeads = static_cast<int32_t>(c.numHeads);
  shape.numKvHeads = static_cast<int32_t>(c.numKvHeads);
  shape.headDim = static_cast<int32_t>(c.headDim);
  shape.scale = static_cast<float>(c.scale);
  shape.slidingWindow = static_cast<int32_t>(c.slidingWindow);
  return shape;
}
} // namespace

Status CudaExecutor::Impl::reserveAttentionWorkspace(const StepMetadata &md) {
  const AttentionBatch batch = attentionBatchOf(md, nullptr); // sizes only
  size_t need = 0;
  for (const Op &op : prog.ops)
    if (op.kind == OpKind::Attention)
      need =
          std::max(need, attentionWorkspaceBytes(attentionShapeOf(op.attention), batch, smCount));
  if (attentionWorkspace.bytes >= need)
    return Status::success();
  // Half again, so that contexts growing step by step do not regrow it (and re-capture the
  // graphs that hold its address) every step.
  CUDA_TRY(cudaStreamSynchronize(stream));
  ++attentionWorkspaceGeneration;
  return attentionWorkspace.allocate(std::max(need, attentionWorkspace.bytes / 2 * 3),
                                     "the attention workspace");
}

Status CudaExecutor::Impl::enqueueProgram(const StepMetadata &md, const int32_t *d) {
  Impl &impl = *this;
  const plan::Program &p = impl.prog;
  const int64_t total = md.numTokens;
  auto indexData = [&](int64_t id) -> const int32_t * {
    if (id == p.tokenIds)
      return d + md.tokenAt;
    if (id == p.positions)
      return d + md.positionAt;
    return d + md.sampleAt;
  };
  std::vector<int64_t> rows(p.values.size(), total);
  rows[p.sampleRows] = md.numSampleRows;

  const AttentionBatch batch = attentionBatchOf(md, d);
  KvWriteBatch write;
  write.slotMapping = d + md.slotAt;
  write.positions = d + md.positionAt;
  write.numTokens = md.numTokens;

  for (size_t i = 0; i < p.ops.size(); ++i) {
    const Op &op = p.ops[i];
    const int64_t out = op.outputs.empty() ? -1 : op.outputs[0];
    switch (op.kind) {
    case OpKind::Columns:
      rows[out] = rows[op.inputs[0]];
      break;
    case OpKind::GatherRows: {
      const int64_t index = op.inputs.back();
      rows[out] = rows[index];
      if (op.table)
        TRY(gatherTableRows(impl.typeOf(out), impl.weightOf[i],
                            static_cast<int64_t>(op.table->shape[0]), p.values[out].width,
                            indexData(index), rows[index], op.rowOffset, impl.data(out),
                            impl.stride(out), impl.stream));
      else
        TRY(gatherValueRows(impl.typeOf(out), impl.data(op.inputs[0]), impl.stride(op.inputs[0]),
                            indexData(index), rows[index], p.values[out].width, impl.data(out),
                            impl.stride(out), impl.stream));
      break;
    }
    case OpKind::Gemm: {
      const int64_t in = op.inputs[0];
      rows[out] = rows[in];
      if (rows[in] == 0)
        break;
      GemmShape shape;
      shape.m = rows[in];
      shape.n = p.values[out].width;
      shape.k = p.values[in].width;
      shape.inType = impl.act;
      shape.outType = impl.typeOf(out);
      shape.bias = impl.biasOf[i] != nullptr;
      TRY(impl.gemm->gemm(shape, impl.data(in), impl.weightOf[i], impl.biasOf[i], impl.data(out),
                          impl.gemmWorkspace.ptr, impl.gemmWorkspace.bytes, impl.stream));
      break;
    }
    case OpKind::Fused: {
      // Each memref argument as its descriptor's fields (allocated, aligned, offset, sizes,
      // strides): activations [rows, width] with their row stride, weights [width].
      const int64_t r = rows[op.inputs[0]];
      for (int64_t id : op.outputs)
        rows[id] = r;
      if (r == 0)
        break;
      std::vector<uint64_t> params;
      auto activation = [&](int64_t id) {
        const uint64_t ptr = reinterpret_cast<uint64_t>(impl.data(id));
        params.insert(params.end(), {ptr, ptr, 0, uint64_t(r), uint64_t(p.values[id].width),
                                     uint64_t(impl.stride(id)), 1});
      };
      for (int64_t id : op.inputs)
        activation(id);
      for (size_t w = 0; w < op.weights.size(); ++w) {
        const uint64_t ptr = reinterpret_cast<uint64_t>(impl.fusedWeights[i][w]);
        params.insert(params.end(), {ptr, ptr, 0, op.weights[w]->shape[0], 1});
      }
      for (int64_t id : op.outputs)
        activation(id);
      std::vector<void *> args;
      for (uint64_t &v : params)
        args.push_back(&v);
      CU_TRY(impl.driver->launchKernel(impl.functions[i], static_cast<unsigned>(r), 1, 1,
                                       static_cast<unsigned>(op.cudaBlockSize), 1, 1, 0,
                                       reinterpret_cast<CUstream>(impl.stream), args.data(),
                                       nullptr));
      break;
    }
    case OpKind::Moe:
      rows[out] = rows[op.inputs[0]];
      TRY(impl.enqueueMoe(i, rows[out]));
      break;
    case OpKind::Rope: {
      const int64_t in = op.inputs[0];
      rows[out] = rows[in];
      RopeLaunch rope;
      rope.rows = rows[in];
      rope.numHeads = op.rope.numHeads;
      rope.headDim = op.rope.headDim;
      rope.pairs = op.rope.rotaryDim / 2;
      rope.interleaved = op.rope.interleaved;
      rope.invFreq = static_cast<const float *>(impl.invFreq[i].ptr);
      rope.positions = indexData(op.inputs[1]);
      rope.normWeight = op.rope.norm ? impl.weightOf[i] : nullptr;
      rope.normEps = static_cast<float>(op.rope.normEps);
      rope.magnitude = static_cast<float>(op.rope.magnitude);
      rope.gemmaNorm = op.rope.normWeightOffset != 0.0;
      rope.normWeightOffset = static_cast<float>(op.rope.normWeightOffset);
      TRY(rotaryEmbedding(impl.typeOf(in), impl.data(in), impl.stride(in), impl.data(out),
                          impl.stride(out), rope, impl.stream));
      break;
    }
    case OpKind::Attention: {
      const plan::AttentionConfig &c = op.attention;
      const int64_t q = op.inputs[0], k = op.inputs[1], v = op.inputs[2];
      rows[out] = rows[q];
      PagedKvLayout layout;
      layout.numBlocks = impl.numBlocks;
      layout.numKvHeads = static_cast<int32_t>(c.numKvHeads);
      layout.blockSize = impl.blockSize;
      layout.headDim = static_cast<int32_t>(c.headDim);
      layout.type = impl.act;
      KvWriteArgs kw;
      kw.k = impl.data(k);
      kw.kRowStride = impl.stride(k);
      kw.v = impl.data(v);
      kw.vRowStride = impl.stride(v);
      TRY(writeKvCache(layout, impl.kCache(c.layer), impl.vCache(c.layer), kw, write, RopeParams{},
                       impl.stream));
      const AttentionShape shape = attentionShapeOf(c);
      AttentionArgs args;
      args.q = impl.data(q);
      args.qRowStride = impl.stride(q);
      args.out = impl.data(out);
      args.outRowStride = impl.stride(out);
      args.kCache = impl.kCache(c.layer);
      args.vCache = impl.vCache(c.layer);
      args.sinks = static_cast<const float *>(impl.weightOf[i]);
      // reserveAttentionWorkspace sized the workspace for this step before it was enqueued.
      TRY(pagedAttention(shape, layout, batch, args, impl.smCount, impl.attentionWorkspace.ptr,
                         impl.attentionWorkspace.bytes, impl.stream));
      break;
    }
    case OpKind::AllReduce:
    case OpKind::AllGather:
    case OpKind::Send:
    case OpKind::Recv:
    case OpKind::Concat:
    case OpKind::CausalConv1d:
    case OpKind::GatedDeltaRule:
    case OpKind::SsmScan:
      return Error(ErrorCode::Internal, std::string(plan::opKindName(op.kind)) +
                                            " in a CUDA program"); // refused at load
    }
  }
  return Status::success();
}

// Routes the step's rows, groups the (row, expert) pairs by expert, reads the experts' row
// counts back, runs each chosen expert's three GEMMs over its pairs' rows (the SiLU gate
// between them), and adds each row's weighted outputs in the order the experts were chosen.
Status CudaExecutor::Impl::enqueueMoe(size_t opIndex, int64_t rows) {
  const Op &op = prog.ops[opIndex];
  if (rows == 0)
    return Status::success();
  const plan::MoeConfig &c = op.moe;
  const int64_t x = op.inputs[0], logits = op.inputs[1], out = op.outputs[0];
  const int64_t width = prog.values[x].width, inter = c.intermediate, k = c.topK;
  const size_t eb = elementBytes(act);
  const MoeScratchLayout l = moeScratchLayout(op, width, rows, eb);
  if (l.bytes > moeScratch.bytes)
    return Error(ErrorCode::Internal, "the step outgrew the mixture-of-experts scratch space");
  char *base = static_cast<char *>(moeScratch.ptr);
  auto at = [&](size_t offset) { return static_cast<void *>(base + offset); };
  int32_t *experts = static_cast<int32_t *>(at(l.experts));
  float *weightsOf = static_cast<float *>(at(l.weights));
  int32_t *counts = static_cast<int32_t *>(at(l.counts));
  int32_t *offsets = static_cast<int32_t *>(at(l.offsets));
  int32_t *tokenOf = static_cast<int32_t *>(at(l.tokenOf));
  int32_t *positionOf = static_cast<int32_t *>(at(l.positionOf));
  char *in = base + l.in, *gate = base + l.gate, *up = base + l.up, *y = base + l.out;

  MoeRouting routing;
  routing.numExperts = c.numExperts;
  routing.topK = k;
  routing.normalize = c.normalizeTopK;
  routing.round = c.roundWeights;
  CUDA_TRY(cudaMemsetAsync(counts, 0, static_cast<size_t>(c.numExperts) * sizeof(int32_t), stream));
  TRY(moeRoute(act, data(logits), stride(logits), rows, routing, experts, weightsOf, counts,
               stream));
  TRY(moeGroup(experts, rows, k, c.numExperts, counts, offsets, tokenOf, positionOf, stream));
  TRY(gatherValueRows(act, data(x), stride(x), tokenOf, rows * k, width, in, width, stream));
  CUDA_TRY(cudaMemcpyAsync(moeOffsetsHost.ptr, offsets,
                           static_cast<size_t>(c.numExperts + 1) * sizeof(int32_t),
                           cudaMemcpyDeviceToHost, stream));
  CUDA_TRY(cudaStreamSynchronize(stream));
  const int32_t *offset = static_cast<const int32_t *>(moeOffsetsHost.ptr);

  const char *gateW = static_cast<const char *>(expertWeights[opIndex][0]),
             *upW = static_cast<const char *>(expertWeights[opIndex][1]),
             *downW = static_cast<const char *>(expertWeights[opIndex][2]);
  // Biases: expert e's row (n values) in the GEMM's epilogue.
  const std::array<const void *, 3> &biases = expertBiases[opIndex];
  auto biasRow = [&](int which, int64_t e, int64_t n) -> const void * {
    return biases[which] ? static_cast<const char *>(biases[which]) + e * n * eb : nullptr;
  };
  auto project = [&](const char *a, int64_t first, int64_t count, int64_t n, int64_t kk,
                     const char *w, const void *bias, char *cOut) {
    GemmShape shape;
    shape.m = count;
    shape.n = n;
    shape.k = kk;
    shape.inType = act;
    shape.outType = act;
    shape.bias = bias != nullptr;
    return gemm->gemm(shape, a + first * kk * eb, w, bias, cOut + first * n * eb,
                      gemmWorkspace.ptr, gemmWorkspace.bytes, stream);
  };
  for (int64_t e = 0; e < c.numExperts; ++e) {
    const int64_t first = offset[e], count = offset[e + 1] - offset[e];
    if (count == 0)
      continue;
    const size_t expertRows = static_cast<size_t>(e * inter * width) * eb;
    TRY(project(in, first, count, inter, width, gateW + expertRows, biasRow(0, e, inter), gate));
    TRY(project(in, first, count, inter, width, upW + expertRows, biasRow(1, e, inter), up));
  }
  MoeActivation activation;
  activation.swigluLimit = static_cast<float>(c.swigluLimit);
  activation.swigluAlpha = static_cast<float>(c.swigluAlpha);
  TRY(moeSiluGate(act, gate, up, rows * k * inter, activation, stream));
  for (int64_t e = 0; e < c.numExperts; ++e) {
    const int64_t first = offset[e], count = offset[e + 1] - offset[e];
    if (count == 0)
      continue;
    TRY(project(gate, first, count, width, inter,
                downW + static_cast<size_t>(e * width * inter) * eb, biasRow(2, e, width), y));
  }
  MoeShared shared;
  if (op.inputs.size() > 2) {
    shared.shared = data(op.inputs[2]);
    shared.sharedStride = stride(op.inputs[2]);
  }
  if (op.inputs.size() > 3) {
    shared.gate = data(op.inputs[3]);
    shared.gateStride = stride(op.inputs[3]);
  }
  return moeCombine(act, y, width, positionOf, weightsOf, rows, k, c.roundWeights, data(out),
                    stride(out), shared, stream);
}

Status CudaExecutor::Impl::sampleAndCopy(
    int64_t numRows, const std::vector<std::pair<int64_t, const DeviceSampling *>> &picks,
    StepOutput &out) {
  const int64_t vocab = prog.values[prog.logits].width, rowStride = stride(prog.logits);
  const float *logits = reinterpret_cast<const float *>(data(prog.logits));
  // The rows the host samples, in runs of consecutive rows, one 2D copy each, into pinned
  // memory (an asynchronous copy), then into the output once the stream is done.
  const size_t hostRows = static_cast<size_t>(numRows - int64_t(picks.size()));
  out.logits.resize(hostRows * static_cast<size_t>(vocab));
  TRY(logitsHost.reserve(out.logits.size() * sizeof(float), "the logits"));
  float *staged = static_cast<float *>(logitsHost.ptr);
  auto unstage = [&] {
    if (!out.logits.empty())
      std::memcpy(out.logits.data(), staged, out.logits.size() * sizeof(float));
  };
  size_t next = 0;
  int64_t filled = 0;
  for (int64_t row = 0; row < numRows;) {
    if (next < picks.size() && picks[next].first == row) {
      ++next;
      ++row;
      continue;
    }
    int64_t end = row + 1;
    while (end < numRows && !(next < picks.size() && picks[next].first == end))
      ++end;
    CUDA_TRY(cudaMemcpy2DAsync(staged + filled * vocab, vocab * sizeof(float),
                               logits + row * rowStride, rowStride * sizeof(float),
                               vocab * sizeof(float), static_cast<size_t>(end - row),
                               cudaMemcpyDeviceToHost, stream));
    filled += end - row;
    row = end;
  }
  if (picks.empty()) {
    CUDA_TRY(cudaStreamSynchronize(stream));
    unstage();
    return Status::success();
  }

  // Every logits row is sampled (the host's rows greedily, their tokens unused): one launch
  // over contiguous rows. Parameters per row, packed into one upload.
  const size_t n = static_cast<size_t>(numRows);
  int32_t numTop = 0;
  bool wantLogprobs = false;
  for (const auto &[row, d] : picks) {
    numTop = std::max(numTop, d->topLogprobs);
    wantLogprobs |= d->topLogprobs >= 0;
  }
  const size_t seedAt = 0, stepAt = seedAt + 8 * n, temperatureAt = alignUp(stepAt + 8 * n, 16),
               topKAt = alignUp(temperatureAt + 4 * n, 16), topPAt = alignUp(topKAt + 4 * n, 16),
               minPAt = alignUp(topPAt + 4 * n, 16), inBytes = alignUp(minPAt + 4 * n, 16);
  const size_t tokensAt = 0, logprobAt = alignUp(4 * n, 16),
               topIdsAt = alignUp(logprobAt + 4 * n, 16),
               topLogprobsAt = alignUp(topIdsAt + 4 * n * size_t(numTop), 16),
               outBytes = alignUp(topLogprobsAt + 4 * n * size_t(numTop), 16);
  TRY(sampleHostIn.reserve(inBytes, "sampling parameters"));
  TRY(sampleHostOut.reserve(outBytes, "sampled tokens"));
  TRY(sampleIn.reserve(inBytes, "sampling parameters"));
  TRY(sampleOut.reserve(outBytes, "sampled tokens"));
  char *hostIn = static_cast<char *>(sampleHostIn.ptr);
  auto *seeds = reinterpret_cast<uint64_t *>(hostIn + seedAt);
  auto *steps = reinterpret_cast<uint64_t *>(hostIn + stepAt);
  auto *temperature = reinterpret_cast<float *>(hostIn + temperatureAt);
  auto *topK = reinterpret_cast<int32_t *>(hostIn + topKAt);
  auto *topP = reinterpret_cast<float *>(hostIn + topPAt);
  auto *minP = reinterpret_cast<float *>(hostIn + minPAt);
  for (size_t r = 0; r < n; ++r) { // greedy unless picked
    seeds[r] = steps[r] = 0;
    temperature[r] = 0.0f;
    topK[r] = 0;
    topP[r] = 1.0f;
    minP[r] = 0.0f;
  }
  for (const auto &[row, d] : picks) {
    seeds[row] = d->seed;
    steps[row] = d->step;
    temperature[row] = d->temperature;
    topK[row] = d->topK;
    topP[row] = d->topP;
    minP[row] = d->minP;
  }
  CUDA_TRY(cudaMemcpyAsync(sampleIn.ptr, hostIn, inBytes, cudaMemcpyHostToDevice, stream));
  char *devIn = static_cast<char *>(sampleIn.ptr), *devOut = static_cast<char *>(sampleOut.ptr);
  cuda::SamplingParams params;
  params.seed = reinterpret_cast<const uint64_t *>(devIn + seedAt);
  params.step = reinterpret_cast<const uint64_t *>(devIn + stepAt);
  params.temperature = reinterpret_cast<const float *>(devIn + temperatureAt);
  params.topK = reinterpret_cast<const int32_t *>(devIn + topKAt);
  params.topP = reinterpret_cast<const float *>(devIn + topPAt);
  params.minP = reinterpret_cast<const float *>(devIn + minPAt);
  SamplingOutput result;
  result.tokens = reinterpret_cast<int32_t *>(devOut + tokensAt);
  result.logprobs = wantLogprobs ? reinterpret_cast<float *>(devOut + logprobAt) : nullptr;
  result.numTop = numTop;
  if (numTop > 0) {
    result.topIds = reinterpret_cast<int32_t *>(devOut + topIdsAt);
    result.topLogprobs = reinterpret_cast<float *>(devOut + topLogprobsAt);
  }
  TRY(sampleTokens(logits, rowStride, static_cast<int32_t>(n), static_cast<int32_t>(vocab), params,
                   result, stream));
  CUDA_TRY(cudaMemcpyAsync(sampleHostOut.ptr, devOut, outBytes, cudaMemcpyDeviceToHost, stream));
  CUDA_TRY(cudaStreamSynchronize(stream));
  unstage();

  const char *hostOut = static_cast<const char *>(sampleHostOut.ptr);
  const auto *tokensOut = reinterpret_cast<const int32_t *>(hostOut + tokensAt);
  const auto *logprobOut = reinterpret_cast<const float *>(hostOut + logprobAt);
  const auto *topIdsOut = reinterpret_cast<const int32_t *>(hostOut + topIdsAt);
  const auto *topLogprobsOut = reinterpret_cast<const float *>(hostOut + topLogprobsAt);
  for (const auto &[row, d] : picks) {
    DeviceSample pick;
    pick.token = tokensOut[row];
    if (pick.token < 0 || pick.token >= vocab)
      return Error(ErrorCode::Internal, "the GPU sampler chose token " +
                                            std::to_string(pick.token) +
                                            ", outside the vocabulary");
    if (d->topLogprobs >= 0) {
      pick.logprob = logprobOut[row];
      for (int32_t k = 0; k < d->topLogprobs; ++k)
        pick.top.emplace_back(topIdsOut[row * numTop + k], topLogprobsOut[row * numTop + k]);
    }
    out.sampled.push_back(std::move(pick));
  }
  return Status::success();
}

} // namespace modelrt::cuda
