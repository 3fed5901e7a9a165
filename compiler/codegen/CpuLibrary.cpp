#include "compiler/codegen/CpuLibrary.h"

#include "lld/Common/Driver.h"
#include "llvm/Analysis/TargetLibraryInfo.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

LLD_HAS_DRIVER(elf)

using namespace llvm;

namespace {

Error fail(const Twine &message) {
  return createStringError(inconvertibleErrorCode(), "cpu codegen: " + message);
}

// Removes the temporary files on every path out.
struct TempFiles {
  SmallVector<SmallString<128>, 2> paths;
  ~TempFiles() {
    for (auto &p : paths)
      sys::fs::remove(p);
  }
};

// glibc's vector math library (libmvec: exp, log, pow over 4 or 8 lanes), where this machine
// has it: the kernels then call it from vectorized loops (SiLU's exp), and the library
// names it as needed, so the loader brings it in with the kernels.
std::string findLibmvec() {
  for (const char *path : {"/lib/x86_64-linux-gnu/libmvec.so.1",
                           "/usr/lib/x86_64-linux-gnu/libmvec.so.1", "/lib64/libmvec.so.1",
                           "/usr/lib64/libmvec.so.1"})
    if (sys::fs::exists(path))
      return path;
  return {};
}

} // namespace

Expected<std::vector<uint8_t>> modelc::buildCpuKernelLibrary(Module &module) {
  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();
  std::string triple = sys::getDefaultTargetTriple();
  std::string lookupError;
  const Target *target = TargetRegistry::lookupTarget(triple, lookupError);
  if (!target)
    return fail("no target for " + triple + ": " + lookupError);
  TargetOptions options;
  std::unique_ptr<TargetMachine> machine(
      target->createTargetMachine(triple, sys::getHostCPUName(), "", options, Reloc::PIC_,
                                  std::nullopt, CodeGenOptLevel::Aggressive));
  module.setTargetTriple(triple);
  module.setDataLayout(machine->createDataLayout());

  // O2 over the kernels: vectorizes the column loops.
  LoopAnalysisManager lam;
  FunctionAnalysisManager fam;
  CGSCCAnalysisManager cgam;
  ModuleAnalysisManager mam;
  PassBuilder pb(machine.get());
  const Triple targetTriple(triple);
  const std::string libmvec = targetTriple.getArch() == Triple::x86_64 ? findLibmvec() : "";
  TargetLibraryInfoImpl libraryInfo(targetTriple);
  if (!libmvec.empty())
    libraryInfo.addVectorizableFunctionsFromVecLib(TargetLibraryInfoImpl::LIBMVEC_X86,
                                                   targetTriple);
  fam.registerPass([&] { return TargetLibraryAnalysis(libraryInfo); });
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(OptimizationLevel::O2).run(module, mam);

  TempFiles temps;
  temps.paths.resize(2);
  int objectFd;
  if (std::error_code ec =
          sys::fs::createTemporaryFile("modelc-kernels", "o", objectFd, temps.paths[0]))
    return fail("cannot create a temporary object file: " + ec.message());
  {
    raw_fd_ostream object(objectFd, /*shouldClose=*/true);
    legacy::PassManager emit;
    if (machine->addPassesToEmitFile(emit, object, nullptr, CodeGenFileType::ObjectFile))
      return fail("the target cannot emit object files");
    emit.run(module);
  }
  if (std::error_code ec = sys::fs::createTemporaryFile("modelc-kernels", "so", temps.paths[1]))
    return fail("cannot create a temporary library file: " + ec.message());

  std::string diagnostics;
  raw_string_ostream out(diagnostics), err(diagnostics);
  std::vector<const char *> args = {"ld.lld",
                                    "-shared",
                                    "--no-undefined-version",
                                    "-o",
                                    temps.paths[1].c_str(),
                                    temps.paths[0].c_str()};
  if (!libmvec.empty())
    args.push_back(libmvec.c_str());
  lld::Result linked = lld::lldMain(args, out, err, {{lld::Gnu, &lld::elf::link}});
  if (linked.retCode != 0)
    return fail("linking the kernel library failed: " + out.str());

  ErrorOr<std::unique_ptr<MemoryBuffer>> library = MemoryBuffer::getFile(temps.paths[1]);
  if (!library)
    return fail("cannot read the linked library: " + library.getError().message());
  const auto *begin = reinterpret_cast<const uint8_t *>((*library)->getBufferStart());
  return std::vector<uint8_t>(begin, begin + (*library)->getBufferSize());
}
