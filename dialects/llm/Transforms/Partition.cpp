// llm-partition: rewrites a module into the program of one tensor-parallel rank
// (Megatron-style: column-parallel linears feed a sharded region, a row-parallel linear
// and an all-reduce leave it).
#include "dialects/llm/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"

namespace modelc::llm {
#define GEN_PASS_DEF_LLMPARTITION
#include "dialects/llm/Passes.h.inc"
} // namespace modelc::llm

using namespace mlir;
using namespace modelc::llm;

namespace {

// The columns of a value (of its unpartitioned width) that one rank keeps, as
// [offset, size) ranges in order.
struct Layout {
  SmallVector<std::pair<int64_t, int64_t>> ranges;
  int64_t width() const {
    int64_t w = 0;
    for (auto [offset, size] : ranges)
      w += size;
    return w;
  }
  bool operator==(const Layout &o) const { return ranges == o.ranges; }
  bool operator!=(const Layout &o) const { return !(*this == o); }
};

int64_t widthOf(Value v) { return cast<RankedTensorType>(v.getType()).getDimSize(1); }

RankedTensorType withWidth(Value v, int64_t width) {
  auto type = cast<RankedTensorType>(v.getType());
  return RankedTensorType::get({ShapedType::kDynamic, width}, type.getElementType());
}

// The ops between the column-parallel linears and one row-parallel linear.
struct Region {
  LinearOp row;                       // reads the sharded value, then all-reduce
  SmallVector<LinearOp> columns;      // their outputs are sharded
  llvm::SetVector<Operation *> inner; // element-wise ops, rope, attention, recurrent ops, split
};

struct LlmPartitionPass : public modelc::llm::impl::LlmPartitionBase<LlmPartitionPass> {
  using LlmPartitionBase::LlmPartitionBase;

  void runOnOperation() override {
    if (tp < 1 || rank < 0 || rank >= tp) {
      getOperation().emitError() << "llm-partition: rank " << int64_t(rank) << " is not in [0, "
                                 << int64_t(tp) << ")";
      return signalPassFailure();
    }
    if (tp == 1)
      return;
    ModuleOp module = getOperation();
    SymbolTable symbols(module);

    // How often each weight is named: a sharded weight must have one user.
    llvm::DenseMap<StringAttr, int64_t> uses;
    module.walk([&](Operation *op) {
      for (NamedAttribute attr : op->getAttrs())
        if (auto ref = dyn_cast<FlatSymbolRefAttr>(attr.getValue()))
          ++uses[ref.getAttr()];
    });

    SmallVector<Region> regions;
    module.walk([&](LinearOp linear) {
      if (std::optional<Region> region = findRegion(linear))
        regions.push_back(std::move(*region));
    });
    for (Region &region : regions)
      if (failed(partition(region, symbols, uses)))
        return signalPassFailure();
    SmallVector<MoeOp> mixtures;
    module.walk([&](MoeOp moe) { mixtures.push_back(moe); });
    for (MoeOp moe : mixtures)
      if (failed(partitionExperts(moe, symbols, uses)))
        return signalPassFailure();
    if (shardVocabulary(module) == 0 && regions.empty() && mixtures.empty()) {
      module.emitError() << "llm-partition: nothing to shard over " << int64_t(tp)
                         << " ranks (no column-parallel / row-parallel linear pair, no table "
                            "of embedding rows)";
      return signalPassFailure();
    }

    // Biases that only rank 0 adds are gone from the other ranks.
    llvm::DenseSet<StringAttr> used;
    module.walk([&](Operation *op) {
      for (NamedAttribute attr : op->getAttrs())
        if (auto ref = dyn_cast<FlatSymbolRefAttr>(attr.getValue()))
          used.insert(ref.getAttr());
    });
    for (WeightOp weight : llvm::to_vector(module.getOps<WeightOp>()))
      if (!used.contains(weight.getSymNameAttr()))
        weight.erase();
  }

