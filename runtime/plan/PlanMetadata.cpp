#include "runtime/plan/PlanMetadata.h"
#include "runtime/formats/Dequantize.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <thread>

namespace modelrt::plan {

namespace {

// Reads fields of one JSON object, naming "<section>.<field>" in errors.
class Fields {
public:
  Fields(const nlohmann::json &object, std::string where)
      : object_(object), where_(std::move(where)) {}

  const nlohmann::json *get(const std::string &key, nlohmann::json::value_t type) {
    auto it = object_.find(key);
    if (it == object_.end()) {
      fail(key, "missing");
      return nullptr;
    }
    bool ok = it->type() == type ||
              (type == nlohmann::json::value_t::number_integer && it->is_number_unsigned());
    if (!ok) {
      fail(key, "has the wrong type");
      return nullptr;
    }
    return &*it;
  }
  int64_t positive(const std::string &key) {
    const nlohmann::json *v = get(key, nlohmann::json::value_t::number_integer);
    if (!v)
      return 0;
    int64_t n = v->get<int64_t>();
    if (n <= 0)
      fail(key, "must be positive");
    return n;
  }
  std::string string(const std::string &key) {
    const nlohmann::json *v = get(key, nlohmann::json::value_t::string);
    return v ? v->get<std::string>() : std::string();
  }
  void fail(const std::string &key, const std::string &problem) {
    if (error_.empty())
      error_ = where_ + "." + key + " " + problem;
  }
  const std::string &error() const { return error_; }

private:
  const nlohmann::json &object_;
  std::string where_;
  std::string error_;
};

// [offset, size, ...] pairs: offsets from 0, sizes from 1, and the last element reached
// inside 2^40.
bool parseRanges(const nlohmann::json &j, int64_t stride, std::vector<int64_t> &out) {
  if (!j.is_array() || j.empty() || j.size() % 2 || j.size() > 1 << 20)
    return false;
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_number_integer())
      return false;
    const int64_t v = j[i].get<int64_t>();
    if (v < (i % 2 ? 1 : 0) || v > (int64_t(1) << 40))
      return false;
    out.push_back(v);
  }
  for (size_t i = 0; i < out.size(); i += 2)
    if (out[i] + (out[i + 1] - 1) * stride >= (int64_t(1) << 40))
      return false;
  return true;
}

// One past the last index `ranges` reach.
int64_t reachOf(const std::vector<int64_t> &ranges, int64_t stride) {
  int64_t end = 0;
  for (size_t i = 0; i < ranges.size(); i += 2)
    end = std::max(end, ranges[i] + (ranges[i + 1] - 1) * stride + 1);
  return end;
}

Status parseSources(const nlohmann::json &j, WeightEntry &e, const std::string &label) {
  auto bad = [&](const std::string &what) {
    return Error(ErrorCode::InvalidFormat, label + " (" + e.name + ").sources " + what);
  };
  if (!j.is_array() || e.shape.size() != 2)
    return bad("must be an array, of a matrix");
  int64_t rows = 0;
  for (const nlohmann::json &s : j) {
    WeightSource source;
    auto stride = [&](const char *key, int64_t &out) {
      auto it = s.find(key);
      if (it == s.end())
        return true;
      if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 1 << 20)
        return false;
      out = it->get<int64_t>();
      return true;
    };
    if (!s.is_object() || !s.contains("name") || !s["name"].is_string() ||
        !s.contains("rows") || !s.contains("cols") || !stride("row_stride", source.rowStride) ||
        !stride("col_stride", source.colStride) ||
        !parseRanges(s["rows"], source.rowStride, source.rows) ||
        !parseRanges(s["cols"], source.colStride, source.cols))
      return bad("has an entry without a name, or with bad rows, cols or strides");
    source.name = s["name"].get<std::string>();
    const auto shape = s.find("shape");
    if (shape == s.end() || !shape->is_array() || shape->size() != 2 ||
        !(*shape)[0].is_number_integer() || !(*shape)[1].is_number_integer())
      return bad("entry " + source.name + " has no shape [rows, cols]");
    source.sourceRows = (*shape)[0].get<int64_t>();
    source.sourceCols = (*shape)[1].get<int64_t>();
    if (source.sourceRows < 1 || source.sourceCols < 1 ||
        reachOf(source.rows, source.rowStride) > source.sourceRows ||
        reachOf(source.cols, source.colStride) > source.sourceCols)
      return bad("entry " + source.name + " has ranges outside its shape");
    if (source.numCols() != static_cast<int64_t>(e.shape[1]))
      return bad("name " + std::to_string(source.numCols()) + " columns of " + source.name +
                 ", not the matrix's " + std::to_string(e.shape[1]));
    rows += source.numRows();
    e.sources.push_back(std::move(source));
  }
  if (rows != static_cast<int64_t>(e.shape[0]))
    return bad("cover " + std::to_string(rows) + " rows, not the matrix's " +
               std::to_string(e.shape[0]));
  return Status::success();
}

