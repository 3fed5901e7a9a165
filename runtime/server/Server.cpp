#include "runtime/server/Server.h"

#include "runtime/engine/Engine.h"
#include "runtime/plan/PlanFile.h"
#include "runtime/tokenize/Tokenizer.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

namespace modelrt::server {

namespace {

using nlohmann::json;

// What the engine thread tells one request.
struct Event {
  int32_t token = -1;
  std::string finish; // "length", "stop", "cancelled", or "error"
  std::string error;
  std::optional<sample::TokenLogprobs> logprobs;
};

class Channel {
public:
  void push(Event e) {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(std::move(e));
    cv_.notify_all();
  }
  Event pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !events_.empty(); });
    Event e = std::move(events_.front());
    events_.pop_front();
    return e;
  }

private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Event> events_;
};

// Stop strings over streamed text: emits what cannot be the start of a stop string, holds
// back a possible prefix, and reports the first stop string found (the text before it is
// the result, as OpenAI's API does).
class StopMatcher {
public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
    for (const std::string &s : stops_)
      holdBack_ = std::max(holdBack_, s.size() - 1);
  }
  // Adds text; returns what may be sent now. `stopped` turns true at a stop string.
  std::string feed(const std::string &piece) {
    pending_ += piece;
    size_t cut = std::string::npos;
    for (const std::string &s : stops_)
      cut = std::min(cut, pending_.find(s));
    if (cut != std::string::npos) {
      stopped = true;
      std::string out = pending_.substr(0, cut);
      pending_.clear();
      return out;
    }
    if (pending_.size() <= holdBack_)
      return "";
    std::string out = pending_.substr(0, pending_.size() - holdBack_);
    pending_.erase(0, out.size());
    return out;
  }
  std::string finish() { return std::exchange(pending_, std::string()); }
  bool stopped = false;

private:
  std::vector<std::string> stops_;
  size_t holdBack_ = 0;
  std::string pending_;
};

struct Job {
  sched::RequestParams params;
  sample::SamplingParams sampling;
  int topLogprobs = -1;
  std::shared_ptr<Channel> channel;
};

// Owns the engine; the only thread that touches it.
class EngineThread {
public:
  explicit EngineThread(std::unique_ptr<engine::CpuExecutor> exec)
      : exec_(std::move(exec)), thread_([this] { run(); }) {}
  ~EngineThread() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  const plan::PlanMetadata &metadata() const { return exec_->metadata(); }

  // Prometheus text exposition of the serving counters.
  std::string metrics() const {
    std::string out;
    auto line = [&](const char *name, const char *type, const char *help, uint64_t value) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
             name + " " + std::to_string(value) + "\n";
    };
    line("modelrt_requests_total", "counter", "Requests accepted by the engine.", requests_);
    line("modelrt_generated_tokens_total", "counter", "Tokens sampled.", generated_);
    line("modelrt_iterations_total", "counter", "Engine iterations run.", iterations_);
    line("modelrt_requests_running", "gauge", "Requests holding a KV cache.", running_);
    line("modelrt_requests_waiting", "gauge", "Requests queued or preempted.", waiting_);
    return out;
  }

  void submit(Job job) {
    std::lock_guard<std::mutex> lock(mutex_);
    incoming_.push_back(std::move(job));
    cv_.notify_all();
  }
  void cancel(const std::shared_ptr<Channel> &channel) {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_.push_back(channel);
    cv_.notify_all();
  }

