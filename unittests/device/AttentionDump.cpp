// modelrt-attention-dump: builds a random paged-attention case (unittests/device/PagedCase.h),
// runs our decode or prefill kernel on it and writes inputs and output as raw little-endian
// files plus header.txt (key=value lines) into a directory, for torch_compare.py, which
// checks long contexts against torch.nn.functional.scaled_dot_product_attention.
//
//   modelrt-attention-dump DIR --heads 32 --kv-heads 8 --head-dim 128 --block-size 16
//       --dtype bf16 --seqs 1:32768,1:100 [--window 0] [--seed 1] [--kernel auto|decode|prefill]
//       [--variant N]   (a tuning variant of the kernel, AttentionCommon.h; 0 = the default)
#include "runtime/device/cuda/AttentionCommon.h"
#include "runtime/device/cuda/CudaAttention.h"
#include "unittests/device/PagedCase.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

using namespace modelrt;
using namespace modelrt::cuda;
using namespace modelrt::cuda::test;

namespace {

template <typename T> bool writeRaw(const std::string &path, const std::vector<T> &v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char *>(v.data()), std::streamsize(v.size() * sizeof(T)));
  return bool(f);
}

int fail(const std::string &msg) {
  std::fprintf(stderr, "modelrt-attention-dump: %s\n", msg.c_str());
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    return fail("usage: modelrt-attention-dump DIR [--heads H] [--kv-heads K] [--head-dim D] "
                "[--block-size B] [--dtype f16|bf16] [--seqs q:ctx,...] [--window W] "
                "[--seed S] [--kernel auto|decode|prefill] [--variant N]");
  std::string dir = argv[1], dtype = "f16", seqsArg = "1:1024", kernel = "auto";
  int heads = 32, kvHeads = 8, headDim = 128, blockSize = 16, window = 0, seed = 1, variant = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--heads")
      heads = std::stoi(v);
    else if (k == "--kv-heads")
      kvHeads = std::stoi(v);
    else if (k == "--head-dim")
      headDim = std::stoi(v);
    else if (k == "--block-size")
      blockSize = std::stoi(v);
    else if (k == "--dtype")
      dtype = v;
    else if (k == "--seqs")
      seqsArg = v;
    else if (k == "--window")
      window = std::stoi(v);
    else if (k == "--seed")
      seed = std::stoi(v);
    else if (k == "--kernel")
      kernel = v;
    else if (k == "--variant")
      variant = std::stoi(v);
    else
      return fail("unknown option " + k);
  }
  std::vector<std::pair<int, int>> seqs;
  std::stringstream ss(seqsArg);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t colon = item.find(':');
    if (colon == std::string::npos)
      return fail("--seqs wants q:ctx pairs");
    seqs.emplace_back(std::stoi(item.substr(0, colon)), std::stoi(item.substr(colon + 1)));
  }
  ElementType type = dtype == "bf16" ? ElementType::BF16 : ElementType::F16;
  std::mt19937 rng(seed);
  PagedCase c = makePagedCase(rng, heads, kvHeads, headDim, blockSize, type, seqs, window);
  DeviceCase d(c);
  if (!d.ok())
    return fail("cudaMalloc failed");
  AttentionBatch batch = d.batch(c);
  bool decode = kernel == "decode" || (kernel == "auto" && c.maxQueryLen == 1);
  int sm = 1;
  cudaDeviceGetAttribute(&sm, cudaDevAttrMultiProcessorCount, 0);
  DecodeSplits splits = decode ? chooseDecodeSplits(c.shape, batch, sm) : DecodeSplits{};
  size_t wsBytes =
      decode ? decodeWorkspaceBytes(c.shape, batch, splits) : prefillWorkspaceBytes(batch);
  DeviceBuffer<uint8_t> ws(std::max<size_t>(wsBytes, 1));
  Status st = decode ? pagedAttentionDecodeVariant(c.shape, c.layout, batch, d.args(c), splits,
                                                   ws.get(), ws.size(), nullptr, variant)
                     : pagedAttentionPrefillVariant(c.shape, c.layout, batch, d.args(c), ws.get(),
                                                    ws.size(), nullptr, variant);
  if (!st)
    return fail(st.error().toString());
  if (cudaError_t err = cudaDeviceSynchronize(); err != cudaSuccess)
    return fail(std::string("kernel failed: ") + cudaGetErrorString(err));
  std::ofstream h(dir + "/header.txt");
  h << "dtype=" << dtype << "\nheads=" << heads << "\nkv_heads=" << kvHeads
    << "\nhead_dim=" << headDim << "\nblock_size=" << blockSize
    << "\nnum_blocks=" << c.layout.numBlocks << "\nnum_seqs=" << seqs.size()
    << "\nnum_tokens=" << c.numTokens << "\nmax_blocks_per_seq=" << c.maxBlocksPerSeq
    << "\nwindow=" << window << "\nscale=" << c.shape.scale
    << "\nkernel=" << (decode ? "decode" : "prefill") << "\nvariant=" << variant
    << "\nsplits=" << (decode ? splits.count : 0) << "\n";
  bool ok = writeRaw(dir + "/q.bin", c.q) && writeRaw(dir + "/k_cache.bin", c.kCache) &&
            writeRaw(dir + "/v_cache.bin", c.vCache) &&
            writeRaw(dir + "/query_start.bin", c.queryStart) &&
            writeRaw(dir + "/context_len.bin", c.contextLen) &&
            writeRaw(dir + "/block_table.bin", c.blockTable) &&
            writeRaw(dir + "/out.bin", d.out.download()) && bool(h);
  if (!ok)
    return fail("cannot write into " + dir);
  std::printf("wrote %s (%s, %d tokens, %zu requests)\n", dir.c_str(),
              decode ? "decode" : "prefill", c.numTokens, seqs.size());
  return 0;
}
