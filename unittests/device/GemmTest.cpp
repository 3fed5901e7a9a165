// cuBLASLt GEMM wrapper against an f64 host product of the same rounded inputs.
#include "runtime/device/cuda/Gemm.h"
#include "unittests/device/DeviceTestUtil.h"

namespace modelrt::cuda::test {
namespace {

TEST(Gemm, MatchesReferenceWithAndWithoutBias) {
  MODELRT_REQUIRE_GPU();
  auto gemm = CublasLtGemm::create();
  ASSERT_TRUE(gemm.ok()) << gemm.error().toString();
  std::mt19937 rng(21);
  DeviceBuffer<uint8_t> workspace(32 << 20);
  struct Shape {
    int m, n, k;
  };
  for (ElementType in : {ElementType::F16, ElementType::BF16})
    for (ElementType out : {in, ElementType::F32})
      for (bool bias : {false, true})
        for (Shape s : {Shape{1, 256, 256}, Shape{37, 384, 512}, Shape{128, 512, 1024}}) {
          auto a = randomBits(rng, size_t(s.m) * s.k, in, -1, 1);
          auto w = randomBits(rng, size_t(s.n) * s.k, in, -1, 1);
          std::vector<double> ref(size_t(s.m) * s.n);
          std::vector<uint16_t> biasBits;
          std::vector<float> biasF32;
          std::vector<float> biasVals(s.n, 0.0f);
          if (bias) {
            std::uniform_real_distribution<float> d(-1, 1);
            for (int j = 0; j < s.n; ++j) {
              float x = d(rng);
              if (out == ElementType::F32) {
                biasF32.push_back(x);
                biasVals[j] = x;
              } else {
                biasBits.push_back(toBits(x, out));
                biasVals[j] = fromBits(biasBits.back(), out);
              }
            }
          }
          auto af = toFloats(a, in), wf = toFloats(w, in);
          for (int i = 0; i < s.m; ++i)
            for (int j = 0; j < s.n; ++j) {
              double acc = biasVals[j];
              for (int k = 0; k < s.k; ++k)
                acc += double(af[size_t(i) * s.k + k]) * wf[size_t(j) * s.k + k];
              ref[size_t(i) * s.n + j] = acc;
            }
          DeviceBuffer<uint16_t> da(a), dw(w), dBias16(biasBits);
          DeviceBuffer<float> dBias32(biasF32);
          DeviceBuffer<uint16_t> c16(size_t(s.m) * s.n);
          DeviceBuffer<float> c32(size_t(s.m) * s.n);
          CUDA_OK(c16.poison());
          CUDA_OK(c32.poison());
          GemmShape shape{s.m, s.n, s.k, in, out, bias};
          const void *biasPtr = !bias ? nullptr
                                : out == ElementType::F32
                                    ? static_cast<const void *>(dBias32.get())
                                    : static_cast<const void *>(dBias16.get());
          void *c = out == ElementType::F32 ? static_cast<void *>(c32.get())
                                            : static_cast<void *>(c16.get());
          STATUS_OK((*gemm)->gemm(shape, da.get(), dw.get(), biasPtr, c, workspace.get(),
                                  workspace.size(), nullptr));
          CUDA_OK(cudaDeviceSynchronize());
          std::vector<float> got =
              out == ElementType::F32 ? c32.download() : toFloats(c16.download(), out);
          double tol = out == ElementType::F32 ? 1e-4 : tolerance(out);
          EXPECT_LT(relativeError(got, ref), tol)
              << typeName(in) << "->" << typeName(out) << " bias " << bias << " m " << s.m << " n "
              << s.n << " k " << s.k;
        }
  // Same shapes again: every plan comes from the cache.
  size_t plans = (*gemm)->cachedPlans();
  EXPECT_GT(plans, 0u);
  DeviceBuffer<uint16_t> a(256), w(256 * 256), c(256);
  STATUS_OK((*gemm)->gemm(GemmShape{1, 256, 256, ElementType::F16, ElementType::F16, false},
                          a.get(), w.get(), nullptr, c.get(), workspace.get(), workspace.size(),
                          nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ((*gemm)->cachedPlans(), plans);
}

// Batch-invariant mode: a row's product is the same bits whatever the number of rows it is
// computed with (cuBLASLt's default picks per m, possibly splitting k for few rows), for
// every m from 1 to 300, on a bf16 product and on an f32-output one with a bias (logits).
// The default mode's differences are printed, not asserted.
TEST(Gemm, BatchInvariantRowsDoNotDependOnTheRowCount) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(22);
  DeviceBuffer<uint8_t> workspace(32 << 20);
  const int maxM = 300;
  struct Case {
    int n, k;
    ElementType out;
    bool bias;
  };
  for (Case cs :
       {Case{1024, 4096, ElementType::BF16, false}, Case{2048, 1024, ElementType::F32, true}}) {
    const size_t outBytes = cs.out == ElementType::F32 ? 4 : 2;
    auto a = randomBits(rng, size_t(maxM) * cs.k, ElementType::BF16, -1, 1);
    auto w = randomBits(rng, size_t(cs.n) * cs.k, ElementType::BF16, -1, 1);
    std::vector<float> biasValues(cs.n);
    for (float &b : biasValues)
      b = std::uniform_real_distribution<float>(-1, 1)(rng);
    DeviceBuffer<uint16_t> da(a), dw(w);
    DeviceBuffer<float> dBias(biasValues);
    DeviceBuffer<uint8_t> dc(size_t(maxM) * cs.n * outBytes);
    for (bool invariant : {true, false}) {
      auto gemm = CublasLtGemm::create(invariant);
      ASSERT_TRUE(gemm.ok()) << gemm.error().toString();
      auto run = [&](int m) -> std::vector<uint8_t> {
        EXPECT_EQ(dc.poison(), cudaSuccess);
        Status st = (*gemm)->gemm(GemmShape{m, cs.n, cs.k, ElementType::BF16, cs.out, cs.bias},
                                  da.get(), dw.get(), cs.bias ? dBias.get() : nullptr, dc.get(),
                                  workspace.get(), workspace.size(), nullptr);
        EXPECT_TRUE(st.ok()) << st.error().toString();
        EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        std::vector<uint8_t> c = dc.download();
        c.resize(size_t(m) * cs.n * outBytes);
        return c;
      };
      const std::vector<uint8_t> all = run(maxM);
      int differ = 0, firstDiffer = 0;
      for (int m = 1; m < maxM; ++m) {
        const std::vector<uint8_t> some = run(m);
        if (!std::equal(some.begin(), some.end(), all.begin()) && differ++ == 0)
          firstDiffer = m;
      }
      if (invariant)
        EXPECT_EQ(differ, 0) << "n " << cs.n << " k " << cs.k << ": rows of m = " << firstDiffer
                             << " differ from the same rows of m = " << maxM;
      std::printf(
          "cuBLASLt %s: %d of %d row counts differ from m = %d (n %d, k %d, %s%s; first "
          "m %d)%s\n",
          invariant ? "batch-invariant" : "default", differ, maxM - 1, maxM, cs.n, cs.k,
          cs.out == ElementType::F32 ? "f32 out" : "bf16 out", cs.bias ? ", bias" : "", firstDiffer,
          invariant ? (", fallbacks " + std::to_string((*gemm)->invariantFallbacks())).c_str()
                    : "");
    }
  }
}

} // namespace
} // namespace modelrt::cuda::test
