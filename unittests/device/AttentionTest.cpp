// Paged attention and KV write against f64 host references on random data.
#include "runtime/device/cuda/AttentionCommon.h"
#include "runtime/device/cuda/CudaAttention.h"
#include "unittests/device/PagedCase.h"

namespace modelrt::cuda::test {
namespace {

using Seqs = std::vector<std::pair<int, int>>;

struct Config {
  ElementType type;
  int headDim;
  int group; // query heads per kv head
};

std::string name(const Config &c) {
  return std::string(typeName(c.type)) + "_hd" + std::to_string(c.headDim) + "_g" +
         std::to_string(c.group);
}

std::vector<Config> allConfigs() {
  std::vector<Config> out;
  for (ElementType t : {ElementType::F16, ElementType::BF16})
    for (int hd : {64, 80, 96, 128})
      for (int g : {1, 4, 7, 8, 16})
        out.push_back({t, hd, g});
  return out;
}

int smCount() {
  int n = 0;
  return cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, 0) == cudaSuccess ? n : 1;
}

// Runs decode (when every query length is 1 and splits >= 0) or prefill, checks the error.
void runAndCheck(const PagedCase &c, bool decode, int splits, const std::string &what,
                 int variant = 0) {
  DeviceCase d(c);
  ASSERT_TRUE(d.ok()) << "cudaMalloc failed";
  AttentionBatch batch = d.batch(c);
  AttentionArgs args = d.args(c);
  Status st;
  if (decode) {
    DecodeSplits n =
        splits > 0 ? fixedDecodeSplits(splits) : chooseDecodeSplits(c.shape, batch, smCount());
    DeviceBuffer<uint8_t> ws(std::max<size_t>(decodeWorkspaceBytes(c.shape, batch, n), 1));
    st = pagedAttentionDecodeVariant(c.shape, c.layout, batch, args, n, ws.get(), ws.size(),
                                     nullptr, variant);
    ASSERT_TRUE(st.ok()) << st.error().toString();
    CUDA_OK(cudaDeviceSynchronize());
  } else {
    DeviceBuffer<uint8_t> ws(prefillWorkspaceBytes(batch));
    st = pagedAttentionPrefillVariant(c.shape, c.layout, batch, args, ws.get(), ws.size(), nullptr,
                                      variant);
    ASSERT_TRUE(st.ok()) << st.error().toString();
    CUDA_OK(cudaDeviceSynchronize());
  }
  std::vector<float> out = toFloats(d.out.download(), c.layout.type);
  double err = relativeError(out, referenceAttention(c));
  EXPECT_LT(err, tolerance(c.layout.type)) << what;
}

TEST(DecodeAttention, MatchesReferenceAllHeadDimsGroupsTypes) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(1);
  for (const Config &cfg : allConfigs()) {
    // T = 1, lengths off block boundaries, one full block, a few blocks.
    for (const Seqs &seqs : {Seqs{{1, 1}}, Seqs{{1, 17}, {1, 1}, {1, 16}, {1, 100}, {1, 513}}}) {
      PagedCase c = makePagedCase(rng, 2 * cfg.group, 2, cfg.headDim, 16, cfg.type, seqs);
      for (int splits : {1, 3})
        runAndCheck(c, true, splits, name(cfg) + " splits=" + std::to_string(splits));
    }
  }
}

TEST(DecodeAttention, LongContextSplitsMerge) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(2);
  for (ElementType t : {ElementType::F16, ElementType::BF16}) {
    PagedCase c = makePagedCase(rng, 32, 8, 128, 16, t, {{1, 4096}, {1, 3001}, {1, 5}});
    runAndCheck(c, true, 0, std::string("auto splits ") + typeName(t));
    runAndCheck(c, true, 37, std::string("37 splits ") + typeName(t));
  }
}

TEST(DecodeAttention, BlockSizesAndSlidingWindow) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(3);
  for (int bs : {8, 32, 64}) {
    PagedCase c = makePagedCase(rng, 8, 2, 128, bs, ElementType::F16, {{1, 77}, {1, 300}});
    runAndCheck(c, true, 2, "block size " + std::to_string(bs));
  }
  PagedCase w = makePagedCase(rng, 8, 2, 64, 16, ElementType::BF16, {{1, 10}, {1, 200}, {1, 1000}},
                              /*window=*/100);
  runAndCheck(w, true, 1, "window 100, one split");
  runAndCheck(w, true, 4, "window 100, 4 splits");
}

