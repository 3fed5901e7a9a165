#include "runtime/server/Server.h"

#include "runtime/engine/Engine.h"
#include "runtime/plan/PlanFile.h"
#include "runtime/sample/ChoiceConstraint.h"
#include "runtime/sample/MaskConstraint.h"
#include "runtime/sample/JsonConstraint.h"
#include "runtime/sample/RegexConstraint.h"
#include "runtime/server/Reasoning.h"
#include "runtime/server/Request.h"
#include "runtime/server/ToolCalls.h"
#include "runtime/template/ChatTemplate.h"
#include "runtime/tokenize/Tokenizer.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <csignal>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

namespace modelrt::server {

namespace {

using nlohmann::json;

// What the engine thread tells one request.
struct Event {
  int32_t token = -1;
  std::string finish; // "length", "stop", "cancelled", or "error"
  std::string error;
  int status = 400; // for "error": 400 the request was refused, 500 the engine failed
  std::optional<sample::TokenLogprobs> logprobs;
  int32_t cachedTokens = 0; // prompt tokens taken from the prefix cache
  int index = 0;            // the choice (n > 1: one engine request per choice)
  // With the choice's first token, when the prompt was scored (echo): entry p for prompt
  // token p.
  std::shared_ptr<const std::vector<sample::TokenLogprobs>> promptLogprobs;
  // An embedding request's vector, with its one (placeholder) event.
  std::shared_ptr<const std::vector<float>> embedding;
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
  // `keepStop`: the stop string itself is sent (vLLM's include_stop_str_in_output).
  explicit StopMatcher(std::vector<std::string> stops, bool keepStop = false)
      : stops_(std::move(stops)), keepStop_(keepStop) {
    for (const std::string &s : stops_)
      holdBack_ = std::max(holdBack_, s.size() - 1);
  }
  // Adds text; returns what may be sent now. `stopped` turns true at a stop string: the one
  // that ends first (the first listed on a tie), whatever the tokens' split. Text fed with
  // `armed` false (before min_tokens) ends no match; a match may start in it and end later,
  // as vLLM matches.
  std::string feed(const std::string &piece, bool armed = true) {
    pending_ += piece;
    if (!armed)
      unarmed_ = pending_.size();
    size_t end = std::string::npos, length = 0;
    for (const std::string &s : stops_)
      for (size_t at = pending_.find(s); at != std::string::npos; at = pending_.find(s, at + 1))
        if (at + s.size() > unarmed_) {
          if (at + s.size() < end) {
            end = at + s.size();
            length = s.size();
          }
          break;
        }
    if (end != std::string::npos) {
      stopped = true;
      std::string out = pending_.substr(0, keepStop_ ? end : end - length);
      pending_.clear();
      unarmed_ = 0;
      return out;
    }
    if (pending_.size() <= holdBack_)
      return "";
    std::string out = pending_.substr(0, pending_.size() - holdBack_);
    pending_.erase(0, out.size());
    unarmed_ = unarmed_ > out.size() ? unarmed_ - out.size() : 0;
    return out;
  }
  std::string finish() {
    unarmed_ = 0;
    return std::exchange(pending_, std::string());
  }
  bool stopped = false;

private:
  std::vector<std::string> stops_;
  bool keepStop_ = false;
  size_t holdBack_ = 0;
  std::string pending_;
  size_t unarmed_ = 0; // pending_'s first bytes that came before min_tokens
};

struct Job {
  sched::RequestParams params;
  sample::SamplingParams sampling;
  int topLogprobs = -1;
  std::shared_ptr<Channel> channel; // shared by the choices of one HTTP request
  int index = 0;
  // A later choice of choice 0's prompt: admitted once choice 0 has started, to take its
  // prompt blocks from the prefix cache.
  bool sharesFirstPrompt = false;
  // An embedding request (Engine::addEmbeddingRequest): params.prompt and adapter only.
  bool embed = false;
  int64_t dimensions = 0;
};

// Owns the engine; the only thread that touches it.
class EngineThread {
public:
  using Loader = std::function<Expected<std::unique_ptr<Executor>>()>;
  // Starts the thread, which loads the executor and then runs the engine; returns once the
  // load is done (a failed load is the error). Loading on the thread that steps keeps every
  // OpenMP parallel region of the process in one thread team: a load on another thread
  // leaves that thread's idle team counted against the cores, and libgomp then puts the
  // stepping team's workers to sleep between regions instead of spinning (decode steps of
  // the default plan took 11-13 ms instead of 6.5). A plan with recurrent state is served
  // without the prefix cache (Engine::create), so later choices of a request need not wait
  // for the first one's blocks.
  static Expected<std::shared_ptr<EngineThread>> start(Loader load, bool prefixCaching,
                                                       int speculativeTokens) {
    std::shared_ptr<EngineThread> t(new EngineThread(prefixCaching, speculativeTokens));
    std::promise<Status> loaded;
    std::future<Status> done = loaded.get_future();
    t->thread_ = std::thread([self = t.get(), load = std::move(load), &loaded] {
      Expected<std::unique_ptr<Executor>> exec = load();
      if (!exec) {
        loaded.set_value(exec.error());
        return;
      }
      self->exec_ = std::move(*exec);
      self->prefixCaching_ =
          engine::Engine::usesPrefixCache(self->exec_->metadata(), self->prefixCaching_);
      self->adapterNames_ = self->exec_->adapterNames();
      loaded.set_value(Status::success()); // `loaded` is not touched after this
      self->run();
    });
    if (Status s = done.get(); !s)
      return s.error(); // the thread has returned; t's destructor joins it
    return t;
  }
  ~EngineThread() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  const plan::PlanMetadata &metadata() const { return exec_->metadata(); }
  // The executor, for what does not change once loaded (its metadata, its KV cache's size).
  const Executor &executor() const { return *exec_; }

  // Prometheus text exposition of the serving counters.
  std::string metrics() const {
    std::string out;
    auto line = [&](const char *name, const char *type, const char *help, double value) {
      std::ostringstream v; // counters as exact integers, ratios as decimals
      if (value == std::floor(value) && value >= 0 && value < 9e15)
        v << static_cast<uint64_t>(value);
      else
        v << value;
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
             name + " " + v.str() + "\n";
    };
    line("modelrt_requests_total", "counter", "Requests accepted by the engine.", requests_);
    line("modelrt_generated_tokens_total", "counter", "Tokens sampled.", generated_);
    line("modelrt_iterations_total", "counter", "Engine iterations run.", iterations_);
    line("modelrt_requests_running", "gauge", "Requests holding a KV cache.", running_);
    line("modelrt_requests_waiting", "gauge", "Requests queued or preempted.", waiting_);
    line("modelrt_prompt_tokens_total", "counter", "Prompt tokens of the requests accepted.",
         promptTokens_.load());
    line("modelrt_prefix_cache_hit_tokens_total", "counter",
         "Prompt tokens whose KV the prefix cache supplied.", cachedTokens_.load());
    line("modelrt_prefix_cache_blocks", "gauge", "KV blocks the prefix cache can hand out.",
         cachedBlocks_.load());
    line("modelrt_kv_cache_usage_ratio", "gauge", "Fraction of the KV blocks held by requests.",
         double(usedBlocks_.load()) / double(std::max<uint64_t>(1, totalBlocks_.load())));
    return out;
  }

  // The executor's LoRA adapter slots (PagedChunk::adapter i is entry i - 1; empty: an
  // unloaded one), as of the last change: for HTTP threads.
  std::vector<std::string> adapterNames() const {
    std::lock_guard<std::mutex> lock(adaptersMutex_);
    return adapterNames_;
  }
  // Runs `fn` on the engine thread between iterations (the engine null when it could not be
  // made) and returns what it returns.
  using Control = std::function<Status(Executor &, engine::Engine *)>;
  Status control(Control fn) {
    auto done = std::make_shared<std::promise<Status>>();
    std::future<Status> result = done->get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      controls_.push_back({std::move(fn), done});
    }
    cv_.notify_all();
    return result.get();
  }

