// The CPU executor's ranks: loading a plan's ranks (threads of this process, or this
// process's rank under mpirun), and the control messages that make every rank run the
// step rank 0 runs. Tensor-parallel ranks get each step by broadcast and exchange data by
// all-reduce and all-gather inside the step; pipeline stages pass each step's control
// message along with their activations, and the last stage sends the logits to rank 0.
#include "runtime/dist/Communicator.h"
#include "runtime/engine/CpuExecutor.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace modelrt::engine {

namespace {

// The control message before each step: what every rank runs. An empty message is Stop
// (Communicator::stopWorkers). A pipeline stage that fails passes Failed (and the error)
// on, so rank 0 hears of it.
enum class Control : uint8_t {
  Step = 1,
  CopyBlocks = 2,
  Stop = 3,
  Failed = 4,
  LoadAdapter = 5,
  UnloadAdapter = 6
};

class MessageWriter {
public:
  explicit MessageWriter(Control kind) { bytes.push_back(static_cast<uint8_t>(kind)); }
  void put(int64_t v) { putBytes(&v, sizeof v); }
  void put(const std::string &text) {
    put(static_cast<int64_t>(text.size()));
    putBytes(text.data(), text.size());
  }
  void putBytes(const void *data, size_t n) {
    const auto *p = static_cast<const uint8_t *>(data);
    bytes.insert(bytes.end(), p, p + n);
  }
  std::vector<uint8_t> bytes;
};

class MessageReader {
public:
  explicit MessageReader(const std::vector<uint8_t> &bytes) : bytes_(bytes) {}
  Control kind() const { return bytes_.empty() ? Control::Stop : Control(bytes_[0]); }
  // The next value, or false when the message is too short.
  bool get(int64_t &v) {
    if (at_ + sizeof v > bytes_.size())
      return false;
    std::memcpy(&v, bytes_.data() + at_, sizeof v);
    at_ += sizeof v;
    return true;
  }
  bool get(std::string &text) {
    int64_t n = 0;
    if (!get(n) || n < 0 || static_cast<uint64_t>(n) > bytes_.size() - at_)
      return false;
    text.assign(reinterpret_cast<const char *>(bytes_.data() + at_), static_cast<size_t>(n));
    at_ += static_cast<size_t>(n);
    return true;
  }
  // What follows the fields read so far.
  const uint8_t *rest() const { return bytes_.data() + at_; }
  size_t restSize() const { return bytes_.size() - at_; }

private:
  const std::vector<uint8_t> &bytes_;
  size_t at_ = 1;
};

Error badMessage() {
  return Error(ErrorCode::InvalidFormat, "a rank received a malformed control message");
}

void encodeCopies(MessageWriter &m, const std::vector<kv::BlockCopy> &copies) {
  m.put(static_cast<int64_t>(copies.size()));
  for (const kv::BlockCopy &c : copies) {
    m.put(c.src);
    m.put(c.dst);
  }
}

bool decodeCopies(MessageReader &m, std::vector<kv::BlockCopy> &copies) {
  int64_t n = 0;
  if (!m.get(n) || n < 0)
    return false;
  copies.clear();
  for (int64_t i = 0; i < n; ++i) {
    int64_t src = 0, dst = 0;
    if (!m.get(src) || !m.get(dst))
      return false;
    copies.push_back({static_cast<int32_t>(src), static_cast<int32_t>(dst)});
  }
  return true;
}

void encodeStep(MessageWriter &m, const std::vector<int32_t> &tokens,
                const std::vector<PagedChunk> &chunks, const std::vector<kv::BlockCopy> &copies) {
  m.put(static_cast<int64_t>(tokens.size()));
  for (int32_t t : tokens)
    m.put(t);
  m.put(static_cast<int64_t>(chunks.size()));
  for (const PagedChunk &c : chunks) {
    m.put(c.startPosition);
    m.put(c.numTokens);
    m.put(int64_t(c.sample) | int64_t(c.allLogits) << 1);
    m.put(int64_t(c.stateSlot));
    m.put(int64_t(c.adapter));
    const int64_t blocks = c.blockTable ? static_cast<int64_t>(c.blockTable->size()) : -1;
    m.put(blocks);
    for (int64_t b = 0; b < blocks; ++b)
      m.put((*c.blockTable)[b]);
    m.put(int64_t(c.tokenTypes ? 1 : 0));
    for (int64_t t = 0; c.tokenTypes && t < c.numTokens; ++t)
      m.put(c.tokenTypes[t]);
  }
  encodeCopies(m, copies);
}

// A decoded step; the chunks' block tables and token types point into `tables` and `types`.
struct StepMessage {
  std::vector<int32_t> tokens;
  std::vector<PagedChunk> chunks;
  std::vector<std::vector<int32_t>> tables, types;
  std::vector<kv::BlockCopy> copies;
};

bool decodeStep(MessageReader &m, StepMessage &s) {
  int64_t n = 0;
  if (!m.get(n) || n < 0)
    return false;
  s.tokens.resize(n);
  for (int32_t &t : s.tokens) {
    int64_t v = 0;
    if (!m.get(v))
      return false;
    t = static_cast<int32_t>(v);
  }
  if (!m.get(n) || n < 0)
    return false;
  s.chunks.assign(n, PagedChunk{});
  s.tables.assign(n, {});
  s.types.assign(n, {});
  for (int64_t i = 0; i < n; ++i) {
    PagedChunk &c = s.chunks[i];
    int64_t flags = 0, slot = 0, adapter = 0, blocks = 0;
    if (!m.get(c.startPosition) || !m.get(c.numTokens) || !m.get(flags) || !m.get(slot) ||
        !m.get(adapter) || !m.get(blocks) || slot < -1 || slot > INT32_MAX || adapter < 0 ||
        adapter > INT32_MAX)
      return false;
    c.stateSlot = static_cast<int32_t>(slot);
    c.adapter = static_cast<int32_t>(adapter);
    c.sample = flags & 1;
    c.allLogits = flags & 2;
    c.blockTable = blocks < 0 ? nullptr : &s.tables[i];
    for (int64_t b = 0; b < blocks; ++b) {
      int64_t v = 0;
      if (!m.get(v))
        return false;
      s.tables[i].push_back(static_cast<int32_t>(v));
    }
    int64_t typed = 0;
    if (!m.get(typed) || (typed != 0 && typed != 1) || c.numTokens < 0 || c.numTokens > INT32_MAX)
      return false;
    for (int64_t t = 0; typed && t < c.numTokens; ++t) {
      int64_t v = 0;
      if (!m.get(v) || v < INT32_MIN || v > INT32_MAX)
        return false;
      s.types[i].push_back(static_cast<int32_t>(v));
    }
    if (typed)
      c.tokenTypes = s.types[i].data();
  }
  return decodeCopies(m, s.copies);
}

std::vector<uint8_t> failedMessage(const std::string &what) {
  MessageWriter m(Control::Failed);
  m.putBytes(what.data(), what.size());
  return m.bytes;
}

} // namespace