// The decode kernels other than the default (the register kernel it replaced, the
// tensor-core kernel with movmatrix): every head dim, group and type, pages of 8 (a step
// spans pages) to 64 tokens, a sliding window, and long contexts split and merged.
TEST(DecodeAttention, OtherKernelsMatchReference) {
  MODELRT_REQUIRE_GPU();
  for (int v : {kDecodeVariantSimt, kDecodeVariantMmaMovmatrix}) {
    const std::string vn = decodeVariantName(v);
    std::mt19937 rng(11);
    for (const Config &cfg : allConfigs()) {
      PagedCase c = makePagedCase(rng, 2 * cfg.group, 2, cfg.headDim, 16, cfg.type,
                                  Seqs{{1, 17}, {1, 1}, {1, 16}, {1, 100}, {1, 513}});
      for (int splits : {1, 3})
        runAndCheck(c, true, splits, vn + " " + name(cfg) + " splits=" + std::to_string(splits), v);
    }
    for (int bs : {8, 32, 64}) {
      PagedCase c = makePagedCase(rng, 8, 2, 128, bs, ElementType::F16, {{1, 77}, {1, 300}});
      runAndCheck(c, true, 2, vn + " block size " + std::to_string(bs), v);
    }
    PagedCase w = makePagedCase(rng, 8, 2, 64, 16, ElementType::BF16,
                                {{1, 10}, {1, 200}, {1, 1000}}, /*window=*/100);
    runAndCheck(w, true, 1, vn + " window 100, one split", v);
    runAndCheck(w, true, 4, vn + " window 100, 4 splits", v);
    PagedCase l =
        makePagedCase(rng, 32, 8, 128, 16, ElementType::BF16, {{1, 4096}, {1, 3001}, {1, 5}});
    runAndCheck(l, true, 0, vn + " long, auto splits", v);
    runAndCheck(l, true, 37, vn + " long, 37 splits", v);
  }
}

TEST(PrefillAttention, MatchesReferenceRaggedBatch) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(4);
  // Whole prefills, chunked prefills (context longer than the query), and decode rows in
  // the same launch; lengths on and off the 64-row tile and 16-token block boundaries.
  Seqs seqs{{1, 1}, {5, 5}, {64, 64}, {100, 100}, {130, 300}, {1, 50}, {77, 1000}, {16, 16}};
  for (const Config &cfg : allConfigs()) {
    PagedCase c = makePagedCase(rng, 2 * cfg.group, 2, cfg.headDim, 16, cfg.type, seqs);
    runAndCheck(c, false, 0, name(cfg));
  }
}

// The tuning variants (bench/cuda) compute the same function as the defaults.
TEST(AttentionVariants, MatchReference) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(9);
  for (ElementType t : {ElementType::F16, ElementType::BF16}) {
    PagedCase d = makePagedCase(rng, 8, 2, 128, 16, t, {{1, 1}, {1, 77}, {1, 1030}, {1, 16}});
    for (int v = 1; v < kDecodeVariants; ++v)
      for (int splits : {1, 3})
        runAndCheck(d, true, splits, std::string("decode ") + decodeVariantName(v), v);
    PagedCase p = makePagedCase(rng, 8, 2, 128, 16, t, {{1, 9}, {150, 150}, {70, 300}, {5, 5}});
    PagedCase w = makePagedCase(rng, 8, 2, 128, 16, t, {{200, 400}, {3, 3}}, /*window=*/70);
    for (int v = 1; v < kPrefillVariants; ++v) {
      // The Hopper kernels say Unsupported elsewhere (HopperKernelsMatchReference skips);
      // the warp-specialized ones have their own tests (WarpSpecialized*).
      if ((prefillVariantIsHopper(v) && !prefillWgmmaSupported(128)) ||
          prefillVariantIsWarpSpecialized(v))
        continue;
      runAndCheck(p, false, 0, std::string("prefill ") + prefillVariantName(v), v);
      runAndCheck(w, false, 0, std::string("prefill window ") + prefillVariantName(v), v);
    }
  }
}

