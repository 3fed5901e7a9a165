// Which CUDA kernel image of a plan a GPU runs: the newest cubin of its major version not
// newer than it, else PTX not newer than it; arch-specific targets (sm_90a) only on their
// own GPU; a GPU nothing fits gets an error that says which --cuda-arch to add.
#include "runtime/plan/CudaImage.h"

#include <gtest/gtest.h>

using namespace modelrt;
using namespace modelrt::plan;

namespace {

std::vector<uint8_t> planWith(const std::vector<std::pair<SectionKind, std::string>> &sections,
                              uint32_t rank = 0) {
  PlanWriter writer;
  writer.addSection(SectionKind::Metadata, 0, "metadata", std::string_view("{}"));
  for (const auto &[kind, what] : sections) {
    if (kind == SectionKind::CudaKernels)
      writer.addSection(kind, rank, "cuda-kernels.ptx",
                        std::string_view(".version 8.0\n.target " + what + "\n"));
    else
      writer.addSection(kind, rank, cubinSectionName(what), std::string_view("\x7f" "ELF"));
  }
  return writer.serialize();
}

std::string chosen(const std::vector<uint8_t> &bytes, int major, int minor, uint32_t rank = 0) {
  Expected<PlanFile> plan = PlanFile::parse(bytes.data(), bytes.size(), "p.bin");
  EXPECT_TRUE(plan.ok()) << plan.error().toString();
  Expected<CudaImage> image = chooseCudaImage(*plan, rank, major, minor);
  return image ? image->describe() : "error: " + image.error().message();
}

} // namespace

TEST(CudaImage, CubinOfTheSameMajorVersionElsePtx) {
  auto plan = planWith({{SectionKind::CudaKernels, "sm_90"},
                        {SectionKind::CudaCubin, "sm_80"},
                        {SectionKind::CudaCubin, "sm_86"},
                        {SectionKind::CudaCubin, "sm_90"}});
  EXPECT_EQ(chosen(plan, 8, 0), "cubin sm_80");
  EXPECT_EQ(chosen(plan, 8, 6), "cubin sm_86");
  EXPECT_EQ(chosen(plan, 8, 9), "cubin sm_86"); // Ada runs Ampere cubins
  EXPECT_EQ(chosen(plan, 9, 0), "cubin sm_90");
  EXPECT_EQ(chosen(plan, 10, 0), "PTX sm_90 (compiled by the driver)"); // Blackwell: JIT
  const std::string old = chosen(plan, 7, 5);
  EXPECT_NE(old.find("this GPU is sm_75"), std::string::npos) << old;
  EXPECT_NE(old.find("--cuda-arch sm_75"), std::string::npos) << old;
  EXPECT_NE(old.find("cubin sm_86"), std::string::npos) << old;
}

TEST(CudaImage, PtxOnlyPlansAndOlderPtx) {
  auto plan = planWith({{SectionKind::CudaKernels, "sm_80"}, {SectionKind::CudaCubin, "sm_80"}});
  EXPECT_EQ(chosen(plan, 9, 0), "PTX sm_80 (compiled by the driver)"); // no sm_9x cubin
  auto ptxOnly = planWith({{SectionKind::CudaKernels, "sm_90"}});
  EXPECT_EQ(chosen(ptxOnly, 9, 0), "PTX sm_90 (compiled by the driver)");
  EXPECT_NE(chosen(ptxOnly, 8, 0).find("--cuda-arch sm_80"), std::string::npos); // PTX too new
}

TEST(CudaImage, ArchSpecificTargetsRunOnlyOnTheirGpu) {
  auto plan = planWith({{SectionKind::CudaKernels, "sm_80"}, {SectionKind::CudaCubin, "sm_90a"}});
  EXPECT_EQ(chosen(plan, 9, 0), "cubin sm_90a");
  EXPECT_EQ(chosen(plan, 10, 0), "PTX sm_80 (compiled by the driver)");
  // Both for Hopper: the arch-specific one there, whichever comes first.
  for (auto order : {std::vector<std::string>{"sm_90", "sm_90a"}, {"sm_90a", "sm_90"}}) {
    auto both = planWith({{SectionKind::CudaKernels, "sm_90"},
                          {SectionKind::CudaCubin, order[0]},
                          {SectionKind::CudaCubin, order[1]}});
    EXPECT_EQ(chosen(both, 9, 0), "cubin sm_90a");
  }
}

TEST(CudaImage, OnlyTheRanksOwnSections) {
  auto plan = planWith({{SectionKind::CudaKernels, "sm_90"}}, 1);
  EXPECT_EQ(chosen(plan, 9, 0, 1), "PTX sm_90 (compiled by the driver)");
  EXPECT_NE(chosen(plan, 9, 0, 0).find("has no CUDA kernels"), std::string::npos);
}

TEST(CudaImage, NamesAndTargetsAreParsedStrictly) {
  EXPECT_EQ(ptxTarget("//\n.version 8.0\n.target sm_90, texmode_independent\n"), "sm_90");
  EXPECT_EQ(ptxTarget(".target sm_100a\n"), "sm_100a");
  EXPECT_EQ(ptxTarget("// .target sm_70\n"), "");
  EXPECT_EQ(ptxTarget(".target sm_9\n"), "");
  EXPECT_EQ(ptxTarget(".target sm_90x\n"), "");
  EXPECT_EQ(cubinSectionArch("cuda-kernels.sm_86.cubin"), "sm_86");
  EXPECT_EQ(cubinSectionArch("cuda-kernels.sm_90a.cubin"), "sm_90a");
  EXPECT_EQ(cubinSectionArch("cuda-kernels.sm_.cubin"), "");
  EXPECT_EQ(cubinSectionArch("cuda-kernels.sm_86.ptx"), "");
  EXPECT_EQ(cubinSectionArch("cuda-kernels.sm_86x.cubin"), "");
  // A cubin whose name says no architecture, or PTX without a target: the plan is refused.
  PlanWriter writer;
  writer.addSection(SectionKind::CudaCubin, 0, "cuda-kernels.cubin", std::string_view("x"));
  std::vector<uint8_t> bytes = writer.serialize();
  Expected<PlanFile> plan = PlanFile::parse(bytes.data(), bytes.size(), "p.bin");
  ASSERT_TRUE(plan.ok());
  Expected<CudaImage> image = chooseCudaImage(*plan, 0, 9, 0);
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.error().message().find("does not name its architecture"), std::string::npos);
  PlanWriter noTarget;
  noTarget.addSection(SectionKind::CudaKernels, 0, "cuda-kernels.ptx", std::string_view(".version 8.0\n"));
  bytes = noTarget.serialize();
  plan = PlanFile::parse(bytes.data(), bytes.size(), "p.bin");
  ASSERT_TRUE(plan.ok());
  image = chooseCudaImage(*plan, 0, 9, 0);
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.error().message().find("no .target"), std::string::npos);
}
