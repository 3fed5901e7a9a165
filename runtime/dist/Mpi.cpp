#include "runtime/dist/Communicator.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>

#ifdef MODELRT_HAVE_MPI
#define OMPI_SKIP_MPICXX 1 // the C API only: the C++ bindings need a library of their own
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace modelrt::dist {

namespace {

// Launchers say who they started: Open MPI, MPICH / Hydra (PMI), Slurm's PMIx.
bool underLauncher() {
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (const char *v = std::getenv(name); v && *v)
      return true;
  return false;
}

#ifdef MODELRT_HAVE_MPI
bool initialized = false;

Error mpiError(const char *what, int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return Error(ErrorCode::IoError, std::string("MPI: ") + what + ": " + std::string(text, length));
}

class MpiCommunicator : public Communicator {
public:
  MpiCommunicator(int rank, int size) : rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Status broadcast(std::vector<uint8_t> &bytes) override {
    uint64_t n = bytes.size();
    if (int rc = MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD); rc != MPI_SUCCESS)
      return mpiError("broadcast", rc);
    bytes.resize(n);
    if (int rc = MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_BYTE, 0, MPI_COMM_WORLD);
        rc != MPI_SUCCESS)
      return mpiError("broadcast", rc);
    return Status::success();
  }

  // Gather every partial, then add them in rank order: MPI_Allreduce's order may depend on
  // the message size, which would make a token's result depend on the batch.
  Status allReduceSum(float *data, int64_t count) override {
    if (count > INT32_MAX)
      return Error(ErrorCode::InvalidArgument, "MPI: all-reduce of more than 2^31 values");
    parts_.resize(static_cast<size_t>(count) * size_);
    if (int rc = MPI_Allgather(data, static_cast<int>(count), MPI_FLOAT, parts_.data(),
                               static_cast<int>(count), MPI_FLOAT, MPI_COMM_WORLD);
        rc != MPI_SUCCESS)
      return mpiError("all-gather", rc);
    std::memcpy(data, parts_.data(), count * sizeof(float));
    for (int r = 1; r < size_; ++r) {
      const float *part = parts_.data() + static_cast<size_t>(r) * count;
      for (int64_t i = 0; i < count; ++i)
        data[i] += part[i];
    }
    return Status::success();
  }

  Status allGather(const float *input, int64_t count, float *output) override {
    if (count > INT32_MAX)
      return Error(ErrorCode::InvalidArgument, "MPI: all-gather of more than 2^31 values");
    if (int rc = MPI_Allgather(input, static_cast<int>(count), MPI_FLOAT, output,
                               static_cast<int>(count), MPI_FLOAT, MPI_COMM_WORLD);
        rc != MPI_SUCCESS)
      return mpiError("all-gather", rc);
    return Status::success();
  }

  // Sends never wait for the receiver (a pipeline's stages send both ways): each message
  // is kept until MPI is done with it.
  Status send(int to, std::vector<uint8_t> bytes) override {
    if (bytes.size() > INT32_MAX)
      return Error(ErrorCode::InvalidArgument, "MPI: a message of more than 2 GiB");
    reap(false);
    pending_.push_back({std::move(bytes), MPI_REQUEST_NULL});
    Pending &p = pending_.back();
    if (int rc = MPI_Isend(p.bytes.data(), static_cast<int>(p.bytes.size()), MPI_BYTE, to,
                           kPipelineTag, MPI_COMM_WORLD, &p.request);
        rc != MPI_SUCCESS)
      return mpiError("send", rc);
    return Status::success();
  }

  Status recv(int from, std::vector<uint8_t> &bytes) override {
    MPI_Status status;
    if (int rc = MPI_Probe(from, kPipelineTag, MPI_COMM_WORLD, &status); rc != MPI_SUCCESS)
      return mpiError("probe", rc);
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    bytes.resize(static_cast<size_t>(count));
    if (int rc = MPI_Recv(bytes.data(), count, MPI_BYTE, from, kPipelineTag, MPI_COMM_WORLD,
                          MPI_STATUS_IGNORE);
        rc != MPI_SUCCESS)
      return mpiError("receive", rc);
    return Status::success();
  }

  ~MpiCommunicator() override { reap(true); }

private:
  static constexpr int kPipelineTag = 7;
  struct Pending {
    std::vector<uint8_t> bytes;
    MPI_Request request;
  };
  // Frees the buffers of finished sends (all of them, waiting, with `wait`).
  void reap(bool wait) {
    for (auto it = pending_.begin(); it != pending_.end();) {
      int done = 0;
      if (wait)
        MPI_Wait(&it->request, MPI_STATUS_IGNORE), done = 1;
      else
        MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
      it = done ? pending_.erase(it) : std::next(it);
    }
  }

  const int rank_, size_;
  std::vector<float> parts_;
  std::list<Pending> pending_;
};
#endif

} // namespace

bool haveMpi() {
#ifdef MODELRT_HAVE_MPI
  return true;
#else
  return false;
#endif
}

Expected<std::unique_ptr<Communicator>> mpiWorld() {
  if (!underLauncher())
    return std::unique_ptr<Communicator>();
#ifdef MODELRT_HAVE_MPI
  // `serve` steps from its engine thread, not the main thread: one thread at a time.
  int provided = MPI_THREAD_SINGLE;
  if (int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
      rc != MPI_SUCCESS)
    return mpiError("MPI_Init_thread", rc);
  initialized = true;
  if (provided < MPI_THREAD_SERIALIZED)
    return Error(ErrorCode::Unsupported,
                 "MPI: this MPI library does not let threads other than the main one call it "
                 "(MPI_THREAD_SERIALIZED)");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return std::unique_ptr<Communicator>(new MpiCommunicator(rank, size));
#else
  return Error(ErrorCode::Unsupported,
               "started by an MPI launcher, but this modelrt was built without MPI "
               "(install libopenmpi-dev and rebuild), so it cannot join the other ranks");
#endif
}

void finalizeMpi() {
#ifdef MODELRT_HAVE_MPI
  if (initialized) {
    MPI_Finalize();
    initialized = false;
  }
#endif
}

void abortAll(int code) {
#ifdef MODELRT_HAVE_MPI
  if (initialized)
    MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::fflush(nullptr);
  std::_Exit(code);
}

} // namespace modelrt::dist