private:
  void run() {
    Expected<std::unique_ptr<engine::Engine>> created =
        engine::Engine::create(*exec_, sched::Policy::IterationLevel);
    std::unique_ptr<engine::Engine> eng = created ? std::move(*created) : nullptr;
    std::map<sched::RequestId, std::shared_ptr<Channel>> channels;
    while (true) {
      std::vector<Job> jobs;
      std::vector<std::shared_ptr<Channel>> cancels;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] {
          return stop_ || !incoming_.empty() || !cancelled_.empty() ||
                 (eng && eng->hasUnfinished());
        });
        if (stop_)
          return;
        jobs.swap(incoming_);
        cancels.swap(cancelled_);
      }
      for (Job &job : jobs) {
        if (!eng) {
          job.channel->push({-1, "error", created.error().message()});
          continue;
        }
        Expected<sched::RequestId> id =
            eng->addRequest(std::move(job.params), job.sampling, job.topLogprobs);
        if (!id) {
          job.channel->push({-1, "error", id.error().message()});
        } else {
          channels[*id] = job.channel;
          ++requests_;
        }
      }
      for (const std::shared_ptr<Channel> &c : cancels)
        for (auto it = channels.begin(); it != channels.end(); ++it)
          if (it->second == c) {
            (void)eng->cancel(it->first);
            channels.erase(it);
            break;
          }
      if (!eng || !eng->hasUnfinished())
        continue;
      Expected<std::vector<sched::TokenEvent>> events = eng->step();
      ++iterations_;
      running_ = eng->scheduler().numRunning();
      waiting_ = eng->scheduler().numWaiting();
      if (events)
        generated_ += events->size();
      if (!events) {
        // An engine failure ends every request in flight; the server stays up.
        for (auto &[id, channel] : channels)
          channel->push({-1, "error", events.error().message()});
        channels.clear();
        Expected<std::unique_ptr<engine::Engine>> fresh =
            engine::Engine::create(*exec_, sched::Policy::IterationLevel);
        eng = fresh ? std::move(*fresh) : nullptr;
        continue;
      }
      for (const sched::TokenEvent &e : *events) {
        auto it = channels.find(e.id);
        if (it == channels.end())
          continue;
        Event out{e.token, ""};
        if (auto lp = eng->lastLogprobs().find(e.id); lp != eng->lastLogprobs().end())
          out.logprobs = lp->second;
        if (e.finish)
          out.finish = *e.finish == sched::FinishReason::Length ? "length" : "stop";
        it->second->push(out);
        if (e.finish)
          channels.erase(it);
      }
    }
  }

  std::unique_ptr<engine::CpuExecutor> exec_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Job> incoming_;
  std::vector<std::shared_ptr<Channel>> cancelled_;
  bool stop_ = false;
  std::atomic<uint64_t> requests_{0}, generated_{0}, iterations_{0}, running_{0}, waiting_{0};
  std::thread thread_;
};

// Token pieces may hold partial UTF-8 (byte tokens); invalid bytes become U+FFFD.
std::string dumpJson(const json &j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json errorBody(const std::string &message, const std::string &type = "invalid_request_error") {
  return {{"error", {{"message", message}, {"type", type}}}};
}

void sendError(httplib::Response &res, int status, const std::string &message) {
  res.status = status;
  res.set_content(dumpJson(errorBody(message)), "application/json");
}

// Reads an optional number field; false (and an error response) if it has the wrong type.
template <typename T>
bool optionalNumber(const json &body, const char *key, T &out, httplib::Response &res) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null())
    return true;
  if (!it->is_number()) {
    sendError(res, 400, std::string("'") + key + "' must be a number");
    return false;
  }
  if (std::is_integral<T>::value && !it->is_number_integer()) {
    sendError(res, 400, std::string("'") + key + "' must be an integer");
    return false;
  }
  out = it->get<T>();
  return true;
}

} // namespace