// The cases for the Hopper (wgmma) prefill kernels: head dims 64 and 128, both types, groups
// 1, 4 and 8, ragged and chunked batches long enough to rotate every K/V stage (and the
// producer's mbarrier phases), pages of 8 and 32 tokens, a sliding window.
void checkHopperPrefill(int v) {
  const std::string vn = prefillVariantName(v);
  std::mt19937 rng(12);
  Seqs seqs{{1, 1}, {5, 5}, {128, 128}, {129, 129}, {300, 1200}, {1, 50}, {77, 1000}, {600, 600}};
  for (ElementType t : {ElementType::F16, ElementType::BF16})
    for (int hd : {64, 128})
      for (int g : {1, 4, 8}) {
        PagedCase c = makePagedCase(rng, 2 * g, 2, hd, 16, t, seqs);
        runAndCheck(c, false, 0, vn + " " + name({t, hd, g}), v);
      }
  for (int bs : {8, 32}) {
    PagedCase c = makePagedCase(rng, 8, 2, 128, bs, ElementType::BF16, {{200, 700}, {3, 3}});
    runAndCheck(c, false, 0, vn + " block size " + std::to_string(bs), v);
  }
  PagedCase w = makePagedCase(rng, 8, 2, 64, 16, ElementType::F16, {{700, 900}, {7, 7}},
                              /*window=*/300);
  runAndCheck(w, false, 0, vn + " window 300", v);
}

bool isSm90() {
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0);
  return major == 9 && minor == 0;
}

// The Hopper kernels that have run on a GPU (the default, with ping-pong, and without) and the
// mma.sync kernel the default replaces there.
TEST(PrefillAttention, HopperKernelsMatchReference) {
  MODELRT_REQUIRE_GPU();
  if (!isSm90())
    GTEST_SKIP() << "the wgmma kernels need compute capability 9.0";
  ASSERT_TRUE(prefillWgmmaSupported(128) && prefillWgmmaSupported(64) &&
              !prefillWgmmaSupported(96));
  for (int v : {0, kPrefillVariantWgmma, kPrefillVariantMmaSync})
    checkHopperPrefill(v);
}

// The warp-specialized candidates (a block per tile, and persistent), apart so that
// gpu-check.sh runs them in their own process: a kernel that hangs (its mbarrier waits trap
// after 5 s) takes no other test with it.
TEST(PrefillAttention, WarpSpecializedKernelsMatchReference) {
  MODELRT_REQUIRE_GPU();
  if (!isSm90())
    GTEST_SKIP() << "the wgmma kernels need compute capability 9.0";
  for (int v : {kPrefillVariantWgmmaWs, kPrefillVariantWgmmaWsPersistent, kPrefillVariantWgmmaWsTma,
                kPrefillVariantWgmmaWsPersistentTma})
    checkHopperPrefill(v);
}

// The persistent warp-specialized kernel with its grid capped at 1-3 blocks, so each block
// walks many work items: single-tile items beside long ones, every Q stage and its empty
// barrier reused many times, the pipeline counters running across items.
TEST(PrefillAttention, WarpSpecializedPersistentBlocksWalkManyItems) {
  MODELRT_REQUIRE_GPU();
  if (!prefillWgmmaSupported(128))
    GTEST_SKIP() << "the wgmma kernels need compute capability 9.0";
  struct Reset {
    ~Reset() { setPrefillWgmmaPersistentGridForTesting(0); }
  } reset;
  std::mt19937 rng(21);
  const Seqs seqs{{1, 1}, {300, 300}, {5, 900}, {129, 129}, {700, 1500}, {2, 2}, {64, 64}};
  for (int blocks : {1, 2, 3}) {
    setPrefillWgmmaPersistentGridForTesting(blocks);
    for (int hd : {64, 128}) {
      PagedCase c = makePagedCase(rng, 8, 2, hd, 16, ElementType::BF16, seqs);
      for (int v : {kPrefillVariantWgmmaWsPersistent, kPrefillVariantWgmmaWsPersistentTma})
        runAndCheck(c, false, 0,
                    std::string(prefillVariantName(v)) + ", " + std::to_string(blocks) +
                        " blocks, d " + std::to_string(hd),
                    v);
    }
  }
  PagedCase w = makePagedCase(rng, 8, 2, 128, 32, ElementType::F16, {{700, 900}, {7, 7}},
                              /*window=*/300);
  setPrefillWgmmaPersistentGridForTesting(2);
  runAndCheck(w, false, 0, "persistent, 2 blocks, window 300", kPrefillVariantWgmmaWsPersistent);
}

