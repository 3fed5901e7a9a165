// `modelrt tokenize --tokenizer FILE [--decode]`: text on stdin to ids on stdout, or ids to
// text, so our tokenizer can be compared with any other.
#include "Commands.h"
#include "runtime/tokenize/Tokenizer.h"

#include <iostream>
#include <iterator>
#include <sstream>

namespace modelrt::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer;
  std::string text;
  bool textGiven = false;
  bool decode = false;
  bool addSpecial = false;
  bool parseSpecial = false;
  bool skipSpecial = false;
};

int fail(const std::string &message) {
  std::cerr << "modelrt tokenize: " << message << "\n";
  return 1;
}

int runTokenize(const TokenizeOptions &o) {
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromFile(o.tokenizer);
  if (!tok)
    return fail(tok.error().toString());
  std::string input = o.text;
  if (!o.textGiven)
    input.assign(std::istreambuf_iterator<char>(std::cin), {});

  if (o.decode) {
    std::vector<int32_t> ids;
    std::istringstream in(input);
    for (std::string word; in >> word;) {
      size_t used = 0;
      long long id = 0;
      try {
        id = std::stoll(word, &used);
      } catch (const std::exception &) {
        used = 0;
      }
      if (used != word.size() || id < INT32_MIN || id > INT32_MAX)
        return fail("'" + word + "' is not a token id");
      ids.push_back(static_cast<int32_t>(id));
    }
    Expected<std::string> text = (*tok)->decode(ids, o.skipSpecial);
    if (!text)
      return fail(text.error().toString());
    std::cout << *text;
    return 0;
  }
  EncodeOptions opts;
  opts.addSpecial = o.addSpecial;
  opts.parseSpecial = o.parseSpecial;
  Expected<std::vector<int32_t>> ids = (*tok)->encode(input, opts);
  if (!ids)
    return fail(ids.error().toString());
  for (size_t k = 0; k < ids->size(); ++k)
    std::cout << (k ? " " : "") << (*ids)[k];
  std::cout << "\n";
  return 0;
}

} // namespace

void addTokenizeCommand(CLI::App &app, int &exitCode) {
  auto opts = std::make_shared<TokenizeOptions>();
  CLI::App *cmd = app.add_subcommand(
      "tokenize",
      "Encode stdin (all of it, newlines included) to token ids, or decode ids to text");
  cmd->add_option("--tokenizer", opts->tokenizer,
                  "a .gguf, a plan, a tokenizer.json, or a directory holding one")
      ->required();
  cmd->add_option("-t,--text", opts->text, "encode this text instead of reading stdin")
      ->each([opts](const std::string &) { opts->textGiven = true; });
  cmd->add_flag("-d,--decode", opts->decode,
                "read whitespace-separated ids from stdin and print the text");
  cmd->add_flag("--add-special", opts->addSpecial, "add BOS/EOS where the tokenizer's config asks");
  cmd->add_flag("--parse-special", opts->parseSpecial,
                "recognise control tokens such as <|im_start|> in the text");
  cmd->add_flag("--skip-special", opts->skipSpecial, "leave control tokens out of decoded text");
  cmd->callback([opts, &exitCode] { exitCode = runTokenize(*opts); });
}

} // namespace modelrt::cli
