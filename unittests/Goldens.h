// The reference goldens of scripts/gen-reference-logits.py (test/goldens: Hugging Face
// transformers' logits, float32) and the error measure the executor tests compare with.
// Header-only: the CPU and the CUDA executor tests both include it.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace modelrt::testing_goldens {

struct Golden {
  nlohmann::json meta;
  std::vector<float> logits;
};

// test/goldens/<name>.json and .logits.f32 (or another `values` file: .embeddings.f32)
// under $MODELC_SOURCE_DIR (else `sourceDir`).
inline Golden readGolden(const std::string &name, const std::string &sourceDir,
                         const std::string &values = ".logits.f32") {
  const char *env = std::getenv("MODELC_SOURCE_DIR");
  const std::string base = (env && *env ? env : sourceDir) + "/test/goldens/" + name;
  std::ifstream json(base + ".json");
  EXPECT_TRUE(json.good()) << base;
  Golden g{nlohmann::json::parse(json), {}};
  std::ifstream bin(base + values, std::ios::binary);
  EXPECT_TRUE(bin.good()) << base + values;
  std::stringstream ss;
  ss << bin.rdbuf();
  const std::string bytes = ss.str();
  g.logits.resize(bytes.size() / sizeof(float));
  std::memcpy(g.logits.data(), bytes.data(), bytes.size());
  return g;
}

// |ours - reference| over the largest reference logit of the row.
inline double relativeError(const float *ours, const float *ref, int64_t n) {
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::fabs(double(ours[i]) - ref[i]));
    scale = std::max(scale, std::fabs(double(ref[i])));
  }
  return worst / scale;
}

} // namespace modelrt::testing_goldens
