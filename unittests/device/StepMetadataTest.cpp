// The step metadata a device executor uploads, and the padded decode steps a CUDA graph
// replays: a graph captured for one step must find every section of a later step of the
// same padded size at the same offsets, with the real requests' values in them.
#include "runtime/device/StepMetadata.h"

#include <gtest/gtest.h>

namespace modelrt {
namespace {

std::vector<int32_t> section(const StepMetadata &m, size_t at, size_t n) {
  return std::vector<int32_t>(m.data.begin() + at, m.data.begin() + at + n);
}

TEST(StepMetadata, MixedStepKeepsItsShape) {
  // A 3-token prompt chunk (not sampled), a decode row sampled on the device, and a
  // 2-token chunk with prompt logits; blocks of 4 tokens.
  std::vector<int32_t> tableA{7, 8}, tableB{3, 4, 5}, tableC{9};
  DeviceSampling ds;
  std::vector<PagedChunk> chunks{
      {2, 3, false, &tableA}, {8, 1, true, &tableB, false, &ds}, {0, 2, true, &tableC, true}};
  StepMetadata m = buildStepMetadata({11, 12, 13, 14, 15, 16}, chunks, 4);
  EXPECT_EQ(m.numSeqs, 3);
  EXPECT_EQ(m.numTokens, 6);
  EXPECT_EQ(m.numSampleRows, 3);
  EXPECT_EQ(m.realSampleRows, 3);
  EXPECT_EQ(m.maxQueryLen, 3);
  EXPECT_EQ(m.singleRowSeqs, 1); // the decode row, which the CUDA attention serves apart
  EXPECT_EQ(m.sumContextLen, 5 + 9 + 2);
  EXPECT_EQ(m.maxSingleRowContextLen, 9);
  EXPECT_EQ(m.maxContextLen, 9);
  EXPECT_EQ(m.maxBlocksPerSeq, 3);
  EXPECT_EQ(section(m, m.tokenAt, 6), (std::vector<int32_t>{11, 12, 13, 14, 15, 16}));
  EXPECT_EQ(section(m, m.positionAt, 6), (std::vector<int32_t>{2, 3, 4, 8, 0, 1}));
  // Position 2 of table A is block 7 slot 2 (7 * 4 + 2); position 4 is block 8 slot 0.
  EXPECT_EQ(section(m, m.slotAt, 6), (std::vector<int32_t>{30, 31, 32, 20, 36, 37}));
  EXPECT_EQ(section(m, m.sampleAt, 3), (std::vector<int32_t>{3, 4, 5}));
  EXPECT_EQ(section(m, m.queryAt, 4), (std::vector<int32_t>{0, 3, 4, 6}));
  EXPECT_EQ(section(m, m.contextAt, 3), (std::vector<int32_t>{5, 9, 2}));
  EXPECT_EQ(section(m, m.tableAt, 9), (std::vector<int32_t>{7, 8, 0, 3, 4, 5, 9, 0, 0}));
  ASSERT_EQ(m.picks.size(), 1u);
  EXPECT_EQ(m.picks[0].first, 0); // the first logits row is the decode row's
  EXPECT_EQ(m.picks[0].second, &ds);
  for (size_t at :
       {m.tokenAt, m.positionAt, m.sampleAt, m.slotAt, m.queryAt, m.contextAt, m.tableAt})
    EXPECT_EQ(at % 4, 0u) << "sections are 16-byte aligned";
}

TEST(StepMetadata, PaddedDecodeStepsShareOffsetsAndShapes) {
  std::vector<int32_t> t1{5, 6}, t2{1}, t3{2, 3, 4};
  auto decode = [](int64_t pos, const std::vector<int32_t> *table) {
    return PagedChunk{pos, 1, true, table};
  };
  // Two decode steps of different sizes and contexts, padded to 4 sequences, tables 8 wide.
  StepMetadata a = buildStepMetadata({100, 101}, {decode(5, &t1), decode(0, &t2)}, 4, 4, 8, 32);
  StepMetadata b =
      buildStepMetadata({7, 8, 9}, {decode(1, &t2), decode(9, &t3), decode(4, &t1)}, 4, 4, 8, 32);
  for (const StepMetadata *m : {&a, &b}) {
    EXPECT_EQ(m->numSeqs, 4);
    EXPECT_EQ(m->numTokens, 4);
    EXPECT_EQ(m->numSampleRows, 4);
    EXPECT_EQ(m->maxQueryLen, 1);
    EXPECT_EQ(m->maxContextLen, 32);
    EXPECT_EQ(m->maxBlocksPerSeq, 8);
  }
  EXPECT_EQ(a.realSampleRows, 2);
  EXPECT_EQ(b.realSampleRows, 3);
  EXPECT_EQ(a.sumContextLen, 6 + 1 + 1 + 1); // padding rows attend to one position each
  EXPECT_EQ(b.sumContextLen, 2 + 10 + 5 + 1);
  EXPECT_EQ(a.data.size(), b.data.size());
  EXPECT_EQ(a.tokenAt, b.tokenAt);
  EXPECT_EQ(a.positionAt, b.positionAt);
  EXPECT_EQ(a.sampleAt, b.sampleAt);
  EXPECT_EQ(a.slotAt, b.slotAt);
  EXPECT_EQ(a.queryAt, b.queryAt);
  EXPECT_EQ(a.contextAt, b.contextAt);
  EXPECT_EQ(a.tableAt, b.tableAt);

  // The real rows first, then padding: token 0 at position 0, no KV slot, one position of
  // block 0, its own logits row.
  EXPECT_EQ(section(a, a.tokenAt, 4), (std::vector<int32_t>{100, 101, 0, 0}));
  EXPECT_EQ(section(a, a.positionAt, 4), (std::vector<int32_t>{5, 0, 0, 0}));
  EXPECT_EQ(section(a, a.slotAt, 4), (std::vector<int32_t>{25, 4, -1, -1}));
  EXPECT_EQ(section(a, a.sampleAt, 4), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(section(a, a.queryAt, 5), (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(section(a, a.contextAt, 4), (std::vector<int32_t>{6, 1, 1, 1}));
  std::vector<int32_t> tableA(32, 0);
  tableA[0] = 5;
  tableA[1] = 6;
  tableA[8] = 1;
  EXPECT_EQ(section(a, a.tableAt, 32), tableA);
  EXPECT_EQ(section(b, b.contextAt, 4), (std::vector<int32_t>{2, 10, 5, 1}));
  EXPECT_EQ(section(b, b.slotAt, 4), (std::vector<int32_t>{5, 17, 24, -1}));
}

TEST(StepMetadata, DecodeStepsAndGraphBatchSizes) {
  std::vector<int32_t> t{1};
  EXPECT_TRUE(isDecodeStep({{3, 1, true, &t}, {0, 1, true, &t}}));
  EXPECT_FALSE(isDecodeStep({}));
  EXPECT_FALSE(isDecodeStep({{3, 1, true, &t}, {0, 2, true, &t}})) << "a prompt chunk";
  EXPECT_FALSE(isDecodeStep({{3, 1, false, &t}})) << "a row whose logits nobody wants";
  EXPECT_FALSE(isDecodeStep({{3, 1, true, &t, true}})) << "prompt logits";

  EXPECT_EQ(decodeGraphBatch(1, 256), 1);
  EXPECT_EQ(decodeGraphBatch(2, 256), 2);
  EXPECT_EQ(decodeGraphBatch(3, 256), 4);
  EXPECT_EQ(decodeGraphBatch(5, 256), 8);
  EXPECT_EQ(decodeGraphBatch(9, 256), 16);
  EXPECT_EQ(decodeGraphBatch(17, 256), 24);
  EXPECT_EQ(decodeGraphBatch(256, 256), 256);
  EXPECT_EQ(decodeGraphBatch(250, 252), 0) << "256 would exceed the limit";
  EXPECT_EQ(decodeGraphBatch(0, 256), 0);

  // Context buckets: powers of two from 256, capped by max_seq_len.
  auto at = [&](int64_t pos) { return PagedChunk{pos, 1, true, &t}; };
  EXPECT_EQ(decodeGraphContext({at(0)}, 4096), 256);
  EXPECT_EQ(decodeGraphContext({at(10), at(255)}, 4096), 256);
  EXPECT_EQ(decodeGraphContext({at(10), at(256)}, 4096), 512) << "context 257";
  EXPECT_EQ(decodeGraphContext({at(3000)}, 4096), 4096);
  EXPECT_EQ(decodeGraphContext({at(3000)}, 3500), 3500);
  EXPECT_EQ(decodeGraphContext({at(5)}, 128), 128);
}

} // namespace
} // namespace modelrt
