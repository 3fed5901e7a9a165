// modelc: compiles a model definition (model.json manifest, Hugging Face directory or
// GGUF file) into a plan for modelrt, printing any stage on request.
#include "compiler/InitAll.h"
#include "compiler/codegen/CpuLibrary.h"
#include "compiler/codegen/CudaCubin.h"
#include "compiler/frontend/Builders.h"
#include "compiler/frontend/ModelSpec.h"
#include "compiler/frontend/WeightStore.h"
#include "compiler/pipeline/Pipelines.h"
#include "compiler/plan/PlanEmitter.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;
using namespace modelc;

namespace {

cl::OptionCategory category("modelc options");

cl::opt<std::string> modelPath(cl::Positional, cl::Required, cl::desc("<model>"),
                               cl::value_desc("model.json | HF directory | model.gguf"),
                               cl::cat(category));
cl::opt<std::string> outputPath("o", cl::desc("Write the plan to <file> (CPU kernels only so far)"),
                                cl::value_desc("plan.bin"), cl::cat(category));

enum class Emit { Plan, Llm, Kern, Llvm, Ptx, Summary };
cl::opt<Emit> emit(
    "emit", cl::desc("Print a stage instead of writing the plan"), cl::init(Emit::Plan),
    cl::values(clEnumValN(Emit::Llm, "llm", "llm dialect IR after the llm-level passes"),
               clEnumValN(Emit::Kern, "kern", "kern dialect IR: fused kernels and library calls"),
               clEnumValN(Emit::Llvm, "llvm", "LLVM IR of the generated CPU kernels"),
               clEnumValN(Emit::Ptx, "ptx",
                          "PTX of the generated CUDA kernels (for the first --cuda-arch, "
                          "default sm_80)"),
               clEnumValN(Emit::Summary, "summary",
                          "model, weight and KV-cache sizes, limits and layout")),
    cl::cat(category));

cl::opt<std::string> target("target", cl::desc("Code generation target: cpu or cuda"),
                            cl::value_desc("cpu|cuda"), cl::cat(category));
cl::list<std::string> cudaArch(
    "cuda-arch", cl::CommaSeparated,
    cl::desc("CUDA architectures (default sm_80): --target cuda plans get a cubin for each "
             "and the PTX of the newest (for newer GPUs); --emit=ptx prints the first's PTX"),
    cl::value_desc("sm_XX,..."), cl::cat(category));
cl::opt<std::string> dtype("dtype", cl::desc("Weight and activation dtype: f32, f16 or bf16"),
                           cl::value_desc("f32|f16|bf16"), cl::cat(category));
cl::opt<std::string> weightFormat(
    "weight-format",
    cl::desc("native (default): in f32 plans keep matrices stored as Q8_0, Q4_1, BF16 or F16 "
             "as they are (widened exactly at run time); dense: convert every weight to --dtype"),
    cl::value_desc("native|dense"), cl::init("native"), cl::cat(category));
cl::opt<std::string> mlaCache(
    "mla-cache",
    cl::desc("Multi-head latent attention (DeepSeek): latent (default on one rank) caches each "
             "token's latent, with the key and value projections folded around the attention; "
             "expanded (default over tensor-parallel ranks) caches every head's key and value"),
    cl::value_desc("latent|expanded"), cl::cat(category));
cl::opt<int64_t> tp("tp", cl::desc("Tensor-parallel ranks: the plan holds one program per rank"),
                    cl::value_desc("N"), cl::cat(category));
cl::opt<int64_t> emitRank("rank",
                          cl::desc("With --tp or --pp and --emit: the rank whose program to print"),
                          cl::value_desc("R"), cl::init(0), cl::cat(category));
cl::opt<int64_t> pp("pp", cl::desc("Pipeline stages: the plan holds one program per stage"),
                    cl::value_desc("M"), cl::cat(category));
cl::opt<int64_t> maxSeqLen("max-seq-len",
                           cl::desc("Longest sequence (prompt + output) a request may reach"),
                           cl::value_desc("L"), cl::cat(category));
cl::opt<int64_t> maxNumSeqs("max-num-seqs", cl::desc("Most requests in one iteration"),
                            cl::value_desc("S"), cl::cat(category));
cl::opt<int64_t>
    maxNumBatchedTokens("max-num-batched-tokens",
                        cl::desc("Most tokens in one iteration (sizes the activation arena)"),
                        cl::value_desc("T"), cl::cat(category));
cl::opt<bool> noMergeLinears("no-merge-linears",
                             cl::desc("Keep Q/K/V and gate/up projections as separate GEMMs"),
                             cl::cat(category));
cl::opt<bool> dummyWeights(
    "dummy-weights",
    cl::desc("Store no weight values: modelrt fills them with pseudo-random numbers at load "
             "(benchmarks of a model's shapes without its checkpoint, as vLLM's --load-format "
             "dummy; the tokenizer still comes from the model)"),
    cl::cat(category));
cl::opt<std::string>
    task("task",
         cl::desc("What the plan computes: auto (the model's files decide), generate (logits "
                  "for sampling), embed (pooled final hidden states: /v1/embeddings) or "
                  "classify (a sequence classifier's label probabilities: /classify, and a "
                  "cross-encoder's /score and /rerank)"),
         cl::value_desc("auto|generate|embed|classify"), cl::init("auto"), cl::cat(category));
cl::list<std::string> classifierFromToken(
    "classifier-from-token", cl::CommaSeparated, cl::value_desc("token,..."),
    cl::desc("With --task classify: the classifier is the LM head's rows of these tokens, "
             "written as the vocabulary stores them (vLLM's classifier_from_token: "
             "Qwen3-Reranker's no,yes)"),
    cl::cat(category));
cl::opt<std::string> classifierMethod(
    "classifier-method", cl::value_desc("from_2_way_softmax|no_post_processing"),
    cl::desc("With --classifier-from-token: from_2_way_softmax (two tokens, false then true: "
             "one label, the true token's probability; the default for two tokens) or "
             "no_post_processing (a label per token)"),
    cl::cat(category));
cl::opt<std::string> pooling("pooling", cl::value_desc("last|mean|cls"),
                             cl::desc("With --task embed: last, mean or cls (default: what the "
                                      "model's sentence-transformers or GGUF files say, else last)"),
                             cl::cat(category));
cl::opt<bool> normalize("normalize",
                        cl::desc("With --task embed: scale each embedding to unit length "
                                 "(default: what the model's files say, else true)"),
                        cl::cat(category));
cl::opt<std::string> pairTemplate(
    "pair-template", cl::value_desc("file|text"),
    cl::desc("With --task classify: how /score and /rerank join a query and a document: a "
             "text (or a file holding it) with {query} and {document}, as llama.cpp's rerank "
             "template (Qwen3-Reranker's instruction format)"),
    cl::cat(category));
cl::opt<bool> timing("timing", cl::desc("Print the time of each compiler stage to stderr"),
                     cl::cat(category));

// "classify (2 labels: negative, positive; softmax)", and how the head is made.
std::string classifierSummary(const frontend::ModelSpec &spec) {
  const modelrt::plan::Classifier &k = spec.classifier;
  std::string out = "classify (" + std::to_string(k.labels.size()) +
                    (k.labels.size() == 1 ? " label: " : " labels: ");
  for (size_t i = 0; i < k.labels.size() && i < 8; ++i)
    out += (i ? ", " : "") + k.labels[i];
  if (k.labels.size() > 8)
    out += ", ...";
  out += std::string("; ") + modelrt::plan::activationName(k.activation);
  if (k.scoreActivation != k.activation)
    out += std::string(", scores ") + modelrt::plan::activationName(k.scoreActivation);
  if (!spec.classifierTokens.empty())
    out += k.twoWaySoftmax ? "; logit of " + spec.classifierTokens[1] + " minus " +
                                 spec.classifierTokens[0]
                           : std::string("; the LM head's rows");
  else if (k.twoWaySoftmax)
    out += "; two-way softmax of " + spec.classifierHead + "'s rows";
  if (!k.pairTemplate.empty())
    out += "; pair template";
  return out + ")";
}

int fail(const Twine &message) {
  WithColor::error(errs(), "modelc") << message << "\n";
  return 1;
}

// Command-line options override the manifest; each must be positive when given.
Error applyOverrides(frontend::ModelSpec &spec) {
  auto positive = [&](cl::opt<int64_t> &opt, int64_t &field) -> Error {
    if (!opt.getNumOccurrences())
      return Error::success();
    if (opt <= 0)
      return createStringError(inconvertibleErrorCode(),
                               "--" + opt.ArgStr + " must be positive, got " + Twine(opt));
    field = opt;
    return Error::success();
  };
  if (dtype.getNumOccurrences())
    spec.dtype = dtype;
  if (target.getNumOccurrences())
    spec.target = target;
  if (dummyWeights)
    spec.weights.format = frontend::WeightSource::Format::Dummy;
  for (const std::string &arch : cudaArch) {
    StringRef digits = StringRef(arch);
    const bool ok = digits.consume_front("sm_") && (digits.consume_back("a") || true) &&
                    digits.size() >= 2 && digits.size() <= 3 && llvm::all_of(digits, llvm::isDigit);
    if (!ok)
      return createStringError(inconvertibleErrorCode(),
                               "--cuda-arch: '" + arch + "' is not of the form sm_80");
  }
  if (weightFormat != "native" && weightFormat != "dense")
    return createStringError(inconvertibleErrorCode(),
                             "--weight-format: '" + weightFormat + "' is not native or dense");
  spec.weightFormat = weightFormat;
  if (task != "auto" && task != "generate" && task != "embed" && task != "classify")
    return createStringError(inconvertibleErrorCode(),
                             "--task: '" + task + "' is not auto, generate, embed or classify");
  if (task != "auto")
    spec.task = task;
  if ((!classifierFromToken.empty() || classifierMethod.getNumOccurrences()) && !spec.classify())
    return createStringError(inconvertibleErrorCode(),
                             "--classifier-from-token and --classifier-method make classifiers: "
                             "add --task classify");
  if (classifierMethod.getNumOccurrences() && classifierFromToken.empty())
    return createStringError(inconvertibleErrorCode(),
                             "--classifier-method needs --classifier-from-token");
  if (!classifierFromToken.empty())
    if (Error e = frontend::useClassifierTokens(spec, classifierFromToken, classifierMethod))
      return e;
  if (pairTemplate.getNumOccurrences()) {
    if (!spec.classify())
      return createStringError(inconvertibleErrorCode(),
                               "--pair-template applies to classifiers: add --task classify");
    std::string text = pairTemplate;
    if (sys::fs::is_regular_file(text)) {
      ErrorOr<std::unique_ptr<MemoryBuffer>> file = MemoryBuffer::getFile(text);
      if (!file)
        return createStringError(inconvertibleErrorCode(), "--pair-template: " + text + ": " +
                                                               file.getError().message());
      text = (*file)->getBuffer().str();
    }
    if (text.find("{query}") == std::string::npos ||
        text.find("{document}") == std::string::npos)
      return createStringError(inconvertibleErrorCode(),
                               "--pair-template: the template names no {query} or no {document}");
    spec.classifier.pairTemplate = text;
  }
  if ((pooling.getNumOccurrences() || normalize.getNumOccurrences()) && !spec.embed())
    return createStringError(inconvertibleErrorCode(),
                             "--pooling and --normalize apply to embedding plans: add --task embed");
  if (pooling.getNumOccurrences()) {
    std::optional<modelrt::plan::Pooling::Type> type = modelrt::plan::parsePoolingType(pooling);
    if (!type)
      return createStringError(inconvertibleErrorCode(),
                               "--pooling: '" + pooling + "' is not last, mean or cls");
    spec.pooling.type = *type;
    if (spec.poolingModeOnly) // the files' mode is replaced, and with it its problem
      spec.poolingError.clear();
  }
  if (normalize.getNumOccurrences())
    spec.pooling.normalize = normalize;
  if (mlaCache.getNumOccurrences() && mlaCache != "latent" && mlaCache != "expanded")
    return createStringError(inconvertibleErrorCode(),
                             "--mla-cache: '" + mlaCache + "' is not latent or expanded");
  if (mlaCache.getNumOccurrences())
    spec.mlaCache = mlaCache;
  for (auto [opt, field] : {std::pair<cl::opt<int64_t> *, int64_t *>{&tp, &spec.tensorParallel},
                            {&pp, &spec.pipelineParallel},
                            {&maxSeqLen, &spec.maxSeqLen},
                            {&maxNumSeqs, &spec.maxNumSeqs},
                            {&maxNumBatchedTokens, &spec.maxNumBatchedTokens}})
    if (Error e = positive(*opt, *field))
      return e;
  return Error::success();
}

void printSummary(const frontend::ModelSpec &spec, mlir::ModuleOp module, raw_ostream &os) {
  const frontend::ModelConfig &c = spec.config;
  int64_t bytesPerElement = spec.dtype == "f32" ? 4 : 2;
  int64_t params = 0, weights = 0;
  module.walk([&](llm::WeightOp w) {
    ++weights;
    params += w.getTensorType().getNumElements();
  });
  // Per rank with tensor parallelism: its KV heads (split, or one replicated per rank).
  int64_t kvHeads = spec.tensorParallel <= c.numKvHeads ? c.numKvHeads / spec.tensorParallel : 1;
  int64_t kvPerToken = 2 * c.numLayers * kvHeads * c.headDim * bytesPerElement;
  std::string perRank = spec.tensorParallel > 1 ? " on each rank" : "";
  int64_t maxSeq = spec.maxSeqLen ? spec.maxSeqLen : c.maxPositions;
  os << "model:        " << spec.name << " (" << frontend::architectureName(c.architecture)
     << ", model_type " << c.modelType << ")\n"
     << "layers:       " << c.numLayers << ", hidden " << c.hiddenSize << ", intermediate "
     << c.intermediateSize << "\n"
     << "attention:    " << c.numHeads << " heads, " << c.numKvHeads << " KV heads, head_dim "
     << c.headDim
     << (c.architecture == frontend::Architecture::Bert ? ", bidirectional (prompts run whole)"
                                                        : "")
     << "\n"
     << "vocabulary:   " << c.vocabSize << "\n"
     << "task:         "
     << (spec.embed()      ? "embed (" +
                                std::string(modelrt::plan::poolingTypeName(spec.pooling.type)) +
                                " token pooling" + (spec.pooling.normalize ? ", normalized" : "") +
                                ", " + std::to_string(c.hiddenSize) + " dimensions)"
         : spec.classify() ? classifierSummary(spec)
                           : std::string("generate"))
     << "\n"
     << "weights:      " << weights << " tensors, " << params << " parameters, "
     << format("%.1f", params * bytesPerElement / 1048576.0) << " MiB as " << spec.dtype << " ("
     << frontend::weightFormatName(spec.weights.format) << ")"
     << (spec.tensorParallel * spec.pipelineParallel > 1 ? " on rank " + std::to_string(emitRank)
                                                         : std::string())
     << "\n"
     << "kv cache:     " << kvPerToken << " bytes per token" << perRank << "\n"
     << "target:       " << spec.target << ", tp " << spec.tensorParallel << ", pp "
     << spec.pipelineParallel << "\n"
     << "limits:       max_seq_len " << maxSeq << ", max_num_seqs " << spec.maxNumSeqs
     << ", max_num_batched_tokens " << spec.maxNumBatchedTokens << "\n";
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM y(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "modelc: ahead-of-time compiler for transformer language models\n\n"
      "  modelc MODEL -o plan.bin            compile a plan for modelrt\n"
      "  modelc MODEL --emit=llm             print the llm dialect IR\n"
      "  modelc MODEL --emit=kern            print the kernels (kern dialect IR)\n"
      "  modelc MODEL --emit=ptx             print the generated CUDA kernels (PTX)\n"
      "  modelc MODEL --emit=summary         print sizes and layout\n");

  mlir::DefaultTimingManager timingManager;
  timingManager.setEnabled(timing);
  mlir::TimingScope rootTimer = timingManager.getRootScope();

  mlir::TimingScope loadTimer = rootTimer.nest("load model");
  Expected<frontend::ModelSpec> spec = frontend::loadModelSpec(modelPath);
  if (!spec)
    return fail(toString(spec.takeError()));
  if (Error e = applyOverrides(*spec))
    return fail(toString(std::move(e)));
  if (Error e = frontend::validateSpec(*spec))
    return fail(toString(std::move(e)));
  // An encoder's prompt runs whole in one step: longer than the step, it is refused.
  if (const int64_t seq = spec->maxSeqLen ? spec->maxSeqLen : spec->config.maxPositions;
      spec->config.architecture == frontend::Architecture::Bert &&
      spec->maxNumBatchedTokens < seq)
    llvm::errs() << "modelc: warning: max-num-batched-tokens " << spec->maxNumBatchedTokens
                 << " is below max-seq-len " << seq
                 << ": an encoder runs each prompt whole in one step, so longer prompts will be "
                    "refused\n";
  if (emit == Emit::Plan && spec->target == "cuda" && spec->dtype == "f32")
    return fail("--target cuda: the CUDA executor runs bf16 and f16 plans; add --dtype bf16");
  if (spec->pipelineParallel > 1 && spec->tensorParallel > 1)
    return fail("--tp and --pp together are not supported yet: choose one");
  const int64_t numRanks = spec->tensorParallel * spec->pipelineParallel;
  if (emitRank < 0 || emitRank >= numRanks)
    return fail("--rank " + Twine(emitRank) + " is not one of the " + Twine(numRanks) +
                " ranks of --tp " + Twine(spec->tensorParallel) + " --pp " +
                Twine(spec->pipelineParallel));
  loadTimer.stop();

  if (emit == Emit::Plan && outputPath.empty())
    return fail("nothing to do: give -o plan.bin or --emit=llm|kern|llvm|summary");

  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);