TEST(PrefillAttention, SingleTokenAndSlidingWindowAndBlockSizes) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(5);
  runAndCheck(makePagedCase(rng, 4, 4, 128, 16, ElementType::F16, {{1, 1}}), false, 0, "T=1");
  runAndCheck(makePagedCase(rng, 8, 1, 96, 32, ElementType::BF16, {{200, 260}, {3, 3}}, 70), false,
              0, "window 70");
  runAndCheck(makePagedCase(rng, 8, 2, 80, 8, ElementType::F16, {{150, 150}, {33, 97}}), false, 0,
              "block size 8");
}

// Attention sinks (gpt-oss): each head's extra logit takes its share of every row's
// softmax in each kernel's epilogue: decode in one split and merged from several (the
// default, register and movmatrix kernels), prefill (the default, mma.sync and, on Hopper,
// the wgmma kernels), with a sliding window too. Sinks from below the scores to well above.
TEST(PagedAttention, SinksMatchReference) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(31);
  std::uniform_real_distribution<float> u(-2.0f, 3.0f);
  auto withSinks = [&](PagedCase c) {
    c.sinks.resize(size_t(c.shape.numHeads));
    for (float &s : c.sinks)
      s = u(rng);
    return c;
  };
  for (ElementType t : {ElementType::F16, ElementType::BF16})
    for (int hd : {64, 128}) {
      PagedCase d = withSinks(makePagedCase(rng, 8, 2, hd, 16, t,
                                            {{1, 1}, {1, 77}, {1, 1030}, {1, 16}}));
      for (int v : {0, kDecodeVariantSimt, kDecodeVariantMmaMovmatrix})
        for (int splits : {1, 3})
          runAndCheck(d, true, splits,
                      std::string("sinks decode ") + decodeVariantName(v) + " " + typeName(t), v);
      PagedCase w = withSinks(makePagedCase(rng, 8, 2, hd, 16, t, {{1, 300}, {1, 40}}, 100));
      runAndCheck(w, true, 4, std::string("sinks decode window ") + typeName(t));
      PagedCase p = withSinks(makePagedCase(rng, 8, 2, hd, 16, t,
                                            {{1, 9}, {150, 150}, {70, 300}, {5, 5}, {129, 129}}));
      PagedCase pw = withSinks(makePagedCase(rng, 8, 2, hd, 16, t, {{200, 400}, {3, 3}}, 70));
      for (int v : {0, kPrefillVariantMmaSync, kPrefillVariantWgmma}) {
        if (v == kPrefillVariantWgmma && !prefillWgmmaSupported(hd))
          continue;
        runAndCheck(p, false, 0,
                    std::string("sinks prefill ") + prefillVariantName(v) + " " + typeName(t), v);
        runAndCheck(pw, false, 0,
                    std::string("sinks prefill window ") + prefillVariantName(v) + " " +
                        typeName(t),
                    v);
      }
    }
}

TEST(PagedAttention, DispatchAgreesForDecodeRows) {
  MODELRT_REQUIRE_GPU();
  // The same decode batch through the prefill kernel and the decode kernel.
  std::mt19937 rng(6);
  PagedCase c = makePagedCase(rng, 16, 2, 128, 16, ElementType::F16, {{1, 900}, {1, 33}});
  runAndCheck(c, false, 0, "decode rows through prefill");
  runAndCheck(c, true, 0, "decode rows through decode");
}

