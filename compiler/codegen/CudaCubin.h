// Cubins for `modelc --target cuda`: the PTX of the generated kernels assembled for one GPU
// architecture with nvJitLink (the CUDA toolkit's library), so that a plan loads without the
// driver compiling PTX, and so that ptxas errors surface at compile time, here, not on the
// serving machine. A modelc built where there was no nvJitLink writes PTX only.
#pragma once

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace modelc {

// Whether this modelc was built with nvJitLink.
bool canAssembleCubins();

// `ptx` (whose .target is `arch` or older) assembled for `arch` ("sm_90", "sm_90a"), -O3.
// The error carries nvJitLink's log.
llvm::Expected<std::vector<uint8_t>> assembleCubin(llvm::StringRef ptx, llvm::StringRef arch);

} // namespace modelc