  // A request's choices arrive together: the engine thread sees all of them in one batch.
  void submit(std::vector<Job> choices) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (Job &job : choices)
      incoming_.push_back(std::move(job));
    cv_.notify_all();
  }
  // Ends the channel's choice `index`, or all of them with -1.
  void cancel(const std::shared_ptr<Channel> &channel, int index = -1) {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_.push_back({channel, index});
    cv_.notify_all();
  }

private:
  void run() {
    Expected<std::unique_ptr<engine::Engine>> created =
        engine::Engine::create(*exec_, sched::Policy::IterationLevel, prefixCaching_,
                               speculativeTokens_);
    std::unique_ptr<engine::Engine> eng = created ? std::move(*created) : nullptr;
    struct Route {
      std::shared_ptr<Channel> channel;
      int index;
      bool started = false; // its first token was routed (the prefix cache hit is counted)
    };
    std::map<sched::RequestId, Route> channels;
    // Choices 1.. of a request whose prompt fills a KV block wait until choice 0 has its
    // first token: by then its prompt's full blocks are in the prefix cache, and they adopt
    // them instead of each computing the prompt.
    std::map<const Channel *, std::vector<Job>> deferred;
    const int64_t blockSize = exec_->kvBlockSize();
    auto admit = [&](Job &job) {
      if (!eng) {
        job.channel->push({-1, "error", created.error().message(), 500, {}, 0, job.index});
        return;
      }
      const size_t promptSize = job.params.prompt.size();
      Expected<sched::RequestId> id =
          job.embed ? eng->addEmbeddingRequest(std::move(job.params.prompt), job.dimensions,
                                               job.params.adapter,
                                               std::move(job.params.tokenTypes))
                    : eng->addRequest(std::move(job.params), job.sampling, job.topLogprobs);
      if (!id) {
        job.channel->push({-1, "error", id.error().message(), 400, {}, 0, job.index});
      } else {
        channels[*id] = {job.channel, job.index};
        ++requests_;
        promptTokens_ += promptSize;
      }
    };
    std::vector<std::pair<Control, std::shared_ptr<std::promise<Status>>>> controls;
    while (true) {
      std::vector<Job> jobs;
      std::vector<std::pair<std::shared_ptr<Channel>, int>> cancels;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] {
          return stop_ || !incoming_.empty() || !cancelled_.empty() || !controls_.empty() ||
                 (eng && eng->hasUnfinished());
        });
        if (stop_) {
          for (auto &[fn, done] : controls_)
            done->set_value(Error(ErrorCode::ResourceExhausted, "the server is shutting down"));
          return;
        }
        jobs.swap(incoming_);
        cancels.swap(cancelled_);
        controls.swap(controls_);
      }
      for (auto &[fn, done] : controls) {
        Status result = Status::success();
        try {
          result = fn(*exec_, eng.get());
        } catch (const std::exception &e) { // the server stays up
          result = Error(ErrorCode::Internal, std::string("the request failed: ") + e.what());
        }
        {
          // Before the answer: the client's next request must find the adapter.
          std::lock_guard<std::mutex> lock(adaptersMutex_);
          adapterNames_ = exec_->adapterNames();
        }
        done->set_value(std::move(result));
      }
      controls.clear();
      // Choice 0 always arrives first (the HTTP thread submits in order), but a later
      // choice may arrive after choice 0 already has its first token (or has finished): it
      // waits only while choice 0 is admitted and has not started, else nothing would ever
      // admit it.
      auto choiceZeroWaiting = [&](const Channel *c) {
        for (const auto &[id, route] : channels)
          if (route.channel.get() == c && route.index == 0)
            return !route.started;
        return false;
      };
      for (Job &job : jobs) {
        if (job.sharesFirstPrompt && prefixCaching_ &&
            static_cast<int64_t>(job.params.prompt.size()) > blockSize &&
            choiceZeroWaiting(job.channel.get()))
          deferred[job.channel.get()].push_back(std::move(job));
        else
          admit(job);
      }
      for (const auto &[c, index] : cancels) {
        if (index < 0)
          deferred.erase(c.get());
        for (auto it = channels.begin(); it != channels.end();)
          if (it->second.channel == c && (index < 0 || it->second.index == index)) {
            (void)eng->cancel(it->first);
            it = channels.erase(it);
          } else {
            ++it;
          }
      }
      if (!eng || !eng->hasUnfinished())
        continue;
      Expected<std::vector<sched::TokenEvent>> events = eng->step();
      ++iterations_;
      running_ = eng->scheduler().numRunning();
      waiting_ = eng->scheduler().numWaiting();
      const kv::KvCacheManager &kv = eng->scheduler().kvCache();
      cachedBlocks_ = static_cast<uint64_t>(kv.numCachedBlocks());
      usedBlocks_ = static_cast<uint64_t>(kv.numUsedBlocks());
      totalBlocks_ = static_cast<uint64_t>(kv.config().numBlocks);
      if (events && !exec_->metadata().pooling) // an embedding's one event is no token
        generated_ += events->size();
      if (!events) {
        // An engine failure ends every request in flight; the server stays up.
        for (auto &[id, route] : channels)
          route.channel->push({-1, "error", events.error().message(), 500, {}, 0, route.index});
        for (auto &[channel, waiting] : deferred)
          for (Job &job : waiting)
            job.channel->push({-1, "error", events.error().message(), 500, {}, 0, job.index});
        deferred.clear();
        channels.clear();
        Expected<std::unique_ptr<engine::Engine>> fresh =
            engine::Engine::create(*exec_, sched::Policy::IterationLevel, prefixCaching_,
                               speculativeTokens_);
        eng = fresh ? std::move(*fresh) : nullptr;
        continue;
      }
      for (const sched::TokenEvent &e : *events) {
        auto it = channels.find(e.id);
        if (it == channels.end())
          continue;
        Event out{e.token, ""};
        out.cachedTokens = e.numCachedTokens;
        if (!std::exchange(it->second.started, true)) {
          cachedTokens_ += static_cast<uint64_t>(e.numCachedTokens);
          if (auto wait = deferred.find(it->second.channel.get());
              wait != deferred.end() && it->second.index == 0) {
            for (Job &job : wait->second)
              admit(job);
            deferred.erase(wait);
          }
        }
        out.index = it->second.index;
        if (auto pl = eng->lastPromptLogprobs().find(e.id); pl != eng->lastPromptLogprobs().end())
          out.promptLogprobs =
              std::make_shared<const std::vector<sample::TokenLogprobs>>(pl->second);
        if (auto lp = eng->lastLogprobs().find(e.id); lp != eng->lastLogprobs().end())
          out.logprobs = lp->second;
        if (auto em = eng->lastEmbeddings().find(e.id); em != eng->lastEmbeddings().end())
          out.embedding = std::make_shared<const std::vector<float>>(em->second);
        if (e.finish)
          out.finish = *e.finish == sched::FinishReason::Length ? "length" : "stop";
        it->second.channel->push(out);
        if (e.finish)
          channels.erase(it);
      }
    }
  }

  EngineThread(bool prefixCaching, int speculativeTokens)
      : prefixCaching_(prefixCaching), speculativeTokens_(speculativeTokens) {}

  std::unique_ptr<Executor> exec_;
  bool prefixCaching_;
  int speculativeTokens_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Job> incoming_;
  std::vector<std::pair<std::shared_ptr<Channel>, int>> cancelled_;
  std::vector<std::pair<Control, std::shared_ptr<std::promise<Status>>>> controls_;
  mutable std::mutex adaptersMutex_;
  std::vector<std::string> adapterNames_;
  bool stop_ = false;
  std::atomic<uint64_t> requests_{0}, generated_{0}, iterations_{0}, running_{0}, waiting_{0};
  std::atomic<uint64_t> promptTokens_{0}, cachedTokens_{0}, cachedBlocks_{0}, usedBlocks_{0},
      totalBlocks_{0};
  std::thread thread_;
};

// Token pieces may hold partial UTF-8 (byte tokens); invalid bytes become U+FFFD.
std::string dumpJson(const json &j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// OpenAI's usage object; cached_tokens counts prompt tokens whose KV the prefix cache held.
json usageJson(size_t promptTokens, size_t completionTokens, int32_t cachedTokens) {
  return {{"prompt_tokens", promptTokens},
          {"completion_tokens", completionTokens},
          {"total_tokens", promptTokens + completionTokens},
          {"prompt_tokens_details", {{"cached_tokens", cachedTokens}}}};
}

// RFC 4648 base64, padded.
std::string base64(const uint8_t *data, size_t size) {
  static const char *digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (size_t i = 0; i < size; i += 3) {
    const uint32_t n = uint32_t(data[i]) << 16 | (i + 1 < size ? uint32_t(data[i + 1]) << 8 : 0) |
                       (i + 2 < size ? uint32_t(data[i + 2]) : 0);
    out += digits[n >> 18 & 63];
    out += digits[n >> 12 & 63];
    out += i + 1 < size ? digits[n >> 6 & 63] : '=';
    out += i + 2 < size ? digits[n & 63] : '=';
  }
  return out;
}

json errorBody(const std::string &message, const std::string &type = "invalid_request_error") {
  return {{"error", {{"message", message}, {"type", type}}}};
}

void sendError(httplib::Response &res, int status, const std::string &message) {
  res.status = status;
  res.set_content(dumpJson(errorBody(message)), "application/json");
}

// Log-probabilities of the sampled tokens in the endpoint's shape: completions' parallel
// lists, or chat's list of {token, logprob, bytes, top_logprobs}.
// vLLM's prompt_logprobs: null for the first prompt token, then for each the token's own
// entry and the `top` most likely ones', keyed by token id: logprob, rank, decoded_token.
nlohmann::json promptLogprobsJson(const Tokenizer &tokenizer, const std::vector<int32_t> &ids,
                                  const std::vector<sample::TokenLogprobs> &scored, int top) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t p = 0; p < ids.size(); ++p) {
    if (p == 0 || p >= scored.size()) {
      out.push_back(nullptr);
      continue;
    }
    const sample::TokenLogprobs &lp = scored[p];
    nlohmann::json entry = nlohmann::json::object();
    auto add = [&](int32_t id, float logprob, int32_t rank) {
      entry[std::to_string(id)] = {{"logprob", logprob},
                                   {"rank", rank},
                                   {"decoded_token", std::string(tokenizer.tokenBytes(id))}};
    };
    add(ids[p], lp.chosen, lp.rank);
    for (size_t k = 0; k < lp.top.size() && k < size_t(top); ++k)
      add(lp.top[k].first, lp.top[k].second, int32_t(k) + 1);
    out.push_back(std::move(entry));
  }
  return out;
}

