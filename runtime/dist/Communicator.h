// The ranks of a tensor-parallel group and the two collectives an iteration needs: rank
// 0's control message to every rank (what to run), and the sum of the ranks' partial
// activations (data). Ranks are threads of one process (LocalGroup) or processes started
// by mpirun (mpiWorld, where the runtime is built with MPI).
#pragma once

#include "runtime/support/Error.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace modelrt::dist {

class Communicator {
public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Rank 0's `bytes` reach every rank (the others' are replaced). Every rank must call.
  virtual Status broadcast(std::vector<uint8_t> &bytes) = 0;

  // `data` (count floats) becomes the element-wise sum over the ranks. The partials are
  // added in rank order on every rank, so all ranks get the same bits, and an element's
  // sum never depends on `count` (on how many tokens are batched).
  virtual Status allReduceSum(float *data, int64_t count) = 0;

  // `output` (size() x count floats) gets every rank's `input` (count floats), in rank
  // order. Every rank must call.
  virtual Status allGather(const float *input, int64_t count, float *output) = 0;

  // Point to point, for pipeline stages: `send` queues `bytes` for rank `to` and returns
  // at once; `recv` waits for the next message from rank `from`. Messages between two
  // ranks arrive in the order they were sent.
  virtual Status send(int to, std::vector<uint8_t> bytes) = 0;
  virtual Status recv(int from, std::vector<uint8_t> &bytes) = 0;

  // On rank 0: tells the other ranks, waiting for the next control message, that there is
  // none (an empty message): broadcast to tensor-parallel ranks, or sent to rank 1 for
  // pipeline stages (each passes it on). Once; later calls do nothing.
  Status stopWorkers(bool pipeline) {
    if (rank() != 0 || size() == 1 || stopped_)
      return Status::success();
    stopped_ = true;
    std::vector<uint8_t> none;
    return pipeline ? send(1, std::move(none)) : broadcast(none);
  }

private:
  bool stopped_ = false;
};

// `size` communicators for ranks that are threads of this process; rank i is element i.
// Each must be used by one thread; all of them must take part in every collective.
std::vector<std::unique_ptr<Communicator>> createLocalGroup(int size);

// Whether this runtime was built with MPI.
bool haveMpi();

// This process's rank in MPI_COMM_WORLD when it was started by mpirun (or another MPI
// launcher), after MPI_Init; nullptr when it was not (or without MPI). A failure to
// initialize MPI under a launcher is an error.
Expected<std::unique_ptr<Communicator>> mpiWorld();

// Ends MPI (after the last collective), if mpiWorld started it.
void finalizeMpi();

// Aborts every rank of the MPI job (a worker that cannot go on), or exits without MPI.
[[noreturn]] void abortAll(int code);

} // namespace modelrt::dist