  // A mixture of experts shards like an MLP, expert by expert: each rank keeps its block of
  // every expert's intermediate features (rows of gate and up, columns of down), computes
  // the routing (replicated: the router linear and its logits stay whole) and its partial
  // sum of the experts' outputs, and an all-reduce adds the ranks' partials. The weighted
  // sum is linear in the experts' outputs, so the result is the single-rank one up to the
  // order of additions, as for a dense MLP.
  LogicalResult partitionExperts(MoeOp moe, SymbolTable &symbols,
                                 llvm::DenseMap<StringAttr, int64_t> &uses) {
    const int64_t experts = static_cast<int64_t>(moe.getNumExperts());
    auto fail = [&](const Twine &message) {
      moe.emitError() << "llm-partition: " << message;
      return failure();
    };
    // Each expert's `part` rows (dim 0) or columns (dim 1): this rank's block of each. A
    // weight that already keeps part of its source (a fused tensor's rows, the even or odd
    // features of an interleaved one: its stride) keeps this rank's block of that part.
    auto shard = [&](FlatSymbolRefAttr ref, int64_t dim, int64_t part) -> LogicalResult {
      auto weight = symbols.lookup<WeightOp>(ref.getAttr());
      if (!weight)
        return fail("unknown weight " + ref.getValue());
      if (uses[ref.getAttr()] != 1)
        return fail("weight @" + ref.getValue() + " has other users: it cannot be sharded");
      if (part % tp)
        return fail("experts of " + Twine(part) + " intermediate features do not split over " +
                    Twine(tp) + " ranks");
      const int64_t size = part / tp, first = rank * size,
                    stride = weight.getStride().value_or(1);
      OpBuilder b(weight);
      SmallVector<Attribute> slices;
      const size_t sources = weight.getSources().size();
      ArrayRef<int64_t> kept = weight.getSourceSlice(0);
      if (sources == static_cast<size_t>(experts) && !weight.getSlices()) {
        // One source per expert: the same block of each.
        for (size_t i = 0; i < sources; ++i)
          slices.push_back(b.getDenseI64ArrayAttr({dim, first, size}));
      } else if (sources == 1 && dim == 1 &&
                 (kept.empty() || (kept.size() == 3 && kept[0] == 1 && kept[2] == part))) {
        // Columns: each expert's (or each bias row's) block.
        slices.push_back(
            b.getDenseI64ArrayAttr({1, (kept.empty() ? 0 : kept[1]) + stride * first, size}));
      } else if (sources == 1 && dim == 0 &&
                 (kept.empty() || (kept[0] == 0 && (kept.size() == size_t(1 + 2 * experts) ||
                                                    (kept.size() == 3 &&
                                                     kept[2] == experts * part))))) {
        // One stacked source: expert e's block of its rows (kept whole, one range per
        // expert, or one range of all experts' rows).
        SmallVector<int64_t> ranges = {0};
        for (int64_t e = 0; e < experts; ++e) {
          const int64_t start = kept.empty()       ? e * part
                                : kept.size() == 3 ? kept[1] + stride * e * part
                                                   : kept[1 + 2 * e];
          ranges.append({start + stride * first, size});
        }
        slices.push_back(b.getDenseI64ArrayAttr(ranges));
      } else {
        return fail("weight @" + ref.getValue() + " is merged or sliced already");
      }
      SmallVector<int64_t> shape(weight.getTensorType().getShape());
      shape[dim] = shape[dim] / part * size;
      weight.setType(RankedTensorType::get(shape, weight.getTensorType().getElementType()));
      weight.setSlicesAttr(b.getArrayAttr(slices));
      return success();
    };
    auto gate = symbols.lookup<WeightOp>(moe.getGateAttr().getAttr());
    if (!gate)
      return fail("unknown weight " + moe.getGateAttr().getValue());
    const int64_t part = gate.getTensorType().getDimSize(0) / experts;
    if (failed(shard(moe.getGateAttr(), 0, part)) || failed(shard(moe.getUpAttr(), 0, part)) ||
        failed(shard(moe.getDownAttr(), 1, part)))
      return failure();
    // Biases: each expert's row of gate and up biases is sharded like its features; the
    // down projection's bias is added by rank 0 alone, as a row-parallel linear's.
    for (FlatSymbolRefAttr bias : {moe.getGateBiasAttr(), moe.getUpBiasAttr()})
      if (bias && failed(shard(bias, 1, part)))
        return failure();
    if (moe.getDownBiasAttr() && rank != 0)
      moe.removeDownBiasAttr();
    // A shared expert (Qwen2-MoE) is an ordinary MLP region, sharded and all-reduced above;
    // its rank partial goes into the mixture instead (the scaling by its gate is per row,
    // so linear), and the one all-reduce after the mixture adds both.
    if (Value shared = moe.getShared()) {
      auto reduce = shared.getDefiningOp<AllReduceOp>();
      if (!reduce) // whole on every rank: the all-reduce below would count it tp times
        return fail("its shared expert is not a sharded MLP (no all-reduce of a row-parallel "
                    "linear feeds it)");
      moe.getSharedMutable().assign(reduce.getInput());
      if (reduce->use_empty())
        reduce->erase();
    }
    OpBuilder b(moe);
    b.setInsertionPointAfter(moe);
    auto sum = b.create<AllReduceOp>(moe.getLoc(), moe.getType(), moe.getResult(),
                                     b.getI64IntegerAttr(tp));
    moe.getResult().replaceAllUsesExcept(sum.getResult(), sum);
    return success();
  }

