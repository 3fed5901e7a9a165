#include "compiler/plan/PlanEmitter.h"

#include "dialects/kern/IR/KernDialect.h"
#include "dialects/llm/IR/LlmDialect.h"
#include "runtime/formats/Dequantize.h"
#include "runtime/formats/Gguf.h"
#include "runtime/formats/WeightSource.h"
#include "runtime/plan/CudaImage.h"
#include "runtime/plan/PlanFile.h"
#include "runtime/plan/PlanMetadata.h"
#include "runtime/tokenize/Tokenizer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cmath>
#include <cstring>
#include <functional>

using namespace mlir;
using namespace modelc;
namespace llm = modelc::llm;
namespace kern = modelc::kern;

namespace {

uint64_t splitmix64(uint64_t &state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a64(llvm::StringRef s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s)
    h = (h ^ c) * 0x100000001B3ull;
  return h;
}

llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

std::string dtypeName(Type type) {
  if (type.isF16())
    return "F16";
  if (type.isBF16())
    return "BF16";
  return "F32";
}

// Appends `values` converted to `type` to `out`.
void appendAs(Type type, llvm::ArrayRef<float> values, std::vector<uint8_t> &out) {
  if (type.isF32()) {
    const auto *bytes = reinterpret_cast<const uint8_t *>(values.data());
    out.insert(out.end(), bytes, bytes + values.size() * sizeof(float));
    return;
  }
  for (float v : values) {
    uint16_t h = type.isF16() ? modelrt::f32ToF16(v) : modelrt::f32ToBf16(v);
    out.push_back(static_cast<uint8_t>(h & 0xFF));
    out.push_back(static_cast<uint8_t>(h >> 8));
  }
}

// Source tensors as f32, in the store's layout; `shape` is filled in.
using SourceReader = std::function<llvm::Expected<std::vector<float>>(
    llvm::StringRef name, std::vector<uint64_t> &shape)>;

// Appends what `slice` ([dim, offset, size, ...]; empty: everything) keeps of a row-major
// [rows, cols] tensor whose rows are `rowBytes` bytes and whose columns come in groups of
// `groupElements` values of `groupBytes` bytes (GGUF blocks; 1 and the element size for
// plain types). With `stride` s a range keeps every s-th row or column from its offset.
// False if a column range splits a group.
bool appendSlice(const uint8_t *data, uint64_t rows, uint64_t cols, uint64_t rowBytes,
                 uint64_t groupElements, uint64_t groupBytes, llvm::ArrayRef<int64_t> slice,
                 std::vector<uint8_t> &out, int64_t stride = 1) {
  if (slice.empty()) {
    out.insert(out.end(), data, data + rows * rowBytes);
    return true;
  }
  if (slice[0] == 0) {
    for (size_t r = 1; r < slice.size(); r += 2)
      for (int64_t i = 0; i < (stride == 1 ? 1 : slice[r + 1]); ++i) {
        const uint8_t *begin = data + (slice[r] + i * stride) * rowBytes;
        out.insert(out.end(), begin, begin + (stride == 1 ? slice[r + 1] : 1) * rowBytes);
      }
    return true;
  }
  if (stride != 1 && groupElements != 1)
    return false;
  for (size_t r = 1; r < slice.size(); r += 2)
    if (slice[r] % groupElements || slice[r + 1] % groupElements ||
        uint64_t(slice[r] + (slice[r + 1] - 1) * stride + 1) > cols)
      return false;
  for (uint64_t row = 0; row < rows; ++row)
    for (size_t r = 1; r < slice.size(); r += 2) {
      const uint8_t *begin = data + row * rowBytes + slice[r] / groupElements * groupBytes;
      if (stride == 1) {
        out.insert(out.end(), begin, begin + slice[r + 1] / groupElements * groupBytes);
        continue;
      }
      for (int64_t i = 0; i < slice[r + 1]; ++i)
        out.insert(out.end(), begin + i * stride * groupBytes,
                   begin + (i * stride + 1) * groupBytes);
    }
  return true;
}

// The end of what a range of `slice` reaches: one past its last element.
uint64_t sliceEnd(int64_t offset, int64_t size, int64_t stride) {
  return static_cast<uint64_t>(offset + (size - 1) * stride + 1);
}

// One llm.weight's data as f32 in the IR's layout: each source (transposed if marked,
// then sliced if marked) stacked along dimension 0.
llvm::Expected<std::vector<float>> materialize(llm::WeightOp weight, const SourceReader &read) {
  std::vector<float> out;
  for (auto [index, attr] : llvm::enumerate(weight.getSources())) {
    std::vector<uint64_t> shape;
    llvm::Expected<std::vector<float>> data = read(cast<StringAttr>(attr).getValue(), shape);
    if (!data)
      return data.takeError();
    std::vector<float> transposed;
    if (weight.getTransposed() && shape.size() >= 2) {
      // Each matrix of a stack ([E, rows, cols]) on its own.
      const uint64_t rows = shape[shape.size() - 2], cols = shape.back();
      transposed.reserve(data->size());
      for (uint64_t m = 0; m < data->size() / (rows * cols); ++m)
        for (uint64_t c = 0; c < cols; ++c)
          for (uint64_t r = 0; r < rows; ++r)
            transposed.push_back((*data)[m * rows * cols + r * cols + c]);
      std::swap(shape[shape.size() - 2], shape.back());
      data->swap(transposed);
    }
    // A stack of matrices ([E, rows, cols]: a GGUF file's experts) is all their rows.
    uint64_t rows = 1, cols = shape.back();
    for (size_t d = 0; d + 1 < shape.size(); ++d)
      rows *= shape[d];
    llvm::SmallVector<int64_t> slice(weight.getSourceSlice(index));
    if (shape.size() == 1 && !slice.empty())
      slice[0] = 1; // a vector is one row: its ranges are columns
    std::vector<uint8_t> bytes;
    const int64_t stride = weight.getStride().value_or(1);
    for (size_t r = 1; r < slice.size(); r += 2)
      if (sliceEnd(slice[r], slice[r + 1], stride) > (slice[0] == 0 ? rows : cols))
        return error("weight @" + weight.getSymName() + ": a slice of source '" +
                     cast<StringAttr>(attr).getValue() + "' is outside its shape");
    appendSlice(reinterpret_cast<const uint8_t *>(data->data()), rows, cols, cols * sizeof(float),
                1, sizeof(float), slice, bytes, stride);
    size_t at = out.size();
    out.resize(at + bytes.size() / sizeof(float));
    std::memcpy(out.data() + at, bytes.data(), bytes.size());
  }
  if (static_cast<int64_t>(out.size()) != weight.getTensorType().getNumElements())
    return error("weight @" + weight.getSymName() + ": its sources hold " +
                 llvm::Twine(out.size()) + " elements, the IR declares " +
                 llvm::Twine(weight.getTensorType().getNumElements()));
  return out;
}

// Attributes as typed JSON: numbers, strings, booleans (unit attributes are true), symbol
// names without '@', arrays, objects; Llama 3.1's RoPE scaling as a "frequency_bands"
// object of its parameters.
llvm::json::Value attrToJson(Attribute attr) {
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return i.getType().isInteger(1) ? llvm::json::Value(i.getValue().getBoolValue())
                                    : llvm::json::Value(i.getInt());
  if (auto f = dyn_cast<FloatAttr>(attr))
    return f.getValueAsDouble();
  if (auto s = dyn_cast<StringAttr>(attr))
    return s.getValue();
  if (isa<UnitAttr>(attr))
    return true;
  if (auto ref = dyn_cast<FlatSymbolRefAttr>(attr))
    return ref.getValue();
  if (auto ref = dyn_cast<SymbolRefAttr>(attr)) // a kernel in a gpu.module: its own name
    return ref.getLeafReference().getValue();
  if (auto values = dyn_cast<DenseF64ArrayAttr>(attr)) {
    llvm::json::Array out;
    for (double v : values.asArrayRef())
      out.push_back(v);
    return out;
  }
  if (auto values = dyn_cast<DenseI64ArrayAttr>(attr)) {
    llvm::json::Array out;
    for (int64_t v : values.asArrayRef())
      out.push_back(v);
    return out;
  }
  if (auto array = dyn_cast<ArrayAttr>(attr)) {
    llvm::json::Array out;
    for (Attribute a : array)
      out.push_back(attrToJson(a));
    return out;
  }
  if (auto dict = dyn_cast<DictionaryAttr>(attr)) {
    llvm::json::Object out;
    for (NamedAttribute a : dict)
      out[a.getName().getValue()] = attrToJson(a.getValue());
    return out;
  }
  if (auto scaling = dyn_cast<llm::Llama3RopeScalingAttr>(attr))
    return llvm::json::Object{
        {"type", "frequency_bands"}, // the runtime knows RoPE variants, not model names
        {"factor", scaling.getFactor().convertToDouble()},
        {"low_freq_factor", scaling.getLowFreqFactor().convertToDouble()},
        {"high_freq_factor", scaling.getHighFreqFactor().convertToDouble()},
        {"original_max_position", scaling.getOriginalMaxPosition()}};
  std::string text;
  llvm::raw_string_ostream os(text);
  attr.print(os);
  return os.str();
}

int64_t elementBytes(Type type) { return type.isF32() || type.isInteger(32) ? 4 : 2; }

// The program of one rank: @forward's kernels in order, over numbered values, and the
// activation arena: every [max_num_batched_tokens, width] activation gets a byte offset,
// reused once the value is dead (first fit in program order); column views alias their
// source.
llvm::json::Object program(func::FuncOp forward, int64_t arenaRows) {
  llvm::DenseMap<Value, int64_t> ids;
  SmallVector<Value> byId;
  auto id = [&](Value v) -> int64_t {
    auto [it, inserted] = ids.try_emplace(v, static_cast<int64_t>(ids.size()));
    if (inserted)
      byId.push_back(v);
    return it->second;
  };
  llvm::json::Object inputs;
  for (BlockArgument arg : forward.getArguments()) {
    auto name = forward.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "llm.name");
    if (name && isa<RankedTensorType>(arg.getType()))
      inputs[name.getValue()] = id(arg);
  }
  SmallVector<Operation *> kernels;
  forward.walk([&](Operation *op) {
    if (op->getDialect() && isa<kern::KernDialect>(op->getDialect()) &&
        !op->getParentOfType<kern::FusedOp>())
      kernels.push_back(op);
  });
  llvm::json::Array ops;
  for (Operation *op : kernels) {
    llvm::json::Array in, out;
    for (Value v : op->getOperands())
      in.push_back(id(v));
    for (Value v : op->getResults())
      out.push_back(id(v));
    llvm::json::Object attrs;
    for (NamedAttribute a : op->getAttrs())
      if (a.getName() != "operandSegmentSizes") // the inputs list says which are there
        attrs[a.getName().getValue()] = attrToJson(a.getValue());
    ops.push_back(llvm::json::Object{{"op", op->getName().stripDialect()},
                                     {"inputs", std::move(in)},
                                     {"outputs", std::move(out)},
                                     {"attrs", std::move(attrs)}});
  }
  llvm::json::Array results;
  for (Value v : forward.getBody().front().getTerminator()->getOperands())
    results.push_back(id(v));

