#include "runtime/device/cuda/Gemm.h"
#include "runtime/device/cuda/CudaStatus.h"

#include <cstdio>
#include <cublasLt.h>
#include <string>

namespace modelrt::cuda {

struct CublasLtGemm::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t wLayout = nullptr, aLayout = nullptr, cLayout = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (desc)
      cublasLtMatmulDescDestroy(desc);
    if (wLayout)
      cublasLtMatrixLayoutDestroy(wLayout);
    if (aLayout)
      cublasLtMatrixLayoutDestroy(aLayout);
    if (cLayout)
      cublasLtMatrixLayoutDestroy(cLayout);
  }
};

namespace {

cudaDataType_t cudaType(ElementType t) {
  return t == ElementType::F16 ? CUDA_R_16F : t == ElementType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

// Largest power of two (up to 256) dividing the address: cuBLASLt's alignment preference.
int alignmentOf(const void *p) {
  uintptr_t v = reinterpret_cast<uintptr_t>(p);
  int a = 256;
  while (a > 1 && v % a != 0)
    a /= 2;
  return a;
}

} // namespace

Expected<std::unique_ptr<CublasLtGemm>> CublasLtGemm::create(bool batchInvariant) {
  std::unique_ptr<CublasLtGemm> gemm(new CublasLtGemm());
  gemm->batchInvariant_ = batchInvariant;
  cublasStatus_t st = cublasLtCreate(&gemm->handle_);
  if (st != CUBLAS_STATUS_SUCCESS)
    return cublasStatus(st, "cublasLtCreate", __FILE__, __LINE__).error();
  return gemm;
}

CublasLtGemm::~CublasLtGemm() {
  plans_.clear();
  references_.clear();
  if (handle_)
    cublasLtDestroy(handle_);
}

size_t CublasLtGemm::cachedPlans() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return plans_.size();
}

size_t CublasLtGemm::invariantFallbacks() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return invariantFallbacks_;
}

namespace {

// The descriptor and layouts of `shape` (row-major C[m,n] = A W^T is column-major
// C^T[n,m] = W^T(op T on W's [k,n]) * A([k,m])).
template <typename Plan> Status describe(const GemmShape &shape, Plan &plan) {
  MODELRT_CUBLAS_TRY(cublasLtMatmulDescCreate(&plan.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  MODELRT_CUBLAS_TRY(
      cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof(opT)));
  MODELRT_CUBLAS_TRY(
      cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)));
  if (shape.bias) {
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    MODELRT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                      &epi, sizeof(epi)));
    cudaDataType_t biasType = cudaType(shape.outType);
    MODELRT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(
        plan.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &biasType, sizeof(biasType)));
  }
  cudaDataType_t in = cudaType(shape.inType), out = cudaType(shape.outType);
  MODELRT_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&plan.wLayout, in, shape.k, shape.n, shape.k));
  MODELRT_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&plan.aLayout, in, shape.k, shape.m, shape.k));
  MODELRT_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&plan.cLayout, out, shape.n, shape.m, shape.n));
  return Status::success();
}

// cuBLASLt's best algorithm for `plan` within the workspace and the key's alignments (w, a,
// c, bias); noSplitK: only those that sum each output's k in one pass (no split-k reduction).
template <typename Plan, typename Key>
Status chooseAlgorithm(cublasLtHandle_t handle, const GemmShape &shape, const Key &key,
                       size_t workspaceBytes, bool noSplitK, Plan &plan) {
  cublasLtMatmulPreference_t pref = nullptr;
  MODELRT_CUBLAS_TRY(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t ws = workspaceBytes;
  uint32_t align[4] = {uint32_t(std::get<7>(key)), uint32_t(std::get<8>(key)),
                       uint32_t(std::get<9>(key)), uint32_t(std::get<9>(key))};
  const cublasLtMatmulPreferenceAttributes_t alignAttr[4] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  for (int i = 0; i < 4 && st == CUBLAS_STATUS_SUCCESS; ++i)
    st = cublasLtMatmulPreferenceSetAttribute(pref, alignAttr[i], &align[i], sizeof(align[i]));
  const uint32_t onePass = CUBLASLT_REDUCTION_SCHEME_NONE;
  if (noSplitK && st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                              &onePass, sizeof(onePass));
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmulAlgoGetHeuristic(handle, plan.desc, plan.wLayout, plan.aLayout, plan.cLayout,
                                        plan.cLayout, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  MODELRT_CUBLAS_TRY(st);
  if (found == 0)
    return Error(ErrorCode::Unsupported,
                 "cuBLASLt has no algorithm for GEMM m=" + std::to_string(shape.m) +
                     " n=" + std::to_string(shape.n) + " k=" + std::to_string(shape.k));
  plan.algo = result.algo;
  return Status::success();
}

// Whether `algo` sums each output's k in one pass: no split of k, no reduction scheme.
bool onePass(const cublasLtMatmulAlgo_t &algo) {
  int32_t splitK = 1;
  uint32_t scheme = CUBLASLT_REDUCTION_SCHEME_NONE;
  size_t written = 0;
  if (cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitK,
                                           sizeof(splitK), &written) != CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme,
                                           sizeof(scheme), &written) != CUBLAS_STATUS_SUCCESS)
    return false;
  return splitK <= 1 && scheme == CUBLASLT_REDUCTION_SCHEME_NONE;
}

} // namespace