  // Vocabulary parallelism: a table that only embeddings and LM heads read (a tied
  // embedding is both) is split by rows when they divide evenly. An embedding gives zero
  // rows for ids outside its shard and an all-reduce adds the one rank's row to zeros, so
  // it is exact; each logit is computed by one rank, and an all-gather puts the ranks'
  // columns side by side. Other tables stay whole on every rank.
  // Returns how many tables it split.
  int shardVocabulary(ModuleOp module) {
    int sharded = 0;
    llvm::MapVector<StringAttr, SmallVector<Operation *>> readers;
    module.walk([&](Operation *op) {
      for (NamedAttribute attr : op->getAttrs())
        if (auto ref = dyn_cast<FlatSymbolRefAttr>(attr.getValue()))
          readers[ref.getAttr()].push_back(op);
    });
    for (auto &[name, ops] : readers) {
      auto weight = module.lookupSymbol<WeightOp>(name);
      if (!weight || weight.getTensorType().getRank() != 2 || weight.getSlices() ||
          weight.getSources().size() != 1 || weight.getTensorType().getDimSize(0) % tp ||
          !llvm::all_of(ops, [](Operation *op) { return isa<EmbeddingOp, LogitsOp>(op); }))
        continue;
      const int64_t rows = weight.getTensorType().getDimSize(0) / tp, first = rank * rows;
      ++sharded;
      OpBuilder b(weight);
      weight.setType(RankedTensorType::get({rows, weight.getTensorType().getDimSize(1)},
                                           weight.getTensorType().getElementType()));
      weight.setSlicesAttr(b.getArrayAttr({b.getDenseI64ArrayAttr({0, first, rows})}));
      for (Operation *op : ops) {
        b.setInsertionPointAfter(op);
        Value result = op->getResult(0), sum;
        if (auto embedding = dyn_cast<EmbeddingOp>(op)) {
          embedding.setVocabOffset(first);
          sum = b.create<AllReduceOp>(op->getLoc(), result.getType(), result,
                                      b.getI64IntegerAttr(tp));
        } else {
          RankedTensorType whole = cast<RankedTensorType>(result.getType());
          result.setType(withWidth(result, rows));
          sum = b.create<AllGatherOp>(op->getLoc(), whole, result, b.getI64IntegerAttr(tp));
        }
        result.replaceAllUsesExcept(sum, sum.getDefiningOp());
      }
    }
    return sharded;
  }

  static bool isShared(ConcatOp concat, size_t input) {
    return concat.getShared() &&
           llvm::is_contained(*concat.getShared(), static_cast<int64_t>(input));
  }

