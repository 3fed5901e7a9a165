// The plan reader on arbitrary bytes: the container, then the metadata, then every weight
// it lists read back to the last byte (an over-read shows as an ASan report).
#include "runtime/plan/PlanFile.h"
#include "runtime/plan/PlanMetadata.h"

#include <cstddef>
#include <cstdint>

using namespace modelrt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Expected<plan::PlanFile> file = plan::PlanFile::parse(data, size, "fuzz.plan");
  if (!file)
    return 0;
  Expected<plan::PlanMetadata> meta = plan::readMetadata(*file);
  if (!meta)
    return 0;
  volatile uint8_t sink = 0;
  for (const plan::WeightEntry &w : meta->weights)
    if (w.size > 0)
      sink = sink ^ w.data[0] ^ w.data[w.size - 1];
  return 0;
}
