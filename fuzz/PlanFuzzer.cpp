// The plan reader on arbitrary bytes: the container, then the metadata, then every weight
// it lists read back to the last byte (an over-read shows as an ASan report), then rank 0's
// program parsed and checked against them (what every executor does before it runs one); a
// classifier's post-processing run on a row.
#include "runtime/plan/PlanFile.h"
#include "runtime/plan/PlanMetadata.h"
#include "runtime/plan/Program.h"

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
  for (const plan::WeightEntry &w : meta->weights) // (a dummy-weights plan's are filled at load)
    if (w.size > 0 && w.data)
      sink = sink ^ w.data[0] ^ w.data[w.size - 1];
  // A classifier's post-processing on a row of its width (readMetadata checked the width).
  if (meta->classifier) {
    const std::vector<float> row(size_t(meta->classifier->columns()), 0.5f);
    sink = sink ^ static_cast<uint8_t>(meta->classifier->probabilities(row).size() +
                                       meta->classifier->score(row) +
                                       meta->classifier->applyPairTemplate("q", "d").size());
  }
  if (const plan::Section *program = file->find(plan::SectionKind::Program, 0)) {
    Expected<plan::Program> parsed =
        plan::parseProgram(program->text(), *meta, 0, meta->pipelineParallel == 1,
                           meta->tensorParallel > 1 ? meta->tensorParallel : 0);
    if (parsed)
      sink = sink ^ static_cast<uint8_t>(parsed->ops.size());
  }
  return 0;
}