class LogprobsLog {
public:
  LogprobsLog(Api api, const Tokenizer &tokenizer) : api_(api), tokenizer_(tokenizer) {}
  bool empty() const { return tokens_.empty(); }
  // A token nothing predicts (an echoed prompt's first): null log-probabilities.
  void addUnscored(int32_t token) {
    tokens_.push_back(std::string(tokenizer_.tokenBytes(token)));
    chosen_.push_back(nullptr);
    top_.push_back(nullptr);
  }
  void add(int32_t token, const sample::TokenLogprobs &lp) {
    std::string text(tokenizer_.tokenBytes(token));
    tokens_.push_back(text);
    chosen_.push_back(lp.chosen);
    if (api_ == Api::Completions) {
      json top = json::object();
      for (auto [id, value] : lp.top)
        top[std::string(tokenizer_.tokenBytes(id))] = value;
      top_.push_back(top);
    } else {
      json top = json::array();
      for (auto [id, value] : lp.top) {
        std::string bytes(tokenizer_.tokenBytes(id));
        top.push_back({{"token", bytes},
                       {"logprob", value},
                       {"bytes", std::vector<uint8_t>(bytes.begin(), bytes.end())}});
      }
      top_.push_back(top);
    }
  }
  nlohmann::json toJson() const {
    if (api_ == Api::Completions)
      return {{"tokens", tokens_}, {"token_logprobs", chosen_}, {"top_logprobs", top_}};
    nlohmann::json content = nlohmann::json::array();
    for (size_t i = 0; i < tokens_.size(); ++i)
      content.push_back({{"token", tokens_[i]},
                         {"logprob", chosen_[i]},
                         {"bytes", std::vector<uint8_t>(tokens_[i].begin(), tokens_[i].end())},
                         {"top_logprobs", top_[i]}});
    return {{"content", content}};
  }

private:
  Api api_;
  const Tokenizer &tokenizer_;
  std::vector<std::string> tokens_;
  nlohmann::json chosen_ = nlohmann::json::array();
  nlohmann::json top_ = nlohmann::json::array();
};

} // namespace

namespace {

// SIGINT / SIGTERM: the server drains. New completions get 503; once no completion is in
// flight (streams included: httplib stops writing them when it stops), the listening
// socket closes and listen_after_bind() returns.
std::atomic<bool> draining{false};
std::atomic<int> completionsInFlight{0};

void drainOnSignal(int) { draining.store(true); }

// Counts a completion as in flight for as long as it lives (a stream keeps it).
struct InFlight {
  InFlight() { completionsInFlight.fetch_add(1); }
  ~InFlight() { completionsInFlight.fetch_sub(1); }
  InFlight(const InFlight &) = delete;
  InFlight &operator=(const InFlight &) = delete;
};

} // namespace

