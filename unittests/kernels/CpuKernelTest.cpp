// The CPU kernels modelc generates, loaded from a real plan (tiny-llama, compiled by the
// CpuKernels.CompilePlan fixture) and run on random rows: each fused kernel computes what
// its ops define (RMSNorm, residual add, SiLU gating), including through column views.
#include "runtime/device/cpu/CpuKernelLibrary.h"
#include "runtime/plan/PlanFile.h"
#include "runtime/plan/PlanMetadata.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <random>

using namespace modelrt;

namespace {

std::string planPath;
} // namespace

// Where the fixtures put the plans (the directory of the first argument).
std::string planDirectory;

namespace {
constexpr double kEps = 1e-5; // rms_norm_eps of models/tiny-llama.json

struct Fixture {
  plan::PlanFile file;
  plan::PlanMetadata meta;
  nlohmann::json program;
  cpu::CpuKernelLibrary kernels;
};

Fixture &fixture() {
  static Fixture *f = [] {
    Expected<plan::PlanFile> file = plan::PlanFile::open(planPath);
    EXPECT_TRUE(file.ok()) << file.error().toString();
    Expected<plan::PlanMetadata> meta = plan::readMetadata(*file);
    EXPECT_TRUE(meta.ok()) << meta.error().toString();
    const plan::Section *image = file->find(plan::SectionKind::KernelImage);
    EXPECT_NE(image, nullptr);
    Expected<cpu::CpuKernelLibrary> lib = cpu::CpuKernelLibrary::load(image->data, image->size);
    EXPECT_TRUE(lib.ok()) << lib.error().toString();
    nlohmann::json program = nlohmann::json::parse(file->find(plan::SectionKind::Program)->text());
    return new Fixture{std::move(*file), std::move(*meta), std::move(program), std::move(*lib)};
  }();
  return *f;
}

// The fused ops of the program, in order: kernel name, input and weight counts.
struct FusedOp {
  std::string kernel;
  std::vector<std::string> weights;
  size_t inputs, outputs;
};
std::vector<FusedOp> fusedOps() {
  std::vector<FusedOp> ops;
  for (const nlohmann::json &op : fixture().program["ops"]) {
    if (op["op"] != "fused")
      continue;
    FusedOp f;
    f.kernel = op["attrs"]["kernel"].get<std::string>();
    for (const nlohmann::json &w : op["attrs"]["weights"])
      f.weights.push_back(w.get<std::string>());
    f.inputs = op["inputs"].size();
    f.outputs = op["outputs"].size();
    ops.push_back(f);
  }
  return ops;
}

std::vector<float> weight(const std::string &name) {
  for (const plan::WeightEntry &w : fixture().meta.weights)
    if (w.name == name) {
      std::vector<float> v(w.size / sizeof(float));
      std::memcpy(v.data(), w.data, w.size);
      return v;
    }
  ADD_FAILURE() << "no weight " << name;
  return {};
}

std::vector<float> randomRows(int64_t rows, int64_t cols, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.5f);
  std::vector<float> v(rows * cols);
  for (float &x : v)
    x = dist(gen);
  return v;
}

std::vector<float> rmsNorm(const std::vector<float> &x, const std::vector<float> &w, int64_t rows,
                           int64_t cols) {
  std::vector<float> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < cols; ++c)
      ss += double(x[r * cols + c]) * x[r * cols + c];
    double inv = 1.0 / std::sqrt(ss / cols + kEps);
    for (int64_t c = 0; c < cols; ++c)
      y[r * cols + c] = static_cast<float>(x[r * cols + c] * inv * w[c]);
  }
  return y;
}

void expectClose(const std::vector<float> &got, const std::vector<float> &want) {
  ASSERT_EQ(got.size(), want.size());
  double err = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_FALSE(std::isnan(got[i])) << "element " << i << " was not written";
    err += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    norm += double(want[i]) * want[i];
  }
  EXPECT_LT(std::sqrt(err / norm), 1e-6);
}

constexpr int64_t kRows = 7, kHidden = 64, kFfn = 128;

} // namespace

TEST(CpuKernels, InputRmsNorm) {
  const FusedOp op = fusedOps().at(0); // layer 0's input norm
  ASSERT_EQ(op.inputs, 1u);
  ASSERT_EQ(op.weights.size(), 1u);
  std::vector<float> x = randomRows(kRows, kHidden, 1), w = weight(op.weights[0]);
  std::vector<float> y(x.size(), NAN);
  auto xd = cpu::activationView(x.data(), kRows, kHidden, kHidden);
  auto wd = cpu::vectorView(w.data(), kHidden);
  auto yd = cpu::activationView(y.data(), kRows, kHidden, kHidden);
  Status s = fixture().kernels.call(op.kernel, {&xd, &wd, &yd});
  ASSERT_TRUE(s.ok()) << s.error().toString();
  expectClose(y, rmsNorm(x, w, kRows, kHidden));
}