// Runs `c` through pagedAttention (the executor's entry: decode, prefill, or both for a
// mixed batch) and returns the output's bits.
std::vector<uint16_t> runDispatch(const PagedCase &c) {
  DeviceCase d(c);
  EXPECT_TRUE(d.ok()) << "cudaMalloc failed";
  AttentionBatch batch = d.batch(c);
  DeviceBuffer<uint8_t> ws(std::max<size_t>(attentionWorkspaceBytes(c.shape, batch, smCount()), 1));
  // NaN partials and tables: a merge that read a slot no split wrote would show.
  EXPECT_EQ(cudaMemset(ws.get(), 0xff, ws.size()), cudaSuccess);
  Status st =
      pagedAttention(c.shape, c.layout, batch, d.args(c), smCount(), ws.get(), ws.size(), nullptr);
  EXPECT_TRUE(st.ok()) << st.error().toString();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return d.out.download();
}

// DESIGN.md: a request's output must not change with what else is batched. Bit for bit, each
// request alone and in a batch that mixes prefills with decode rows whose contexts differ
// (so the batch's decode grid has more splits than a request alone needs): head dims 64 and
// 128 (the Hopper prefill kernels there) and 96 (the mma.sync one), and a sliding window
// that starts the long requests' splits mid-context.
TEST(PagedAttention, RequestsComputeTheSameAloneAndInAMixedBatch) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(11);
  for (ElementType type : {ElementType::F16, ElementType::BF16})
    for (auto [hd, window] :
         {std::pair{64, 0}, std::pair{128, 0}, std::pair{96, 0}, std::pair{128, 3000}}) {
      const std::vector<std::pair<int, int>> seqs{{1, 700},    {37, 300}, {1, 20000}, {1, 5000},
                                                  {200, 1200}, {1, 1},    {130, 130}};
      PagedCase c = makePagedCase(rng, 8, 2, hd, 16, type, seqs, window);
      const std::string what = std::string(type == ElementType::F16 ? "f16" : "bf16") + " d" +
                               std::to_string(hd) + " window " + std::to_string(window);
      const std::vector<uint16_t> mixed = runDispatch(c);
      EXPECT_LT(relativeError(toFloats(mixed, type), referenceAttention(c)), tolerance(type))
          << what;
      const size_t width = size_t(c.shape.numHeads) * hd;
      for (int s = 0; s < int(seqs.size()); ++s) {
        const std::vector<uint16_t> alone = runDispatch(subCase(c, {s}));
        const auto first = mixed.begin() + ptrdiff_t(c.queryStart[s]) * ptrdiff_t(width);
        EXPECT_TRUE(std::equal(alone.begin(), alone.end(), first))
            << what << ": request " << s << " (" << seqs[s].first << " rows, context "
            << seqs[s].second << ") differs alone";
      }
    }
}

// A prompt's rows compute the same bits whichever chunks the scheduler cut it into (the
// cuts follow the budget the rest of the batch leaves): one chunk against two, cut off a
// 128-row tile boundary, with and without a sliding window, on the Hopper (d 128) and
// mma.sync (d 96) prefill kernels.
TEST(PagedAttention, PromptRowsComputeTheSameInAnyChunks) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(12);
  for (auto [hd, window] :
       {std::pair{128, 0}, std::pair{128, 300}, std::pair{96, 0}, std::pair{96, 300}}) {
    PagedCase c = makePagedCase(rng, 8, 2, hd, 16, ElementType::BF16, {{300, 1500}}, window);
    const std::vector<uint16_t> whole = runDispatch(c);
    for (int cut : {2, 70, 131}) {
      const std::vector<uint16_t> parts = runDispatch(chunkedCase(c, 0, cut));
      EXPECT_EQ(parts, whole) << "d " << hd << " window " << window << ", cut after row " << cut;
    }
  }
}

// Host reference of the KV write with RoPE; returns the rotated values of row t, head h.
std::vector<float> ropeRow(const std::vector<float> &x, int pos, const RopeParams &rope) {
  std::vector<float> out = x;
  if (rope.style == RopeStyle::None)
    return out;
  int half = rope.rotaryDim / 2;
  for (int i = 0; i < half; ++i) {
    int a = rope.style == RopeStyle::RotateHalf ? i : 2 * i;
    int b = rope.style == RopeStyle::RotateHalf ? i + half : 2 * i + 1;
    // The angle in float32 as the kernel (and the usual reference code) computes it.
    float invFreq = 1.0f / std::pow(rope.theta, float(2 * i) / float(rope.rotaryDim));
    double ang = double(float(pos) * invFreq), cs = std::cos(ang), sn = std::sin(ang);
    out[a] = float(x[a] * cs - x[b] * sn);
    out[b] = float(x[b] * cs + x[a] * sn);
  }
  return out;
}