  // The region ending at `row`, if its input comes from column linears through nothing
  // but ops that work on column shards, and nothing outside reads inside values.
  static std::optional<Region> findRegion(LinearOp row) {
    Region region;
    region.row = row;
    SmallVector<Value> work = {row.getInput()};
    llvm::DenseSet<Value> seen;
    while (!work.empty()) {
      Value v = work.pop_back_val();
      if (!seen.insert(v).second)
        continue;
      Operation *def = v.getDefiningOp();
      if (!def)
        return std::nullopt;
      if (auto column = dyn_cast<LinearOp>(def)) {
        if (!llvm::is_contained(region.columns, column))
          region.columns.push_back(column);
        continue;
      }
      if (isa<SiluOp, SigmoidOp, GeluOp, ScaleOp, SoftcapOp, MulOp, AddOp, SplitOp>(def)) {
        llvm::append_range(work, def->getOperands());
      } else if (auto rope = dyn_cast<RopeOp>(def)) {
        work.push_back(rope.getInput());
      } else if (auto conv = dyn_cast<CausalConv1dOp>(def)) {
        work.push_back(conv.getInput()); // each feature on its own: any columns
      } else if (auto delta = dyn_cast<GatedDeltaRuleOp>(def)) {
        work.append({delta.getQuery(), delta.getKey(), delta.getValue(), delta.getA(),
                     delta.getB()});
      } else if (auto attention = dyn_cast<AttentionOp>(def)) {
        work.append({attention.getQuery(), attention.getKey(), attention.getValue()});
      } else if (auto concat = dyn_cast<ConcatOp>(def)) {
        // Heads split over the ranks; an input every head shares stays whole (computed
        // outside, on every rank).
        for (auto [i, input] : llvm::enumerate(concat.getInputs()))
          if (!isShared(concat, i))
            work.push_back(input);
      } else {
        return std::nullopt;
      }
      region.inner.insert(def);
    }
    if (region.columns.empty())
      return std::nullopt;
    // Everything computed inside is read only inside (or by `row`).
    auto insideOnly = [&](Operation *op) {
      return llvm::all_of(op->getUsers(), [&](Operation *user) {
        return user == row.getOperation() || region.inner.contains(user);
      });
    };
    if (!llvm::all_of(region.inner, insideOnly) ||
        !llvm::all_of(region.columns, [&](LinearOp c) { return insideOnly(c); }))
      return std::nullopt;
    return region;
  }

