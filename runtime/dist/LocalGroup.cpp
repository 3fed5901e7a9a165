#include "runtime/dist/Communicator.h"

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

namespace modelrt::dist {

namespace {

// A reusable barrier that spins briefly (ranks arrive within microseconds of each other
// in a step) and then yields the core.
class SpinBarrier {
public:
  explicit SpinBarrier(int count) : count_(count) {}
  void wait() {
    const int64_t generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == count_) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_acq_rel);
      return;
    }
    for (int spins = 0; generation_.load(std::memory_order_acquire) == generation; ++spins)
      if (spins > 2000)
        std::this_thread::yield();
  }

private:
  const int count_;
  std::atomic<int> arrived_{0};
  std::atomic<int64_t> generation_{0};
};

// Messages from one rank to another, in order.
struct Mailbox {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::vector<uint8_t>> messages;
};

struct Shared {
  explicit Shared(int size)
      : barrier(size), buffers(size, nullptr), inputs(size, nullptr),
        mailboxes(static_cast<size_t>(size) * size) {}
  std::vector<Mailbox> mailboxes; // [to * size + from]
  SpinBarrier barrier;
  std::vector<float *> buffers;         // each rank's partials, during an all-reduce
  std::vector<const float *> inputs;    // each rank's columns, during an all-gather
  std::vector<uint8_t> *root = nullptr; // rank 0's bytes, during a broadcast
};

class LocalCommunicator : public Communicator {
public:
  LocalCommunicator(std::shared_ptr<Shared> shared, int rank, int size)
      : shared_(std::move(shared)), rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Status broadcast(std::vector<uint8_t> &bytes) override {
    if (rank_ == 0)
      shared_->root = &bytes;
    shared_->barrier.wait();
    if (rank_ != 0)
      bytes = *shared_->root;
    shared_->barrier.wait(); // rank 0's bytes are read before it goes on
    return Status::success();
  }

  Status allReduceSum(float *data, int64_t count) override {
    shared_->buffers[rank_] = data;
    shared_->barrier.wait();
    sum_.resize(static_cast<size_t>(count));
    std::memcpy(sum_.data(), shared_->buffers[0], count * sizeof(float));
    for (int r = 1; r < size_; ++r) {
      const float *part = shared_->buffers[r];
      for (int64_t i = 0; i < count; ++i)
        sum_[i] += part[i];
    }
    shared_->barrier.wait(); // every rank has read every partial
    std::memcpy(data, sum_.data(), count * sizeof(float));
    return Status::success();
  }

  Status allGather(const float *input, int64_t count, float *output) override {
    shared_->inputs[rank_] = input;
    shared_->barrier.wait();
    for (int r = 0; r < size_; ++r)
      std::memcpy(output + static_cast<size_t>(r) * count, shared_->inputs[r],
                  count * sizeof(float));
    shared_->barrier.wait(); // every rank has read every input
    return Status::success();
  }

  Status send(int to, std::vector<uint8_t> bytes) override {
    if (to < 0 || to >= size_)
      return Error(ErrorCode::InvalidArgument, "send to rank " + std::to_string(to));
    Mailbox &box = shared_->mailboxes[static_cast<size_t>(to) * size_ + rank_];
    {
      std::lock_guard<std::mutex> lock(box.mutex);
      box.messages.push_back(std::move(bytes));
    }
    box.ready.notify_one();
    return Status::success();
  }

  Status recv(int from, std::vector<uint8_t> &bytes) override {
    if (from < 0 || from >= size_)
      return Error(ErrorCode::InvalidArgument, "receive from rank " + std::to_string(from));
    Mailbox &box = shared_->mailboxes[static_cast<size_t>(rank_) * size_ + from];
    std::unique_lock<std::mutex> lock(box.mutex);
    box.ready.wait(lock, [&] { return !box.messages.empty(); });
    bytes = std::move(box.messages.front());
    box.messages.pop_front();
    return Status::success();
  }

private:
  std::shared_ptr<Shared> shared_;
  const int rank_, size_;
  std::vector<float> sum_;
};

} // namespace

std::vector<std::unique_ptr<Communicator>> createLocalGroup(int size) {
  auto shared = std::make_shared<Shared>(size);
  std::vector<std::unique_ptr<Communicator>> group;
  for (int r = 0; r < size; ++r)
    group.push_back(std::make_unique<LocalCommunicator>(shared, r, size));
  return group;
}

} // namespace modelrt::dist