TEST(KvWrite, WritesSlotsWithAndWithoutRope) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(7);
  for (ElementType t : {ElementType::F16, ElementType::BF16})
    for (RopeStyle style : {RopeStyle::None, RopeStyle::RotateHalf, RopeStyle::Interleaved}) {
      const int T = 37, kvHeads = 4, heads = 8, hd = 128, bs = 16, numBlocks = 8;
      PagedKvLayout layout{numBlocks, kvHeads, bs, hd, t};
      RopeParams rope{style, 500000.0f, style == RopeStyle::Interleaved ? 64 : hd};
      std::vector<int32_t> slots(T), positions(T);
      std::vector<int32_t> perm(numBlocks * bs);
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      for (int i = 0; i < T; ++i) {
        slots[i] = i == 5 ? -1 : perm[i];
        positions[i] = 97 * i + 3; // up to 3.5k
      }
      auto k = randomBits(rng, size_t(T) * kvHeads * hd, t, -1, 1);
      auto v = randomBits(rng, size_t(T) * kvHeads * hd, t, -1, 1);
      auto q = randomBits(rng, size_t(T) * heads * hd, t, -1, 1);
      size_t cacheElems = size_t(numBlocks) * kvHeads * bs * hd;
      DeviceBuffer<uint16_t> kc(cacheElems), vc(cacheElems), dk(k), dv(v), dq(q);
      DeviceBuffer<int32_t> ds(slots), dp(positions);
      CUDA_OK(kc.poison());
      CUDA_OK(vc.poison());
      KvWriteArgs args{dk.get(), kvHeads * hd, dv.get(), kvHeads * hd, dq.get(), heads * hd, heads};
      KvWriteBatch batch{ds.get(), dp.get(), T};
      STATUS_OK(writeKvCache(layout, kc.get(), vc.get(), args, batch, rope, nullptr));
      CUDA_OK(cudaDeviceSynchronize());
      auto kOut = kc.download(), vOut = vc.download(), qOut = dq.download();
      std::vector<float> got;
      std::vector<double> ref;
      std::vector<float> gotV, gotQ;
      std::vector<double> refV, refQ;
      for (int i = 0; i < T; ++i) {
        for (int h = 0; h < heads; ++h) {
          std::vector<float> x(hd);
          for (int d = 0; d < hd; ++d)
            x[d] = fromBits(q[(size_t(i) * heads + h) * hd + d], t);
          auto r = ropeRow(x, positions[i], rope);
          for (int d = 0; d < hd; ++d) {
            refQ.push_back(r[d]);
            gotQ.push_back(fromBits(qOut[(size_t(i) * heads + h) * hd + d], t));
          }
        }
        if (slots[i] < 0)
          continue;
        for (int h = 0; h < kvHeads; ++h) {
          std::vector<float> x(hd);
          for (int d = 0; d < hd; ++d)
            x[d] = fromBits(k[(size_t(i) * kvHeads + h) * hd + d], t);
          auto r = ropeRow(x, positions[i], rope);
          size_t base = ((size_t(slots[i] / bs) * kvHeads + h) * bs + slots[i] % bs) * hd;
          for (int d = 0; d < hd; ++d) {
            ref.push_back(r[d]);
            got.push_back(fromBits(kOut[base + d], t));
            refV.push_back(fromBits(v[(size_t(i) * kvHeads + h) * hd + d], t));
            gotV.push_back(fromBits(vOut[base + d], t));
          }
        }
      }
      std::string what = std::string(typeName(t)) + " rope style " + std::to_string(int(style));
      EXPECT_LT(relativeError(got, ref), tolerance(t)) << what;
      EXPECT_EQ(relativeError(gotV, refV), 0.0) << what;
      EXPECT_LT(relativeError(gotQ, refQ), tolerance(t)) << what;
      // The skipped token's slot and every slot nobody wrote stay poisoned.
      size_t untouched = ((size_t(perm[5] / bs) * kvHeads) * bs + perm[5] % bs) * hd;
      EXPECT_TRUE(std::isnan(fromBits(kOut[untouched], t))) << what;
    }
}

