#include "compiler/pipeline/Pipelines.h"

#include "compiler/Conversion/Passes.h"
#include "dialects/llm/Transforms/Passes.h"

#include "dialects/kern/IR/KernDialect.h"

#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVM/NVVM/Utils.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/TargetSelect.h"

using namespace mlir;

void modelc::buildLlmOptimizePipeline(OpPassManager &pm, const LlmOptimizeOptions &options) {
  pm.addPass(createCanonicalizerPass());
  if (options.pp > 1)
    pm.addPass(llm::createLlmPipeline({options.pp, options.stage}));
  if (options.tp > 1)
    pm.addPass(llm::createLlmPartition({options.tp, options.rank}));
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

std::string modelc::cudaToolkitPath() {
  llvm::StringRef fromEnv = NVVM::getCUDAToolkitPath(); // CUDA_ROOT, CUDA_HOME, CUDA_PATH
  if (!fromEnv.empty())
    return fromEnv.str();
  return "/usr/local/cuda";
}

void modelc::buildCudaKernelsToPtxPipeline(OpPassManager &pm, llvm::StringRef chip) {
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createLoopInvariantCodeMotionPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createConvertSCFToCFPass());
  ConvertGpuOpsToNVVMOpsOptions nvvm;
  nvvm.indexBitwidth = 64;
  kernels.addPass(createConvertGpuOpsToNVVMOps(nvvm));
  kernels.addPass(createReconcileUnrealizedCastsPass());
  GpuNVVMAttachTargetOptions target;
  target.chip = chip.str();
  target.features = "+ptx70";
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";       // PTX text; the driver compiles it for the GPU it runs on
  binary.toolkitPath = cudaToolkitPath(); // where libdevice (math functions) is
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

llvm::Expected<std::string> modelc::cudaKernelsToPtx(ModuleOp module, llvm::StringRef chip) {
  auto fail = [](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
  };
  auto kernels = module.lookupSymbol<gpu::GPUModuleOp>("cuda_kernels");
  if (!kernels)
    return std::string(); // no fused kernels
  OwningOpRef<ModuleOp> holder = ModuleOp::create(module.getLoc(), "cuda");
  (*holder)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                     UnitAttr::get(module.getContext()));
  OpBuilder b = OpBuilder::atBlockEnd(holder->getBody());
  b.clone(*kernels.getOperation());
  PassManager lower(module.getContext());
  buildCudaKernelsToPtxPipeline(lower, chip);
  if (failed(lower.run(*holder)))
    return fail("lowering the CUDA kernels to PTX failed");
  auto binary = holder->lookupSymbol<gpu::BinaryOp>("cuda_kernels");
  if (!binary || binary.getObjects().size() != 1)
    return fail("internal error: no PTX object after gpu-module-to-binary");
  std::string ptx = cast<gpu::ObjectAttr>(binary.getObjects()[0]).getObject().str();
  while (!ptx.empty() && ptx.back() == '\0') // the back end's C-string terminator
    ptx.pop_back();
  // Math functions come from libdevice; one left undefined means it was not found.
  if (ptx.find(".extern .func (.param .b32 func_retval0) __nv_") != std::string::npos ||
      ptx.find(".extern .func __nv_") != std::string::npos)
    return fail("the CUDA kernels call libdevice functions, but libdevice was not found under '" +
                cudaToolkitPath() + "/nvvm/libdevice': set CUDA_HOME to the CUDA toolkit");
  return ptx;
}

void modelc::registerCudaCodegen(DialectRegistry &registry) {
  registry.insert<gpu::GPUDialect, NVVM::NVVMDialect>();
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  LLVMInitializeNVPTXTargetInfo();
  LLVMInitializeNVPTXTarget();
  LLVMInitializeNVPTXTargetMC();
  LLVMInitializeNVPTXAsmPrinter();
}

void modelc::registerPipelines() {
  PassPipelineRegistration<>(
      "kern-cuda-to-ptx",
      "gpu.module @cuda_kernels -> gpu.binary holding PTX for sm_80 (NVVM, libdevice, NVPTX)",
      [](OpPassManager &pm) { buildCudaKernelsToPtxPipeline(pm, "sm_80"); });
  PassPipelineRegistration<>("kern-cpu-to-llvm",
                             "CPU kernel functions (loops over memrefs) -> the LLVM dialect",
                             buildCpuKernelsToLlvmPipeline);
  PassPipelineRegistration<>("kern-lower",
                             "llm -> kern: llm-fuse, convert-llm-to-kern, canonicalize, CSE",
                             buildKernPipeline);
  PassPipelineRegistration<LlmOptimizeOptions>(
      "llm-optimize",
      "The llm-level pipeline of modelc: canonicalize, partition (tp > 1), merge linears, CSE",
      buildLlmOptimizePipeline);
}