TEST(CpuKernels, ResidualAddThenRmsNorm) {
  const FusedOp op = fusedOps().at(1); // attention residual + post-attention norm
  ASSERT_EQ(op.inputs, 2u);
  ASSERT_EQ(op.outputs, 2u);
  std::vector<float> a = randomRows(kRows, kHidden, 2), b = randomRows(kRows, kHidden, 3);
  std::vector<float> w = weight(op.weights.at(0));
  std::vector<float> sum(a.size(), NAN), y(a.size(), NAN), want(a.size());
  for (size_t i = 0; i < a.size(); ++i)
    want[i] = a[i] + b[i];
  auto ad = cpu::activationView(a.data(), kRows, kHidden, kHidden);
  auto bd = cpu::activationView(b.data(), kRows, kHidden, kHidden);
  auto wd = cpu::vectorView(w.data(), kHidden);
  auto sd = cpu::activationView(sum.data(), kRows, kHidden, kHidden);
  auto yd = cpu::activationView(y.data(), kRows, kHidden, kHidden);
  Status s = fixture().kernels.call(op.kernel, {&ad, &bd, &wd, &sd, &yd});
  ASSERT_TRUE(s.ok()) << s.error().toString();
  expectClose(sum, want);
  expectClose(y, rmsNorm(want, w, kRows, kHidden));
}

TEST(CpuKernels, SiluGatingThroughColumnViews) {
  const FusedOp op = fusedOps().at(2); // silu(gate) * up over the merged gate/up output
  ASSERT_EQ(op.inputs, 2u);
  ASSERT_TRUE(op.weights.empty());
  // One [rows, 2F] buffer as the merged GEMM leaves it; the kernel reads two views of it.
  std::vector<float> gu = randomRows(kRows, 2 * kFfn, 4), y(kRows * kFfn, NAN), want(y.size());
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t c = 0; c < kFfn; ++c) {
      double g = gu[r * 2 * kFfn + c], u = gu[r * 2 * kFfn + kFfn + c];
      want[r * kFfn + c] = static_cast<float>(g / (1.0 + std::exp(-g)) * u);
    }
  auto gd = cpu::activationView(gu.data(), kRows, kFfn, 2 * kFfn, 0);
  auto ud = cpu::activationView(gu.data(), kRows, kFfn, 2 * kFfn, kFfn);
  auto yd = cpu::activationView(y.data(), kRows, kFfn, kFfn);
  Status s = fixture().kernels.call(op.kernel, {&gd, &ud, &yd});
  ASSERT_TRUE(s.ok()) << s.error().toString();
  expectClose(y, want);
}

// The activation arena: two values alive at the same time never share a byte, and dead
// values' bytes are reused (the arena is smaller than all activations together).
TEST(PlanProgram, ArenaKeepsLiveValuesApart) {
  const nlohmann::json &program = fixture().program;
  const nlohmann::json &values = program["values"];
  const int64_t rows = program["arena"]["rows"], arenaBytes = program["arena"]["bytes"];
  size_t n = values.size();
  std::vector<int64_t> root(n), def(n, -1), last(n, -1);
  for (size_t v = 0; v < n; ++v)
    root[v] = values[v].contains("view_of") ? values[v]["view_of"].get<int64_t>() : int64_t(v);
  const nlohmann::json &ops = program["ops"];
  for (size_t i = 0; i < ops.size(); ++i) {
    for (int64_t o : ops[i]["outputs"])
      def[o] = int64_t(i);
    for (int64_t in : ops[i]["inputs"])
      last[root[in]] = std::max<int64_t>(last[root[in]], int64_t(i));
  }
  for (int64_t o : program["outputs"])
    last[root[o]] = int64_t(ops.size());
  int64_t total = 0;
  std::vector<size_t> placed;
  for (size_t v = 0; v < n; ++v)
    if (values[v].contains("arena_offset")) {
      placed.push_back(v);
      int64_t bytes = rows * values[v]["width"].get<int64_t>() * 4;
      total += bytes;
      EXPECT_LE(values[v]["arena_offset"].get<int64_t>() + bytes, arenaBytes);
    }
  ASSERT_GT(placed.size(), 10u);
  for (size_t a : placed)
    for (size_t b : placed) {
      if (a >= b)
        continue;
      bool overlapInTime =
          def[a] <= std::max(last[b], def[b]) && def[b] <= std::max(last[a], def[a]);
      if (!overlapInTime)
        continue;
      int64_t a0 = values[a]["arena_offset"],
              a1 = a0 + rows * values[a]["width"].get<int64_t>() * 4;
      int64_t b0 = values[b]["arena_offset"],
              b1 = b0 + rows * values[b]["width"].get<int64_t>() * 4;
      EXPECT_TRUE(a1 <= b0 || b1 <= a0) << "values " << a << " and " << b << " share bytes";
    }
  EXPECT_LT(arenaBytes, total);
}

TEST(CpuKernels, UnknownKernelIsAnError) {
  Status s = fixture().kernels.call("no_such_kernel", {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("no_such_kernel"), std::string::npos);
}

TEST(CpuKernels, NotAnElfImageIsAnError) {
  const uint8_t bytes[] = {'n', 'o', 'p', 'e'};
  Expected<cpu::CpuKernelLibrary> lib = cpu::CpuKernelLibrary::load(bytes, sizeof(bytes));
  ASSERT_FALSE(lib.ok());
  EXPECT_NE(lib.error().message().find("not an ELF shared object"), std::string::npos);
}

int main(int argc, char **argv) {
  testing::InitGoogleTest(&argc, argv);
  // The plan comes after gtest's own flags (absent when ctest only lists the tests).
  if (argc >= 2) {
    planPath = argv[1];
    planDirectory = planPath.substr(0, planPath.rfind('/'));
  }
  return RUN_ALL_TESTS();
}