TEST(KvWriteThenAttention, PrefillAfterWriteMatchesReference) {
  MODELRT_REQUIRE_GPU();
  // Write K/V of a whole prefill through writeKvCache, then attend: the two kernels agree
  // on the cache layout.
  std::mt19937 rng(8);
  PagedCase c = makePagedCase(rng, 8, 2, 64, 16, ElementType::F16, {{45, 45}, {20, 20}});
  DeviceCase d(c);
  ASSERT_TRUE(d.ok());
  // Re-derive each token's K/V row from the case's cache, then poison the cache and rewrite.
  const int kvw = 2 * 64;
  std::vector<uint16_t> k(size_t(c.numTokens) * kvw), v(k.size());
  std::vector<int32_t> slots(c.numTokens);
  for (int s = 0; s < 2; ++s)
    for (int i = 0; i < c.contextLen[s]; ++i) {
      int row = c.queryStart[s] + i;
      slots[row] = c.blockTable[s * c.maxBlocksPerSeq + i / 16] * 16 + i % 16;
      for (int h = 0; h < 2; ++h)
        for (int dd = 0; dd < 64; ++dd) {
          k[size_t(row) * kvw + h * 64 + dd] = c.kCache[cacheIndex(c, s, i, h, dd)];
          v[size_t(row) * kvw + h * 64 + dd] = c.vCache[cacheIndex(c, s, i, h, dd)];
        }
    }
  DeviceBuffer<uint16_t> dk(k), dv(v);
  DeviceBuffer<int32_t> ds(slots);
  CUDA_OK(d.kCache.poison());
  CUDA_OK(d.vCache.poison());
  STATUS_OK(writeKvCache(c.layout, d.kCache.get(), d.vCache.get(),
                         KvWriteArgs{dk.get(), kvw, dv.get(), kvw, nullptr, 0, 0},
                         KvWriteBatch{ds.get(), nullptr, c.numTokens}, RopeParams{}, nullptr));
  AttentionBatch batch = d.batch(c);
  DeviceBuffer<uint8_t> ws(prefillWorkspaceBytes(batch));
  STATUS_OK(
      pagedAttentionPrefill(c.shape, c.layout, batch, d.args(c), ws.get(), ws.size(), nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  double err = relativeError(toFloats(d.out.download(), c.layout.type), referenceAttention(c));
  EXPECT_LT(err, 2e-3);
}

// Argument checks run on the host, before any device work: these need no GPU.
TEST(AttentionArguments, RejectedBeforeLaunch) {
  auto *fake = reinterpret_cast<void *>(uintptr_t(4096));
  auto *fakeI = reinterpret_cast<const int32_t *>(uintptr_t(4096));
  AttentionShape shape{8, 2, 128, 0.088f, 0};
  PagedKvLayout layout{16, 2, 16, 128, ElementType::F16};
  AttentionBatch batch{fakeI, fakeI, fakeI, 2, 2, 4, 1, 64};
  AttentionArgs args{fake, 1024, fake, 1024, fake, fake};
  EXPECT_TRUE(checkAttention(shape, layout, batch, args).ok());

  AttentionShape badDim = shape;
  badDim.headDim = 72;
  PagedKvLayout badLayoutDim = layout;
  badLayoutDim.headDim = 72;
  Status st = checkAttention(badDim, badLayoutDim, batch, args);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::Unsupported);

  AttentionShape badGroup = shape;
  badGroup.numHeads = 7;
  st = checkAttention(badGroup, layout, batch, args);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::InvalidArgument);

  PagedKvLayout badBlock = layout;
  badBlock.blockSize = 24;
  EXPECT_FALSE(checkAttention(shape, badBlock, batch, args).ok());

  AttentionArgs misaligned = args;
  misaligned.q = reinterpret_cast<void *>(uintptr_t(4098));
  EXPECT_FALSE(checkAttention(shape, layout, batch, misaligned).ok());

  AttentionBatch prefillBatch = batch;
  prefillBatch.maxQueryLen = 3;
  st = pagedAttentionDecode(shape, layout, prefillBatch, args, fixedDecodeSplits(1), nullptr, 0,
                            nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("exactly one query row"), std::string::npos);

  st = pagedAttentionDecode(shape, layout, batch, args, fixedDecodeSplits(4), nullptr, 0, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("workspace"), std::string::npos);

  st = writeKvCache(layout, fake, fake, KvWriteArgs{fake, 256, fake, 256, nullptr, 0, 0},
                    KvWriteBatch{fakeI, nullptr, 3}, RopeParams{RopeStyle::RotateHalf, 1e4f, 7},
                    nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::InvalidArgument);
}

