#include "runtime/device/Executor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace modelrt {

Status checkStep(const plan::PlanMetadata &meta, const std::vector<int32_t> &tokens,
                 const std::vector<PagedChunk> &chunks, int32_t numBlocks, int32_t blockSize,
                 int64_t maxRows, bool deviceSampling, int32_t numAdapters) {
  const int64_t total = static_cast<int64_t>(tokens.size());
  int64_t sum = 0;
  // Recurrent state: which slots the step's chunks hold so far.
  std::vector<int64_t> slotChunk(meta.hasRecurrentState() ? size_t(meta.maxNumSeqs) : 0, -1);
  for (size_t r = 0; r < chunks.size(); ++r) {
    const PagedChunk &c = chunks[r];
    std::string which = "chunk " + std::to_string(r) + ": ";
    if (c.numTokens <= 0)
      return Error(ErrorCode::InvalidArgument, which + "a chunk must have at least one token");
    if (c.startPosition < 0 || c.startPosition + c.numTokens > meta.maxSeqLen)
      return Error(ErrorCode::InvalidArgument,
                   which + "positions " + std::to_string(c.startPosition) + ".." +
                       std::to_string(c.startPosition + c.numTokens) + " exceed max_seq_len " +
                       std::to_string(meta.maxSeqLen));
    if (!c.blockTable ||
        static_cast<int64_t>(c.blockTable->size()) * blockSize < c.startPosition + c.numTokens)
      return Error(ErrorCode::InvalidArgument, which + "the block table does not cover " +
                                                   std::to_string(c.startPosition + c.numTokens) +
                                                   " tokens");
    for (int32_t b : *c.blockTable)
      if (b < 0 || b >= numBlocks)
        return Error(ErrorCode::InvalidArgument, which + "KV block " + std::to_string(b) +
                                                     " is outside the " +
                                                     std::to_string(numBlocks) + " blocks");
    if (c.tokenTypes) {
      const int64_t types = meta.classifier ? meta.classifier->tokenTypes : 0;
      for (int64_t i = 0; i < c.numTokens; ++i)
        if (c.tokenTypes[i] < 0 || c.tokenTypes[i] >= types)
          return Error(ErrorCode::InvalidArgument,
                       which + "token type " + std::to_string(c.tokenTypes[i]) +
                           (types ? " is not in [0, " + std::to_string(types) + ")"
                                  : ": this plan takes none"));
    }
    if (const DeviceSampling *d = c.deviceSampling) {
      if (!deviceSampling)
        return Error(ErrorCode::InvalidArgument,
                     which + "this executor does not sample on its device here (submit() and "
                             "collect() on an executor that samplesOnDevice() do)");
      if (!c.sample || c.allLogits)
        return Error(ErrorCode::InvalidArgument,
                     which + "device sampling is for a sampled chunk without allLogits");
      if (!(d->temperature >= 0.0f) || !std::isfinite(d->temperature) || d->topK < 0 || !(d->topP > 0.0f && d->topP <= 1.0f) ||
          !(d->minP >= 0.0f && d->minP < 1.0f) || d->topLogprobs < -1 ||
          d->topLogprobs > kMaxDeviceTopLogprobs)
        return Error(ErrorCode::InvalidArgument, which + "device sampling parameters out of range");
    }
    if (meta.hasRecurrentState()) {
      if (c.stateSlot < 0 || c.stateSlot >= meta.maxNumSeqs)
        return Error(ErrorCode::InvalidArgument,
                     which + "the plan keeps recurrent state: a chunk needs a state slot in [0, " +
                         std::to_string(meta.maxNumSeqs) + "), not " +
                         std::to_string(c.stateSlot));
      if (int64_t &holder = slotChunk[size_t(c.stateSlot)]; holder >= 0)
        return Error(ErrorCode::InvalidArgument, which + "state slot " +
                                                     std::to_string(c.stateSlot) +
                                                     " is also chunk " + std::to_string(holder) +
                                                     "'s");
      else
        holder = static_cast<int64_t>(r);
    }
    if (c.adapter < 0 || c.adapter > numAdapters)
      return Error(ErrorCode::InvalidArgument,
                   which + "LoRA adapter " + std::to_string(c.adapter) + " is not loaded (" +
                       std::to_string(numAdapters) + " are; 0 is none)");
    sum += c.numTokens;
  }
  if (sum != total || total == 0)
    return Error(ErrorCode::InvalidArgument, "the chunks cover " + std::to_string(sum) +
                                                 " tokens, the batch has " + std::to_string(total));
  if (total > maxRows)
    return Error(ErrorCode::InvalidArgument, std::to_string(total) +
                                                 " tokens exceed max_num_batched_tokens " +
                                                 std::to_string(maxRows));
  for (int32_t t : tokens)
    if (t < 0 || t >= meta.vocabSize)
      return Error(ErrorCode::InvalidArgument,
                   "token id " + std::to_string(t) + " is outside the vocabulary");
  return Status::success();
}

std::string describeKvCache(const Executor &executor, const std::string &dtype) {
  const int64_t tokens = int64_t(executor.numKvBlocks()) * executor.kvBlockSize();
  const int64_t maxLen = std::max<int64_t>(1, executor.metadata().maxSeqLen);
  const std::string stored = executor.kvCacheDtype();
  const std::string shown = dtype == "auto" && !stored.empty() ? "auto: " + stored : dtype;
  char text[256];
  std::snprintf(text, sizeof(text),
                "KV cache of %lld tokens (%d blocks of %d, --kv-cache-dtype %s); %.2fx requests "
                "of %lld tokens at once",
                static_cast<long long>(tokens), executor.numKvBlocks(), executor.kvBlockSize(),
                shown.c_str(), double(tokens) / double(maxLen), static_cast<long long>(maxLen));
  return text;
}

} // namespace modelrt
