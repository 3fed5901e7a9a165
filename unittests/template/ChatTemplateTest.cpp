// Chat-template tests against jinja2 itself: test/goldens/chat-templates.json holds real chat
// templates and feature templates rendered by jinja2 3.1 configured as transformers
// configures it (scripts/gen-chat-template-goldens.py). Every case must match byte for byte,
// or fail where jinja2 fails. The targeted cases below cover what goldens cannot: error
// positions, limits on hostile templates, and the context helper.
#include "runtime/template/ChatTemplate.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

using namespace modelrt;
using namespace modelrt::tmpl;
using ojson = nlohmann::ordered_json;

namespace {

std::string sourceDir() {
  const char *src = std::getenv("MODELC_SOURCE_DIR");
  return src ? src : MODELC_TEST_SOURCE_DIR;
}

ojson loadGoldens() {
  std::ifstream in(sourceDir() + "/test/goldens/chat-templates.json", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ojson::parse(ss.str());
}

const ojson &goldens() {
  static const ojson g = loadGoldens();
  return g;
}

// The context transformers gives a template (see the golden file's "context" note).
ojson goldenContext(const ojson &tmpl, const ojson &conversation, bool addGenerationPrompt) {
  ojson ctx = ojson::object();
  ctx["messages"] = conversation["messages"];
  ctx["tools"] = conversation["tools"];
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = addGenerationPrompt;
  if (tmpl.contains("bos_token"))
    ctx["bos_token"] = tmpl["bos_token"];
  if (tmpl.contains("eos_token"))
    ctx["eos_token"] = tmpl["eos_token"];
  for (auto it = tmpl["extra"].begin(); it != tmpl["extra"].end(); ++it)
    ctx[it.key()] = it.value();
  return ctx;
}

// Renders one golden case; returns "" when it matches jinja2, else what differs.
std::string checkCase(const std::string &source, const ojson &context, const ojson &expect) {
  Expected<ChatTemplate> tmpl = ChatTemplate::parse(source);
  Expected<std::string> out =
      tmpl.ok() ? tmpl->render(context) : Expected<std::string>(tmpl.error());
  if (expect.contains("expected")) {
    std::string want = expect["expected"].get<std::string>();
    if (!out.ok())
      return "expected output, got error: " + out.error().toString();
    if (*out != want)
      return "output differs:\n--- jinja2\n" + want + "\n--- ours\n" + *out;
    return "";
  }
  const ojson &err = expect["error"];
  if (out.ok())
    return "expected " + err["type"].get<std::string>() + " (" + err["message"].get<std::string>() +
           "), got output:\n" + *out;
  // raise_exception's message reaches the caller unchanged.
  if (err["type"] == "TemplateError" && out.error().message() != err["message"].get<std::string>())
    return "raise_exception message differs: " + out.error().message();
  return "";
}

TEST(ChatTemplateGoldens, RealTemplatesMatchJinja2) {
  const ojson &g = goldens();
  ASSERT_TRUE(g.contains("cases")) << "missing test/goldens/chat-templates.json";
  std::map<std::string, const ojson *> templates, conversations;
  for (const auto &t : g["templates"]) {
    templates[t["name"].get<std::string>()] = &t;
    // Every shipped template parses.
    Expected<ChatTemplate> parsed = ChatTemplate::parse(t["source"].get<std::string>());
    EXPECT_TRUE(parsed.ok()) << t["name"] << ": " << parsed.error().toString();
  }
  for (const auto &c : g["conversations"])
    conversations[c["name"].get<std::string>()] = &c;
  size_t failures = 0;
  for (const auto &c : g["cases"]) {
    const ojson &t = *templates.at(c["template"].get<std::string>());
    ojson ctx = goldenContext(t, *conversations.at(c["conversation"].get<std::string>()),
                              c["add_generation_prompt"].get<bool>());
    std::string diff = checkCase(t["source"].get<std::string>(), ctx, c);
    if (!diff.empty()) {
      ++failures;
      ADD_FAILURE() << c["template"] << " / " << c["conversation"]
                    << " add_generation_prompt=" << c["add_generation_prompt"] << ": " << diff;
    }
  }
  EXPECT_EQ(failures, 0u) << "of " << g["cases"].size() << " cases";
}

TEST(ChatTemplateGoldens, FeatureTemplatesMatchJinja2) {
  const ojson &g = goldens();
  ASSERT_TRUE(g.contains("features"));
  for (const auto &f : g["features"]) {
    std::string diff = checkCase(f["source"].get<std::string>(), f["context"], f);
    EXPECT_TRUE(diff.empty()) << f["name"] << ": " << f["source"] << "\n" << diff;
  }
}

Expected<std::string> render(const std::string &source, const ojson &context = ojson::object(),
                             const RenderLimits &limits = {}) {
  Expected<ChatTemplate> tmpl = ChatTemplate::parse(source);
  if (!tmpl.ok())
    return tmpl.error();
  return tmpl->render(context, limits);
}

std::string renderOk(const std::string &source, const ojson &context = ojson::object()) {
  Expected<std::string> out = render(source, context);
  EXPECT_TRUE(out.ok()) << source << ": " << out.error().toString();
  return out.ok() ? *out : "";
}

// The constructs gpt-oss's harmony template is built from (a template of our own, in its
// style): recursive macros with default arguments, `is iterable / string / mapping` tests,
// `type[0] is defined`, namespaces written in loops, slicing by loop.index, `in` on a message,
// conditional expressions, tojson of arguments and contents, raise_exception guards; the
// expected text is jinja2's, configured as transformers configures it.
TEST(ChatTemplate, HarmonyStyleConstructsMatchJinja2) {
  const std::string source = R"TPL({%- macro ts(spec, req, nullable=false) -%}
{%- if spec.type == "array" -%}{{- ts(spec['items'], req) + "[]" -}}
{%- elif spec.type is defined and spec.type is iterable and spec.type is not string and spec.type is not mapping and spec.type[0] is defined -%}{{- spec.type | join(" | ") -}}
{%- elif spec.type == "string" and spec.enum -%}{{- '"' + spec.enum|join('" | "') + '"' -}}
{%- else -%}{{- spec.type -}}{%- endif -%}
{%- endmacro -%}
{{- "<|start|>system<|message|>" }}{%- if model_identity is not defined %}{%- set model_identity = "You are a model." %}{%- endif %}{{- model_identity + "\n" }}
{%- if messages[0].role == "developer" or messages[0].role == "system" %}{%- set dev = messages[0].content %}{%- set loop_messages = messages[1:] %}{%- else %}{%- set dev = "" %}{%- set loop_messages = messages %}{%- endif %}
{%- if tools %}{%- for tool in tools %}{%- set tool = tool.function %}{{- "type " + tool.name + " = (" }}{%- for n, s in tool.parameters.properties.items() %}{{- n }}{%- if n not in (tool.parameters.required or []) -%}?{%- endif -%}: {{ ts(s, []) }}{%- if not loop.last %}, {% endif %}{%- endfor %}) => any;
{% endfor %}{%- endif %}
{%- set last = namespace(name=none) %}
{%- for message in loop_messages -%}
{%- if message.role == 'assistant' -%}
{%- if "tool_calls" in message %}{%- set fut = namespace(found=false) %}{%- for f in loop_messages[loop.index:] %}{%- if f.role == 'assistant' and "tool_calls" not in f %}{%- set fut.found = true %}{%- endif %}{%- endfor %}{%- set tc = message.tool_calls[0] %}{%- if tc.function %}{%- set tc = tc.function %}{%- endif %}{{- "<|start|>assistant to=functions." + tc.name + "<|channel|>commentary " + (tc.content_type if tc.content_type is defined else "json") + "<|message|>" + tc.arguments|tojson + "<|call|>" }}{%- set last.name = tc.name %}{{- "[future final: " ~ fut.found ~ "]" }}
{%- else %}{{- "<|start|>assistant<|channel|>final<|message|>" + message.content + "<|end|>" }}{%- endif %}
{%- elif message.role == 'tool' -%}{%- if last.name is none %}{{- raise_exception("no tool call") }}{%- endif %}{{- "<|start|>functions." + last.name + " to=assistant<|message|>" + message.content|tojson + "<|end|>" }}
{%- elif message.role == 'user' -%}{{- "<|start|>user<|message|>" + message.content + "<|end|>" }}{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}<|start|>assistant{%- endif -%}
)TPL";
  const ojson context = ojson::parse(R"JSON({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}, {"role": "assistant", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}, {"role": "tool", "content": "sunny"}, {"role": "assistant", "content": "Sunny."}, {"role": "user", "content": "Thanks"}], "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}, "days": {"type": ["integer", "null"]}, "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["city"]}}}], "add_generation_prompt": true})JSON");
  Expected<std::string> out = render(source, context);
  ASSERT_TRUE(out.ok()) << out.error().toString();
  EXPECT_EQ(*out, R"OUT(<|start|>system<|message|>You are a model.
type get_weather = (city: string, unit?: "c" | "f", days?: integer | null, tags?: string[]) => any;
<|start|>user<|message|>Weather?<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Paris"}<|call|>[future final: True]<|start|>functions.get_weather to=assistant<|message|>"sunny"<|end|><|start|>assistant<|channel|>final<|message|>Sunny.<|end|><|start|>user<|message|>Thanks<|end|><|start|>assistant)OUT");
}

