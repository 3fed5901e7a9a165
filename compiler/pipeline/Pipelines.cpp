#include "compiler/pipeline/Pipelines.h"

#include "compiler/Conversion/Passes.h"
#include "dialects/llm/Transforms/Passes.h"

#include "dialects/kern/IR/KernDialect.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
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

void modelc::buildKernFusedToLoopsPipeline(OpPassManager &pm) {
  pm.addPass(createConvertKernFusedToLoops());
}

void modelc::buildCpuKernelsToLlvmPipeline(OpPassManager &pm) {
  pm.addPass(createSymbolDCEPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createLoopInvariantCodeMotionPass());
  pm.addPass(createCSEPass());
  pm.addPass(createConvertSCFToCFPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass()); // erf, tanh: libm calls
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

OwningOpRef<ModuleOp> modelc::extractKernels(ModuleOp module) {
  OpBuilder builder(module.getContext());
  OwningOpRef<ModuleOp> kernels = ModuleOp::create(module.getLoc(), "kernels");
  llvm::SetVector<StringAttr> names;
  module.walk([&](kern::FusedOp op) {
    if (auto kernel = op->getAttrOfType<FlatSymbolRefAttr>("kernel"))
      names.insert(kernel.getAttr());
  });
  for (StringAttr name : names)
    if (auto fn = module.lookupSymbol<func::FuncOp>(name)) {
      fn->moveBefore(kernels->getBody(), kernels->getBody()->end());
      fn.setPublic();
    }
  return kernels;
}

llvm::Expected<std::unique_ptr<llvm::Module>>
modelc::cpuKernelsToLlvmIr(ModuleOp module, llvm::LLVMContext &llvmContext) {
  auto fail = [](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
  };
  OwningOpRef<ModuleOp> kernels = extractKernels(module);
  PassManager lower(module.getContext());
  buildCpuKernelsToLlvmPipeline(lower);
  if (failed(lower.run(*kernels)))
    return fail("lowering the CPU kernels to LLVM failed");
  registerBuiltinDialectTranslation(*module.getContext());
  registerLLVMDialectTranslation(*module.getContext());
  std::unique_ptr<llvm::Module> ir = translateModuleToLLVMIR(*kernels, llvmContext, "kernels");
  if (!ir)
    return fail("translating the CPU kernels to LLVM IR failed");
  return ir;
}

void modelc::registerPipelines() {
  PassPipelineRegistration<>("kern-cpu-to-llvm",
                             "CPU kernel functions (loops over memrefs) -> the LLVM dialect",
                             buildCpuKernelsToLlvmPipeline);
  PassPipelineRegistration<>("kern-lower",
                             "llm -> kern: llm-fuse, convert-llm-to-kern, canonicalize, CSE",
                             buildKernPipeline);
  PassPipelineRegistration<LlmOptimizeOptions>(
      "llm-optimize", "The llm-level pipeline of modelc: canonicalize, merge linears, CSE",
      buildLlmOptimizePipeline);
}