TEST(AttentionArguments, DecodeSplitChoice) {
  AttentionShape shape{32, 8, 128, 0.088f, 0};
  AttentionBatch one{};
  one.numSeqs = 1;
  one.maxContextLen = 32768;
  one.maxQueryLen = 1;
  // One long request: splits of 512 tokens, enough to give 132 multiprocessors 3-4 blocks.
  DecodeSplits alone = chooseDecodeSplits(shape, one, 132);
  EXPECT_EQ(alone.count, 64);
  EXPECT_EQ(decodeSplitsOf(32768, alone), 64);
  EXPECT_GE(alone.fill * 8, 4 * 132);
  // Short contexts take one split (no merge).
  AttentionBatch shortCtx = one;
  shortCtx.maxContextLen = 100;
  EXPECT_EQ(chooseDecodeSplits(shape, shortCtx, 132).count, 1);
  // A sliding window bounds the tokens a request reads, so its splits too.
  AttentionShape windowed = shape;
  windowed.slidingWindow = 4096;
  EXPECT_EQ(chooseDecodeSplits(windowed, one, 132).count, 8);
}

TEST(AttentionArguments, DecodeSplitsDependOnTheRequestAlone) {
  // The splits a request takes (so its split boundaries and merge order: its arithmetic)
  // are the same alone and beside 255 others, whatever their contexts.
  AttentionShape shape{32, 8, 128, 0.088f, 0};
  for (int ctx : {1, 511, 512, 1000, 4096, 5000, 32768, 131072}) {
    AttentionBatch alone{};
    alone.numSeqs = 1;
    alone.maxQueryLen = 1;
    alone.maxContextLen = ctx;
    AttentionBatch crowd = alone;
    crowd.numSeqs = 256;
    crowd.maxContextLen = 131072;
    const DecodeSplits a = chooseDecodeSplits(shape, alone, 132);
    const DecodeSplits b = chooseDecodeSplits(shape, crowd, 132);
    EXPECT_EQ(decodeSplitsOf(ctx, a), decodeSplitsOf(ctx, b)) << "context " << ctx;
    EXPECT_LE(decodeSplitsOf(ctx, b), b.count) << "the grid holds every request's splits";
    EXPECT_GE(ctx / decodeSplitsOf(ctx, a), std::min(ctx, kDecodeSplitMinTokens));
  }
  // The partials follow the batch's total context: one 32k request among 511 short ones
  // takes its 64 splits' slots, not 512 x 64.
  AttentionBatch mixed{};
  mixed.numSeqs = 512;
  mixed.maxQueryLen = 1;
  mixed.maxContextLen = 32768;
  mixed.sumContextLen = 32768 + 511 * 300;
  const size_t bytes = decodeWorkspaceBytes(shape, mixed, chooseDecodeSplits(shape, mixed, 132));
  EXPECT_LT(bytes, size_t(64 + 511) * 32 * 130 * 4 + 4096);
  EXPECT_GE(bytes, size_t(64) * 32 * 130 * 4);
  // Forced counts (tests, benches) split every request of at least that many tokens.
  EXPECT_EQ(decodeSplitsOf(513, fixedDecodeSplits(3)), 3);
  EXPECT_EQ(decodeSplitsOf(2, fixedDecodeSplits(3)), 2);
}

} // namespace
} // namespace modelrt::cuda::test