TEST(ChatTemplate, ParseErrorsNameLineAndColumn) {
  Expected<ChatTemplate> t = ChatTemplate::parse("line one\n{% for x in y %}\n  {{ x + }}\n");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code(), ErrorCode::InvalidFormat);
  EXPECT_NE(t.error().message().find("line 3, column 10"), std::string::npos)
      << t.error().message();

  t = ChatTemplate::parse("a\n\n{% if x %}never closed");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("'endif'"), std::string::npos) << t.error().message();

  t = ChatTemplate::parse("{% frobnicate %}");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("line 1, column 4: Encountered unknown tag 'frobnicate'"),
            std::string::npos)
      << t.error().message();

  t = ChatTemplate::parse("{{ 'unterminated }}");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("line 1, column 4"), std::string::npos) << t.error().message();

  t = ChatTemplate::parse("{% include 'other.jinja' %}");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code(), ErrorCode::Unsupported);

  t = ChatTemplate::parse("{{ x | no_such_filter }}");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("No filter named 'no_such_filter'"), std::string::npos);
}

TEST(ChatTemplate, RaiseExceptionMessageIsTheError) {
  Expected<std::string> out =
      render("{% if messages[0].role != 'user' %}{{ raise_exception('Roles must alternate!') }}"
             "{% endif %}",
             {{"messages", {{{"role", "assistant"}, {"content", "x"}}}}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(out.error().message(), "Roles must alternate!");
}

TEST(ChatTemplate, UndefinedBehavesLikeJinja) {
  EXPECT_EQ(renderOk("[{{ missing }}]{% if missing %}x{% endif %}{{ missing is defined }}"),
            "[]False");
  EXPECT_EQ(renderOk("{{ d.nokey is defined }}|{{ d.a }}", {{"d", {{"a", 1}}}}), "False|1");
  Expected<std::string> out = render("{{ missing.attr }}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message(), "line 1: 'missing' is undefined");
  out = render("\n\n{{ d.nokey.deeper }}", {{"d", {{"a", 1}}}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message(), "line 3: 'dict object' has no attribute 'nokey'");
}

TEST(ChatTemplate, WhitespaceControl) {
  EXPECT_EQ(renderOk("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(renderOk("{% for x in [1, 2] %}\n  {{ x }}\n{% endfor %}\n"), "  1\n  2\n");
  EXPECT_EQ(renderOk("x\n    {% if true %}\ny\n    {% endif %}\nz"), "x\ny\nz");
  EXPECT_EQ(renderOk("x\n    {%+ if true %}y{% endif +%}\nz"), "x\n    y\nz");
}

TEST(ChatTemplate, ContextKeyOrderFollowsTheJsonType) {
  const std::string source = "{{ d | tojson }}{% for k in d %}{{ k }}{% endfor %}";
  ojson ordered = {{"d", {{"z", 1}, {"a", 2}}}};
  EXPECT_EQ(renderOk(source, ordered), "{\"z\": 1, \"a\": 2}za");
  Expected<ChatTemplate> tmpl = ChatTemplate::parse(source);
  ASSERT_TRUE(tmpl.ok());
  Expected<std::string> sorted = tmpl->render(nlohmann::json{{"d", {{"z", 1}, {"a", 2}}}});
  ASSERT_TRUE(sorted.ok());
  EXPECT_EQ(*sorted, "{\"a\": 2, \"z\": 1}az");
}

TEST(ChatTemplate, StrftimeNowFormatsTheCurrentTime) {
  std::string year = renderOk("{{ strftime_now('%Y') }}");
  ASSERT_EQ(year.size(), 4u);
  EXPECT_GE(std::stoi(year), 2024);
}

// A hostile template returns an error quickly instead of hanging or crashing.
TEST(ChatTemplate, LimitsStopHostileTemplates) {
  auto expectExhausted = [](const std::string &source, const RenderLimits &limits = {}) {
    auto start = std::chrono::steady_clock::now();
    Expected<std::string> out = render(source, ojson::object(), limits);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_FALSE(out.ok()) << source;
    EXPECT_EQ(out.error().code(), ErrorCode::ResourceExhausted)
        << source << ": " << out.error().toString();
    EXPECT_LT(seconds, 5.0) << source;
  };
  expectExhausted("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  expectExhausted(
      "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
  expectExhausted("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}");
  expectExhausted("{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
                  "{% set ns.s = ns.s ~ ns.s %}{% endfor %}");
  expectExhausted("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}"
                  "{% set ns.l = ns.l + ns.l %}{% endfor %}");
  expectExhausted("{% set ns = namespace(l=[]) %}{% for i in range(100) %}"
                  "{% set ns.l = ns.l + ['x' * 4000000 ~ i] %}{% endfor %}");
  expectExhausted("{{ 'x' * 100000000000 }}");
  expectExhausted("{{ range(1000000) | length }}");
  expectExhausted("{{ 1" + std::string(5000, '+') + "1 }}");
  expectExhausted("{{ " + std::string(5000, '(') + std::string(5000, ')') + " }}");
  expectExhausted("{{ " + std::string(20000, '(') + "1" + std::string(20000, ')') + " }}");
  expectExhausted("{{ " + std::string(20000, '-') + "1 }}");
  std::string nested;
  for (int k = 0; k < 1000; ++k)
    nested += "{% if true %}";
  expectExhausted(nested);
  RenderLimits small;
  small.maxOutputBytes = 1000;
  expectExhausted("{% for i in range(2000) %}x{% endfor %}", small);
  RenderLimits fewSteps;
  fewSteps.maxSteps = 100;
  expectExhausted("{% for i in range(1000) %}{% endfor %}", fewSteps);
}

TEST(ChatTemplate, NamespaceRefusesUnderscoreAttributes) {
  Expected<std::string> out = render("{% set ns = namespace() %}{% set ns._x = 1 %}");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message().find("underscore-prefixed"), std::string::npos);
}

TEST(ChatTemplate, SelfReferencingNamespaceDoesNotRecurseForever) {
  Expected<std::string> out = render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), ErrorCode::ResourceExhausted);
}

// A macro or caller kept in a namespace outlives the loop it was made in; it must still be
// safe to call (jinja2 prints its internal "missing" marker for the loop variable there).
TEST(ChatTemplate, ClosuresOutliveTheirBlock) {
  EXPECT_EQ(renderOk("{% set ns = namespace() %}{% macro m() %}{% set ns.c = caller %}"
                     "{% endmacro %}{% for i in [1] %}{% call m() %}[{{ i }}]{% endcall %}"
                     "{% endfor %}{{ ns.c() }}"),
            "[1]");
  EXPECT_EQ(renderOk("{% set ns = namespace() %}{% for i in [7] %}{% macro m() %}<{{ i }}>"
                     "{% endmacro %}{% set ns.m = m %}{% endfor %}{{ ns.m() }}"),
            "<7>");
}

TEST(ChatTemplate, ContextMustBeAnObject) {
  Expected<ChatTemplate> tmpl = ChatTemplate::parse("x");
  ASSERT_TRUE(tmpl.ok());
  EXPECT_FALSE(tmpl->render(ojson::array()).ok());
}

TEST(ChatTemplate, ChatContextNormalizesLikeTransformers) {
  ChatRequest request;
  request.messages = ojson::array({{{"role", "user"}, {"content", "hi"}, {"name", nullptr}},
                                   {{"role", "assistant"},
                                    {"content", nullptr},
                                    {"reasoning", "because"},
                                    {"tool_calls", {1}}}});
  request.bosToken = "<s>";
  request.extra = {{"enable_thinking", false}, {"add_generation_prompt", false}};
  ojson ctx = chatContext(request);
  EXPECT_EQ(ctx.dump(), ojson({{"messages",
                                {{{"role", "user"}, {"content", "hi"}},
                                 {{"thinking", "because"},
                                  {"role", "assistant"},
                                  {"reasoning", "because"},
                                  {"tool_calls", {1}},
                                  {"reasoning_content", "because"}}}},
                               {"tools", nullptr},
                               {"documents", nullptr},
                               {"add_generation_prompt", false},
                               {"bos_token", "<s>"},
                               {"enable_thinking", false}})
                            .dump());
}

TEST(ChatTemplateGoldens, ChatContextMessagesMatchTransformers) {
  const ojson &g = goldens();
  ASSERT_TRUE(g.contains("normalize"));
  for (const auto &n : g["normalize"]) {
    ChatRequest request;
    request.messages = n["messages"];
    EXPECT_EQ(chatContext(request)["messages"].dump(), n["expected"].dump()) << n["name"];
  }
}

TEST(ChatTemplate, RendersConcurrently) {
  const ojson &g = goldens();
  ASSERT_TRUE(g.contains("templates"));
  const ojson &t = g["templates"][0];
  Expected<ChatTemplate> tmpl = ChatTemplate::parse(t["source"].get<std::string>());
  ASSERT_TRUE(tmpl.ok());
  ojson ctx = goldenContext(t, g["conversations"][2], true);
  Expected<std::string> want = tmpl->render(ctx);
  ASSERT_TRUE(want.ok());
  std::vector<std::thread> threads;
  std::vector<int> matches(4, 0);
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int r = 0; r < 50; ++r) {
        Expected<std::string> out = tmpl->render(ctx);
        matches[k] += out.ok() && *out == *want;
      }
    });
  for (auto &th : threads)
    th.join();
  for (int m : matches)
    EXPECT_EQ(m, 50);
}

} // namespace