void CpuExecutor::stopRanks() {
  if (comm_)
    (void)comm_->stopWorkers(numStages_ > 1);
  for (std::thread &t : threads_)
    t.join();
  threads_.clear();
}

int CpuExecutor::rank() const { return comm_ ? comm_->rank() : 0; }

Status CpuExecutor::copyBlocks(const std::vector<kv::BlockCopy> &copies) {
  if (numStages_ > 1) { // every stage copies its layers' blocks before the next step
    pendingCopies_.insert(pendingCopies_.end(), copies.begin(), copies.end());
    return Status::success();
  }
  if (comm_ && comm_->size() > 1) {
    MessageWriter m(Control::CopyBlocks);
    encodeCopies(m, copies);
    if (Status sent = comm_->broadcast(m.bytes); !sent)
      return sent;
  }
  return runCopy(copies);
}

Expected<std::vector<float>> CpuExecutor::step(const std::vector<int32_t> &tokens,
                                               const std::vector<PagedChunk> &chunks) {
  if (numStages_ > 1) {
    if (Status submitted = submit(tokens, chunks); !submitted)
      return submitted.error();
    return collectLogits();
  }
  if (comm_ && comm_->size() > 1) {
    MessageWriter m(Control::Step);
    encodeStep(m, tokens, chunks, {});
    if (Status sent = comm_->broadcast(m.bytes); !sent)
      return sent.error();
  }
  return runStep(tokens, chunks);
}

Status CpuExecutor::submit(const std::vector<int32_t> &tokens,
                           const std::vector<PagedChunk> &chunks,
                           const std::vector<kv::BlockCopy> &copies) {
  if (numStages_ == 1) {
    if (Status copied = copyBlocks(copies); !copied)
      return copied;
    Expected<std::vector<float>> logits = step(tokens, chunks);
    if (!logits)
      return logits.error();
    done_.push_back(std::move(*logits));
    return Status::success();
  }
  std::vector<kv::BlockCopy> all = std::move(pendingCopies_);
  pendingCopies_.clear();
  all.insert(all.end(), copies.begin(), copies.end());
  // Stage 0 runs its layers here; a failure leaves the other stages untouched.
  if (Status copied = runCopy(all); !copied)
    return copied;
  std::vector<float> activations;
  Expected<std::vector<float>> none = runStep(tokens, chunks, nullptr, 0, &activations);
  if (!none)
    return none.error();
  MessageWriter m(Control::Step);
  encodeStep(m, tokens, chunks, all);
  m.putBytes(activations.data(), activations.size() * sizeof(float));
  if (Status sent = comm_->send(1, std::move(m.bytes)); !sent)
    return sent;
  ++inFlight_;
  return Status::success();
}