  LogicalResult partition(Region &region, SymbolTable &symbols,
                          llvm::DenseMap<StringAttr, int64_t> &uses) {
    llvm::DenseMap<Value, Layout> layouts;
    auto fail = [&](Operation *op, const Twine &message) {
      op->emitError() << "llm-partition: " << message;
      return failure();
    };
    // Sets a layout; false on a conflict with one set before.
    auto assign = [&](Value v, const Layout &layout) {
      auto [it, inserted] = layouts.try_emplace(v, layout);
      return inserted || it->second == layout;
    };
    auto uniform = [&](int64_t width) {
      Layout l;
      l.ranges.push_back({rank * (width / tp), width / tp});
      return l;
    };

    // Attention fixes its operands' heads: query heads split evenly, KV heads split too
    // or, with fewer KV heads than ranks, each rank keeps the one its query heads read.
    for (Operation *op : region.inner) {
      auto attention = dyn_cast<AttentionOp>(op);
      if (!attention)
        continue;
      int64_t heads = attention.getNumHeads(), kvHeads = attention.getNumKvHeads(),
              hd = attention.getHeadDim(), vd = attention.getValueDim();
      if (heads % tp)
        return fail(op, Twine(heads) + " query heads do not split over " + Twine(tp) + " ranks");
      // This rank's heads of `count`, each `dim` features wide.
      auto headsOf = [&](int64_t count, int64_t dim) {
        Layout l;
        if (count % tp == 0)
          l.ranges.push_back({rank * (count / tp) * dim, count / tp * dim});
        else
          l.ranges.push_back({rank / (tp / count) * dim, dim});
        return l;
      };
      if (kvHeads % tp != 0 && tp % kvHeads != 0)
        return fail(op, Twine(kvHeads) + " KV heads neither split over nor replicate onto " +
                            Twine(tp) + " ranks");
      if (!assign(attention.getQuery(), headsOf(heads, hd)) ||
          !assign(attention.getKey(), headsOf(kvHeads, hd)) ||
          !assign(attention.getValue(), headsOf(kvHeads, vd)) ||
          !assign(attention.getResult(), headsOf(heads, vd)))
        return fail(op, "its operands are sharded two ways");
    }

    // The gated delta rule fixes its operands' heads likewise: key heads and value heads
    // split evenly (a rank's value heads read its own key heads, both contiguous), as do
    // the per-value-head a and b.
    for (Operation *op : region.inner) {
      auto delta = dyn_cast<GatedDeltaRuleOp>(op);
      if (!delta)
        continue;
      const int64_t kh = delta.getNumKHeads(), vh = delta.getNumVHeads();
      if (kh % tp || vh % tp)
        return fail(op, Twine(kh) + " key heads and " + Twine(vh) +
                            " value heads do not both split over " + Twine(tp) + " ranks");
      auto heads = [&](int64_t count, int64_t dim) {
        Layout l;
        l.ranges.push_back({rank * (count / tp) * dim, count / tp * dim});
        return l;
      };
      const int64_t dk = delta.getKeyHeadDim(), dv = delta.getValueHeadDim();
      if (!assign(delta.getQuery(), heads(kh, dk)) || !assign(delta.getKey(), heads(kh, dk)) ||
          !assign(delta.getValue(), heads(vh, dv)) || !assign(delta.getA(), heads(vh, 1)) ||
          !assign(delta.getB(), heads(vh, 1)) || !assign(delta.getResult(), heads(vh, dv)))
        return fail(op, "its operands are sharded two ways");
    }

    // Propagation: element-wise ops and rope keep their operands' columns; a split's input
    // keeps its pieces' columns. Values nothing constrains are split evenly.
    auto propagate = [&]() -> LogicalResult {
      for (bool changed = true; changed;) {
        changed = false;
        for (Operation *op : region.inner) {
          SmallVector<Value> same;
          if (isa<SiluOp, SigmoidOp, GeluOp, ScaleOp, SoftcapOp, MulOp, AddOp>(op)) {
            llvm::append_range(same, op->getOperands());
            same.push_back(op->getResult(0));
          } else if (auto rope = dyn_cast<RopeOp>(op)) {
            same = {rope.getInput(), rope.getResult()};
          } else if (auto conv = dyn_cast<CausalConv1dOp>(op)) {
            same = {conv.getInput(), conv.getResult()};
          } else if (auto concat = dyn_cast<ConcatOp>(op)) {
            // The result's heads fix each per-head input's: the same heads of it.
            auto it = layouts.find(concat.getResult());
            if (it == layouts.end())
              continue;
            const int64_t perHead = widthOf(concat.getResult()) /
                                    static_cast<int64_t>(concat.getNumHeads());
            for (auto [i, input] : llvm::enumerate(concat.getInputs())) {
              if (isShared(concat, i))
                continue;
              const int64_t w = widthOf(input) / static_cast<int64_t>(concat.getNumHeads());
              Layout in;
              for (auto [o, s] : it->second.ranges) {
                if (o % perHead || s % perHead)
                  return fail(op, "its shard does not fall on whole heads");
                in.ranges.push_back({o / perHead * w, s / perHead * w});
              }
              if (!layouts.count(input))
                changed = true;
              if (!assign(input, in))
                return fail(op, "its operands are sharded two ways");
            }
            continue;
          } else if (auto split = dyn_cast<SplitOp>(op)) {
            if (layouts.count(split.getInput()) ||
                !llvm::all_of(split.getResults(), [&](Value r) { return layouts.count(r); }))
              continue;
            Layout in;
            int64_t offset = 0;
            for (Value r : split.getResults()) {
              for (auto [o, s] : layouts[r].ranges)
                in.ranges.push_back({offset + o, s});
              offset += widthOf(r);
            }
            layouts[split.getInput()] = in;
            changed = true;
            continue;
          }
          const Layout *known = nullptr;
          for (Value v : same)
            if (auto it = layouts.find(v); it != layouts.end())
              known = &it->second;
          if (!known)
            continue;
          Layout copy = *known;
          for (Value v : same) {
            if (!layouts.count(v))
              changed = true;
            if (!assign(v, copy))
              return fail(op, "its operands are sharded two ways");
          }
        }
      }
      return success();
    };
    SmallVector<Value> values;
    for (Operation *op : region.inner)
      llvm::append_range(values, op->getResults());
    for (LinearOp c : region.columns)
      values.push_back(c.getResult());
    if (failed(propagate()))
      return failure();
    for (Value v : values) {
      if (layouts.count(v))
        continue;
      if (widthOf(v) % tp)
        return fail(v.getDefiningOp(),
                    "width " + Twine(widthOf(v)) + " does not split over " + Twine(tp) + " ranks");
      layouts[v] = uniform(widthOf(v));
      if (failed(propagate()))
        return failure();
    }
    if (!layouts.count(region.row.getInput()))
      return fail(region.row, "its input has no sharding");
    for (Operation *op : region.inner)
      if (auto split = dyn_cast<SplitOp>(op)) {
        Layout pieces;
        int64_t offset = 0;
        for (Value r : split.getResults()) {
          for (auto [o, s] : layouts[r].ranges)
            pieces.ranges.push_back({offset + o, s});
          offset += widthOf(r);
        }
        if (pieces != layouts[split.getInput()])
          return fail(op, "its input and its pieces are sharded two ways");
      }

    // Weights: column linears keep the rows of their output columns, the row linear the
    // columns of its input; only rank 0 adds the row linear's bias.
    OpBuilder b(region.row);
    auto slice = [&](int64_t dim, const Layout &layout) {
      SmallVector<int64_t> s = {dim};
      for (auto [o, size] : layout.ranges)
        s.append({o, size});
      return b.getArrayAttr({b.getDenseI64ArrayAttr(s)});
    };
    auto shard = [&](Operation *user, FlatSymbolRefAttr ref, int64_t dim,
                     const Layout &layout) -> LogicalResult {
      auto weight = symbols.lookup<WeightOp>(ref.getAttr());
      if (!weight)
        return fail(user, "unknown weight " + ref.getValue());
      if (uses[ref.getAttr()] != 1)
        return fail(user, "weight @" + ref.getValue() + " has other users: it cannot be sharded");
      // A part of a fused source (one range of its rows: Phi-3's qkv_proj) shards within
      // that range; anything else sliced or merged cannot be sharded again.
      // Row ranges of one source in any order (DeepSeek's heads, their rows reordered) shard
      // as the rows they list.
      ArrayRef<int64_t> part = weight.getSourceSlice(0);
      const bool rowPart = part.size() >= 3 && part.size() % 2 == 1 && part[0] == 0 && dim == 0;
      if (weight.getSources().size() != 1 || (weight.getSlices() && !rowPart) ||
          weight.getStride())
        return fail(user, "weight @" + ref.getValue() +
                              " is merged or sliced already: partition before llm-merge-linears");
      Layout shifted;
      if (rowPart) {
        // Each kept range [o, o + s) of the weight's rows, through the source ranges it
        // spans.
        for (auto [o, s] : layout.ranges)
          for (size_t r = 1, at = 0; r + 1 < part.size() && s > 0; at += part[r + 1], r += 2) {
            const int64_t first = part[r], count = part[r + 1];
            if (o >= static_cast<int64_t>(at) + count)
              continue;
            const int64_t skip = o - static_cast<int64_t>(at), take = std::min(s, count - skip);
            shifted.ranges.push_back({first + skip, take});
            o += take;
            s -= take;
          }
      } else {
        shifted = layout;
      }
      SmallVector<int64_t> shape(weight.getTensorType().getShape());
      shape[dim] = layout.width();
      weight.setType(RankedTensorType::get(shape, weight.getTensorType().getElementType()));
      weight.setSlicesAttr(slice(dim, shifted));
      return success();
    };
    for (LinearOp c : region.columns) {
      const Layout &layout = layouts[c.getResult()];
      if (failed(shard(c, c.getWeightAttr(), 0, layout)) ||
          (c.getBiasAttr() && failed(shard(c, c.getBiasAttr(), 0, layout))))
        return failure();
    }
    const Layout &input = layouts[region.row.getInput()];
    if (failed(shard(region.row, region.row.getWeightAttr(), 1, input)))
      return failure();
    if (region.row.getBiasAttr() && rank != 0)
      region.row.removeBiasAttr();

    // Types and head counts (a concat's heads keep their width).
    llvm::DenseMap<Operation *, int64_t> concatHeadWidth;
    for (Operation *op : region.inner)
      if (auto concat = dyn_cast<ConcatOp>(op))
        concatHeadWidth[op] =
            widthOf(concat.getResult()) / static_cast<int64_t>(concat.getNumHeads());
    for (Value v : values)
      v.setType(withWidth(v, layouts[v].width()));
    for (Operation *op : region.inner) {
      if (auto rope = dyn_cast<RopeOp>(op)) {
        int64_t hd = rope.getHeadDim();
        for (auto [o, s] : layouts[rope.getResult()].ranges)
          if (o % hd || s % hd)
            return fail(op, "its shard does not fall on whole heads");
        rope.setNumHeads(layouts[rope.getResult()].width() / hd);
      } else if (auto concat = dyn_cast<ConcatOp>(op)) {
        concat.setNumHeads(layouts[concat.getResult()].width() / concatHeadWidth[op]);
      } else if (auto delta = dyn_cast<GatedDeltaRuleOp>(op)) {
        // Each rank keeps its value heads' state matrices, and their a_log and dt_bias.
        Layout heads;
        for (auto [o, sz] : layouts[delta.getA()].ranges)
          heads.ranges.push_back({o, sz});
        if (failed(shard(delta, delta.getALogAttr(), 0, heads)) ||
            failed(shard(delta, delta.getDtBiasAttr(), 0, heads)))
          return failure();
        delta.setNumKHeads(widthOf(delta.getKey()) / delta.getKeyHeadDim());
        delta.setNumVHeads(widthOf(delta.getA()));
      } else if (auto conv = dyn_cast<CausalConv1dOp>(op)) {
        // Each rank convolves its own features: their weight rows and biases (and its
        // recurrent state holds just those features).
        const Layout &features = layouts[conv.getResult()];
        if (failed(shard(conv, conv.getWeightAttr(), 0, features)) ||
            (conv.getBiasAttr() && failed(shard(conv, conv.getBiasAttr(), 0, features))))
          return failure();
      } else if (auto attention = dyn_cast<AttentionOp>(op)) {
        int64_t hd = attention.getHeadDim();
        // Sinks (one per query head): this rank's heads' values.
        if (FlatSymbolRefAttr sinks = attention.getSinksAttr()) {
          Layout heads;
          for (auto [o, s] : layouts[attention.getQuery()].ranges)
            heads.ranges.push_back({o / hd, s / hd});
          if (failed(shard(attention, sinks, 0, heads)))
            return failure();
        }
        attention.setNumHeads(widthOf(attention.getQuery()) / hd);
        attention.setNumKvHeads(widthOf(attention.getKey()) / hd);
      }
    }

    // The partial sums of the row linear are added up over the ranks.
    b.setInsertionPointAfter(region.row);
    auto sum = b.create<AllReduceOp>(region.row.getLoc(), region.row.getType(),
                                     region.row.getResult(), b.getI64IntegerAttr(tp));
    region.row.getResult().replaceAllUsesExcept(sum.getResult(), sum);
    return success();
  }
};

} // namespace
