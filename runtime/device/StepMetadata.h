// The per-step metadata a device executor uploads before it runs a program: token ids,
// positions, the rows whose logits are wanted, the KV slot of every new token, and the
// attention batch (query starts, context lengths, block tables), as int32 sections of one
// buffer (each 16-byte aligned), so that one copy moves them all.
//
// Decode steps can be padded to a fixed batch size (`padTo`) with a fixed block-table width:
// the sections' offsets and the launches' shapes then depend on the padded size alone, so
// a CUDA graph captured for that size replays for any decode step that fits it. Padding rows
// read token 0 at position 0, write no KV slot (slot -1), and attend to one position of
// block 0; their logits rows follow the real ones and are not returned.
#pragma once

#include "runtime/device/Executor.h"

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace modelrt {

struct StepMetadata {
  std::vector<int32_t> data;
  size_t tokenAt = 0, positionAt = 0, sampleAt = 0, slotAt = 0, queryAt = 0, contextAt = 0,
         tableAt = 0;
  int32_t numSeqs = 0;        // with padding
  int32_t numTokens = 0;      // rows of the step, with padding
  int32_t numSampleRows = 0;  // logits rows computed, with padding
  int32_t realSampleRows = 0; // the first logits rows, those the chunks asked for
  int32_t maxBlocksPerSeq = 1, maxQueryLen = 0, maxContextLen = 0;
  int32_t singleRowSeqs = 0;          // sequences with one query row, with padding
  int32_t maxSingleRowContextLen = 0; // a bound on those's contexts (padded: the bucket)
  int64_t sumContextLen = 0;          // over the sequences, with padding
  // Logits rows sampled on the device: (row, the chunk's parameters), ascending rows.
  std::vector<std::pair<int64_t, const DeviceSampling *>> picks;
};

// padTo = 0: the step as it is. padTo > 0 (a decode step: every chunk one token that is
// sampled, no prompt logits; padTo >= chunks.size()): padded to padTo sequences with block
// tables `tableWidth` wide and maxContextLen = `paddedContextLen` (a bound on the step's
// contexts that many steps share, so that the attention's launch shape does not change
// with each step; tableWidth blocks must hold it).
// Assumes checkStep() accepted the step.
StepMetadata buildStepMetadata(const std::vector<int32_t> &tokens,
                               const std::vector<PagedChunk> &chunks, int32_t blockSize,
                               int32_t padTo = 0, int32_t tableWidth = 0,
                               int32_t paddedContextLen = 0);

// Whether a step is a decode step that padding applies to: every chunk one token, sampled,
// without prompt logits.
bool isDecodeStep(const std::vector<PagedChunk> &chunks);

// The padded batch size of a decode step of `numSeqs` sequences: 1, 2, 4, 8, then multiples
// of 8 (vLLM's capture sizes), the smallest at least numSeqs; 0 when it exceeds `limit`.
int32_t decodeGraphBatch(int32_t numSeqs, int32_t limit);

// The context bound of a padded decode step: its longest context rounded up to a power of
// two, at least 256 tokens, at most maxSeqLen (steps whose contexts grow within one bucket
// share a launch shape).
int32_t decodeGraphContext(const std::vector<PagedChunk> &chunks, int32_t maxSeqLen);

} // namespace modelrt