Expected<StepOutput> CpuExecutor::collect() {
  Expected<std::vector<float>> logits = collectLogits();
  if (!logits)
    return logits.error();
  return StepOutput{std::move(*logits), {}};
}

Expected<std::vector<float>> CpuExecutor::collectLogits() {
  if (numStages_ == 1) {
    if (done_.empty())
      return Error(ErrorCode::Internal, "collect() without a submitted step");
    std::vector<float> logits = std::move(done_.front());
    done_.pop_front();
    return logits;
  }
  if (inFlight_ == 0)
    return Error(ErrorCode::Internal, "collect() without a submitted step");
  --inFlight_;
  std::vector<uint8_t> bytes;
  if (Status received = comm_->recv(numStages_ - 1, bytes); !received)
    return received.error();
  MessageReader m(bytes);
  if (m.kind() == Control::Failed)
    return Error(ErrorCode::Internal,
                 "a pipeline stage failed: " +
                     std::string(reinterpret_cast<const char *>(m.rest()), m.restSize()));
  if (m.kind() != Control::Step || m.restSize() % sizeof(float))
    return badMessage();
  std::vector<float> logits(m.restSize() / sizeof(float));
  std::memcpy(logits.data(), m.rest(), m.restSize());
  return logits;
}

Status CpuExecutor::serveRank() {
  if (!comm_ || comm_->rank() == 0)
    return Error(ErrorCode::Internal, "serveRank is for ranks other than 0");
  if (numStages_ > 1)
    return serveStage();
  std::vector<uint8_t> bytes;
  StepMessage s;
  for (;;) {
    if (Status received = comm_->broadcast(bytes); !received)
      return received;
    MessageReader m(bytes);
    switch (m.kind()) {
    case Control::Stop:
      return Status::success();
    case Control::CopyBlocks:
      if (!decodeCopies(m, s.copies))
        return badMessage();
      (void)runCopy(s.copies); // rank 0 reports the same error
      break;
    case Control::Step:
      if (!decodeStep(m, s))
        return badMessage();
      (void)runStep(s.tokens, s.chunks); // the same checks fail on every rank alike
      break;
    case Control::LoadAdapter: {
      std::string name, path;
      if (!m.get(name) || !m.get(path))
        return badMessage();
      (void)settleAdapterLoad(name, addAdapterHere(name, path)); // rank 0 reports it
      break;
    }
    case Control::UnloadAdapter: {
      std::string name;
      if (!m.get(name))
        return badMessage();
      (void)unloadAdapterHere(name); // every rank holds the same adapters
      break;
    }
    default:
      return badMessage();
    }
  }
}

Status CpuExecutor::loadAdapter(const std::string &name, const std::string &path) {
  if (numStages_ > 1)
    return Error(ErrorCode::Unsupported,
                 "LoRA adapters of a plan with pipeline stages are loaded at start "
                 "(--lora-modules), not while serving");
  if (comm_ && comm_->size() > 1) {
    MessageWriter m(Control::LoadAdapter);
    m.put(name);
    m.put(path);
    if (Status sent = comm_->broadcast(m.bytes); !sent)
      return sent;
  }
  return settleAdapterLoad(name, addAdapterHere(name, path));
}

Status CpuExecutor::settleAdapterLoad(const std::string &name, Status local) {
  if (!comm_ || comm_->size() == 1)
    return local;
  float loaded = local ? 1.0f : 0.0f;
  if (Status s = comm_->allReduceSum(&loaded, 1); !s)
    return s;
  if (loaded == static_cast<float>(comm_->size()) || loaded == 0.0f)
    return local; // all loaded it, or none did (no rank took a slot)
  // Some ranks could not: every rank keeps a nameless slot, so adapter ids stay aligned.
  if (local) {
    (void)unloadAdapterHere(name);
    return Error(ErrorCode::InvalidArgument,
                 "LoRA adapter '" + name + "': another rank could not load it");
  }
  holdAdapterSlot();
  return local;
}

Status CpuExecutor::unloadAdapter(const std::string &name) {
  if (numStages_ > 1)
    return Error(ErrorCode::Unsupported,
                 "LoRA adapters of a plan with pipeline stages stay loaded while serving");
  const std::vector<std::string> names = adapterNames();
  if (name.empty() || std::find(names.begin(), names.end(), name) == names.end())
    return Error(ErrorCode::NotFound, "no LoRA adapter named '" + name + "' is loaded");
  if (comm_ && comm_->size() > 1) {
    MessageWriter m(Control::UnloadAdapter);
    m.put(name);
    if (Status sent = comm_->broadcast(m.bytes); !sent)
      return sent;
  }
  return unloadAdapterHere(name);
}

