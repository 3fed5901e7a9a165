#include "runtime/formats/Safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <set>
#include <sys/stat.h>

namespace modelrt {
namespace {

using json = nlohmann::json;

struct DuplicateKey {
  std::string key;
};

// Parses JSON and rejects duplicate keys in any object (nlohmann keeps the last silently).
json parseStrictJson(const char *begin, const char *end) {
  std::vector<std::set<std::string>> seen;
  json::parser_callback_t cb = [&](int, json::parse_event_t event, json &parsed) {
    if (event == json::parse_event_t::object_start) {
      seen.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      seen.pop_back();
    } else if (event == json::parse_event_t::key) {
      if (!seen.back().insert(parsed.get<std::string>()).second)
        throw DuplicateKey{parsed.get<std::string>()};
    }
    return true;
  };
  return json::parse(begin, end, cb);
}

Expected<uint64_t> jsonU64(const json &v, const std::string &what) {
  if (!v.is_number_unsigned())
    return Error(ErrorCode::InvalidFormat, what + " is not a non-negative integer");
  return v.get<uint64_t>();
}

Expected<TensorInfo> parseTensorEntry(const std::string &name, const json &entry) {
  std::string what = "tensor '" + name + "'";
  if (!entry.is_object())
    return Error(ErrorCode::InvalidFormat, what + " is not an object");
  auto dtypeIt = entry.find("dtype");
  auto shapeIt = entry.find("shape");
  auto offsIt = entry.find("data_offsets");
  if (dtypeIt == entry.end() || !dtypeIt->is_string())
    return Error(ErrorCode::InvalidFormat, what + ": missing or non-string 'dtype'");
  if (shapeIt == entry.end() || !shapeIt->is_array())
    return Error(ErrorCode::InvalidFormat, what + ": missing or non-array 'shape'");
  if (offsIt == entry.end() || !offsIt->is_array() || offsIt->size() != 2)
    return Error(ErrorCode::InvalidFormat, what + ": 'data_offsets' must be [begin, end]");
  TensorInfo t;
  t.name = name;
  std::string dtypeName = dtypeIt->get<std::string>();
  std::optional<DType> dtype = dtypeFromSafetensorsName(dtypeName);
  if (!dtype)
    return Error(ErrorCode::InvalidFormat, what + ": unknown dtype '" + dtypeName + "'");
  t.dtype = *dtype;
  for (const json &d : *shapeIt) {
    Expected<uint64_t> dim = jsonU64(d, what + ": shape entry");
    if (!dim)
      return dim.error();
    t.shape.push_back(*dim);
  }
  Expected<uint64_t> begin = jsonU64((*offsIt)[0], what + ": data_offsets[0]");
  if (!begin)
    return begin.error();
  Expected<uint64_t> end = jsonU64((*offsIt)[1], what + ": data_offsets[1]");
  if (!end)
    return end.error();
  if (*end < *begin)
    return Error(ErrorCode::InvalidFormat, what + ": data_offsets end before they begin");
  Expected<uint64_t> bytes = checkedByteSize(t.dtype, t.shape);
  if (!bytes)
    return bytes.error().withContext(what);
  if (*end - *begin != *bytes)
    return Error(ErrorCode::InvalidFormat,
                 what + ": data_offsets span " + std::to_string(*end - *begin) +
                     " bytes but shape and dtype need " + std::to_string(*bytes));
  t.offset = *begin; // relative to the data section until the caller rebases it
  t.size = *bytes;
  return t;
}

bool isDirectory(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}
bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
std::string dirName(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

} // namespace

Expected<SafetensorsFile> SafetensorsFile::open(const std::string &path) {
  Expected<std::shared_ptr<const MappedFile>> file = MappedFile::open(path);
  if (!file)
    return file.error();
  return parseMapped(*file);
}

Expected<SafetensorsFile> SafetensorsFile::parse(const uint8_t *data, size_t size,
                                                 std::string name) {
  return parseMapped(MappedFile::fromMemory(data, size, std::move(name)));
}

Expected<SafetensorsFile> SafetensorsFile::parseMapped(std::shared_ptr<const MappedFile> file) {
  const std::string &path = file->path();
  auto fail = [&](ErrorCode code, const std::string &msg) {
    return Error(code, path + ": " + msg);
  };
  if (file->size() < 8)
    return fail(ErrorCode::InvalidFormat, "file is shorter than the 8-byte header size");
  uint64_t headerSize;
  std::memcpy(&headerSize, file->data(), 8);
  if (headerSize > kMaxHeaderSize)
    return fail(ErrorCode::InvalidFormat,
                "header size " + std::to_string(headerSize) + " exceeds the 100 MB limit");
  if (headerSize > file->size() - 8)
    return fail(ErrorCode::InvalidFormat,
                "header size " + std::to_string(headerSize) + " runs past the end of the file");
  const char *begin = reinterpret_cast<const char *>(file->data() + 8);
  if (headerSize == 0 || begin[0] != '{')
    return fail(ErrorCode::InvalidFormat, "header is not a JSON object");

  SafetensorsFile out;
  out.file_ = file;
  json header;
  try {
    header = parseStrictJson(begin, begin + headerSize);
  } catch (const DuplicateKey &d) {
    return fail(ErrorCode::InvalidFormat, "duplicate key '" + d.key + "' in header");
  } catch (const json::exception &e) {
    return fail(ErrorCode::InvalidFormat, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object())
    return fail(ErrorCode::InvalidFormat, "header is not a JSON object");

  uint64_t dataStart = 8 + headerSize;
  uint64_t dataSize = file->size() - dataStart;
  try {
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (!it->is_object())
          return fail(ErrorCode::InvalidFormat, "__metadata__ is not an object");
        for (auto m = it->begin(); m != it->end(); ++m) {
          if (!m->is_string())
            return fail(ErrorCode::InvalidFormat,
                        "__metadata__ value '" + m.key() + "' is not a string");
          out.metadata_[m.key()] = m->get<std::string>();
        }
        continue;
      }
      Expected<TensorInfo> t = parseTensorEntry(it.key(), *it);
      if (!t)
        return t.error().withContext(path);
      out.tensors_.push_back(std::move(*t));
    }
  } catch (const json::exception &e) {
    return fail(ErrorCode::InvalidFormat, std::string("bad header: ") + e.what());
  }

