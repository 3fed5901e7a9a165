#include "runtime/device/StepMetadata.h"

#include <algorithm>

namespace modelrt {

bool isDecodeStep(const std::vector<PagedChunk> &chunks) {
  if (chunks.empty())
    return false;
  for (const PagedChunk &c : chunks)
    if (c.numTokens != 1 || !c.sample || c.allLogits)
      return false;
  return true;
}

int32_t decodeGraphBatch(int32_t numSeqs, int32_t limit) {
  if (numSeqs <= 0)
    return 0;
  int32_t b = numSeqs <= 1 ? 1 : numSeqs <= 2 ? 2 : numSeqs <= 4 ? 4 : (numSeqs + 7) / 8 * 8;
  return b <= limit ? b : 0;
}

int32_t decodeGraphContext(const std::vector<PagedChunk> &chunks, int32_t maxSeqLen) {
  int64_t longest = 1, bucket = 256;
  for (const PagedChunk &c : chunks)
    longest = std::max(longest, c.startPosition + c.numTokens);
  while (bucket < longest)
    bucket *= 2;
  return static_cast<int32_t>(std::min<int64_t>(bucket, maxSeqLen));
}

StepMetadata buildStepMetadata(const std::vector<int32_t> &tokens,
                               const std::vector<PagedChunk> &chunks, int32_t blockSize,
                               int32_t padTo, int32_t tableWidth, int32_t paddedContextLen) {
  StepMetadata m;
  const bool padded = padTo > 0;
  const int32_t numSeqs = padded ? padTo : static_cast<int32_t>(chunks.size());
  std::vector<int32_t> tokenIds(tokens), positions, sampleRows, slots, queryStart{0}, contextLen;
  for (const PagedChunk &c : chunks) {
    const int32_t row = queryStart.back();
    for (int64_t i = 0; i < c.numTokens; ++i) {
      const int64_t pos = c.startPosition + i;
      positions.push_back(static_cast<int32_t>(pos));
      slots.push_back((*c.blockTable)[pos / blockSize] * blockSize +
                      static_cast<int32_t>(pos % blockSize));
    }
    if (c.allLogits)
      for (int64_t i = 0; i < c.numTokens; ++i)
        sampleRows.push_back(static_cast<int32_t>(row + i));
    else if (c.sample) {
      if (c.deviceSampling)
        m.picks.emplace_back(static_cast<int64_t>(sampleRows.size()), c.deviceSampling);
      sampleRows.push_back(static_cast<int32_t>(row + c.numTokens - 1));
    }
    queryStart.push_back(static_cast<int32_t>(row + c.numTokens));
    const int64_t end = c.startPosition + c.numTokens;
    contextLen.push_back(static_cast<int32_t>(end));
    m.maxBlocksPerSeq = std::max<int32_t>(m.maxBlocksPerSeq,
                                          static_cast<int32_t>((end + blockSize - 1) / blockSize));
    m.maxQueryLen = std::max<int32_t>(m.maxQueryLen, static_cast<int32_t>(c.numTokens));
    if (c.numTokens == 1) {
      ++m.singleRowSeqs;
      m.maxSingleRowContextLen =
          std::max<int32_t>(m.maxSingleRowContextLen, static_cast<int32_t>(end));
    }
    m.sumContextLen += end;
    m.maxContextLen = std::max<int32_t>(m.maxContextLen, static_cast<int32_t>(end));
  }
  m.realSampleRows = static_cast<int32_t>(sampleRows.size());
  if (padded) {
    for (int32_t s = static_cast<int32_t>(chunks.size()); s < padTo; ++s) {
      tokenIds.push_back(0);
      positions.push_back(0);
      slots.push_back(-1);
      sampleRows.push_back(queryStart.back());
      queryStart.push_back(queryStart.back() + 1);
      contextLen.push_back(1);
      m.sumContextLen += 1;
    }
    m.maxBlocksPerSeq = tableWidth;
    m.maxQueryLen = 1;
    m.singleRowSeqs = padTo;
    m.maxSingleRowContextLen = paddedContextLen;
    m.maxContextLen = paddedContextLen;
  }
  m.numSeqs = numSeqs;
  m.numTokens = static_cast<int32_t>(tokenIds.size());
  m.numSampleRows = static_cast<int32_t>(sampleRows.size());

  std::vector<int32_t> &h = m.data;
  auto append = [&](const std::vector<int32_t> &v) {
    const size_t at = h.size();
    h.insert(h.end(), v.begin(), v.end());
    h.resize((h.size() + 3) / 4 * 4, 0); // 16-byte aligned sections
    return at;
  };
  m.tokenAt = append(tokenIds);
  m.positionAt = append(positions);
  m.sampleAt = append(sampleRows);
  m.slotAt = append(slots);
  m.queryAt = append(queryStart);
  m.contextAt = append(contextLen);
  m.tableAt = h.size();
  const int32_t width = m.maxBlocksPerSeq;
  h.resize(m.tableAt + static_cast<size_t>(numSeqs) * width, 0);
  for (size_t s = 0; s < chunks.size(); ++s) {
    const std::vector<int32_t> &table = *chunks[s].blockTable;
    const size_t used = std::min<size_t>(table.size(), static_cast<size_t>(width));
    std::copy_n(table.begin(), used, h.begin() + m.tableAt + s * width);
  }
  return m;
}

} // namespace modelrt