  // Lifetimes in op indices: defined at its op (inputs before op 0), dead after its last
  // use; @forward's results live to the end. A view keeps its source alive.
  size_t n = byId.size();
  std::vector<int64_t> def(n, -1), last(n, -1), root(n);
  for (size_t v = 0; v < n; ++v)
    root[v] = static_cast<int64_t>(v);
  for (auto [index, op] : llvm::enumerate(kernels)) {
    for (Value r : op->getResults())
      def[ids[r]] = static_cast<int64_t>(index);
    if (auto view = dyn_cast<kern::ColumnsOp>(op))
      root[ids[view.getResult()]] = root[ids[view.getInput()]];
    for (Value o : op->getOperands())
      last[root[ids[o]]] = std::max<int64_t>(last[root[ids[o]]], index);
  }
  for (Value v : forward.getBody().front().getTerminator()->getOperands())
    last[root[ids[v]]] = static_cast<int64_t>(kernels.size());

  std::vector<int64_t> offset(n, -1);
  struct Block {
    int64_t begin, end, dies;
  };
  std::vector<Block> live;
  int64_t arenaBytes = 0;
  for (size_t v = 0; v < n; ++v) {
    auto type = cast<RankedTensorType>(byId[v].getType());
    if (type.getRank() != 2 || root[v] != static_cast<int64_t>(v) || def[v] < 0)
      continue;
    int64_t bytes =
        (arenaRows * type.getDimSize(1) * elementBytes(type.getElementType()) + 63) / 64 * 64;
    llvm::erase_if(live, [&](const Block &b) { return b.dies < def[v]; });
    llvm::sort(live, [](const Block &a, const Block &b) { return a.begin < b.begin; });
    int64_t at = 0;
    for (const Block &b : live) {
      if (at + bytes <= b.begin)
        break;
      at = std::max(at, b.end);
    }
    offset[v] = at;
    live.push_back({at, at + bytes, std::max(last[v], def[v])});
    arenaBytes = std::max(arenaBytes, at + bytes);
  }