  mlir::TimingScope buildTimer = rootTimer.nest("build llm IR");
  mlir::OwningOpRef<mlir::ModuleOp> module = frontend::buildModule(context, *spec);
  if (mlir::failed(mlir::verify(*module)))
    return fail("internal error: the llm IR built for '" + modelPath + "' does not verify");
  buildTimer.stop();

  mlir::TimingScope bindTimer = rootTimer.nest("bind weights");
  if (Error e = frontend::bindWeights(*module, *spec))
    return fail(toString(std::move(e)));
  bindTimer.stop();

  llvm::StringMap<std::vector<uint64_t>> sourceShapes = collectSourceShapes(*module);

  // One module per rank: a plan holds all of them, the other outputs print --rank's.
  std::vector<mlir::OwningOpRef<mlir::ModuleOp>> ranks;
  // Rank r is stage r / tp, tensor-parallel rank r % tp.
  std::vector<int64_t> rankIds;
  for (int64_t r = 0; r < numRanks; ++r)
    if (emit == Emit::Plan || r == emitRank) {
      ranks.push_back(r + 1 == numRanks || emit != Emit::Plan ? std::move(module)
                                                              : module->clone());
      rankIds.push_back(r);
    }
  mlir::TimingScope passTimer = rootTimer.nest("passes");
  for (auto [index, rankModule] : llvm::enumerate(ranks)) {
    mlir::PassManager pm(&context);
    pm.enableTiming(passTimer);
    LlmOptimizeOptions options;
    options.mergeLinears = !noMergeLinears;
    options.tp = spec->tensorParallel;
    options.pp = spec->pipelineParallel;
    options.rank = rankIds[index] % spec->tensorParallel;
    options.stage = rankIds[index] / spec->tensorParallel;
    buildLlmOptimizePipeline(pm, options);
    if (emit == Emit::Kern || emit == Emit::Llvm || emit == Emit::Plan || emit == Emit::Ptx)
      buildKernPipeline(pm);
    if (emit == Emit::Ptx || (emit == Emit::Plan && spec->target == "cuda"))
      pm.addPass(createConvertKernFusedToGpu());
    if (emit == Emit::Llvm || emit == Emit::Plan)
      buildKernFusedToLoopsPipeline(pm);
    if (mlir::failed(pm.run(*rankModule)))
      return fail("the compiler's passes failed on '" + modelPath + "'");
  }
  passTimer.stop();
  mlir::ModuleOp first = *ranks.front();

