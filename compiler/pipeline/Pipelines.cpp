#include "compiler/pipeline/Pipelines.h"

#include "compiler/Conversion/Passes.h"
#include "dialects/llm/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void modelc::buildLlmOptimizePipeline(OpPassManager &pm, const LlmOptimizeOptions &options) {
  pm.addPass(createCanonicalizerPass());
  if (options.mergeLinears)
    pm.addPass(llm::createLlmMergeLinears());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void modelc::buildKernPipeline(OpPassManager &pm) {
  pm.addPass(llm::createLlmFuse());
  pm.addPass(createConvertLlmToKern());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void modelc::registerPipelines() {
  PassPipelineRegistration<>("kern-lower",
                             "llm -> kern: llm-fuse, convert-llm-to-kern, canonicalize, CSE",
                             buildKernPipeline);
  PassPipelineRegistration<LlmOptimizeOptions>(
      "llm-optimize", "The llm-level pipeline of modelc: canonicalize, merge linears, CSE",
      buildLlmOptimizePipeline);
}