  llvm::json::Array values;
  for (size_t v = 0; v < n; ++v) {
    auto type = cast<RankedTensorType>(byId[v].getType());
    std::string element;
    llvm::raw_string_ostream os(element);
    type.getElementType().print(os);
    llvm::json::Object desc{{"id", static_cast<int64_t>(v)},
                            {"width", type.getRank() == 2 ? type.getDimSize(1) : 1},
                            {"dtype", os.str()}};
    if (root[v] != static_cast<int64_t>(v)) {
      auto view = cast<kern::ColumnsOp>(byId[v].getDefiningOp());
      desc["view_of"] = root[v];
      desc["column_offset"] = static_cast<int64_t>(view.getOffset());
    } else if (offset[v] >= 0) {
      desc["arena_offset"] = offset[v];
    }
    values.push_back(std::move(desc));
  }
  return llvm::json::Object{
      {"inputs", std::move(inputs)},
      {"outputs", std::move(results)},
      {"values", std::move(values)},
      {"ops", std::move(ops)},
      {"arena", llvm::json::Object{{"rows", arenaRows}, {"bytes", arenaBytes}}}};
}

} // namespace

float modelc::randomWeight(uint64_t seed, llvm::StringRef name, uint64_t index, uint64_t rows,
                           uint64_t cols) {
  uint64_t state = seed ^ fnv1a64(name) ^ (index * 0xD1342543DE82EF95ull);
  double u = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53; // [0, 1)
  double centred = 2.0 * u - 1.0;
  // Matrices: uniform(-1/sqrt(cols), 1/sqrt(cols)); vectors (norms, biases): 1 +- 0.1.
  if (rows > 0)
    return static_cast<float>(centred / std::sqrt(static_cast<double>(cols)));
  return static_cast<float>(1.0 + 0.1 * centred);
}

