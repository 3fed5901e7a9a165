// modelrt: the runtime's command line. Subcommands are added in their own files
// (see Commands.h); this file only assembles them.
#include "Commands.h"

int main(int argc, char **argv) {
  CLI::App app{"modelrt: serve and inspect compiled modelc plans"};
  app.require_subcommand(1);
  int exitCode = 0;
  modelrt::cli::addTokenizeCommand(app, exitCode);
  modelrt::cli::addInspectCommand(app, exitCode);
  modelrt::cli::addGenerateCommand(app, exitCode);
  modelrt::cli::addBenchCommand(app, exitCode);
  modelrt::cli::addServeCommand(app, exitCode);
  CLI11_PARSE(app, argc, argv);
  return exitCode;
}