Status serve(const ServerOptions &options) {
  Expected<std::unique_ptr<engine::CpuExecutor>> exec = engine::CpuExecutor::load(options.plan, options.executor);
  if (!exec)
    return exec.error();
  Expected<std::unique_ptr<Tokenizer>> tok = Error(ErrorCode::NotFound, "");
  if (!options.tokenizer.empty()) {
    tok = Tokenizer::fromFile(options.tokenizer);
  } else {
    Expected<plan::PlanFile> file = plan::PlanFile::open(options.plan);
    const plan::Section *section = file ? file->find(plan::SectionKind::Tokenizer) : nullptr;
    if (!section)
      return Error(ErrorCode::NotFound, options.plan + ": the plan carries no tokenizer; give "
                                                       "one with --tokenizer FILE");
    tok = Tokenizer::fromTokenizerJson(section->text(), {}, options.plan + ": tokenizer.json");
  }
  if (!tok)
    return tok.error();
  std::shared_ptr<Tokenizer> tokenizer = std::move(*tok);
  const std::string model =
      options.modelName.empty() ? (*exec)->metadata().modelName : options.modelName;
  const int64_t maxSeqLen = (*exec)->metadata().maxSeqLen;
  const int64_t vocab = (*exec)->metadata().vocabSize;
  auto engineThread = std::make_shared<EngineThread>(std::move(*exec));

  httplib::Server http;
  auto authorized = [&](const httplib::Request &req, httplib::Response &res) {
    if (options.apiKey.empty() ||
        req.get_header_value("Authorization") == "Bearer " + options.apiKey)
      return true;
    res.status = 401;
    res.set_content(errorBody("missing or wrong API key", "authentication_error").dump(),
                    "application/json");
    return false;
  };
  http.Get("/health", [](const httplib::Request &, httplib::Response &res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  http.Get("/metrics", [engineThread](const httplib::Request &, httplib::Response &res) {
    res.set_content(engineThread->metrics(), "text/plain; version=0.0.4");
  });
  http.Get("/v1/models", [&](const httplib::Request &req, httplib::Response &res) {
    if (!authorized(req, res))
      return;
    json body = {
        {"object", "list"},
        {"data", json::array({{{"id", model}, {"object", "model"}, {"owned_by", "modelrt"}}})}};
    res.set_content(body.dump(), "application/json");
  });
  http.Post("/v1/completions", [&, engineThread, tokenizer](const httplib::Request &req,
                                                            httplib::Response &res) {
    if (!authorized(req, res))
      return;
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return sendError(res, 400, "the body is not a JSON object");
    auto prompt = body.find("prompt");
    if (prompt == body.end() || !prompt->is_string())
      return sendError(res, 400, "'prompt' must be a string");
    Job job;
    int64_t maxTokens = 16;
    if (!optionalNumber(body, "max_tokens", maxTokens, res) ||
        !optionalNumber(body, "temperature", job.sampling.temperature, res) ||
        !optionalNumber(body, "top_p", job.sampling.topP, res) ||
        !optionalNumber(body, "top_k", job.sampling.topK, res) ||
        !optionalNumber(body, "min_p", job.sampling.minP, res) ||
        !optionalNumber(body, "seed", job.sampling.seed, res))
      return;
    if (auto lp = body.find("logprobs"); lp != body.end() && !lp->is_null()) {
      if (!lp->is_number_integer() || lp->get<int64_t>() < 0 || lp->get<int64_t>() > 20)
        return sendError(res, 400, "'logprobs' must be an integer from 0 to 20");
      job.topLogprobs = lp->get<int>();
    }
    if (maxTokens < 1 || maxTokens > maxSeqLen)
      return sendError(res, 400, "'max_tokens' must be between 1 and " + std::to_string(maxSeqLen));
    if (Status s = sample::validate(job.sampling); !s)
      return sendError(res, 400, s.error().message());
    if (body.contains("stream") && !body["stream"].is_boolean())
      return sendError(res, 400, "'stream' must be true or false");
    bool stream = body.value("stream", false);
    std::vector<std::string> stops;
    if (auto stop = body.find("stop"); stop != body.end() && !stop->is_null()) {
      json list = stop->is_string() ? json::array({*stop}) : *stop;
      if (!list.is_array() || list.size() > 4)
        return sendError(res, 400, "'stop' must be a string or an array of at most 4 strings");
      for (const json &s : list) {
        if (!s.is_string() || s.get<std::string>().empty())
          return sendError(res, 400, "'stop' strings must be non-empty strings");
        stops.push_back(s);
      }
    }
    EncodeOptions encode;
    encode.addSpecial = true;
    encode.parseSpecial = true;
    Expected<std::vector<int32_t>> ids = tokenizer->encode(prompt->get<std::string>(), encode);
    if (!ids)
      return sendError(res, 400, "'prompt': " + ids.error().message());
    if (ids->empty())
      return sendError(res, 400, "'prompt' encodes to no tokens");
    for (int32_t id : *ids)
      if (id >= vocab)
        return sendError(res, 500, "the tokenizer does not fit this plan's vocabulary");
    job.params.prompt = *ids;
    job.params.maxTokens = static_cast<int32_t>(maxTokens);
    if (tokenizer->eosId() >= 0)
      job.params.eosTokenId = tokenizer->eosId();
    job.params.ignoreEos = body.value("ignore_eos", false);
    job.channel = std::make_shared<Channel>();
    std::shared_ptr<Channel> channel = job.channel;
    const size_t promptTokens = ids->size();
    engineThread->submit(std::move(job));

    std::string id =
        "cmpl-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    auto created = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
    auto chunk = [&, id, created](const std::string &text, const std::string &finish) {
      json choice = {{"index", 0}, {"text", text}, {"finish_reason", nullptr}};
      if (!finish.empty())
        choice["finish_reason"] = finish;
      return json{{"id", id},
                  {"object", "text_completion"},
                  {"created", created},
                  {"model", model},
                  {"choices", json::array({choice})}};
    };
    if (!stream) {
      StreamingDetokenizer detok(*tokenizer, true);
      StopMatcher matcher(stops);
      std::string text;
      size_t generated = 0;
      json tokens = json::array(), tokenLogprobs = json::array(), topLogprobs = json::array();
      while (true) {
        Event e = channel->pop();
        if (e.finish == "error")
          return sendError(res, 400, e.error);
        if (e.token >= 0) {
          ++generated;
          if (e.logprobs) {
            tokens.push_back(std::string(tokenizer->tokenBytes(e.token)));
            tokenLogprobs.push_back(e.logprobs->chosen);
            json top = json::object();
            for (auto [id, lp] : e.logprobs->top)
              top[std::string(tokenizer->tokenBytes(id))] = lp;
            topLogprobs.push_back(top);
          }
          if (!(e.finish == "stop" && e.token == tokenizer->eosId())) {
            Expected<std::string> piece = detok.push(e.token);
            if (piece)
              text += matcher.feed(*piece);
          }
        }
        if (matcher.stopped) {
          engineThread->cancel(channel); // a stop string: the rest is not wanted
          e.finish = "stop";
        }
        if (!e.finish.empty()) {
          if (!matcher.stopped)
            text += matcher.feed(detok.finish()) + matcher.finish();
          json out = chunk(text, e.finish);
          if (!tokens.empty())
            out["choices"][0]["logprobs"] = {{"tokens", tokens},
                                             {"token_logprobs", tokenLogprobs},
                                             {"top_logprobs", topLogprobs}};
          out["usage"] = {{"prompt_tokens", promptTokens},
                          {"completion_tokens", generated},
                          {"total_tokens", promptTokens + generated}};
          res.set_content(dumpJson(out), "application/json");
          return;
        }
      }
    }
    auto detok = std::make_shared<StreamingDetokenizer>(*tokenizer, true);
    auto matcher = std::make_shared<StopMatcher>(stops);
    res.set_chunked_content_provider(
        "text/event-stream",
        [channel, detok, matcher, chunk, tokenizer, engineThread](size_t, httplib::DataSink &sink) {
          Event e = channel->pop();
          std::string text;
          if (e.finish == "error") {
            std::string data = "data: " + dumpJson(errorBody(e.error)) + "\n\n";
            sink.write(data.data(), data.size());
            sink.done();
            return true;
          }
          if (e.token >= 0 && !(e.finish == "stop" && e.token == tokenizer->eosId())) {
            Expected<std::string> piece = detok->push(e.token);
            if (piece)
              text = matcher->feed(*piece);
          }
          if (matcher->stopped) {
            engineThread->cancel(channel);
            e.finish = "stop";
          } else if (!e.finish.empty()) {
            text += matcher->feed(detok->finish()) + matcher->finish();
          }
          std::string data = "data: " + dumpJson(chunk(text, e.finish)) + "\n\n";
          if (!sink.write(data.data(), data.size())) {
            engineThread->cancel(channel); // the client went away
            return false;
          }
          if (!e.finish.empty()) {
            const char *done = "data: [DONE]\n\n";
            sink.write(done, std::strlen(done));
            sink.done();
          }
          return true;
        });
  });
  if (!http.bind_to_port(options.host.c_str(), options.port))
    return Error(ErrorCode::IoError,
                 "cannot listen on " + options.host + ":" + std::to_string(options.port));
  std::fprintf(stderr, "modelrt serve: %s on http://%s:%d\n", model.c_str(), options.host.c_str(),
               options.port);
  http.listen_after_bind();
  return Status::success();
}

} // namespace modelrt::server