  std::sort(out.tensors_.begin(), out.tensors_.end(), [](const TensorInfo &a, const TensorInfo &b) {
    return a.offset != b.offset ? a.offset < b.offset : a.name < b.name;
  });
  uint64_t expected = 0;
  for (TensorInfo &t : out.tensors_) {
    if (t.offset != expected)
      return fail(ErrorCode::InvalidFormat, "tensor '" + t.name + "': data_offsets begin at " +
                                                std::to_string(t.offset) + ", expected " +
                                                std::to_string(expected) + " (gap or overlap)");
    expected = t.offset + t.size;
    if (expected > dataSize)
      return fail(ErrorCode::InvalidFormat,
                  "tensor '" + t.name + "': data ends past the end of the file");
    t.file = path;
    t.offset += dataStart;
    t.data = file->data() + t.offset;
  }
  if (expected != dataSize)
    return fail(ErrorCode::InvalidFormat, "tensors cover " + std::to_string(expected) +
                                              " bytes of a " + std::to_string(dataSize) +
                                              "-byte data section");
  for (size_t k = 0; k < out.tensors_.size(); ++k)
    out.index_.emplace(out.tensors_[k].name, k);
  return out;
}

const TensorInfo *SafetensorsFile::findTensor(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Status SafetensorsModel::addShard(SafetensorsFile shard) {
  for (const TensorInfo &t : shard.tensors()) {
    if (index_.count(t.name))
      return Error(ErrorCode::InvalidFormat, shard.path() + ": tensor '" + t.name +
                                                 "' also appears in " +
                                                 tensors_[index_.find(t.name)->second].file);
    index_.emplace(t.name, tensors_.size());
    tensors_.push_back(t);
  }
  shards_.push_back(std::move(shard));
  return Status();
}

Expected<SafetensorsModel> SafetensorsModel::fromFile(SafetensorsFile file) {
  SafetensorsModel model;
  if (Status s = model.addShard(std::move(file)); !s)
    return s.error();
  return model;
}

Expected<SafetensorsModel> SafetensorsModel::open(const std::string &path) {
  if (isDirectory(path)) {
    std::string index = path + "/model.safetensors.index.json";
    if (exists(index))
      return openIndex(index);
    std::string single = path + "/model.safetensors";
    if (exists(single))
      return open(single);
    return Error(ErrorCode::NotFound,
                 path + ": no model.safetensors.index.json or model.safetensors in the directory");
  }
  if (endsWith(path, ".json"))
    return openIndex(path);
  Expected<SafetensorsFile> file = SafetensorsFile::open(path);
  if (!file)
    return file.error();
  SafetensorsModel model;
  if (Status s = model.addShard(std::move(*file)); !s)
    return s.error();
  return model;
}

Expected<SafetensorsModel> SafetensorsModel::openIndex(const std::string &indexPath) {
  Expected<std::shared_ptr<const MappedFile>> file = MappedFile::open(indexPath);
  if (!file)
    return file.error();
  auto fail = [&](const std::string &msg) {
    return Error(ErrorCode::InvalidFormat, indexPath + ": " + msg);
  };
  const char *begin = reinterpret_cast<const char *>((*file)->data());
  json index;
  try {
    index = parseStrictJson(begin, begin + (*file)->size());
  } catch (const DuplicateKey &d) {
    return fail("duplicate key '" + d.key + "'");
  } catch (const json::exception &e) {
    return fail(std::string("not valid JSON: ") + e.what());
  }
  if (!index.is_object())
    return fail("not a JSON object");
  auto mapIt = index.find("weight_map");
  if (mapIt == index.end() || !mapIt->is_object())
    return fail("missing 'weight_map' object");

  std::vector<std::string> shardNames;
  std::vector<std::pair<std::string, std::string>> entries;
  for (auto it = mapIt->begin(); it != mapIt->end(); ++it) {
    if (!it->is_string())
      return fail("weight_map entry '" + it.key() + "' is not a string");
    std::string shard = it->get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
      return fail("weight_map entry '" + it.key() + "' names an invalid shard file '" + shard +
                  "'");
    if (std::find(shardNames.begin(), shardNames.end(), shard) == shardNames.end())
      shardNames.push_back(shard);
    entries.emplace_back(it.key(), shard);
  }
  std::sort(shardNames.begin(), shardNames.end());

  SafetensorsModel model;
  std::string dir = dirName(indexPath);
  for (const std::string &name : shardNames) {
    Expected<SafetensorsFile> shard = SafetensorsFile::open(dir + "/" + name);
    if (!shard)
      return shard.error().withContext(indexPath);
    if (Status s = model.addShard(std::move(*shard)); !s)
      return s.error().withContext(indexPath);
  }
  for (const auto &[tensor, shard] : entries) {
    const TensorInfo *t = model.findTensor(tensor);
    if (!t || t->file != dir + "/" + shard)
      return Error(ErrorCode::NotFound,
                   indexPath + ": tensor '" + tensor + "' is not in its shard '" + shard + "'");
  }
  return model;
}

const TensorInfo *SafetensorsModel::findTensor(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

} // namespace modelrt
