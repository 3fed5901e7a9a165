// Helpers shared by the formats tests: where the committed vectors live, and reading files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace modelrt::test {

// unittests/formats/data, from MODELC_SOURCE_DIR (set by ctest) or the build's source dir.
std::string formatsDataDir();
std::vector<uint8_t> readFile(const std::string &path);
// Writes bytes to a fresh file under the test temp dir and returns its path.
std::string writeTempFile(const std::string &name, const std::vector<uint8_t> &bytes);

} // namespace modelrt::test
