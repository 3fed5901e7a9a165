#include "runtime/sched/sim/CostModel.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace modelrt::sched::sim {

double CostModel::iterationUs(const SchedulerOutput &output) const {
  double attention = 0;
  for (const ScheduledRequest &r : output.requests) {
    double start = r.startPosition, n = r.numTokens;
    double context = start + n;
    // Row i (0-based) attends to start + i + 1 keys (causal).
    double pairs = n * start + n * (n + 1) / 2;
    attention += perKvTokenUs * context + perAttentionPairUs * pairs;
  }
  double tokenWise = std::max(weightsReadUs, perTokenUs * output.numBatchedTokens());
  return fixedUs + tokenWise + attention;
}

Expected<CostModel> parseCostModel(const std::string &jsonText) {
  nlohmann::json json = nlohmann::json::parse(jsonText, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object())
    return Error(ErrorCode::InvalidFormat, "the cost model is not a JSON object");
  CostModel model;
  if (json.contains("description") && json["description"].is_string())
    model.description = json["description"].get<std::string>();
  struct Field {
    const char *key;
    double *value;
  };
  for (Field field :
       {Field{"fixed_us", &model.fixedUs}, Field{"weights_read_us", &model.weightsReadUs},
        Field{"per_token_us", &model.perTokenUs}, Field{"per_kv_token_us", &model.perKvTokenUs},
        Field{"per_attention_pair_us", &model.perAttentionPairUs}}) {
    auto it = json.find(field.key);
    if (it == json.end())
      return Error(ErrorCode::InvalidFormat,
                   std::string("the cost model has no '") + field.key + "'");
    if (!it->is_number() || it->get<double>() < 0)
      return Error(ErrorCode::InvalidFormat,
                   std::string("cost model '") + field.key + "' must be a number >= 0");
    *field.value = it->get<double>();
  }
  if (model.fixedUs + model.weightsReadUs + model.perTokenUs <= 0)
    return Error(ErrorCode::InvalidFormat,
                 "the cost model gives an empty iteration no time (fixed_us, weights_read_us and "
                 "per_token_us are all 0)");
  return model;
}

Expected<CostModel> loadCostModel(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    return Error(ErrorCode::IoError, "cannot open cost model '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  Expected<CostModel> model = parseCostModel(text.str());
  if (!model)
    return model.error().withContext(path);
  return model;
}

} // namespace modelrt::sched::sim
