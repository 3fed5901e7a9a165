// The convert-llm-to-kern pass; the conversion itself is in LlmToKern/.
#include "compiler/Conversion/LlmToKern/LlmToKern.h"
#include "compiler/Conversion/Passes.h"

namespace modelc {
#define GEN_PASS_DEF_CONVERTLLMTOKERN
#include "compiler/Conversion/Passes.h.inc"
} // namespace modelc

namespace {
struct ConvertLlmToKernPass : public modelc::impl::ConvertLlmToKernBase<ConvertLlmToKernPass> {
  void runOnOperation() override {
    if (mlir::failed(modelc::convertLlmToKern(getOperation())))
      signalPassFailure();
  }
};
} // namespace