llvm::StringMap<std::vector<uint64_t>> modelc::collectSourceShapes(ModuleOp module) {
  llvm::StringMap<std::vector<uint64_t>> shapes, layouts;
  // A mixture's weights name one matrix per expert: a transposed single source is a stack.
  llvm::DenseMap<StringAttr, uint64_t> experts;
  module.walk([&](llm::MoeOp moe) {
    for (FlatSymbolRefAttr ref : {moe.getGateAttr(), moe.getUpAttr(), moe.getDownAttr()})
      experts[ref.getAttr()] = moe.getNumExperts();
  });
  for (llm::WeightOp w : module.getOps<llm::WeightOp>()) {
    if (w.getSources().size() != 1) {
      // A stack of whole sources (a mixture's experts): equal shares of the rows.
      const uint64_t n = w.getSources().size();
      std::vector<uint64_t> shape(w.getTensorType().getShape().begin(),
                                  w.getTensorType().getShape().end());
      if (w.getSlices() || w.getTransposed() || shape.empty() || shape[0] % n)
        continue;
      shape[0] /= n;
      for (Attribute source : w.getSources())
        shapes[cast<StringAttr>(source).getValue()] = shape;
      continue;
    }
    std::vector<uint64_t> shape(w.getTensorType().getShape().begin(),
                                w.getTensorType().getShape().end());
    StringRef source = cast<StringAttr>(w.getSources()[0]).getValue();
    // Slices of one source (Phi-3's fused qkv_proj read as q, k and v; gpt-oss's even and
    // odd gate_up_proj rows) tile it: the source reaches as far as the furthest slice, in
    // the weights' layout (before any transpose).
    std::vector<uint64_t> &known = layouts[source];
    if (ArrayRef<int64_t> slice = w.getSourceSlice(0); !slice.empty()) {
      uint64_t end = 0;
      for (size_t r = 1; r < slice.size(); r += 2)
        end = std::max(end, sliceEnd(slice[r], slice[r + 1], w.getStride().value_or(1)));
      if (!known.empty())
        end = std::max(end, known[slice[0]]);
      shape[slice[0]] = end;
    }
    known = shape;
    if (auto it = experts.find(w.getSymNameAttr());
        w.getTransposed() && it != experts.end() && shape[0] % it->second == 0)
      shape = {it->second, shape[1], shape[0] / it->second}; // [E, in, out]: each transposed
    else if (w.getTransposed())
      std::swap(shape[0], shape[1]);
    shapes[source] = shape;
  }
  return shapes;
}