Expected<PlanMetadata> parse(const PlanFile &plan, const Section &section, int64_t rank) {
  auto bad = [&](const std::string &what) {
    return Error(ErrorCode::InvalidFormat, plan.path() + ": metadata: " + what);
  };
  nlohmann::json root = nlohmann::json::parse(section.text(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object())
    return bad("not a JSON object");

  PlanMetadata m;
  Fields top(root, "metadata");
  const nlohmann::json *model = top.get("model", nlohmann::json::value_t::object);
  const nlohmann::json *limits = top.get("limits", nlohmann::json::value_t::object);
  const nlohmann::json *target = top.get("target", nlohmann::json::value_t::object);
  const nlohmann::json *kv = top.get("kv_cache", nlohmann::json::value_t::object);
  const nlohmann::json *weights = top.get("weights", nlohmann::json::value_t::array);
  m.builtBy = top.string("built_by");
  if (root.contains("weight_names")) {
    m.weightNames = top.string("weight_names");
    if (m.weightNames != "huggingface" && m.weightNames != "gguf")
      top.fail("weight_names", "must be \"huggingface\" or \"gguf\"");
  }
  if (!top.error().empty())
    return bad(top.error());

  Fields fm(*model, "model");
  m.modelName = fm.string("name");
  m.architecture = fm.string("architecture");
  m.vocabSize = fm.positive("vocab_size");
  Fields fl(*limits, "limits");
  m.maxSeqLen = fl.positive("max_seq_len");
  m.maxNumSeqs = fl.positive("max_num_seqs");
  m.maxNumBatchedTokens = fl.positive("max_num_batched_tokens");
  Fields ft(*target, "target");
  m.target = ft.string("target");
  m.dtype = ft.string("dtype");
  m.tensorParallel = ft.positive("tp");
  m.pipelineParallel = ft.positive("pp");
  Fields fk(*kv, "kv_cache");
  m.kvCache = {fk.positive("num_layers"), fk.positive("num_kv_heads"), fk.positive("head_dim"),
               0};
  m.kvCache.valueHeadDim =
      kv->contains("value_head_dim") ? fk.positive("value_head_dim") : m.kvCache.headDim;
  if (kv->contains("values_in_keys")) {
    const nlohmann::json *inKeys = fk.get("values_in_keys", nlohmann::json::value_t::boolean);
    m.kvCache.valuesInKeys = inKeys && inKeys->get<bool>();
    if (m.kvCache.valuesInKeys && m.kvCache.valueHeadDim > m.kvCache.headDim)
      fk.fail("value_head_dim", "must be at most head_dim when values are in the keys");
  }
  for (Fields *f : {&fm, &fl, &ft, &fk})
    if (!f->error().empty())
      return bad(f->error());
  if (auto it = root.find("recurrent_state"); it != root.end()) {
    if (!it->is_object())
      return bad("recurrent_state must be an object");
    Fields fr(*it, "recurrent_state");
    m.numRecurrentStates = fr.positive("num_states");
    if (!fr.error().empty())
      return bad(fr.error());
    if (m.numRecurrentStates > 4096)
      return bad("recurrent_state.num_states " + std::to_string(m.numRecurrentStates) +
                 " is over 4096");
  }
  if (auto it = root.find("pooling"); it != root.end()) {
    if (!it->is_object())
      return bad("pooling must be an object");
    Fields fp(*it, "pooling");
    Pooling pooling;
    const std::string type = fp.string("type");
    pooling.dimensions = fp.positive("dimensions");
    const nlohmann::json *normalize = fp.get("normalize", nlohmann::json::value_t::boolean);
    if (!fp.error().empty())
      return bad(fp.error());
    pooling.normalize = normalize->get<bool>();
    std::optional<Pooling::Type> parsed = parsePoolingType(type);
    if (!parsed)
      return bad("pooling.type '" + type + "' is not last, mean or cls");
    pooling.type = *parsed;
    m.pooling = pooling;
  }
  if (auto it = root.find("bidirectional"); it != root.end()) {
    if (!it->is_boolean())
      return bad("bidirectional must be a boolean");
    m.bidirectional = it->get<bool>();
    if (m.bidirectional && !m.pooling)
      return bad("bidirectional attention needs pooling (an embedding or classification plan): "
                 "a plan that generates tokens attends causally");
  }
  if (auto it = root.find("classifier"); it != root.end()) {
    if (!it->is_object())
      return bad("classifier must be an object");
    Fields fc(*it, "classifier");
    Classifier classifier;
    const nlohmann::json *labels = fc.get("labels", nlohmann::json::value_t::array);
    const std::string activation = fc.string("activation");
    const nlohmann::json *twoWay = fc.get("two_way_softmax", nlohmann::json::value_t::boolean);
    const nlohmann::json *pair = fc.get("pair_encoding", nlohmann::json::value_t::boolean);
    if (!fc.error().empty())
      return bad(fc.error());
    if (labels->empty() || labels->size() > 1 << 16)
      return bad("classifier.labels must hold 1 to 65536 names");
    for (const nlohmann::json &label : *labels) {
      if (!label.is_string())
        return bad("classifier.labels must be strings");
      classifier.labels.push_back(label.get<std::string>());
    }
    std::optional<Classifier::Activation> parsed = parseActivation(activation);
    if (!parsed)
      return bad("classifier.activation '" + activation + "' is not softmax, sigmoid or none");
    classifier.activation = classifier.scoreActivation = *parsed;
    if (auto a = it->find("score_activation"); a != it->end()) {
      std::optional<Classifier::Activation> score =
          a->is_string() ? parseActivation(a->get<std::string>()) : std::nullopt;
      if (!score)
        return bad("classifier.score_activation must be softmax, sigmoid or none");
      classifier.scoreActivation = *score;
    }
    classifier.twoWaySoftmax = twoWay->get<bool>();
    classifier.pairEncoding = pair->get<bool>();
    if (auto t = it->find("pair_template"); t != it->end()) {
      if (!t->is_string())
        return bad("classifier.pair_template must be a string");
      classifier.pairTemplate = t->get<std::string>();
    }
    if (auto u = it->find("token_types"); u != it->end()) {
      if (!u->is_number_integer() || u->get<int64_t>() < 1 || u->get<int64_t>() > 1024)
        return bad("classifier.token_types must be an integer in [1, 1024]");
      classifier.tokenTypes = u->get<int64_t>();
    }
    if (classifier.twoWaySoftmax && classifier.labels.size() != 1)
      return bad("classifier.two_way_softmax needs exactly one label");
    // A decoder's classifier reads its last token; an encoder's (bidirectional) its first.
    const Pooling::Type pooled = m.bidirectional ? Pooling::Type::Cls : Pooling::Type::Last;
    if (!m.pooling || m.pooling->type != pooled || m.pooling->normalize ||
        m.pooling->dimensions != classifier.columns())
      return bad(std::string("a classifier needs pooling of the ") +
                 (m.bidirectional ? "first token (an encoder's)" : "last token") +
                 ", not normalized, " + std::to_string(classifier.columns()) +
                 " dimensions wide");
    m.classifier = std::move(classifier);
  }
  if (auto it = root.find("tokenizer"); it != root.end() && it->is_object()) {
    auto format = it->find("format");
    if (format != it->end() && !format->is_string())
      return bad("tokenizer.format must be a string");
    if (format != it->end())
      m.tokenizerFormat = format->get<std::string>();
  }

  if (m.tensorParallel > kMaxRanks || m.pipelineParallel > kMaxRanks ||
      m.tensorParallel * m.pipelineParallel > kMaxRanks)
    return bad("tp " + std::to_string(m.tensorParallel) + " x pp " +
               std::to_string(m.pipelineParallel) + " is more than " + std::to_string(kMaxRanks) +
               " ranks");
  const int64_t ranks = m.tensorParallel * m.pipelineParallel;
  if (rank >= ranks)
    return Error(ErrorCode::InvalidArgument, plan.path() + ": the plan has " +
                                                 std::to_string(ranks) + " ranks, not rank " +
                                                 std::to_string(rank));
  std::set<std::pair<int64_t, std::string>> names;
  for (size_t i = 0; i < weights->size(); ++i) {
    const nlohmann::json &w = (*weights)[i];
    std::string label = "weights[" + std::to_string(i) + "]";
    if (!w.is_object())
      return bad(label + " is not an object");
    Fields fw(w, label);
    WeightEntry e;
    e.name = fw.string("name");
    std::string dtype = fw.string("dtype");
    const nlohmann::json *shape = fw.get("shape", nlohmann::json::value_t::array);
    const nlohmann::json *offset = fw.get("offset", nlohmann::json::value_t::number_integer);
    const nlohmann::json *size = fw.get("size", nlohmann::json::value_t::number_integer);
    int64_t weightRank = 0; // absent: rank 0
    if (auto r = w.find("rank"); r != w.end()) {
      if (!r->is_number_integer() || r->get<int64_t>() < 0 || r->get<int64_t>() >= ranks)
        return bad(label + " has a rank outside [0, " + std::to_string(ranks) + ")");
      weightRank = r->get<int64_t>();
    }
    if (!fw.error().empty())
      return bad(fw.error());
    // Plain types, or GGUF blocks kept as they were (docs/plan-format.md).
    std::optional<DType> parsed = dtypeFromSafetensorsName(dtype);
    for (size_t t = 0; t < kNumDTypes; ++t)
      if (isKeptBlockType(static_cast<DType>(t)) && dtype == dtypeName(static_cast<DType>(t)))
        parsed = static_cast<DType>(t);
    if (!parsed || (*parsed != DType::F32 && *parsed != DType::F16 && *parsed != DType::BF16 &&
                    !isKeptBlockType(*parsed)))
      return bad(label + " (" + e.name + ") has dtype '" + dtype +
                 "', expected F32, F16, BF16 or a GGUF block type a plan keeps (Q8_0, Q4_0, "
                 "Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, MXFP4, Q4_ZP, "
                 "F8_E4M3_B32)");
    e.dtype = *parsed;
    for (const nlohmann::json &d : *shape) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0))
        return bad(label + " (" + e.name + ") has a bad shape");
      e.shape.push_back(d.get<uint64_t>());
    }
    if (!offset->is_number_unsigned() || !size->is_number_unsigned())
      return bad(label + " (" + e.name + ") has a negative offset or size");
    e.offset = offset->get<uint64_t>();
    e.size = size->get<uint64_t>();
    Expected<uint64_t> bytes = checkedByteSize(e.dtype, e.shape);
    if (!bytes)
      return bad(label + " (" + e.name + "): " + bytes.error().message());
    if (*bytes != e.size)
      return bad(label + " (" + e.name + ") is " + std::to_string(e.size) +
                 " bytes, its shape needs " + std::to_string(*bytes));
    if (auto sources = w.find("sources"); sources != w.end()) {
      if (Status s = parseSources(*sources, e, label); !s)
        return bad(s.error().message());
      for (const WeightSource &source : e.sources)
        m.matrixSources[source.name] = {source.sourceRows, source.sourceCols};
    }
    if (auto fill = w.find("fill"); fill != w.end()) {
      // Filled at load (fillDummyWeights): no bytes in the plan.
      if (*fill != "dummy" ||
          (e.dtype != DType::F32 && e.dtype != DType::F16 && e.dtype != DType::BF16))
        return bad(label + " (" + e.name + ") has a fill other than \"dummy\" of F32/F16/BF16");
      if (!names.insert({weightRank, e.name}).second)
        return bad(label + " repeats the name '" + e.name + "'");
      e.dummy = true;
      if (weightRank == rank)
        m.weights.push_back(std::move(e));
      continue;
    }
    const Section *blob = plan.find(SectionKind::Weights, static_cast<uint32_t>(weightRank));
    if (!blob)
      return bad(label + " (" + e.name + ") is of rank " + std::to_string(weightRank) +
                 ", which has no weights section");
    if (e.offset > blob->size || e.size > blob->size - e.offset)
      return bad(label + " (" + e.name + ") lies outside the weights section");
    if (!names.insert({weightRank, e.name}).second)
      return bad(label + " repeats the name '" + e.name + "'");
    e.data = blob->data + e.offset;
    if (weightRank == rank)
      m.weights.push_back(std::move(e));
  }
  return m;
}

} // namespace