Expected<CublasLtGemm::Plan *> CublasLtGemm::planFor(const Key &key, const GemmShape &shape,
                                                     size_t workspaceBytes) {
  auto it = plans_.find(key);
  if (it != plans_.end())
    return it->second.get();
  auto plan = std::make_unique<Plan>();
  if (Status st = describe(shape, *plan); !st)
    return st.error();
  if (!batchInvariant_) {
    if (Status st = chooseAlgorithm(handle_, shape, key, workspaceBytes, false, *plan); !st)
      return st.error();
  } else {
    // The algorithm chosen for kInvariantReferenceRows rows of this (n, k, ...), if it runs
    // this m within the workspace; else this m's own split-k-free choice (or any, if none).
    Key refKey = key;
    std::get<0>(refKey) = kInvariantReferenceRows;
    auto ref = references_.find(refKey);
    if (ref == references_.end()) {
      auto r = std::make_unique<Plan>();
      GemmShape refShape = shape;
      refShape.m = kInvariantReferenceRows;
      Status st = describe(refShape, *r);
      if (st)
        st = chooseAlgorithm(handle_, refShape, refKey, workspaceBytes, true, *r);
      if (st && !onePass(r->algo))
        st = Error(ErrorCode::Unsupported, "the reference algorithm splits k");
      ref = references_.emplace(refKey, st ? std::move(r) : nullptr).first; // null: none
    }
    cublasLtMatmulHeuristicResult_t check{};
    if (ref->second &&
        cublasLtMatmulAlgoCheck(handle_, plan->desc, plan->wLayout, plan->aLayout, plan->cLayout,
                                plan->cLayout, &ref->second->algo,
                                &check) == CUBLAS_STATUS_SUCCESS &&
        check.workspaceSize <= workspaceBytes) {
      plan->algo = ref->second->algo;
    } else {
      if (invariantFallbacks_++ == 0)
        std::fprintf(stderr,
                     "modelrt: batch-invariant GEMM: m=%lld n=%lld k=%lld cannot run the "
                     "algorithm of its weight's other row counts; its rows may differ with the "
                     "row count (reported once)\n",
                     static_cast<long long>(shape.m), static_cast<long long>(shape.n),
                     static_cast<long long>(shape.k));
      if (Status st = chooseAlgorithm(handle_, shape, key, workspaceBytes, true, *plan); !st)
        if (Status any = chooseAlgorithm(handle_, shape, key, workspaceBytes, false, *plan); !any)
          return any.error();
    }
  }
  Plan *raw = plan.get();
  plans_.emplace(key, std::move(plan));
  return raw;
}

Status CublasLtGemm::gemm(const GemmShape &shape, const void *a, const void *w, const void *bias,
                          void *c, void *workspace, size_t workspaceBytes, cudaStream_t stream) {
  if (shape.m < 0 || shape.n <= 0 || shape.k <= 0)
    return Error(ErrorCode::InvalidArgument, "gemm: need m >= 0, n > 0, k > 0");
  if (shape.inType == ElementType::F32 ||
      (shape.outType != shape.inType && shape.outType != ElementType::F32))
    return Error(ErrorCode::Unsupported,
                 "gemm: inputs must be f16 or bf16, the output the same type or f32");
  if (!a || !w || !c || (shape.bias && !bias) || (workspaceBytes > 0 && !workspace))
    return Error(ErrorCode::InvalidArgument, "gemm: null operand, bias or workspace");
  if (shape.m == 0)
    return Status::success();
  Key key{shape.m,
          shape.n,
          shape.k,
          int(shape.inType),
          int(shape.outType),
          shape.bias,
          workspaceBytes,
          alignmentOf(w),
          alignmentOf(a),
          alignmentOf(c),
          shape.bias ? alignmentOf(bias) : 256};
  std::lock_guard<std::mutex> lock(mutex_);
  Expected<Plan *> plan = planFor(key, shape, workspaceBytes);
  if (!plan)
    return plan.error();
  Plan *p = *plan;
  if (shape.bias)
    MODELRT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                      &bias, sizeof(bias)));
  float alpha = 1.0f, beta = 0.0f;
  MODELRT_CUBLAS_TRY(cublasLtMatmul(handle_, p->desc, &alpha, w, p->wLayout, a, p->aLayout, &beta,
                                    c, p->cLayout, c, p->cLayout, &p->algo, workspace,
                                    workspaceBytes, stream));
  return Status::success();
}

} // namespace modelrt::cuda
