// Subcommands of the modelrt CLI. Each lives in its own file and registers itself on the
// app from main.cpp; its callback stores the process exit code in `exitCode`.
#pragma once

#include <CLI/CLI.hpp>

namespace modelrt::cli {

void addTokenizeCommand(CLI::App &app, int &exitCode);
void addInspectCommand(CLI::App &app, int &exitCode);
void addGenerateCommand(CLI::App &app, int &exitCode);
void addBenchCommand(CLI::App &app, int &exitCode);
void addServeCommand(CLI::App &app, int &exitCode);

} // namespace modelrt::cli
