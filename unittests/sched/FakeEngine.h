// A fake engine for scheduler tests: it runs SchedulerOutputs against a simulated paged KV
// cache and checks, row by row, that the scheduler told it the truth. It writes into the
// slot the block table names what a real engine's KV there depends on (the position, the
// token and every token before it), and before sampling reads the request's whole context
// back through the table, so a wrong table, a block shared by mistake or a block reused
// while still in use shows up as a wrong slot; a block legitimately shared (a cached
// prefix of the same tokens) reads back right. The sampled token
// depends only on the request's own tokens, so a request gives the same output alone, under
// load or after preemption.
#pragma once

#include "runtime/sched/Scheduler.h"

#include <gtest/gtest.h>

#include <unordered_map>
#include <vector>

namespace modelrt::sched::testing {

// The next token after `tokens`, in [0, vocab): a hash of the whole sequence.
inline TokenId fakeNextToken(const std::vector<TokenId> &tokens, int32_t vocab) {
  uint64_t h = 1469598103934665603ull;
  for (TokenId t : tokens)
    h = (h ^ uint64_t(t + 1)) * 1099511628211ull;
  h ^= h >> 29;
  return static_cast<TokenId>(h % uint64_t(vocab));
}

// What the request generates on its own: the reference every scheduled run must match.
inline std::vector<TokenId> referenceOutput(const RequestParams &params, int32_t vocab) {
  std::vector<TokenId> tokens = params.prompt, output;
  while (int32_t(output.size()) < params.maxTokens) {
    TokenId next = fakeNextToken(tokens, vocab);
    tokens.push_back(next);
    output.push_back(next);
    if (params.eosTokenId && !params.ignoreEos && next == *params.eosTokenId)
      break;
    bool stop = false;
    for (TokenId s : params.stopTokenIds)
      stop |= s == next;
    for (const std::vector<TokenId> &seq : params.stopSequences)
      stop |= seq.size() <= output.size() && std::equal(seq.rbegin(), seq.rend(), output.rbegin());
    if (stop)
      break;
  }
  return output;
}

class FakeEngine {
public:
  FakeEngine(const SchedulerConfig &config, int32_t vocab)
      : blockSize_(config.kvCache.blockSize), vocab_(vocab),
        slots_(size_t(config.kvCache.numBlocks) * config.kvCache.blockSize) {}

  void addRequest(RequestId id, const std::vector<TokenId> &prompt) { tokens_[id] = prompt; }
  const std::vector<TokenId> &tokens(RequestId id) { return tokens_[id]; }

  // Runs one iteration and returns one token per sampled row.
  std::vector<TokenId> run(const SchedulerOutput &out) {
    for (RequestId id : out.preempted)
      computed_[id] = 0;
    for (const FinishedRequest &f : out.finished)
      forget(f.id);
    for (const kv::BlockCopy &copy : out.blockCopies)
      for (int32_t i = 0; i < blockSize_; ++i)
        slots_[size_t(copy.dst) * blockSize_ + i] = slots_[size_t(copy.src) * blockSize_ + i];

    std::vector<TokenId> sampled;
    EXPECT_EQ(out.queryStarts.size(), out.requests.size() + 1);
    for (size_t i = 0; i < out.requests.size(); ++i) {
      const ScheduledRequest &r = out.requests[i];
      const std::vector<TokenId> &tokens = tokens_.at(r.id);
      if (r.numCachedTokens > 0) {
        // A (re)admission that took a cached prefix: its KV is read back below.
        EXPECT_EQ(computed_[r.id], 0) << "request " << r.id << " took a prefix while running";
        EXPECT_EQ(r.startPosition, r.numCachedTokens) << "request " << r.id;
        EXPECT_LT(r.numCachedTokens, int32_t(tokens.size()));
      } else {
        EXPECT_EQ(r.startPosition, computed_[r.id]) << "request " << r.id << " skipped or redid KV";
      }
      EXPECT_GE(int64_t(r.blockTable.size()) * blockSize_, r.startPosition + r.numTokens);
      EXPECT_EQ(out.queryStarts[i + 1] - out.queryStarts[i], r.numTokens);
      for (int32_t k = 0; k < r.numTokens; ++k) {
        int32_t row = out.queryStarts[i] + k, pos = r.startPosition + k;
        EXPECT_EQ(out.positions[row], pos);
        EXPECT_EQ(out.tokenIds[row], tokens[pos]) << "request " << r.id << " position " << pos;
        slot(r, pos) = {prefixHash(tokens, pos), pos, tokens[pos]};
      }
      computed_[r.id] = r.startPosition + r.numTokens;
      EXPECT_EQ(r.sampled, computed_[r.id] == int32_t(tokens.size()));
      if (!r.sampled)
        continue;
      // Attention over the request's own context, read back through its block table.
      std::vector<TokenId> context;
      for (int32_t pos = 0; pos < computed_[r.id]; ++pos) {
        const Slot &s = slot(r, pos);
        EXPECT_TRUE(s.prefix == prefixHash(tokens, pos) && s.pos == pos && s.token == tokens[pos])
            << "request " << r.id << " reads a wrong KV slot at position " << pos;
        context.push_back(s.token);
      }
      sampled.push_back(fakeNextToken(context, vocab_));
    }
    EXPECT_EQ(sampled.size(), out.sampleRows.size());
    return sampled;
  }

  // Appends the tokens the scheduler accepted.
  void accept(const std::vector<TokenEvent> &events) {
    for (const TokenEvent &e : events) {
      tokens_[e.id].push_back(e.token);
      if (e.finish)
        forget(e.id);
    }
  }

private:
  struct Slot {
    uint64_t prefix = 0; // hash of the tokens at positions 0 .. pos
    int32_t pos = -1;
    TokenId token = -1;
  };

  static uint64_t prefixHash(const std::vector<TokenId> &tokens, int32_t pos) {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int32_t i = 0; i <= pos; ++i)
      h = (h ^ uint64_t(tokens[i] + 1)) * 1099511628211ull;
    return h;
  }

  Slot &slot(const ScheduledRequest &r, int32_t pos) {
    return slots_[size_t(r.blockTable[pos / blockSize_]) * blockSize_ + pos % blockSize_];
  }
  void forget(RequestId id) { computed_.erase(id); }

  int32_t blockSize_;
  int32_t vocab_;
  std::vector<Slot> slots_;
  std::unordered_map<RequestId, std::vector<TokenId>> tokens_;
  std::unordered_map<RequestId, int32_t> computed_;
};

} // namespace modelrt::sched::testing