llvm::Error modelc::writePlan(llvm::ArrayRef<ModuleOp> modules, const frontend::ModelSpec &spec,
                              const llvm::StringMap<std::vector<uint64_t>> &sourceShapes,
                              llvm::ArrayRef<std::vector<uint8_t>> cpuKernels,
                              llvm::ArrayRef<std::string> cudaKernels,
                              llvm::ArrayRef<Cubins> cudaCubins, llvm::StringRef path) {
  if (modules.empty() || modules.size() != cpuKernels.size())
    return error("internal error: one module and one kernel library per rank are needed");
  for (ModuleOp module : modules)
    if (!module.lookupSymbol<func::FuncOp>("forward"))
      return error("internal error: the module has no @forward");
  ModuleOp module = modules.front();

  // The weight store, read tensor by tensor.
  std::optional<modelrt::WeightSource> store;
  SourceReader read;
  if (spec.weights.format == frontend::WeightSource::Format::Random ||
      spec.weights.format == frontend::WeightSource::Format::Dummy) {
    uint64_t seed = spec.weights.seed;
    read = [&sourceShapes,
            seed](llvm::StringRef name,
                  std::vector<uint64_t> &shape) -> llvm::Expected<std::vector<float>> {
      auto it = sourceShapes.find(name);
      if (it == sourceShapes.end())
        return error("internal error: no shape for random tensor '" + name + "'");
      shape = it->second;
      uint64_t n = 1;
      for (uint64_t d : shape)
        n *= d;
      // Tensors of two or more dimensions are matrices of their last dimension's columns.
      uint64_t rows = shape.size() >= 2 ? n / shape.back() : 0, cols = shape.back();
      std::vector<float> data(n);
      for (uint64_t i = 0; i < n; ++i)
        data[i] = randomWeight(seed, name, i, rows, cols);
      return data;
    };
  } else {
    modelrt::Expected<modelrt::WeightSource> opened =
        modelrt::WeightSource::open(spec.weights.path);
    if (!opened)
      return error(opened.error().message());
    store.emplace(std::move(*opened));
    read = [&store](llvm::StringRef name,
                    std::vector<uint64_t> &shape) -> llvm::Expected<std::vector<float>> {
      const modelrt::TensorInfo *tensor = store->findTensor(std::string_view(name));
      if (!tensor)
        return error("tensor '" + name + "' is missing from the weight store");
      shape = tensor->shape;
      modelrt::Expected<std::vector<float>> data = modelrt::dequantizeToF32(*tensor);
      if (!data)
        return error(data.error().message());
      return std::move(*data);
    };
  }

  // A matrix whose sources all hold one kept type (GGUF blocks of plan::isKeptBlockType,
  // or BF16 / F16
  // from safetensors or GGUF), concatenated along rows (merged QKV, gate/up), not
  // transposed, and sliced (if at all) on whole blocks, goes into an f32 plan as those
  // bytes: the runtime widens them exactly.
  auto keptBytes =
      [&](llm::WeightOp w) -> std::optional<std::pair<modelrt::DType, std::vector<uint8_t>>> {
    if (!store || spec.weightFormat != "native" || spec.dtype != "f32" || w.getTransposed() ||
        w.getTensorType().getRank() != 2)
      return std::nullopt;
    std::optional<modelrt::DType> dtype;
    std::vector<uint8_t> bytes;
    for (auto [index, attr] : llvm::enumerate(w.getSources())) {
      const modelrt::TensorInfo *t =
          store->findTensor(std::string_view(cast<StringAttr>(attr).getValue()));
      if (!t ||
          (!modelrt::plan::isKeptBlockType(t->dtype) && t->dtype != modelrt::DType::BF16 &&
           t->dtype != modelrt::DType::F16) ||
          (dtype && *dtype != t->dtype) || t->shape.size() < 2 || t->shape[0] == 0)
        return std::nullopt;
      dtype = t->dtype;
      llvm::ArrayRef<int64_t> slice = w.getSourceSlice(index);
      // A stack of matrices ([E, rows, cols]) is all their rows.
      const uint64_t sourceCols = t->shape.back(), sourceRows = t->elementCount() / sourceCols;
      uint64_t cols = sourceCols;
      if (!slice.empty() && slice[0] == 1) {
        cols = 0;
        for (size_t r = 1; r < slice.size(); r += 2)
          cols += static_cast<uint64_t>(slice[r + 1]);
      }
      const modelrt::DTypeInfo &info = modelrt::dtypeInfo(t->dtype);
      if (static_cast<int64_t>(cols) != w.getTensorType().getShape()[1] ||
          !appendSlice(t->data, sourceRows, sourceCols, t->size / sourceRows, info.blockElements,
                       info.blockBytes, slice, bytes, w.getStride().value_or(1)))
        return std::nullopt;
    }
    uint64_t expected =
        *modelrt::checkedByteSize(*dtype, {static_cast<uint64_t>(w.getTensorType().getShape()[0]),
                                           static_cast<uint64_t>(w.getTensorType().getShape()[1])});
    if (bytes.size() != expected)
      return std::nullopt;
    return std::make_pair(*dtype, std::move(bytes));
  };

  // Where a matrix's rows and columns come from (docs/plan-format.md, "sources"): for each
  // source in order, its name in the store and the ranges of its rows and columns the
  // matrix holds, in the matrix's layout. What a LoRA adapter's module names are matched by
  // at load; stacks of matrices (experts) and vectors get none.
  auto sourcesOf = [&](llm::WeightOp w) -> std::optional<llvm::json::Array> {
    if (w.getTensorType().getRank() != 2)
      return std::nullopt;
    llvm::json::Array out;
    int64_t rows = 0;
    for (auto [index, attr] : llvm::enumerate(w.getSources())) {
      StringRef name = cast<StringAttr>(attr).getValue();
      std::vector<uint64_t> shape;
      if (store) {
        if (const modelrt::TensorInfo *t = store->findTensor(std::string_view(name)))
          shape = t->shape;
      } else if (auto it = sourceShapes.find(name); it != sourceShapes.end()) {
        shape = it->second;
      }
      if (shape.size() != 2)
        return std::nullopt;
      if (w.getTransposed())
        std::swap(shape[0], shape[1]);
      llvm::json::Array dims[2] = {llvm::json::Array{int64_t(0), int64_t(shape[0])},
                                   llvm::json::Array{int64_t(0), int64_t(shape[1])}};
      llvm::json::Object entry{
          {"name", name}, {"shape", llvm::json::Array{int64_t(shape[0]), int64_t(shape[1])}}};
      if (ArrayRef<int64_t> slice = w.getSourceSlice(index); !slice.empty()) {
        llvm::json::Array ranges;
        for (size_t r = 1; r < slice.size(); ++r)
          ranges.push_back(slice[r]);
        dims[slice[0]] = std::move(ranges);
        if (w.getStride().value_or(1) != 1)
          entry[slice[0] == 0 ? "row_stride" : "col_stride"] = *w.getStride();
      }
      for (size_t r = 1; r < dims[0].size(); r += 2)
        rows += *dims[0][r].getAsInteger();
      entry["rows"] = std::move(dims[0]);
      entry["cols"] = std::move(dims[1]);
      out.push_back(std::move(entry));
    }
    if (rows != w.getTensorType().getShape()[0])
      return std::nullopt;
    return out;
  };

  // Weights of each rank: converted (or kept as GGUF blocks), 64-byte aligned, in
  // declaration order; the table names each entry's rank.
  std::vector<std::vector<uint8_t>> blobs(modules.size());
  llvm::json::Array table;
  for (auto [rank, rankModule] : llvm::enumerate(modules)) {
    ModuleOp m = rankModule;
    std::vector<uint8_t> &blob = blobs[rank];
    std::vector<std::string> widened; // weights held as GGUF blocks but written as f32
    for (llm::WeightOp w : m.getOps<llm::WeightOp>()) {
      llvm::json::Array shape;
      for (int64_t d : w.getTensorType().getShape())
        shape.push_back(d);
      std::string dtype;
      blob.resize((blob.size() + 63) / 64 * 64, 0);
      uint64_t offset = blob.size();
      if (spec.weights.format == frontend::WeightSource::Format::Dummy) {
        // No bytes: the runtime fills the entry at load (plan::fillDummyWeights).
        dtype = dtypeName(w.getTensorType().getElementType());
        std::optional<modelrt::DType> type = modelrt::dtypeFromSafetensorsName(dtype);
        std::vector<uint64_t> dims(w.getTensorType().getShape().begin(),
                                   w.getTensorType().getShape().end());
        modelrt::Expected<uint64_t> bytes =
            type ? modelrt::checkedByteSize(*type, dims)
                 : modelrt::Expected<uint64_t>(modelrt::Error(modelrt::ErrorCode::Internal, dtype));
        if (!bytes)
          return error("weight " + w.getSymName() + ": " + bytes.error().message());
        table.push_back(llvm::json::Object{{"name", w.getSymName()},
                                           {"rank", static_cast<int64_t>(rank)},
                                           {"dtype", dtype},
                                           {"shape", std::move(shape)},
                                           {"fill", "dummy"},
                                           {"offset", int64_t(0)},
                                           {"size", static_cast<int64_t>(*bytes)}});
        if (std::optional<llvm::json::Array> sources = sourcesOf(w))
          (*table.back().getAsObject())["sources"] = std::move(*sources);
        continue;
      }
      if (auto kept = keptBytes(w)) {
        dtype = modelrt::dtypeName(kept->first);
        blob.insert(blob.end(), kept->second.begin(), kept->second.end());
      } else {
        if (w.getStorage() && spec.weightFormat == "native" && spec.dtype == "f32")
          widened.push_back(w.getSymName().str()); // its blocks could not be kept
        llvm::Expected<std::vector<float>> data = materialize(w, read);
        if (!data)
          return data.takeError();
        dtype = dtypeName(w.getTensorType().getElementType());
        appendAs(w.getTensorType().getElementType(), *data, blob);
      }
      table.push_back(llvm::json::Object{{"name", w.getSymName()},
                                         {"rank", static_cast<int64_t>(rank)},
                                         {"dtype", dtype},
                                         {"shape", std::move(shape)},
                                         {"offset", static_cast<int64_t>(offset)},
                                         {"size", static_cast<int64_t>(blob.size() - offset)}});
      if (std::optional<llvm::json::Array> sources = sourcesOf(w))
        (*table.back().getAsObject())["sources"] = std::move(*sources);
      // Written by the last rank: the store's derived copies of its sources (repacked or
      // dequantized checkpoint tensors) are not needed again.
      if (store && rank + 1 == modules.size())
        for (Attribute source : w.getSources())
          store->release(cast<StringAttr>(source).getValue());
    }
    if (!widened.empty())
      llvm::errs() << "modelc: note: rank " << rank << ": " << widened.size()
                   << " weight(s) held as GGUF blocks are written as f32, their tensor-parallel "
                      "slices not falling on block boundaries (first: "
                   << widened.front() << ")\n";
  }

  // The KV cache of each rank: one entry per layer, all alike, the same heads on every rank.
  // Value heads may be narrower than key heads (value_head_dim).
  int64_t layers = 0, kvHeads = 0, headDim = 0, valueDim = 0;
  bool valuesInKeys = false, bidirectional = false;
  for (auto [rank, rankModule] : llvm::enumerate(modules)) {
    ModuleOp m = rankModule;
    int64_t l = 0, h = 0, d = 0, vd = 0;
    bool mixed = false, inKeys = false;
    m.lookupSymbol<func::FuncOp>("forward").walk([&](kern::AttentionOp op) {
      DictionaryAttr c = op.getConfig();
      l = std::max(l, cast<IntegerAttr>(c.get("layer")).getInt() + 1);
      const int64_t oh = cast<IntegerAttr>(c.get("num_kv_heads")).getInt(),
                    od = cast<IntegerAttr>(c.get("head_dim")).getInt();
      const int64_t ov =
          c.get("value_head_dim") ? cast<IntegerAttr>(c.get("value_head_dim")).getInt() : od;
      const bool inKey = static_cast<bool>(c.get("value_in_key"));
      bidirectional |= static_cast<bool>(c.get("bidirectional"));
      mixed |= h && std::tie(h, d, vd, inKeys) != std::tie(oh, od, ov, inKey);
      std::tie(h, d, vd, inKeys) = std::tie(oh, od, ov, inKey);
    });
    if (mixed)
      return error("internal error: rank " + llvm::Twine(rank) +
                   "'s layers differ in KV heads or head sizes");
    // Pipeline stages hold different numbers of layers: the cache is sized for the most.
    layers = std::max(layers, l);
    if (rank == 0)
      std::tie(kvHeads, headDim, valueDim, valuesInKeys) = std::tie(h, d, vd, inKeys);
    else if (std::tie(kvHeads, headDim, valueDim, valuesInKeys) != std::tie(h, d, vd, inKeys))
      return error("internal error: rank " + llvm::Twine(rank) +
                   "'s KV heads differ from rank 0's");
  }
  llvm::json::Object kvCache{
      {"num_layers", layers}, {"num_kv_heads", kvHeads}, {"head_dim", headDim}};
  if (valueDim != headDim)
    kvCache["value_head_dim"] = valueDim;
  if (valuesInKeys)
    kvCache["values_in_keys"] = true;

  // Recurrent states (kern.causal_conv1d, gated_delta_rule, ssm_scan): each rank's count, numbered from 0; the runtime
  // sizes each from the op that keeps it.
  int64_t states = 0;
  for (ModuleOp m : modules)
    m.lookupSymbol<func::FuncOp>("forward").walk([&](Operation *op) {
      DictionaryAttr config;
      if (auto c = dyn_cast<kern::CausalConv1dOp>(op))
        config = c.getConfig();
      else if (auto d = dyn_cast<kern::GatedDeltaRuleOp>(op))
        config = d.getConfig();
      else if (auto m = dyn_cast<kern::SsmScanOp>(op))
        config = m.getConfig();
      if (config)
        states = std::max(states, cast<IntegerAttr>(config.get("state")).getInt() + 1);
    });

  auto dictToJson = [](Attribute attr) {
    return attr ? attrToJson(attr) : llvm::json::Value(llvm::json::Object());
  };
  llvm::json::Object metadata{
      {"format", "modelc-plan"},
      {"version", static_cast<int64_t>(modelrt::plan::kVersion)},
      {"built_by", "modelc 0.1"},
      {"model", dictToJson(module->getAttr("llm.model"))},
      {"limits", dictToJson(module->getAttr("llm.limits"))},
      {"target", dictToJson(module->getAttr("llm.target"))},
      {"kv_cache", std::move(kvCache)},
      {"weights", std::move(table)},
      // How the weights' sources are named: "huggingface" (safetensors checkpoints, and the
      // seeded stores of manifests, which use the same names) or "gguf".
      {"weight_names",
       spec.weights.format == frontend::WeightSource::Format::Gguf ? "gguf" : "huggingface"},
  };
  if (Attribute pooling = module->getAttr("llm.pooling"))
    metadata["pooling"] = attrToJson(pooling);
  if (Attribute classifier = module->getAttr("llm.classifier"))
    metadata["classifier"] = attrToJson(classifier);
  if (states > 0)
    metadata["recurrent_state"] = llvm::json::Object{{"num_states", states}};
  if (bidirectional)
    metadata["bidirectional"] = true;

  modelrt::plan::PlanWriter writer;
  if (spec.tokenizer.format == "tokenizer.json") {
    auto buffer = llvm::MemoryBuffer::getFile(spec.tokenizer.path);
    if (!buffer)
      return error(spec.tokenizer.path + ": cannot read: " + buffer.getError().message());
    writer.addSection(modelrt::plan::SectionKind::Tokenizer, 0, "tokenizer.json",
                      std::string_view((*buffer)->getBuffer().data(), (*buffer)->getBufferSize()));
    metadata["tokenizer"] = llvm::json::Object{{"format", "tokenizer.json"}};
    // Read now as modelrt will, so a file it cannot use is named at compile time (a
    // warning: modelrt can still be given a tokenizer with --tokenizer).
    if (auto tok = modelrt::Tokenizer::fromFile(spec.tokenizer.path); !tok)
      llvm::errs() << "modelc: warning: modelrt cannot use this tokenizer: "
                   << tok.error().message() << "\n";
    // The files beside it that say how the model is served (chat template, BOS/EOS, the
    // tokens that end an answer), each in a section of its own name.
    for (const modelrt::HfTokenizerFile &companion : modelrt::kHfTokenizerFiles) {
      llvm::SmallString<256> file(llvm::sys::path::parent_path(spec.tokenizer.path));
      llvm::sys::path::append(file, companion.name);
      if (!llvm::sys::fs::exists(file))
        continue;
      auto text = llvm::MemoryBuffer::getFile(file);
      if (!text)
        return error(file + ": cannot read: " + text.getError().message());
      writer.addSection(modelrt::plan::SectionKind::Tokenizer, 0, companion.name,
                        std::string_view((*text)->getBuffer().data(), (*text)->getBufferSize()));
    }
  } else if (spec.tokenizer.format == "gguf") {
    // The GGUF's tokenizer.* metadata, as a GGUF file of its own (no tensors).
    modelrt::Expected<modelrt::GgufFile> gguf = modelrt::GgufFile::open(spec.tokenizer.path);
    if (!gguf)
      return error(gguf.error().message());
    std::vector<std::pair<std::string, const modelrt::GgufValue *>> keys;
    for (const auto &[key, value] : gguf->metadata())
      if (llvm::StringRef(key).starts_with("tokenizer."))
        keys.emplace_back(key, &value);
    // A BPE tokenizer's pre-tokenizer preset, resolved here to its regexes, so the runtime
    // reads the plan's tokenizer without a table of preset names.
    modelrt::GgufPreTokenizer pre;
    modelrt::GgufValue regexes, ignoreMerges;
    modelrt::Expected<std::string> model = gguf->getString("tokenizer.ggml.model");
    if (model && *model == "gpt2") {
      modelrt::Expected<std::string> preset = gguf->getString("tokenizer.ggml.pre");
      modelrt::Expected<modelrt::GgufPreTokenizer> resolved =
          modelrt::resolveGgufPreTokenizer(preset ? *preset : std::string("default"));
      if (!resolved)
        return error(spec.tokenizer.path + ": " + resolved.error().message());
      pre = std::move(*resolved);
      regexes.type = modelrt::GgufType::Array;
      regexes.elemType = modelrt::GgufType::String;
      regexes.count = pre.regexes.size();
      regexes.strings.assign(pre.regexes.begin(), pre.regexes.end());
      ignoreMerges.type = modelrt::GgufType::Bool;
      ignoreMerges.u = pre.ignoreMerges;
      keys.emplace_back(modelrt::kGgufPreRegexesKey, &regexes);
      keys.emplace_back(modelrt::kGgufIgnoreMergesKey, &ignoreMerges);
    }
    std::vector<uint8_t> bytes = modelrt::writeGgufMetadata(keys);
    writer.addSection(modelrt::plan::SectionKind::Tokenizer, 0, "tokenizer.gguf",
                      std::string_view(reinterpret_cast<const char *>(bytes.data()), bytes.size()));
    metadata["tokenizer"] = llvm::json::Object{{"format", "gguf"}};
  }
  std::string metadataText;
  llvm::raw_string_ostream(metadataText) << llvm::json::Value(std::move(metadata));
  int64_t arenaRows =
      cast<IntegerAttr>(
          cast<DictionaryAttr>(module->getAttr("llm.limits")).get("max_num_batched_tokens"))
          .getInt();
  writer.addSection(modelrt::plan::SectionKind::Metadata, 0, "metadata", metadataText);
  for (auto [rank, rankModule] : llvm::enumerate(modules)) {
    ModuleOp m = rankModule;
    std::string programText;
    llvm::raw_string_ostream(programText)
        << llvm::json::Value(program(m.lookupSymbol<func::FuncOp>("forward"), arenaRows));
    auto r = static_cast<uint32_t>(rank);
    writer.addSection(modelrt::plan::SectionKind::Program, r, "program", programText);
    writer.addSection(modelrt::plan::SectionKind::Weights, r, "weights", std::move(blobs[rank]));
    writer.addSection(modelrt::plan::SectionKind::KernelImage, r, "cpu-kernels.so",
                      cpuKernels[rank]);
    if (rank < cudaKernels.size())
      writer.addSection(modelrt::plan::SectionKind::CudaKernels, r, "cuda-kernels.ptx",
                        cudaKernels[rank]);
    if (rank < cudaCubins.size())
      for (const auto &[arch, cubin] : cudaCubins[rank])
        writer.addSection(modelrt::plan::SectionKind::CudaCubin, r,
                          modelrt::plan::cubinSectionName(arch), cubin);
  }
  modelrt::Status written = writer.write(path.str());
  if (!written)
    return error(written.error().message());
  return llvm::Error::success();
}