Status CpuExecutor::serveStage() {
  const int stage = comm_->rank(), next = stage + 1 == numStages_ ? 0 : stage + 1;
  std::vector<uint8_t> bytes;
  StepMessage s;
  for (;;) {
    if (Status received = comm_->recv(stage - 1, bytes); !received)
      return received;
    MessageReader m(bytes);
    switch (m.kind()) {
    case Control::Stop:
      if (next != 0)
        (void)comm_->send(next, {});
      return Status::success();
    case Control::Failed: // an earlier stage's error, on its way to rank 0
      (void)comm_->send(next, std::move(bytes));
      break;
    case Control::Step: {
      if (!decodeStep(m, s) || m.restSize() % sizeof(float))
        return badMessage();
      std::vector<float> activations;
      Expected<std::vector<float>> logits = Error(ErrorCode::Internal, "");
      if (Status copied = runCopy(s.copies); !copied)
        logits = copied.error();
      else
        logits = runStep(s.tokens, s.chunks, reinterpret_cast<const float *>(m.rest()),
                         m.restSize() / sizeof(float), &activations);
      if (!logits) {
        (void)comm_->send(next, failedMessage("stage " + std::to_string(stage) + ": " +
                                              logits.error().message()));
        break;
      }
      MessageWriter out(Control::Step);
      if (next == 0) { // the last stage: the logits go back to rank 0
        out.putBytes(logits->data(), logits->size() * sizeof(float));
      } else {
        encodeStep(out, s.tokens, s.chunks, s.copies);
        out.putBytes(activations.data(), activations.size() * sizeof(float));
      }
      if (Status sent = comm_->send(next, std::move(out.bytes)); !sent)
        return sent;
      break;
    }
    default:
      return badMessage();
    }
  }
}

Expected<std::unique_ptr<CpuExecutor>> CpuExecutor::load(const std::string &planPath,
                                                         const ExecutorOptions &options) {
  Expected<plan::PlanFile> file = plan::PlanFile::open(planPath);
  if (!file)
    return file.error();
  Expected<plan::PlanMetadata> meta = plan::readMetadata(*file);
  if (!meta)
    return meta.error();
  const int64_t ranks = meta->tensorParallel * meta->pipelineParallel;
  if (meta->tensorParallel > 1 && meta->pipelineParallel > 1)
    return Error(ErrorCode::Unsupported,
                 planPath + ": plans with both tp and pp above 1 are not supported yet");
  if (options.comm) { // one rank of a group started elsewhere (mpirun)
    if (options.comm->size() != ranks)
      return Error(ErrorCode::InvalidArgument,
                   planPath + ": the plan has " + std::to_string(ranks) + " ranks (tp " +
                       std::to_string(meta->tensorParallel) + ", pp " +
                       std::to_string(meta->pipelineParallel) + "), but " +
                       std::to_string(options.comm->size()) +
                       " processes were started: run it with mpirun -np " + std::to_string(ranks));
    return loadRank(planPath, options, options.comm, 0);
  }
  if (ranks == 1)
    return loadRank(planPath, options, nullptr, 0);

  // Ranks as threads of this process: each rank's executor is loaded here, then ranks
  // 1.. serve rank 0's steps on their own threads, the cores split between them.
  std::vector<std::unique_ptr<dist::Communicator>> group =
      dist::createLocalGroup(static_cast<int>(ranks));
  const int threads = options.threadsPerRank > 0
                          ? options.threadsPerRank
                          : std::max(1, omp_get_max_threads() / static_cast<int>(ranks));
  std::vector<std::unique_ptr<CpuExecutor>> executors;
  for (int64_t r = 0; r < ranks; ++r) {
    Expected<std::unique_ptr<CpuExecutor>> exec =
        loadRank(planPath, options, group[r].get(), threads);
    if (!exec) {
      for (std::unique_ptr<CpuExecutor> &loaded : executors)
        loaded->comm_ = nullptr; // no rank serves yet: nobody to stop
      return exec.error().withContext("rank " + std::to_string(r));
    }
    executors.push_back(std::move(*exec));
  }
  std::unique_ptr<CpuExecutor> root = std::move(executors[0]);
  root->group_ = std::move(group);
  for (int64_t r = 1; r < ranks; ++r) {
    CpuExecutor *worker = executors[r].get();
    root->workers_.push_back(std::move(executors[r]));
    root->threads_.emplace_back([worker] {
      if (Status served = worker->serveRank(); !served)
        std::fprintf(stderr, "modelrt: rank %d: %s\n", worker->rank(),
                     served.error().message().c_str());
    });
  }
  return root;
}

} // namespace modelrt::engine
