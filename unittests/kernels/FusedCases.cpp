// modelrt-fused-cases: runs each generated CPU kernel (kern.fused) of an f32 plan on random
// rows and writes inputs, weights and outputs as cases for the GPU check of the generated
// CUDA kernels (unittests/device/PtxCheck.cpp, scripts/gpu-check.sh): the CUDA kernels come
// from the same fused bodies (modelc --emit=ptx), and the CPU kernels are the ones checked
// against Hugging Face transformers (ReferenceTest).
//
//   modelrt-fused-cases PLAN OUTDIR [--rows N] [--max-kernels K]
//
// OUTDIR/manifest.json: [{"kernel", "rows", "inputs": [{"file", "width", "stride"}],
// "weights": [{"file", "width"}], "outputs": [{"file", "width", "stride"}]}]; the files are
// raw little-endian f32. Rows are `stride` elements apart (wider than the row, as column
// views of a merged GEMM output are), so the kernels' stride arguments are exercised.
#include "runtime/device/cpu/CpuKernelLibrary.h"
#include "runtime/plan/PlanFile.h"
#include "runtime/plan/PlanMetadata.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace modelrt;

namespace {

int fail(const std::string &message) {
  std::fprintf(stderr, "modelrt-fused-cases: %s\n", message.c_str());
  return 1;
}

bool writeFloats(const std::string &path, const std::vector<float> &v) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char *>(v.data()), std::streamsize(v.size() * sizeof(float)));
  return bool(out);
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    return fail("usage: modelrt-fused-cases PLAN OUTDIR [--rows N] [--max-kernels K]");
  const std::string planPath = argv[1], outDir = argv[2];
  int64_t rows = 37, maxKernels = 1 << 30;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--rows")
      rows = std::stoll(argv[i + 1]);
    else if (k == "--max-kernels")
      maxKernels = std::stoll(argv[i + 1]);
    else
      return fail("unknown option " + k);
  }
  Expected<plan::PlanFile> file = plan::PlanFile::open(planPath);
  if (!file)
    return fail(file.error().toString());
  Expected<plan::PlanMetadata> meta = plan::readMetadata(*file);
  if (!meta)
    return fail(meta.error().toString());
  if (meta->dtype != "f32")
    return fail("f32 plans only (the CPU kernels run f32 activations)");
  const plan::Section *image = file->find(plan::SectionKind::KernelImage);
  const plan::Section *program = file->find(plan::SectionKind::Program);
  if (!image || !program)
    return fail("the plan has no CPU kernels or no program");
  Expected<cpu::CpuKernelLibrary> library = cpu::CpuKernelLibrary::load(image->data, image->size);
  if (!library)
    return fail(library.error().toString());
  std::map<std::string, const plan::WeightEntry *> weights;
  for (const plan::WeightEntry &w : meta->weights)
    weights[w.name] = &w;

  const nlohmann::json prog = nlohmann::json::parse(program->text());
  std::map<int64_t, int64_t> width;
  for (const nlohmann::json &v : prog.at("values"))
    width[v.at("id").get<int64_t>()] = v.at("width").get<int64_t>();

  std::filesystem::create_directories(outDir);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  nlohmann::json manifest = nlohmann::json::array();
  int64_t index = 0;
  for (const nlohmann::json &op : prog.at("ops")) {
    if (op.at("op") != "fused" || index >= maxKernels)
      continue;
    const std::string kernel = op.at("attrs").at("kernel");
    const std::string prefix = "case" + std::to_string(index++) + "_";
    nlohmann::json entry = {{"kernel", kernel}, {"rows", rows}};
    std::vector<std::vector<float>> buffers;           // kept alive for the descriptors
    std::deque<cpu::MemRefDescriptor<float, 2>> views; // stable addresses for `args`
    std::deque<cpu::MemRefDescriptor<float, 1>> vectors;
    std::vector<void *> args;
    auto activation = [&](int64_t id, bool output, const std::string &name) {
      const int64_t w = width.at(id), stride = w + 3;
      std::vector<float> data(size_t(rows * stride));
      for (float &x : data)
        x = output ? NAN : normal(rng);
      buffers.push_back(std::move(data));
      views.push_back(cpu::activationView(buffers.back().data(), rows, w, stride));
      args.push_back(&views.back());
      return nlohmann::json{{"file", prefix + name}, {"width", w}, {"stride", stride}};
    };
    nlohmann::json inputs = nlohmann::json::array(), outputs = nlohmann::json::array(),
                   ws = nlohmann::json::array();
    int n = 0;
    std::vector<size_t> inputBuffers, outputBuffers;
    for (const nlohmann::json &id : op.at("inputs")) {
      inputBuffers.push_back(buffers.size());
      inputs.push_back(activation(id.get<int64_t>(), false, "in" + std::to_string(n++) + ".f32"));
    }
    n = 0;
    for (const nlohmann::json &name : op.at("attrs").at("weights")) {
      auto it = weights.find(name.get<std::string>());
      if (it == weights.end() || it->second->dtype != DType::F32 || it->second->shape.size() != 1)
        return fail(kernel + ": weight " + name.get<std::string>() + " is not an F32 vector");
      const float *data = reinterpret_cast<const float *>(it->second->data);
      buffers.emplace_back(data, data + it->second->shape[0]);
      vectors.push_back(cpu::vectorView(buffers.back().data(), int64_t(it->second->shape[0])));
      args.push_back(&vectors.back());
      ws.push_back(
          {{"file", prefix + "w" + std::to_string(n) + ".f32"}, {"width", it->second->shape[0]}});
      if (!writeFloats(outDir + "/" + prefix + "w" + std::to_string(n++) + ".f32", buffers.back()))
        return fail("cannot write to " + outDir);
    }
    n = 0;
    for (const nlohmann::json &id : op.at("outputs")) {
      outputBuffers.push_back(buffers.size());
      outputs.push_back(activation(id.get<int64_t>(), true, "out" + std::to_string(n++) + ".f32"));
    }
    if (Status st = library->call(kernel, args); !st)
      return fail(st.error().toString());
    for (size_t i = 0; i < inputBuffers.size(); ++i)
      if (!writeFloats(outDir + "/" + inputs[i].at("file").get<std::string>(),
                       buffers[inputBuffers[i]]))
        return fail("cannot write to " + outDir);
    for (size_t i = 0; i < outputBuffers.size(); ++i)
      if (!writeFloats(outDir + "/" + outputs[i].at("file").get<std::string>(),
                       buffers[outputBuffers[i]]))
        return fail("cannot write to " + outDir);
    entry["inputs"] = inputs;
    entry["weights"] = ws;
    entry["outputs"] = outputs;
    manifest.push_back(entry);
  }
  std::ofstream(outDir + "/manifest.json") << manifest.dump(1) << "\n";
  std::printf("%zu fused kernels of %s written to %s\n", manifest.size(), planPath.c_str(),
              outDir.c_str());
  return 0;
}