namespace {
int64_t rangeTotal(const std::vector<int64_t> &ranges) {
  int64_t n = 0;
  for (size_t i = 1; i < ranges.size(); i += 2)
    n += ranges[i];
  return n;
}
} // namespace

const char *poolingTypeName(Pooling::Type type) {
  switch (type) {
  case Pooling::Type::Last:
    return "last";
  case Pooling::Type::Mean:
    return "mean";
  case Pooling::Type::Cls:
    return "cls";
  }
  return "unknown";
}

std::optional<Pooling::Type> parsePoolingType(std::string_view name) {
  for (Pooling::Type t : {Pooling::Type::Last, Pooling::Type::Mean, Pooling::Type::Cls})
    if (name == poolingTypeName(t))
      return t;
  return std::nullopt;
}

const char *activationName(Classifier::Activation activation) {
  switch (activation) {
  case Classifier::Activation::Softmax:
    return "softmax";
  case Classifier::Activation::Sigmoid:
    return "sigmoid";
  case Classifier::Activation::None:
    return "none";
  }
  return "unknown";
}

std::optional<Classifier::Activation> parseActivation(std::string_view name) {
  for (Classifier::Activation a : {Classifier::Activation::Softmax,
                                   Classifier::Activation::Sigmoid, Classifier::Activation::None})
    if (name == activationName(a))
      return a;
  return std::nullopt;
}