Status serve(const ServerOptions &options) {
  Expected<std::shared_ptr<EngineThread>> started = EngineThread::start(
      [&options] { return engine::loadExecutor(options.plan, options.executor); },
      options.prefixCaching, options.speculativeTokens);
  if (!started)
    return started.error();
  std::shared_ptr<EngineThread> engineThread = std::move(*started);
  const Executor &exec = engineThread->executor();
  std::fprintf(stderr, "modelrt serve: %s\n",
               describeKvCache(exec, options.executor.kvCacheDtype).c_str());
  if (std::string gemms = engine::describeCpuGemms(exec); !gemms.empty())
    std::fprintf(stderr, "modelrt serve: %s\n", gemms.c_str());
  Expected<std::unique_ptr<Tokenizer>> tok = Error(ErrorCode::NotFound, "");
  if (!options.tokenizer.empty()) {
    tok = Tokenizer::fromFile(options.tokenizer);
  } else {
    tok = Tokenizer::fromPlan(options.plan);
  }
  if (!tok)
    return tok.error();
  std::shared_ptr<Tokenizer> tokenizer = std::move(*tok);
  // The chat template comes with the tokenizer; a model without one serves completions only.
  std::optional<tmpl::ChatTemplate> chatTemplate;
  std::string chatTemplateError = "this model has no chat template; use /v1/completions";
  if (!tokenizer->chatTemplate().empty()) {
    Expected<tmpl::ChatTemplate> parsed = tmpl::ChatTemplate::parse(tokenizer->chatTemplate());
    if (parsed) {
      chatTemplate = std::move(*parsed);
    } else {
      chatTemplateError = "the model's chat template cannot be used: " + parsed.error().message();
      std::fprintf(stderr, "modelrt serve: %s\n", chatTemplateError.c_str());
    }
  }
  // Chat messages through the model's template (its BOS and EOS as the template's
  // variables), or the error to answer with (400).
  auto renderChat = [&chatTemplate, &chatTemplateError,
                     tokenizer](tmpl::ChatRequest &chat) -> Expected<std::string> {
    if (!chatTemplate)
      return Error(ErrorCode::InvalidArgument, chatTemplateError);
    chat.bosToken =
        tokenizer->bosId() >= 0 ? std::string(tokenizer->tokenText(tokenizer->bosId())) : "";
    chat.eosToken =
        tokenizer->eosId() >= 0 ? std::string(tokenizer->tokenText(tokenizer->eosId())) : "";
    Expected<std::string> rendered = chatTemplate->render(tmpl::chatContext(chat));
    if (!rendered)
      return Error(ErrorCode::InvalidArgument,
                   "the chat template refused the messages: " + rendered.error().message());
    return rendered;
  };
  const std::string model =
      options.modelName.empty() ? exec.metadata().modelName : options.modelName;
  // LoRA adapters, asked for by name in 'model' (vLLM's --lora-modules): adapter i + 1.
  for (const std::string &name : exec.adapterNames())
    if (name == model)
      return Error(ErrorCode::InvalidArgument,
                   "LoRA adapter '" + name + "' has the served model's name");
  const int64_t maxSeqLen = exec.metadata().maxSeqLen;
  const int64_t maxNumSeqs = exec.metadata().maxNumSeqs;
  const int64_t vocab = exec.metadata().vocabSize;
  // A pooling plan (an embedding plan, or a classifier) serves its pooling endpoints alone;
  // a generating one everything else.
  const std::optional<plan::Classifier> classifier = exec.metadata().classifier;
  const bool embeddingPlan = exec.metadata().pooling.has_value() && !classifier;
  std::atomic<uint64_t> nextEmbeddingId{0};
  Expected<ToolCallParser> toolParser = parseToolCallParser(options.toolCallParser);
  if (!toolParser)
    return toolParser.error();
  Expected<ReasoningParser> reasoningParser = parseReasoningParser(options.reasoningParser);
  if (!reasoningParser)
    return reasoningParser.error();
  // Refused before serving, with the engine's reason.
  if (Status s = engine::Engine::checkSpeculation(exec.metadata(), options.speculativeTokens);
      !s)
    return s.error().withContext("--num-speculative-tokens");
  // The vocabulary as bytes for JSON-guided decoding (response_format json_object): control
  // tokens never appear inside the JSON, the end-of-sequence token ends it.
  std::shared_ptr<sample::JsonVocabulary> jsonVocab;
  {
    std::vector<std::string> bytes(tokenizer->vocabSize());
    for (size_t id = 0; id < bytes.size(); ++id)
      if (tokenizer->tokenAttr(int32_t(id)) != TokenAttr::Control &&
          tokenizer->tokenAttr(int32_t(id)) != TokenAttr::Unknown &&
          tokenizer->tokenAttr(int32_t(id)) != TokenAttr::Unused)
        bytes[id] = std::string(tokenizer->tokenBytes(int32_t(id)));
    // The end-of-answer tokens end it, never inside the JSON.
    std::vector<int32_t> ends = tokenizer->endIds();
    for (int32_t end : ends)
      bytes[size_t(end)].clear();
    jsonVocab = std::make_shared<sample::JsonVocabulary>(bytes, std::move(ends));
  }

  httplib::Server http;
  // Every request in flight holds an HTTP thread until it ends: room for max_num_seqs of
  // them, and a few more so /health and /metrics answer under full load.
  const size_t httpThreads = static_cast<size_t>(maxNumSeqs) + 4;
  http.new_task_queue = [httpThreads] { return new httplib::ThreadPool(httpThreads); };
  http.set_payload_max_length(size_t(32) << 20);
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
    json data = json::array({{{"id", model}, {"object", "model"}, {"owned_by", "modelrt"}}});
    for (const std::string &name : engineThread->adapterNames())
      if (!name.empty())
        data.push_back(
            {{"id", name}, {"object", "model"}, {"owned_by", "modelrt"}, {"parent", model}});
    json body = {{"object", "list"}, {"data", std::move(data)}};
    res.set_content(body.dump(), "application/json");
  });
  // vLLM's runtime LoRA updates (its VLLM_ALLOW_RUNTIME_LORA_UPDATING; here
  // --allow-runtime-lora-updating): POST {"lora_name", "lora_path"} to load an adapter,
  // {"lora_name"} to unload one no request is running with. Not with pipeline stages.
  if (options.allowRuntimeLoraUpdating) {
    auto names = [](const httplib::Request &req, bool withPath, std::string &name,
                    std::string &path) -> std::string {
      json body = json::parse(req.body, nullptr, false);
      if (!body.is_object())
        return "the body is not a JSON object";
      auto field = [&](const char *key, std::string &out) {
        auto it = body.find(key);
        if (it == body.end() || !it->is_string() || it->get<std::string>().empty())
          return false;
        out = it->get<std::string>();
        return true;
      };
      if (!field("lora_name", name))
        return "'lora_name' must be a non-empty string";
      if (withPath && !field("lora_path", path))
        return "'lora_path' must be a non-empty string";
      return "";
    };
    http.Post("/v1/load_lora_adapter", [&, engineThread, names](const httplib::Request &req,
                                                                 httplib::Response &res) {
      if (!authorized(req, res))
        return;
      std::string name, path;
      if (std::string bad = names(req, true, name, path); !bad.empty())
        return sendError(res, 400, bad);
      if (name == model)
        return sendError(res, 400, "'" + name + "' is the served model's name");
      Status s = engineThread->control(
          [&](Executor &exec, engine::Engine *) { return exec.loadAdapter(name, path); });
      if (!s)
        return sendError(res, 400, s.error().message());
      res.set_content("Success: LoRA adapter '" + name + "' added successfully.", "text/plain");
    });
    http.Post("/v1/unload_lora_adapter", [&, engineThread, names](const httplib::Request &req,
                                                                   httplib::Response &res) {
      if (!authorized(req, res))
        return;
      std::string name, path;
      if (std::string bad = names(req, false, name, path); !bad.empty())
        return sendError(res, 400, bad);
      int status = 400;
      Status s = engineThread->control([&](Executor &exec, engine::Engine *eng) -> Status {
        const std::vector<std::string> loaded = exec.adapterNames();
        auto it = std::find(loaded.begin(), loaded.end(), name);
        if (it == loaded.end()) {
          status = 404;
          return Error(ErrorCode::NotFound, "no LoRA adapter named '" + name + "' is loaded");
        }
        const int32_t id = static_cast<int32_t>(it - loaded.begin()) + 1;
        if (const int64_t n = eng ? eng->requestsWithAdapter(id) : 0; n > 0)
          return Error(ErrorCode::InvalidArgument,
                       "LoRA adapter '" + name + "' has " + std::to_string(n) +
                           " request(s) in flight; unload it once they finish");
        return exec.unloadAdapter(name);
      });
      if (!s)
        return sendError(res, status, s.error().message());
      res.set_content("Success: LoRA adapter '" + name + "' removed successfully.", "text/plain");
    });
  }
  // vLLM's /tokenize (a prompt, or messages through the chat template) and /detokenize.
  http.Post("/tokenize", [&, tokenizer](const httplib::Request &req, httplib::Response &res) {
    if (!authorized(req, res))
      return;
    Expected<TokenizeRequest> r = parseTokenizeRequest(req.body);
    if (!r)
      return sendError(res, 400, r.error().message());
    std::string text = std::move(r->prompt);
    if (r->chat) {
      Expected<std::string> rendered = renderChat(r->messages);
      if (!rendered)
        return sendError(res, 400, rendered.error().message());
      text = std::move(*rendered);
    }
    EncodeOptions encode;
    encode.parseSpecial = true;
    encode.addSpecial = r->addSpecial;
    Expected<std::vector<int32_t>> ids = tokenizer->encode(text, encode);
    if (!ids)
      return sendError(res, 400, ids.error().message());
    json out = {{"count", ids->size()},
                {"max_model_len", maxSeqLen},
                {"tokens", *ids},
                {"token_strs", nullptr}};
    if (r->returnTokenStrs) {
      json strs = json::array();
      for (int32_t id : *ids)
        strs.push_back(std::string(tokenizer->tokenText(id)));
      out["token_strs"] = std::move(strs);
    }
    res.set_content(dumpJson(out), "application/json");
  });
  http.Post("/detokenize", [&, tokenizer](const httplib::Request &req, httplib::Response &res) {
    if (!authorized(req, res))
      return;
    Expected<std::vector<int32_t>> ids = parseDetokenizeRequest(req.body);
    if (!ids)
      return sendError(res, 400, ids.error().message());
    const int64_t known = std::min<int64_t>(vocab, static_cast<int64_t>(tokenizer->vocabSize()));
    for (int32_t id : *ids)
      if (id >= known)
        return sendError(res, 400,
                         "'tokens': token id " + std::to_string(id) +
                             " is outside the vocabulary of " + std::to_string(known));
    Expected<std::string> text = tokenizer->decode(*ids);
    if (!text)
      return sendError(res, 400, "'tokens': " + text.error().message());
    res.set_content(dumpJson(json{{"prompt", *text}}), "application/json");
  });
  // The served model, or one of its LoRA adapters (its slot in `adapter`, its name in
  // `answered`). With adapters an unknown name is a 404 (as vLLM answers it); without, any
  // name is the served model (clients that send another id, as they did before adapters,
  // keep working). False: the 404 is in `res`.
  auto resolveModel = [&, engineThread](const std::string &requested, int32_t &adapter,
                                        std::string &answered, httplib::Response &res) {
    const std::vector<std::string> adapters = engineThread->adapterNames();
    const bool anyAdapter = std::any_of(adapters.begin(), adapters.end(),
                                        [](const std::string &a) { return !a.empty(); });
    if (!anyAdapter || requested.empty() || requested == model)
      return true;
    auto it = std::find(adapters.begin(), adapters.end(), requested);
    if (it == adapters.end()) {
      res.status = 404;
      res.set_content(dumpJson(errorBody("The model '" + requested.substr(0, 256) +
                                             "' does not exist.",
                                         "NotFoundError")),
                      "application/json");
      return false;
    }
    adapter = static_cast<int32_t>(it - adapters.begin()) + 1;
    answered = requested;
    return true;
  };
  // A prompt's token ids: its text encoded, or the ids given, none outside the plan's
  // vocabulary; nullopt with the error in `res` (`which` names the prompt).
  auto promptIdsOf = [&, tokenizer](const PromptInput &in, const EncodeOptions &encode,
                                    const std::string &which, httplib::Response &res)
      -> std::optional<std::vector<int32_t>> {
    Expected<std::vector<int32_t>> ids =
        in.tokens.empty() ? tokenizer->encode(in.text, encode)
                          : Expected<std::vector<int32_t>>(in.tokens);
    if (!ids)
      return sendError(res, 400, which + ids.error().message()), std::nullopt;
    if (ids->empty())
      return sendError(res, 400, which + "the prompt encodes to no tokens"), std::nullopt;
    for (int32_t id : *ids)
      if (id >= vocab)
        return (in.tokens.empty()
                    ? sendError(res, 500, "the tokenizer does not fit this plan's vocabulary")
                    : sendError(res, 400, which + "token id " + std::to_string(id) +
                                              " is outside the vocabulary of " +
                                              std::to_string(vocab))),
               std::nullopt;
    return std::move(*ids);
  };
  // vLLM's truncate_prompt_tokens (truncateLeft): a text's ids without special tokens say
  // which of its ids the tokenizer added.
  auto truncate = [tokenizer](const PromptInput &in, const EncodeOptions &encode, int64_t keep,
                              std::vector<int32_t> &ids) {
    std::optional<std::vector<int32_t>> bare;
    if (in.tokens.empty() && encode.addSpecial) {
      EncodeOptions plain = encode;
      plain.addSpecial = false;
      if (Expected<std::vector<int32_t>> ids = tokenizer->encode(in.text, plain))
        bare = std::move(*ids);
    }
    ids = truncateLeft(std::move(ids), bare ? &*bare : nullptr, keep);
  };
  auto completions = [&, engineThread, tokenizer](Api api, const httplib::Request &req,
                                                  httplib::Response &res) {
    if (!authorized(req, res))
      return;
    auto inFlight = std::make_shared<InFlight>();
    if (draining.load())
      return sendError(res, 503, "the server is shutting down");
    if (embeddingPlan)
      return sendError(res, 400,
                       "this model computes embeddings (a plan compiled with modelc --task "
                       "embed): POST /v1/embeddings");
    if (classifier)
      return sendError(res, 400,
                       "this model is a classifier (a plan compiled with modelc --task "
                       "classify): POST /classify, or /score and /rerank");
    Expected<GenerationRequest> parsed = parseGenerationRequest(api, req.body, maxSeqLen);
    if (!parsed)
      return sendError(res, 400, parsed.error().message());
    GenerationRequest &r = *parsed;
    Job job;
    std::string answeredModel = model;
    if (!resolveModel(r.model, job.params.adapter, answeredModel, res))
      return;
    job.sampling = r.sampling;
    job.topLogprobs = r.topLogprobs;
    const bool stream = r.stream;
    const std::vector<std::string> stops = r.stops;

    // The prompts: each text as given (or its token ids), or the messages through the
    // model's chat template.
    std::vector<PromptInput> prompts = std::move(r.prompts);
    EncodeOptions encode;
    encode.parseSpecial = true;
    encode.addSpecial = api == Api::Completions; // a template writes BOS itself
    if (api == Api::Chat) {
      Expected<std::string> rendered = renderChat(r.chat);
      if (!rendered)
        return sendError(res, 400, rendered.error().message());
      prompts.push_back({std::move(*rendered), {}});
    }
    // echo with max_tokens 0: one token is generated internally and not returned.
    const bool echo = r.echo, discard = r.echo && r.maxTokens == 0;
    const std::string field = api == Api::Chat ? "'messages'" : "'prompt'";
    std::vector<std::vector<int32_t>> promptIds; // per prompt
    std::vector<std::string> echoed;             // per prompt, with echo
    size_t promptTokens = 0;
    for (size_t p = 0; p < prompts.size(); ++p) {
      const PromptInput &in = prompts[p];
      const std::string which =
          prompts.size() > 1 ? field + " " + std::to_string(p) + ": " : field + ": ";
      std::optional<std::vector<int32_t>> ids = promptIdsOf(in, encode, which, res);
      if (!ids)
        return;
      if (discard && static_cast<int64_t>(ids->size()) >= maxSeqLen)
        return sendError(res, 400,
                         which + "'echo' with 'max_tokens' 0 scores prompts of up to "
                                 "max_seq_len - 1 (" +
                             std::to_string(maxSeqLen - 1) + ") tokens; this one has " +
                             std::to_string(ids->size()));
      // vLLM's truncate_prompt_tokens: the prompt's last k tokens (its specials kept).
      const int64_t keep = r.truncatePromptTokens < 0 ? maxSeqLen - 1 : r.truncatePromptTokens;
      const bool truncated = r.truncatePromptTokens != 0 && int64_t(ids->size()) > keep;
      if (truncated)
        truncate(in, encode, keep, *ids);
      if (echo) {
        Expected<std::string> decoded = in.tokens.empty() && !truncated
                                            ? Expected<std::string>(in.text)
                                            : tokenizer->decode(*ids);
        echoed.push_back(decoded ? *decoded : std::string());
      }
      promptTokens += ids->size();
      promptIds.push_back(std::move(*ids));
    }
    if (r.maxTokens == 0 &&
        !discard) { // a chat request without max_tokens: the rest of the context
      if (static_cast<int64_t>(promptIds[0].size()) >= maxSeqLen)
        return sendError(res, 400,
                         "the prompt has " + std::to_string(promptIds[0].size()) +
                             " tokens, max_seq_len is " + std::to_string(maxSeqLen));
      r.maxTokens = maxSeqLen - static_cast<int64_t>(promptIds[0].size());
    }
    job.params.maxTokens = static_cast<int32_t>(r.maxTokens);
    if (tokenizer->eosId() >= 0)
      job.params.eosTokenId = tokenizer->eosId();
    job.params.ignoreEos = r.ignoreEos;
    // The model's other end-of-answer tokens stop it as EOS does (ignore_eos ignores them
    // too, as in vLLM); the request's stop_token_ids always do.
    if (!r.ignoreEos)
      for (int32_t end : tokenizer->endIds())
        if (end != tokenizer->eosId() && end < vocab) // a tokenizer larger than the plan's
          job.params.stopTokenIds.push_back(end);
    for (int32_t id : r.stopTokenIds) {
      if (id >= vocab)
        return sendError(res, 400,
                         "'stop_token_ids': token id " + std::to_string(id) +
                             " is outside the vocabulary of " + std::to_string(vocab));
      job.params.stopTokenIds.push_back(id);
    }
    for (int32_t id : r.allowedTokenIds)
      if (id >= vocab)
        return sendError(res, 400,
                         "'allowed_token_ids': token id " + std::to_string(id) +
                             " is outside the vocabulary of " + std::to_string(vocab));
    // min_tokens holds back EOS (unless ignored) and the stop tokens until then.
    std::vector<int32_t> held = job.params.stopTokenIds;
    if (!r.ignoreEos && job.params.eosTokenId)
      held.push_back(*job.params.eosTokenId);
    const bool masked = !r.allowedTokenIds.empty() || (r.minTokens > 0 && !held.empty()) ||
                        !r.badWords.empty();
    // vLLM's bad_words: each word's tokens as it starts a text, and after a space (where
    // that is other tokens).
    std::vector<std::vector<int32_t>> badSequences;
    for (const std::string &word : r.badWords) {
      const size_t start = word.find_first_not_of(' ');
      const std::string bare = start == std::string::npos ? word : word.substr(start);
      for (const std::string &text : {bare, " " + bare}) {
        Expected<std::vector<int32_t>> ids = tokenizer->encode(text, EncodeOptions{});
        if (!ids)
          return sendError(res, 400, "'bad_words': " + ids.error().message());
        if (!ids->empty() &&
            std::find(badSequences.begin(), badSequences.end(), *ids) == badSequences.end())
          badSequences.push_back(std::move(*ids));
      }
    }
    // echo: the prompt is scored when logprobs are asked for; max_tokens 0 generates one
    // token that is not returned.
    job.params.promptLogprobs = (echo && r.topLogprobs >= 0) || r.promptLogprobs >= 0;
    if (r.promptLogprobs >= 0) // enough for both lists; each takes its own
      job.params.promptTopLogprobs = std::max(r.promptLogprobs, r.topLogprobs);
    const int echoTop = r.topLogprobs, promptTop = r.promptLogprobs;
    if (discard)
      job.params.maxTokens = 1;
    if (r.jsonObject && tokenizer->eosId() < 0)
      return sendError(res, 400,
                       "'response_format' needs an end-of-sequence token to end the JSON, and "
                       "this model's tokenizer has none");
    if (!r.guidedChoice.empty() && tokenizer->eosId() < 0)
      return sendError(res, 400,
                       "'guided_choice' needs an end-of-sequence token to end the choice, and "
                       "this model's tokenizer has none");
    if ((r.guidedRegex || r.guidedGrammar) && tokenizer->eosId() < 0)
      return sendError(res, 400,
                       std::string(r.guidedRegex ? "'guided_regex'" : "'guided_grammar'") +
                           " needs an end-of-sequence token to end the match, and this "
                           "model's tokenizer has none");
    job.channel = std::make_shared<Channel>();
    std::shared_ptr<Channel> channel = job.channel;
    // n choices per prompt: one engine request each (seeds seed, seed + 1, ...), answering
    // on one channel, choice p x n + i for prompt p; with prefix caching the later ones
    // share a prompt's full blocks once computed.
    const int perPrompt = r.n;
    const int n = perPrompt * static_cast<int>(promptIds.size()); // choices in all
    // Chat with tools: the answers are read for tool calls in the model's format (a stream
    // then sends each choice's text and calls in its last chunk).
    const ToolCallParser tools =
        api == Api::Chat && !r.chat.tools.is_null() && r.toolChoice != "none"
            ? *toolParser
            : ToolCallParser::None;
    const std::vector<std::string> declared = toolNames(r.chat.tools);
    // The calls in a choice's text: the forced function's (its arguments are the text), the
    // one tool_choice "required" guided ({"name": ..., "arguments": ...}; cut short by
    // max_tokens, it stays text), or those the parser finds.
    const std::string forcedTool = api == Api::Chat ? r.forcedTool : std::string();
    const bool callRequired = api == Api::Chat && r.toolChoice == "required";
    const bool guidedCall = !forcedTool.empty() || callRequired;
    // Chat answers split into reasoning and content, unless guided decoding shapes them.
    const ReasoningParser reasoning =
        api == Api::Chat && !guidedCall && !r.jsonObject && r.guidedChoice.empty() &&
                !r.guidedRegex && !r.guidedGrammar
            ? *reasoningParser
            : ReasoningParser::None;
    const std::string chatPrompt = api == Api::Chat ? prompts[0].text : std::string();
    auto findCalls = [tools, declared, forcedTool, callRequired](const std::string &text) {
      if (!forcedTool.empty())
        return ExtractedToolCalls{std::string(), {ToolCall{forcedTool, text}}};
      if (callRequired) {
        const json call = json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (call.is_object() && call.contains("name") && call["name"].is_string() &&
            call.contains("arguments"))
          return ExtractedToolCalls{std::string(),
                                    {ToolCall{call["name"].get<std::string>(),
                                              call["arguments"].dump()}}};
        return ExtractedToolCalls{text, {}};
      }
      return extractToolCalls(tools, text, declared);
    };
    std::vector<Job> jobs;
    for (int i = 0; i < n; ++i) {
      Job copy = job;
      copy.index = i;
      copy.params.prompt = promptIds[static_cast<size_t>(i / perPrompt)];
      copy.sharesFirstPrompt = i > 0 && i < perPrompt;
      copy.sampling.seed = job.sampling.seed + static_cast<uint64_t>(i % perPrompt);
      if (r.jsonObject) // each choice walks the grammar on its own
        copy.sampling.constraint =
            std::make_shared<sample::JsonConstraint>(jsonVocab, r.jsonSchema);
      else if (!r.guidedChoice.empty())
        copy.sampling.constraint =
            std::make_shared<sample::ChoiceConstraint>(jsonVocab, r.guidedChoice);
      else if (r.guidedRegex)
        copy.sampling.constraint =
            std::make_shared<sample::RegexConstraint>(jsonVocab, r.guidedRegex);
      else if (r.guidedGrammar)
        copy.sampling.constraint =
            std::make_shared<sample::GrammarConstraint>(jsonVocab, r.guidedGrammar);
      if (masked) {
        auto mask = std::make_shared<sample::MaskConstraint>(vocab, r.allowedTokenIds, held,
                                                             r.minTokens, copy.sampling.constraint);
        mask->banSequences(badSequences);
        copy.sampling.constraint = std::move(mask);
      }
      jobs.push_back(std::move(copy));
    }
    engineThread->submit(std::move(jobs));

    std::string id = std::string(api == Api::Chat ? "chatcmpl-" : "cmpl-") +
                     std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    auto created = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
    // One choice in the endpoint's shape: of a response (plain) or of a chunk (streaming).
    // Reasoning goes under both of vLLM's names (reasoning_content, and its newer reasoning).
    auto choiceJson = [api](int index, const std::string &text, const std::string &finish,
                            bool streaming, bool first, const std::string &reasoning = {}) {
      json choice = {{"index", index}, {"finish_reason", nullptr}};
      if (!finish.empty())
        choice["finish_reason"] = finish;
      if (api == Api::Completions) {
        choice["text"] = text;
      } else if (!streaming) {
        choice["message"] = {{"role", "assistant"}, {"content", text}};
        if (!reasoning.empty()) {
          if (text.empty())
            choice["message"]["content"] = nullptr;
          choice["message"]["reasoning_content"] = reasoning;
          choice["message"]["reasoning"] = reasoning;
        }
      } else {
        choice["delta"] = json::object();
        if (first)
          choice["delta"]["role"] = "assistant";
        if (!reasoning.empty()) {
          choice["delta"]["reasoning_content"] = reasoning;
          choice["delta"]["reasoning"] = reasoning;
        }
        if (!text.empty() || (finish.empty() && reasoning.empty()))
          choice["delta"]["content"] = text;
      }
      return choice;
    };
    auto envelope = [api, id, created, model = answeredModel](json choices, bool streaming) {
      const char *object = api == Api::Completions ? "text_completion"
                           : streaming             ? "chat.completion.chunk"
                                                   : "chat.completion";
      return json{{"id", id},
                  {"object", object},
                  {"created", created},
                  {"model", model},
                  {"choices", std::move(choices)}};
    };
    // One choice's text so far: detokenized, stop strings held back and matched.
    struct Choice {
      // Special tokens are dropped from the text, except when it is read for tool calls
      // (a model's <tool_call> may be one) or by a reasoning format made of them.
      Choice(Api api, const Tokenizer &tokenizer, const std::vector<std::string> &stops,
             bool keepStop, bool skipSpecial, ReasoningParser reasoning,
             const std::string &prompt)
          : detok(tokenizer, skipSpecial), matcher(stops, keepStop), logprobs(api, tokenizer),
            split(reasoning, prompt) {}
      StreamingDetokenizer detok;
      StopMatcher matcher;
      LogprobsLog logprobs;
      ReasoningSplitter split;
      std::string reasoning; // what the split took for reasoning
      bool contentSent = false; // streaming: some content went out
      std::string text; // plain responses: all of it (the content, with a reasoning parser)
      json promptLogprobs; // vLLM's prompt_logprobs, when asked for
      size_t generated = 0;
      std::string finish;
      bool first = true;
    };
    auto choices = std::make_shared<std::vector<std::unique_ptr<Choice>>>();
    for (int i = 0; i < n; ++i)
      choices->push_back(std::make_unique<Choice>(
          api, *tokenizer, stops, r.includeStopStr,
          r.skipSpecialTokens && tools == ToolCallParser::None && !readsSpecialTokens(reasoning),
          reasoning, chatPrompt));
    auto cached = std::make_shared<int32_t>(0);
    // Takes one event of a running choice; returns the text it adds, and sets e.finish when
    // the choice ends (a stop string ends it here and cancels the rest of its request).
    const int64_t minTokens = r.minTokens;
    const bool keepStopToken = r.includeStopStr;
    auto advance = [tokenizer, engineThread, channel, cached, minTokens,
                    keepStopToken](Choice &c, Event &e) {
      std::string text;
      *cached = std::max(*cached, e.cachedTokens);
      if (e.token >= 0) {
        ++c.generated;
        // The token that stops a choice (an end token, or one of stop_token_ids) is left out
        // of the text, unless include_stop_str_in_output asks for it (an end token always
        // is), as vLLM does.
        const bool stopToken = e.finish == "stop";
        if (!stopToken || (keepStopToken && !tokenizer->isEnd(e.token))) {
          Expected<std::string> piece = c.detok.push(e.token);
          if (piece) // stop strings end an answer only after min_tokens (vLLM)
            text = c.matcher.feed(*piece, int64_t(c.generated) > minTokens);
        }
      }
      if (c.matcher.stopped) {
        engineThread->cancel(channel, e.index); // a stop string: the rest is not wanted
        e.finish = "stop";
      } else if (!e.finish.empty()) {
        text += c.matcher.feed(c.detok.finish()) + c.matcher.finish();
      }
      if (!e.finish.empty())
        c.finish = e.finish;
      return text;
    };
    // The reasoning and content in a choice's next text (its rest too once it ended).
    auto split = [reasoning](Choice &c, const std::string &text) {
      if (reasoning == ReasoningParser::None)
        return ReasoningSplitter::Parts{{}, text};
      ReasoningSplitter::Parts parts = c.split.feed(text);
      if (!c.finish.empty()) {
        ReasoningSplitter::Parts rest = c.split.finish();
        parts.reasoning += rest.reasoning;
        parts.content += rest.content;
      }
      c.reasoning += parts.reasoning;
      return parts;
    };
    // An ended choice's calls: those in its content (the tool call parser's), or harmony's
    // messages to declared functions. A harmony call that is not one (tools off, a function
    // not declared, arguments that do not parse) stays text, after the content; callsOnly:
    // the content was sent already, the content returned is just that text.
    const bool toolsOn = api == Api::Chat && !r.chat.tools.is_null() && r.toolChoice != "none";
    auto answerCalls = [findCalls, reasoning, declared, toolsOn](const Choice &c,
                                                                 bool callsOnly = false) {
      if (reasoning != ReasoningParser::Harmony)
        return findCalls(c.text);
      ExtractedToolCalls x{callsOnly ? std::string() : c.text, {}};
      bool hasText = callsOnly ? c.contentSent : !c.text.empty();
      for (const ToolCall &call : c.split.calls()) {
        std::optional<ToolCall> checked =
            toolsOn ? checkedToolCall(call.name, call.arguments, declared) : std::nullopt;
        if (checked) {
          x.calls.push_back(std::move(*checked));
        } else {
          x.content += (hasText ? "\n" : "") + call.arguments;
          hasText = true;
        }
      }
      return x;
    };
    auto usage = [choices, cached, promptTokens] {
      size_t generated = 0;
      for (const auto &c : *choices)
        generated += c->generated;
      return usageJson(promptTokens, generated, *cached);
    };

    if (!stream) {
      for (int open = n; open > 0;) {
        Event e = channel->pop();
        if (e.finish == "error") {
          engineThread->cancel(channel);
          return sendError(res, e.status, e.error);
        }
        Choice &c = *(*choices)[static_cast<size_t>(e.index)];
        if (!c.finish.empty())
          continue;                   // in flight when its stop string ended it
        if (echo && e.promptLogprobs && echoTop >= 0) { // with the first token: the prompt's,
          // its first unscored
          const std::vector<int32_t> &ids = promptIds[static_cast<size_t>(e.index / perPrompt)];
          for (size_t p = 0; p < ids.size(); ++p)
            if (p == 0) {
              c.logprobs.addUnscored(ids[0]);
            } else {
              sample::TokenLogprobs lp = (*e.promptLogprobs)[p];
              lp.top.resize(std::min(lp.top.size(), size_t(echoTop)));
              c.logprobs.add(ids[p], lp);
            }
        }
        if (promptTop >= 0 && e.promptLogprobs)
          c.promptLogprobs = promptLogprobsJson(
              *tokenizer, promptIds[static_cast<size_t>(e.index / perPrompt)], *e.promptLogprobs,
              promptTop);
        if (e.token >= 0 && e.logprobs && !discard)
          c.logprobs.add(e.token, *e.logprobs);
        const ReasoningSplitter::Parts parts = split(c, advance(c, e));
        if (!discard)
          c.text += parts.content;
        else
          c.generated = 0; // the one token max_tokens 0 needs internally is not returned
        open -= !c.finish.empty();
      }
      json list = json::array();
      for (int i = 0; i < n; ++i) {
        const Choice &c = *(*choices)[static_cast<size_t>(i)];
        // max_tokens 0 ends at its length, whatever the hidden token was.
        ExtractedToolCalls x = answerCalls(c);
        const std::string &content = reasoning == ReasoningParser::Harmony ? x.content : c.text;
        json choice = choiceJson(i, echo ? echoed[static_cast<size_t>(i / perPrompt)] + content : content,
                                 discard ? std::string("length") : c.finish, false, true, c.reasoning);
        if (!x.calls.empty()) {
          choice["message"]["content"] = x.content.empty() ? json(nullptr) : json(x.content);
          choice["message"]["tool_calls"] = toolCallsJson(x.calls, id + "_" + std::to_string(i));
          choice["finish_reason"] = "tool_calls";
        }
        if (!c.logprobs.empty())
          choice["logprobs"] = c.logprobs.toJson();
        if (api == Api::Completions && promptTop >= 0)
          choice["prompt_logprobs"] = c.promptLogprobs;
        list.push_back(std::move(choice));
      }
      json out = envelope(std::move(list), false);
      if (api == Api::Chat && promptTop >= 0) // vLLM's place for chat: the response's
        out["prompt_logprobs"] = (*choices)[0]->promptLogprobs;
      out["usage"] = usage();
      res.set_content(dumpJson(out), "application/json");
      return;
    }
    // The first event decides the status: a request the engine refuses gets its 400
    // before any stream starts.
    auto pending = std::make_shared<std::optional<Event>>(channel->pop());
    if ((*pending)->finish == "error") {
      engineThread->cancel(channel);
      return sendError(res, (*pending)->status, (*pending)->error);
    }
    auto open = std::make_shared<int>(n);
    const bool includeUsage = r.includeUsage;
    res.set_chunked_content_provider(
        "text/event-stream",
        [channel, choices, advance, choiceJson, envelope, usage, api, tokenizer, engineThread,
         pending, open, includeUsage, tools, guidedCall, id, reasoning, split, answerCalls,
         inFlight](size_t, httplib::DataSink &sink) {
          Event e = pending->has_value() ? std::move(**pending) : channel->pop();
          pending->reset();
          if (e.finish == "error") {
            engineThread->cancel(channel);
            std::string data = "data: " + dumpJson(errorBody(e.error)) + "\n\n";
            sink.write(data.data(), data.size());
            sink.done();
            return true;
          }
          Choice &c = *(*choices)[static_cast<size_t>(e.index)];
          if (!c.finish.empty())
            return true; // in flight when its stop string ended it
          const ReasoningSplitter::Parts parts = split(c, advance(c, e));
          json delta;
          // Content read for calls in text is held until the choice ends: then its content,
          // calls and logprobs in one chunk (reasoning streams before it). Harmony's calls
          // are messages of their own: its content streams, its calls come last.
          const bool holdCalls =
              (tools != ToolCallParser::None && reasoning != ReasoningParser::Harmony) ||
              guidedCall;
          auto addCalls = [&](const ExtractedToolCalls &x) {
            if (x.calls.empty())
              return;
            json calls = toolCallsJson(x.calls, id + "_" + std::to_string(e.index));
            for (size_t k = 0; k < calls.size(); ++k)
              calls[k]["index"] = k;
            delta["delta"]["tool_calls"] = std::move(calls);
            delta["finish_reason"] = "tool_calls";
          };
          if (holdCalls) {
            c.text += parts.content;
            if (e.token >= 0 && e.logprobs)
              c.logprobs.add(e.token, *e.logprobs);
            if (e.finish.empty() && parts.reasoning.empty())
              return true;
            if (e.finish.empty()) {
              delta = choiceJson(e.index, "", "", true, std::exchange(c.first, false),
                                 parts.reasoning);
            } else {
              ExtractedToolCalls x = answerCalls(c);
              delta = choiceJson(e.index, x.calls.empty() ? c.text : x.content, e.finish, true,
                                 std::exchange(c.first, false), parts.reasoning);
              addCalls(x);
            }
          } else if (reasoning == ReasoningParser::Harmony && !e.finish.empty()) {
            ExtractedToolCalls x = answerCalls(c, /*callsOnly=*/true);
            delta = choiceJson(e.index, parts.content + x.content, e.finish, true,
                               std::exchange(c.first, false), parts.reasoning);
            addCalls(x);
          } else {
            // A token whose text the split holds back (a tag's start, harmony's headers)
            // sends nothing, unless its logprobs are asked for.
            if (reasoning != ReasoningParser::None && e.finish.empty() &&
                parts.content.empty() && parts.reasoning.empty() && !(e.token >= 0 && e.logprobs))
              return true;
            delta = choiceJson(e.index, parts.content, e.finish, true,
                               std::exchange(c.first, false), parts.reasoning);
          }
          c.contentSent = c.contentSent || !parts.content.empty();
          json out = envelope(json::array({std::move(delta)}), true);
          if (holdCalls) {
            if (!c.finish.empty() && !c.logprobs.empty())
              out["choices"][0]["logprobs"] = c.logprobs.toJson();
          } else if (e.token >= 0 && e.logprobs) { // this chunk's token, in the endpoint's shape
            LogprobsLog one(api, *tokenizer);
            one.add(e.token, *e.logprobs);
            out["choices"][0]["logprobs"] = one.toJson();
          }
          std::string data = "data: " + dumpJson(out) + "\n\n";
          if (!sink.write(data.data(), data.size())) {
            engineThread->cancel(channel); // the client went away
            return false;
          }
          if (!c.finish.empty() && --*open == 0) {
            if (includeUsage) { // OpenAI's last chunk: no choices, the usage
              json last = envelope(json::array(), true);
              last["usage"] = usage();
              std::string data = "data: " + dumpJson(last) + "\n\n";
              sink.write(data.data(), data.size());
            }
            const char *done = "data: [DONE]\n\n";
            sink.write(done, std::strlen(done));
            sink.done();
          }
          return true;
        },
        // However the stream ends before [DONE] (the client went away, the server stops
        // writing), the choices still running are cancelled.
        [channel, engineThread](bool success) {
          if (!success)
            engineThread->cancel(channel);
        });
  };
  // Every input one engine request of an embedding plan, batched with whatever else runs;
  // the vectors in input order, and the prompt tokens they took. `field` names the inputs in
  // errors ("'input'"). False: the error is in `res`.
  struct EmbedOptions {
    int64_t dimensions = 0;
    int64_t truncatePromptTokens = 0; // 0: none; -1: max_seq_len; k: the last k tokens
    bool addSpecial = true;
    int32_t adapter = 0;
  };
  using Vectors = std::vector<std::shared_ptr<const std::vector<float>>>;
  // The longest prompt a pooling request may give; false with the error in `res`.
  auto fitsContext = [&](const std::string &which, size_t tokens, httplib::Response &res) {
    if (int64_t(tokens) <= maxSeqLen)
      return true;
    return sendError(res, 400,
                     which + "this model's maximum context length is " +
                         std::to_string(maxSeqLen) + " tokens, and the input has " +
                         std::to_string(tokens) + " (truncate_prompt_tokens keeps the last k)"),
           false;
  };
  // Every prompt one engine request of a pooling plan, batched with whatever else runs; the
  // vectors in prompt order. False: the error is in `res`.
  // `types`: each prompt's token types (a cross-encoder's that takes them), or none.
  auto poolPrompts = [&, engineThread](std::vector<std::vector<int32_t>> prompts,
                                       const EmbedOptions &o, Vectors &vectors,
                                       httplib::Response &res,
                                       std::vector<std::vector<int32_t>> types = {}) -> bool {
    Job job;
    job.params.adapter = o.adapter;
    job.embed = true;
    job.dimensions = o.dimensions;
    job.channel = std::make_shared<Channel>();
    std::vector<Job> jobs;
    for (size_t i = 0; i < prompts.size(); ++i) {
      Job one = job;
      one.index = static_cast<int>(i);
      one.params.prompt = std::move(prompts[i]);
      if (i < types.size())
        one.params.tokenTypes = std::move(types[i]);
      jobs.push_back(std::move(one));
    }
    const size_t n = jobs.size();
    std::shared_ptr<Channel> channel = job.channel;
    engineThread->submit(std::move(jobs));
    vectors.assign(n, nullptr);
    for (size_t open = n; open > 0;) {
      Event e = channel->pop();
      if (e.finish == "error") {
        engineThread->cancel(channel);
        return sendError(res, e.status, e.error), false;
      }
      if (!e.embedding || static_cast<size_t>(e.index) >= n)
        continue;
      vectors[static_cast<size_t>(e.index)] = e.embedding;
      --open;
    }
    return true;
  };
  // Each input encoded (and truncated as asked), then pooled; the prompt tokens they took.
  // `field` names the inputs in errors ("'input'").
  auto embedInputs = [&](const std::vector<PromptInput> &inputs, const std::string &field,
                         const EmbedOptions &o, Vectors &vectors, size_t &promptTokens,
                         httplib::Response &res) -> bool {
    EncodeOptions encode;
    encode.parseSpecial = true;
    encode.addSpecial = o.addSpecial;
    const int64_t keep = o.truncatePromptTokens < 0 ? maxSeqLen : o.truncatePromptTokens;
    std::vector<std::vector<int32_t>> prompts;
    promptTokens = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const PromptInput &in = inputs[i];
      const std::string which =
          inputs.size() > 1 ? field + " " + std::to_string(i) + ": " : field + ": ";
      std::optional<std::vector<int32_t>> ids = promptIdsOf(in, encode, which, res);
      if (!ids)
        return false;
      if (o.truncatePromptTokens != 0 && int64_t(ids->size()) > keep)
        truncate(in, encode, keep, *ids);
      if (!fitsContext(which, ids->size(), res))
        return false;
      promptTokens += ids->size();
      prompts.push_back(std::move(*ids));
    }
    return poolPrompts(std::move(prompts), o, vectors, res);
  };
  auto created = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  // The list answer of /v1/embeddings and /score: id, object, created, model, data, usage.
  auto listAnswer = [&, created](const std::string &idPrefix, const std::string &answeredModel,
                                 json data, size_t promptTokens) {
    return json{{"id", idPrefix + std::to_string(nextEmbeddingId.fetch_add(1))},
                {"object", "list"},
                {"created", created()},
                {"model", answeredModel},
                {"data", std::move(data)},
                {"usage", {{"prompt_tokens", promptTokens}, {"total_tokens", promptTokens}}}};
  };
  // The common prelude of the pooling endpoints: authorized, not draining, and a plan that
  // answers `what`: embeddings (an embedding plan), classes (a classifier), scores (an
  // embedding plan's cosines, or a cross-encoder's: a classifier of one label), or what any
  // pooling plan pools (vLLM's /pooling).
  enum class Pooled { Embeddings, Classes, Scores, Any };
  auto poolingPrelude = [&](Pooled what, const httplib::Request &req, httplib::Response &res) {
    if (!authorized(req, res))
      return false;
    if (draining.load())
      return sendError(res, 503, "the server is shutting down"), false;
    if (!embeddingPlan && !classifier)
      return sendError(res, 400,
                       "this model generates text (/v1/completions, /v1/chat/completions); "
                       "embeddings need a plan compiled with modelc --task embed, classes and "
                       "cross-encoder scores one compiled with modelc --task classify"),
             false;
    if (what == Pooled::Embeddings && classifier)
      return sendError(res, 400,
                       "this model is a classifier (a plan compiled with modelc --task "
                       "classify): POST /classify, or /score and /rerank"),
             false;
    if (what == Pooled::Classes && embeddingPlan)
      return sendError(res, 400,
                       "this model computes embeddings (a plan compiled with modelc --task "
                       "embed): POST /v1/embeddings; /classify needs a classifier"),
             false;
    if (what == Pooled::Scores && classifier && classifier->labels.size() != 1)
      return sendError(res, 400,
                       "scores need a classifier of one label (a cross-encoder); this one has " +
                           std::to_string(classifier->labels.size()) + ": POST /classify"),
             false;
    return true;
  };
  // OpenAI's embeddings (vLLM's pooling runner), vLLM's /classify and /pooling: the same
  // inputs (a prompt or a list, or chat messages), and of each a vector, the labels'
  // probabilities, or what the plan pools (an embedding; a classifier's logits).
  auto pool = [&, engineThread](Pooled what, const httplib::Request &req,
                                httplib::Response &res) {
    auto inFlight = std::make_shared<InFlight>();
    if (!poolingPrelude(what, req, res))
      return;
    const bool classify = what == Pooled::Classes;
    Expected<EmbeddingRequest> parsed = parseEmbeddingRequest(req.body, classify);
    if (!parsed)
      return sendError(res, 400, parsed.error().message());
    EmbeddingRequest &r = *parsed;
    const int64_t width = engineThread->metadata().outputWidth();
    if (classifier && r.dimensions > 0)
      return sendError(res, 400, "'dimensions' applies to embedding plans, not classifiers");
    if (r.dimensions > width)
      return sendError(res, 400,
                       "'dimensions' " + std::to_string(r.dimensions) +
                           " is more than the model's " + std::to_string(width));
    EmbedOptions o{r.dimensions, r.truncatePromptTokens, r.addSpecial, 0};
    std::string answeredModel = model;
    if (!resolveModel(r.model, o.adapter, answeredModel, res))
      return;
    if (r.chat) {
      Expected<std::string> rendered = renderChat(r.messages);
      if (!rendered)
        return sendError(res, 400, rendered.error().message());
      r.inputs.push_back({std::move(*rendered), {}});
    }
    Vectors vectors;
    size_t promptTokens = 0;
    if (!embedInputs(r.inputs, r.chat ? "'messages'" : "'input'", o, vectors, promptTokens, res))
      return;
    json data = json::array();
    for (size_t i = 0; i < vectors.size(); ++i) {
      const std::vector<float> &v = *vectors[i];
      if (classify) {
        // vLLM: the label of the most probable class, the probabilities, their count.
        std::vector<float> probs = classifier->probabilities(v, r.useActivation);
        const size_t best = size_t(std::max_element(probs.begin(), probs.end()) - probs.begin());
        data.push_back({{"index", i},
                        {"label", classifier->labels[best]},
                        {"probs", probs},
                        {"num_classes", probs.size()}});
        continue;
      }
      const bool pooling = what == Pooled::Any;
      const std::vector<float> out = classifier ? classifier->logits(v) : v;
      const char *field = pooling ? "data" : "embedding";
      json item = {{"object", pooling ? "pooling" : "embedding"}, {"index", i}};
      if (r.base64) {
        std::vector<uint8_t> bytes(out.size() * sizeof(float));
        std::memcpy(bytes.data(), out.data(), bytes.size()); // little-endian hosts (x86, Arm)
        item[field] = base64(bytes.data(), bytes.size());
      } else {
        item[field] = out;
      }
      data.push_back(std::move(item));
    }
    const char *prefix = classify ? "classify-" : what == Pooled::Any ? "pool-" : "embd-";
    res.set_content(dumpJson(listAnswer(prefix, answeredModel, std::move(data), promptTokens)),
                    "application/json");
  };
  for (auto [path, what] : {std::pair{"/v1/embeddings", Pooled::Embeddings},
                            std::pair{"/classify", Pooled::Classes},
                            std::pair{"/pooling", Pooled::Any}})
    http.Post(path, [pool, what = what](const httplib::Request &req, httplib::Response &res) {
      pool(what, req, res);
    });
  // vLLM's score and rerank APIs: each pair's score (text_1 against every text_2, or
  // pairwise), and documents sorted by their score against a query (Jina's and Cohere's
  // rerank shape). On an embedding model, the cosine similarity of the two texts'
  // embeddings; on a cross-encoder, its probability for the pair as one prompt (pairPrompt).
  auto cosine = [](const std::vector<float> &a, const std::vector<float> &b) {
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      dot += double(a[i]) * b[i];
      na += double(a[i]) * a[i];
      nb += double(b[i]) * b[i];
    }
    return dot / std::max(std::sqrt(na) * std::sqrt(nb), 1e-12);
  };
  // A cross-encoder's prompts: each document with its query, truncated as asked.
  auto pairPrompts = [&, tokenizer](const ScoreRequest &r,
                                    std::vector<std::vector<int32_t>> &prompts,
                                    std::vector<std::vector<int32_t>> &types,
                                    size_t &promptTokens, httplib::Response &res) -> bool {
    const int64_t keep = r.truncatePromptTokens < 0 ? maxSeqLen : r.truncatePromptTokens;
    promptTokens = 0;
    for (size_t i = 0; i < r.documents.size(); ++i) {
      const std::string &query = r.queries[r.queries.size() == 1 ? 0 : i].text;
      const std::string &document = r.documents[i].text;
      const std::string which =
          r.documents.size() > 1 ? "pair " + std::to_string(i) + ": " : std::string();
      std::vector<int32_t> pairTypes;
      Expected<std::vector<int32_t>> ids =
          pairPrompt(*tokenizer, *classifier, query, document,
                     r.truncatePromptTokens != 0 ? keep : -1, &pairTypes);
      if (!ids)
        return sendError(res, 400, which + ids.error().message()), false;
      for (int32_t id : *ids)
        if (id >= vocab)
          return sendError(res, 500, "the tokenizer does not fit this plan's vocabulary"), false;
      if (!fitsContext(which, ids->size(), res))
        return false;
      promptTokens += ids->size();
      prompts.push_back(std::move(*ids));
      types.push_back(std::move(pairTypes));
    }
    return true;
  };
  auto score = [&](bool rerank, const httplib::Request &req, httplib::Response &res) {
    auto inFlight = std::make_shared<InFlight>();
    if (!poolingPrelude(Pooled::Scores, req, res))
      return;
    Expected<ScoreRequest> parsed = parseScoreRequest(req.body, rerank);
    if (!parsed)
      return sendError(res, 400, parsed.error().message());
    ScoreRequest &r = *parsed;
    EmbedOptions o{0, r.truncatePromptTokens, true, 0};
    std::string answeredModel = model;
    if (!resolveModel(r.model, o.adapter, answeredModel, res))
      return;
    Vectors vectors;
    size_t promptTokens = 0;
    std::vector<std::pair<size_t, double>> scores; // document index, score
    if (classifier) {
      std::vector<std::vector<int32_t>> prompts, types;
      if (!pairPrompts(r, prompts, types, promptTokens, res) ||
          !poolPrompts(std::move(prompts), o, vectors, res, std::move(types)))
        return;
      for (size_t i = 0; i < r.documents.size(); ++i)
        scores.push_back({i, double(classifier->score(*vectors[i], r.useActivation))});
    } else {
      // Every text once: the queries, then the documents.
      std::vector<PromptInput> inputs = r.queries;
      inputs.insert(inputs.end(), r.documents.begin(), r.documents.end());
      if (!embedInputs(inputs, r.rerank ? "'query' or 'documents'" : "'text_1' or 'text_2'", o,
                       vectors, promptTokens, res))
        return;
      const size_t q = r.queries.size();
      for (size_t i = 0; i < r.documents.size(); ++i)
        scores.push_back({i, cosine(*vectors[q == 1 ? 0 : i], *vectors[q + i])});
    }
    if (r.rerank) {
      std::stable_sort(scores.begin(), scores.end(),
                       [](const auto &a, const auto &b) { return a.second > b.second; });
      if (r.topN > 0 && size_t(r.topN) < scores.size())
        scores.resize(size_t(r.topN));
      json results = json::array();
      for (const auto &[i, s] : scores) {
        json item = {{"index", i}, {"relevance_score", s}};
        if (r.returnDocuments)
          item["document"] = {{"text", r.documents[i].text}};
        results.push_back(std::move(item));
      }
      json out = {{"id", "rerank-" + std::to_string(nextEmbeddingId.fetch_add(1))},
                  {"model", answeredModel},
                  {"usage", {{"total_tokens", promptTokens}}},
                  {"results", std::move(results)}};
      return res.set_content(dumpJson(out), "application/json");
    }
    json data = json::array();
    for (const auto &[i, s] : scores)
      data.push_back({{"index", i}, {"object", "score"}, {"score", s}});
    res.set_content(dumpJson(listAnswer("score-", answeredModel, std::move(data), promptTokens)),
                    "application/json");
  };
  for (const char *path : {"/score", "/v1/score", "/rerank", "/v1/rerank", "/v2/rerank"}) {
    const bool rerank = std::string_view(path).find("rerank") != std::string_view::npos;
    http.Post(path, [score, rerank](const httplib::Request &req, httplib::Response &res) {
      score(rerank, req, res);
    });
  }
  http.Post("/v1/completions", [completions](const httplib::Request &req, httplib::Response &res) {
    completions(Api::Completions, req, res);
  });
  http.Post("/v1/chat/completions",
            [completions](const httplib::Request &req, httplib::Response &res) {
              completions(Api::Chat, req, res);
            });
  if (!http.bind_to_port(options.host.c_str(), options.port))
    return Error(ErrorCode::IoError,
                 "cannot listen on " + options.host + ":" + std::to_string(options.port));
  if (classifier)
    std::fprintf(stderr, "modelrt serve: a classifier (%zu label%s, %s): /classify, /pooling%s\n",
                 classifier->labels.size(), classifier->labels.size() == 1 ? "" : "s",
                 plan::activationName(classifier->activation),
                 classifier->labels.size() == 1 ? ", /score, /rerank" : "");
  else if (const std::optional<plan::Pooling> &p = engineThread->metadata().pooling)
    std::fprintf(stderr,
                 "modelrt serve: an embedding plan (%s token pooling%s, %lld dimensions): "
                 "/v1/embeddings, /pooling, /score, /rerank\n",
                 plan::poolingTypeName(p->type), p->normalize ? ", normalized" : "",
                 static_cast<long long>(p->dimensions));
  std::fprintf(stderr, "modelrt serve: %s on http://%s:%d\n", model.c_str(), options.host.c_str(),
               options.port);
  // SIGINT / SIGTERM stop accepting connections; requests in flight finish (the engine
  // thread outlives the HTTP server), then serve() returns and everything is released.
  draining.store(false);
  std::signal(SIGINT, drainOnSignal);
  std::signal(SIGTERM, drainOnSignal);
  std::atomic<bool> listening{true};
  std::thread watcher([&] {
    while (listening.load()) {
      if (draining.load() && completionsInFlight.load() == 0) {
        http.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  http.listen_after_bind();
  listening.store(false);
  watcher.join();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::fprintf(stderr, "modelrt serve: stopped\n");
  return Status::success();
}

} // namespace modelrt::server
