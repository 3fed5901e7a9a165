#include "compiler/frontend/JsonFields.h"

#include "llvm/Support/MemoryBuffer.h"

using namespace llvm;
using namespace modelc::frontend;

std::string JsonFields::fieldName(StringRef key) const {
  return path_.empty() ? key.str() : path_ + "." + key.str();
}

void JsonFields::fail(StringRef key, const Twine &problem) {
  if (!error_)
    error_ = where_ + ": field '" + fieldName(key) + "': " + problem.str();
}

void JsonFields::absorb(JsonFields &child) {
  if (child.error_ && !error_)
    error_ = std::move(child.error_);
  child.error_.reset();
}

Error JsonFields::takeError() {
  if (!error_)
    return Error::success();
  std::string message = std::move(*error_);
  error_.reset();
  return createStringError(inconvertibleErrorCode(), message);
}

// A field set to null counts as absent, as in Hugging Face configs.
const json::Value *JsonFields::present(StringRef key) const {
  const json::Value *value = object_.get(key);
  if (!value || value->kind() == json::Value::Null)
    return nullptr;
  return value;
}

bool JsonFields::has(StringRef key) const { return present(key) != nullptr; }

std::optional<int64_t> JsonFields::optionalIntFrom(StringRef key, int64_t least, StringRef what) {
  const json::Value *value = present(key);
  if (!value)
    return std::nullopt;
  std::optional<int64_t> n = value->getAsInteger();
  if (!n) {
    fail(key, "expected an integer");
    return std::nullopt;
  }
  if (*n < least || *n > (int64_t(1) << 40)) {
    fail(key, Twine("expected ") + what + ", got " + Twine(*n));
    return std::nullopt;
  }
  return n;
}

std::optional<int64_t> JsonFields::optionalPositiveInt(StringRef key) {
  return optionalIntFrom(key, 1, "a positive integer");
}

std::optional<int64_t> JsonFields::optionalNonNegativeInt(StringRef key) {
  return optionalIntFrom(key, 0, "a non-negative integer");
}

std::optional<int64_t> JsonFields::optionalIntFromMinusOne(StringRef key) {
  return optionalIntFrom(key, -1, "-1 or a non-negative integer");
}

int64_t JsonFields::requirePositiveInt(StringRef key) {
  if (!has(key)) {
    fail(key, "missing");
    return 0;
  }
  return optionalPositiveInt(key).value_or(0);
}

std::optional<double> JsonFields::optionalPositiveNumber(StringRef key) {
  return optionalNumber(key, /*zeroAllowed=*/false);
}

std::optional<double> JsonFields::optionalNonNegativeNumber(StringRef key) {
  return optionalNumber(key, /*zeroAllowed=*/true);
}

std::optional<double> JsonFields::optionalNumber(StringRef key, bool zeroAllowed) {
  const json::Value *value = present(key);
  if (!value)
    return std::nullopt;
  std::optional<double> n = value->getAsNumber();
  if (!n) {
    fail(key, "expected a number");
    return std::nullopt;
  }
  if (!(zeroAllowed ? *n >= 0.0 : *n > 0.0) || *n > 1e300) {
    fail(key, (zeroAllowed ? "expected a number of at least 0, got "
                           : "expected a positive number, got ") +
                  std::to_string(*n));
    return std::nullopt;
  }
  return n;
}

std::optional<bool> JsonFields::optionalBool(StringRef key) {
  const json::Value *value = present(key);
  if (!value)
    return std::nullopt;
  std::optional<bool> b = value->getAsBoolean();
  if (!b)
    fail(key, "expected true or false");
  return b;
}

std::optional<bool> JsonFields::optionalFlag(StringRef key) {
  const json::Value *value = present(key);
  if (!value)
    return std::nullopt;
  if (std::optional<double> n = value->getAsNumber())
    return *n != 0.0;
  std::optional<bool> b = value->getAsBoolean();
  if (!b)
    fail(key, "expected true, false or a number");
  return b;
}

std::optional<std::string> JsonFields::optionalString(StringRef key) {
  const json::Value *value = present(key);
  if (!value)
    return std::nullopt;
  std::optional<StringRef> s = value->getAsString();
  if (!s) {
    fail(key, "expected a string");
    return std::nullopt;
  }
  return s->str();
}

const json::Object *JsonFields::optionalObject(StringRef key) {
  const json::Value *value = present(key);
  if (!value)
    return nullptr;
  const json::Object *object = value->getAsObject();
  if (!object)
    fail(key, "expected an object");
  return object;
}

std::optional<std::vector<std::string>> JsonFields::optionalStringArray(StringRef key) {
  const json::Value *value = present(key);
  if (!value)
    return std::nullopt;
  const json::Array *array = value->getAsArray();
  std::vector<std::string> out;
  for (size_t i = 0; array && i < array->size(); ++i) {
    std::optional<StringRef> s = (*array)[i].getAsString();
    if (!s)
      break;
    out.push_back(s->str());
  }
  if (!array || out.size() != array->size()) {
    fail(key, "expected an array of strings");
    return std::nullopt;
  }
  return out;
}

std::optional<std::vector<double>> JsonFields::optionalNumberArray(StringRef key) {
  const json::Value *value = present(key);
  if (!value)
    return std::nullopt;
  const json::Array *array = value->getAsArray();
  std::vector<double> out;
  for (size_t i = 0; array && i < array->size(); ++i) {
    std::optional<double> n = (*array)[i].getAsNumber();
    if (!n)
      break;
    out.push_back(*n);
  }
  if (!array || out.size() != array->size()) {
    fail(key, "expected an array of numbers");
    return std::nullopt;
  }
  return out;
}

Expected<json::Value> modelc::frontend::readJsonFile(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer = MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return createStringError(buffer.getError(),
                             path + ": cannot read: " + buffer.getError().message());
  Expected<json::Value> value = json::parse((*buffer)->getBuffer());
  if (!value)
    return createStringError(inconvertibleErrorCode(),
                             path + ": invalid JSON: " + toString(value.takeError()));
  return value;
}