std::string Classifier::applyPairTemplate(std::string_view query,
                                          std::string_view document) const {
  std::string out;
  for (size_t i = 0; i < pairTemplate.size();) {
    std::string_view rest = std::string_view(pairTemplate).substr(i);
    if (rest.substr(0, 7) == "{query}") {
      out += query;
      i += 7;
    } else if (rest.substr(0, 10) == "{document}") {
      out += document;
      i += 10;
    } else {
      out += pairTemplate[i++];
    }
  }
  return out;
}

std::vector<float> Classifier::logits(const std::vector<float> &row) const {
  // The program's rows are columns() wide (readMetadata checks the pooling's dimensions).
  if (twoWaySoftmax)
    return {row.size() == 2 ? row[1] - row[0] : NAN};
  return row;
}

namespace {
std::vector<float> activated(std::vector<float> out, Classifier::Activation activation) {
  using Activation = Classifier::Activation;
  if (activation == Activation::None)
    return out;
  if (activation == Activation::Sigmoid) {
    for (float &x : out)
      x = float(1.0 / (1.0 + std::exp(-double(x))));
    return out;
  }
  double top = -INFINITY, sum = 0;
  for (float x : out)
    top = std::max(top, double(x));
  for (float x : out)
    sum += std::exp(double(x) - top);
  for (float &x : out)
    x = float(std::exp(double(x) - top) / sum);
  return out;
}
} // namespace