  if (emit == Emit::Ptx) {
    mlir::TimingScope codegenTimer = rootTimer.nest("cuda codegen");
    Expected<std::string> ptx =
        cudaKernelsToPtx(first, cudaArch.empty() ? "sm_80" : StringRef(cudaArch.front()));
    if (!ptx)
      return fail(modelPath + ": " + toString(ptx.takeError()));
    outs() << *ptx;
    return 0;
  }

  if (emit == Emit::Llvm || emit == Emit::Plan) {
    mlir::TimingScope codegenTimer = rootTimer.nest("cpu codegen");
    // LLD resets every llvm::cl option when it runs: keep what is still needed.
    std::string planPath = outputPath;
    std::vector<std::string> cudaChips;
    for (const std::string &chip : cudaArch) // each once
      if (std::find(cudaChips.begin(), cudaChips.end(), chip) == cudaChips.end())
        cudaChips.push_back(chip);
    if (cudaChips.empty())
      cudaChips.push_back("sm_80");
    const bool printIr = emit == Emit::Llvm;
    std::vector<std::vector<uint8_t>> libraries;
    for (mlir::OwningOpRef<mlir::ModuleOp> &rankModule : ranks) {
      llvm::LLVMContext llvmContext;
      Expected<std::unique_ptr<llvm::Module>> ir = cpuKernelsToLlvmIr(*rankModule, llvmContext);
      if (!ir)
        return fail(modelPath + ": " + toString(ir.takeError()));
      if (printIr) {
        (*ir)->print(outs(), nullptr);
        return 0;
      }
      Expected<std::vector<uint8_t>> library = buildCpuKernelLibrary(**ir);
      if (!library)
        return fail(toString(library.takeError()));
      libraries.push_back(std::move(*library));
    }
    codegenTimer.stop();
    // --target cuda: the same fused bodies as CUDA kernels: a cubin per --cuda-arch (where
    // this modelc has nvJitLink) and the PTX of the newest, for GPUs newer than all of them
    // (a portable target rather than sm_90a where both are asked for).
    std::vector<std::string> cudaKernels;
    std::vector<Cubins> cudaCubins;
    if (spec->target == "cuda") {
      mlir::TimingScope cudaTimer = rootTimer.nest("cuda codegen");
      auto number = [](const std::string &chip) {
        return std::make_pair(std::stoi(chip.substr(3)), chip.back() != 'a');
      };
      const std::string newest = *std::max_element(
          cudaChips.begin(), cudaChips.end(),
          [&](const std::string &a, const std::string &b) { return number(a) < number(b); });
      if (!canAssembleCubins())
        errs() << "modelc: note: built without nvJitLink, so the plan carries PTX only (the "
                  "driver compiles it when the plan loads)\n";
      for (mlir::OwningOpRef<mlir::ModuleOp> &rankModule : ranks) {
        Expected<std::string> ptx = cudaKernelsToPtx(*rankModule, newest);
        if (!ptx)
          return fail(modelPath + ": " + toString(ptx.takeError()));
        Cubins cubins;
        for (const std::string &chip : cudaChips) {
          if (ptx->empty() || !canAssembleCubins())
            break; // no fused kernels, or nothing to assemble with
          Expected<std::string> own = chip == newest ? Expected<std::string>(*ptx)
                                                     : cudaKernelsToPtx(*rankModule, chip);
          if (!own)
            return fail(modelPath + ": " + toString(own.takeError()));
          Expected<std::vector<uint8_t>> cubin = assembleCubin(*own, chip);
          if (!cubin)
            return fail(modelPath + ": " + toString(cubin.takeError()));
          cubins.emplace_back(chip, std::move(*cubin));
        }
        cudaKernels.push_back(std::move(*ptx));
        cudaCubins.push_back(std::move(cubins));
      }
    }
    mlir::TimingScope planTimer = rootTimer.nest("write plan");
    std::vector<mlir::ModuleOp> modules;
    for (mlir::OwningOpRef<mlir::ModuleOp> &rankModule : ranks)
      modules.push_back(*rankModule);
    if (Error e =
            writePlan(modules, *spec, sourceShapes, libraries, cudaKernels, cudaCubins, planPath))
      return fail(toString(std::move(e)));
    return 0;
  }

  if (emit == Emit::Summary)
    printSummary(*spec, first, outs());
  else
    first->print(outs());
  return 0;
}
