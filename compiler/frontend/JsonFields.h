// Typed access to JSON fields that remembers the first problem, so a parser reads many
// fields in a row and reports one precise error: "<file>: field '<path>': <problem>".
#pragma once

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>
#include <vector>

namespace modelc::frontend {

class JsonFields {
public:
  JsonFields(const llvm::json::Object &object, llvm::StringRef where, llvm::StringRef path = "")
      : object_(object), where_(where.str()), path_(path.str()) {}

  bool has(llvm::StringRef key) const;
  // The key is there, maybe as null (has() says false to null).
  bool mentions(llvm::StringRef key) const { return object_.get(key) != nullptr; }
  bool isArray(llvm::StringRef key) const {
    const llvm::json::Value *v = object_.get(key);
    return v && v->getAsArray();
  }
  // Required fields record an error when missing; optional ones return std::nullopt.
  int64_t requirePositiveInt(llvm::StringRef key);
  std::optional<int64_t> optionalPositiveInt(llvm::StringRef key);
  std::optional<int64_t> optionalNonNegativeInt(llvm::StringRef key);
  std::optional<int64_t> optionalIntFromMinusOne(llvm::StringRef key); // -1 or more
  std::optional<double> optionalPositiveNumber(llvm::StringRef key);
  std::optional<double> optionalNonNegativeNumber(llvm::StringRef key);
  std::optional<bool> optionalBool(llvm::StringRef key);
  // true or false, or a number (true unless 0: Llama 4 Scout's "attn_temperature_tuning": 4).
  std::optional<bool> optionalFlag(llvm::StringRef key);
  std::optional<std::string> optionalString(llvm::StringRef key);
  const llvm::json::Object *optionalObject(llvm::StringRef key);
  std::optional<std::vector<std::string>> optionalStringArray(llvm::StringRef key);
  std::optional<std::vector<double>> optionalNumberArray(llvm::StringRef key);

  // Fields of a nested object, named "<key>.<field>" in errors.
  JsonFields nested(const llvm::json::Object &object, llvm::StringRef key) const {
    return JsonFields(object, where_, fieldName(key));
  }
  // Takes over the first error of a nested reader.
  void absorb(JsonFields &child);

  // Records an error about `key` (the first one wins).
  void fail(llvm::StringRef key, const llvm::Twine &problem);
  std::string fieldName(llvm::StringRef key) const;
  llvm::Error takeError();
  bool failed() const { return error_.has_value(); }

private:
  std::optional<double> optionalNumber(llvm::StringRef key, bool zeroAllowed);
  // An integer in [least, 2^40], or nullopt (absent, null, or an error recorded).
  std::optional<int64_t> optionalIntFrom(llvm::StringRef key, int64_t least, llvm::StringRef what);
  const llvm::json::Value *present(llvm::StringRef key) const;

  const llvm::json::Object &object_;
  std::string where_;
  std::string path_;
  std::optional<std::string> error_;
};

// Reads and parses a JSON file; errors name the file and the parse position.
llvm::Expected<llvm::json::Value> readJsonFile(llvm::StringRef path);

} // namespace modelc::frontend
