// WeightSource: one entry point over GGUF files, safetensors files, indexes and HF dirs.
#include "runtime/formats/WeightSource.h"
#include "TestFiles.h"

#include <gtest/gtest.h>

using namespace modelrt;
using modelrt::test::formatsDataDir;

TEST(WeightSource, OpensEveryLayout) {
  Expected<WeightSource> g = WeightSource::open(formatsDataDir() + "/all-types.gguf");
  ASSERT_TRUE(g.ok()) << g.error().toString();
  EXPECT_EQ(g->format(), WeightSource::Format::Gguf);
  ASSERT_NE(g->gguf(), nullptr);
  EXPECT_EQ(*g->gguf()->getString("general.architecture"), "llama");
  EXPECT_NE(g->findTensor("t.q4_k"), nullptr);
  EXPECT_EQ(g->tensors().size(), 17u);

  for (std::string path : {formatsDataDir() + "/single.safetensors", formatsDataDir() + "/sharded",
                           formatsDataDir() + "/sharded/model.safetensors.index.json"}) {
    Expected<WeightSource> s = WeightSource::open(path);
    ASSERT_TRUE(s.ok()) << s.error().toString();
    EXPECT_EQ(s->format(), WeightSource::Format::Safetensors);
    EXPECT_EQ(s->gguf(), nullptr);
    EXPECT_FALSE(s->tensors().empty());
  }
}

TEST(WeightSource, ErrorsNameThePath) {
  Expected<WeightSource> w = WeightSource::open("/nonexistent/model.gguf");
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.error().message().find("/nonexistent/model.gguf"), std::string::npos);
  Expected<WeightSource> d = WeightSource::open(formatsDataDir()); // no safetensors there
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code(), ErrorCode::NotFound);
}