std::vector<float> Classifier::probabilities(const std::vector<float> &row, bool activate) const {
  return activated(logits(row), activate ? activation : Activation::None);
}

float Classifier::score(const std::vector<float> &row, bool activate) const {
  return activated(logits(row), activate ? scoreActivation : Activation::None)[0];
}

int64_t WeightSource::numRows() const { return rangeTotal(rows); }
int64_t WeightSource::numCols() const { return rangeTotal(cols); }

Expected<PlanMetadata> readMetadata(const PlanFile &plan, int64_t rank) {
  const Section *section = plan.find(SectionKind::Metadata);
  if (!section)
    return Error(ErrorCode::InvalidFormat, plan.path() + ": the plan has no metadata section");
  if (rank < 0)
    return Error(ErrorCode::InvalidArgument, plan.path() + ": rank " + std::to_string(rank));
  return parse(plan, *section, rank);
}

Expected<OpenedPlan> openPlan(const std::string &path, int64_t rank) {
  Expected<PlanFile> file = PlanFile::open(path);
  if (!file)
    return file.error();
  Expected<PlanMetadata> meta = readMetadata(*file, rank);
  if (!meta)
    return meta.error();
  return OpenedPlan{std::move(*file), std::move(*meta)};
}

Status fillDummyWeights(PlanMetadata &meta) {
  uint64_t total = 0;
  for (const WeightEntry &w : meta.weights)
    if (w.dummy && !w.data)
      total += (w.size + 63) / 64 * 64;
  if (total == 0)
    return Status::success();
  auto storage = std::make_shared<std::vector<uint8_t>>();
  try {
    storage->resize(total);
  } catch (const std::bad_alloc &) {
    return Error(ErrorCode::ResourceExhausted,
                 "not enough memory for " + std::to_string(total) + " bytes of dummy weights");
  }
  uint64_t at = 0;
  for (WeightEntry &w : meta.weights) {
    if (!w.dummy || w.data)
      continue;
    uint8_t *out = storage->data() + at;
    at += (w.size + 63) / 64 * 64;
    uint64_t count = 1;
    for (uint64_t d : w.shape)
      count *= d;
    const uint64_t cols = w.shape.empty() ? 1 : w.shape.back();
    const bool matrix = w.shape.size() == 2;
    const double scale =
        matrix ? 1.0 / std::sqrt(static_cast<double>(std::max<uint64_t>(cols, 1))) : 0.1;
    uint64_t seed = 0xCBF29CE484222325ull; // FNV-1a of the name
    for (char c : w.name)
      seed = (seed ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;
    // Threads take contiguous ranges: the values depend on the index only.
    const unsigned threads =
        count < (1u << 20) ? 1u : std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
    auto fill = [&](uint64_t begin, uint64_t end) {
      for (uint64_t i = begin; i < end; ++i) {
        uint64_t z = seed ^ (i * 0xD1342543DE82EF95ull);
        z += 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const double c = 2.0 * static_cast<double>(z >> 11) * 0x1.0p-53 - 1.0;
        const float v = static_cast<float>(matrix ? c * scale : 1.0 + c * scale);
        if (w.dtype == DType::F32)
          std::memcpy(out + i * 4, &v, 4);
        else {
          const uint16_t h = w.dtype == DType::BF16 ? f32ToBf16(v) : f32ToF16(v);
          std::memcpy(out + i * 2, &h, 2);
        }
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t)
      pool.emplace_back(fill, count * t / threads, count * (t + 1) / threads);
    fill(0, count / threads);
    for (std::thread &t : pool)
      t.join();
    w.data = out;
  }
  meta.dummyStorage = std::move(storage);
  return Status::success();
}

} // namespace modelrt::plan
