// modelrt: the runtime's command line. Subcommands are added in their own files
// (see Commands.h); this file only assembles them, and joins an MPI job when mpirun
// started the process (one rank of a tensor-parallel plan each).
#include "Commands.h"

#include "runtime/plan/PlanMetadata.h"

#include <csignal>
#include <cstdio>

namespace modelrt::cli {

dist::Communicator *&mpiWorld() {
  static dist::Communicator *world = nullptr;
  return world;
}

namespace {
int64_t &pipelineStages() {
  static int64_t stages = 1;
  return stages;
}
} // namespace

bool runAsWorker(const std::string &plan, engine::ExecutorOptions &options, int &exitCode) {
  dist::Communicator *world = mpiWorld();
  if (!world)
    return false;
  options.comm = world;
  if (world->rank() == 0) {
    // How to stop the other ranks should this one end before it runs the plan.
    if (Expected<plan::PlanFile> file = plan::PlanFile::open(plan))
      if (Expected<plan::PlanMetadata> meta = plan::readMetadata(*file))
        pipelineStages() = meta->pipelineParallel;
    return false;
  }
  // mpirun passes Ctrl-C and SIGTERM to every rank; rank 0 alone decides when to stop
  // (after the requests in flight), then tells the others.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  Expected<std::unique_ptr<engine::CpuExecutor>> exec = engine::CpuExecutor::load(plan, options);
  if (!exec) {
    std::fprintf(stderr, "modelrt: error: rank %d: %s\n", world->rank(),
                 exec.error().message().c_str());
    dist::abortAll(1); // rank 0 would wait for this rank forever
  }
  Status served = (*exec)->serveRank();
  if (!served) {
    std::fprintf(stderr, "modelrt: error: rank %d: %s\n", world->rank(),
                 served.error().message().c_str());
    dist::abortAll(1);
  }
  exitCode = 0;
  return true;
}

} // namespace modelrt::cli

int main(int argc, char **argv) {
  modelrt::Expected<std::unique_ptr<modelrt::dist::Communicator>> world = modelrt::dist::mpiWorld();
  if (!world) {
    std::fprintf(stderr, "modelrt: error: %s\n", world.error().message().c_str());
    return 1;
  }
  modelrt::cli::mpiWorld() = world->get();

  CLI::App app{"modelrt: serve and inspect compiled modelc plans"};
  app.require_subcommand(1);
  int exitCode = 0;
  modelrt::cli::addTokenizeCommand(app, exitCode);
  modelrt::cli::addInspectCommand(app, exitCode);
  modelrt::cli::addGenerateCommand(app, exitCode);
  modelrt::cli::addPoolingCommand(app, exitCode, false);
  modelrt::cli::addPoolingCommand(app, exitCode, true);
  modelrt::cli::addBenchCommand(app, exitCode);
  modelrt::cli::addServeCommand(app, exitCode);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    exitCode = app.exit(e);
  }
  // Rank 0 may end before it ever ran a plan (a bad option): the other ranks wait for it.
  if (*world)
    (void)(*world)->stopWorkers(modelrt::cli::pipelineStages() > 1);
  world->reset(); // its pending sends complete before MPI ends
  modelrt::dist::finalizeMpi();
  return exitCode;
}
