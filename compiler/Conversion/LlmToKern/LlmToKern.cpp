#include "compiler/Conversion/LlmToKern/LlmToKern.h"

#include "dialects/kern/IR/KernDialect.h"
#include "dialects/llm/IR/LlmDialect.h"
#include "dialects/llm/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
namespace llm = modelc::llm;
namespace kern = modelc::kern;

namespace {

Type elementTypeOf(Value v) { return cast<RankedTensorType>(v.getType()).getElementType(); }
int64_t widthOf(Value v) { return cast<RankedTensorType>(v.getType()).getDimSize(1); }

// Builds the scalar body of one kern.fused: every value is an f32 scalar for one column.
// Each op's result is rounded to the activation type, so a fused kernel computes exactly
// what the ops would one by one.
class BodyBuilder {
public:
  BodyBuilder(OpBuilder &builder, Location loc, int64_t width)
      : b(builder), loc(loc), width(width) {}

  Value toF32(Value v) {
    return v.getType().isF32() ? v : b.create<arith::ExtFOp>(loc, b.getF32Type(), v);
  }
  Value fromF32(Value v, Type type) {
    return type.isF32() ? v : b.create<arith::TruncFOp>(loc, type, v).getResult();
  }
  Value constant(double value) {
    return b.create<arith::ConstantOp>(loc, b.getF32FloatAttr(static_cast<float>(value)));
  }
  Value add(Value x, Value y) { return b.create<arith::AddFOp>(loc, x, y); }
  Value sub(Value x, Value y) { return b.create<arith::SubFOp>(loc, x, y); }
  Value mul(Value x, Value y) { return b.create<arith::MulFOp>(loc, x, y); }
  Value div(Value x, Value y) { return b.create<arith::DivFOp>(loc, x, y); }
  // The row mean of `x` (every column gets it).
  Value rowMean(Value x) {
    Value sum = b.create<kern::ReduceOp>(loc, kern::ReductionKind::add, x);
    return div(sum, constant(static_cast<double>(width)));
  }

  Value silu(Value x) {
    Value e = b.create<math::ExpOp>(loc, b.create<arith::NegFOp>(loc, x));
    return div(x, add(constant(1.0), e));
  }
  Value sigmoid(Value x) {
    Value e = b.create<math::ExpOp>(loc, b.create<arith::NegFOp>(loc, x));
    return div(constant(1.0), add(constant(1.0), e));
  }
  Value gelu(Value x, llm::GeluApproximation approximation) {
    Value half = mul(constant(0.5), x);
    if (approximation == llm::GeluApproximation::tanh) {
      // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
      Value cube = mul(mul(x, x), x);
      Value inner = mul(constant(std::sqrt(2.0 / M_PI)), add(x, mul(constant(0.044715), cube)));
      return mul(half, add(constant(1.0), b.create<math::TanhOp>(loc, inner)));
    }
    // 0.5 x (1 + erf(x / sqrt(2)))
    Value e = b.create<math::ErfOp>(loc, mul(x, constant(M_SQRT1_2)));
    return mul(half, add(constant(1.0), e));
  }
  // weightOffset (Gemma's 1 + w) is added to the weight in f32.
  Value rmsNorm(Value x, Value weight, double eps, std::optional<double> weightOffset) {
    Value inv = b.create<math::RsqrtOp>(loc, add(rowMean(mul(x, x)), constant(eps)));
    if (weightOffset)
      weight = add(constant(*weightOffset), weight);
    return mul(mul(x, inv), weight);
  }
  // cap * tanh(x / cap), in the reference's order.
  Value softcap(Value x, double cap) {
    return mul(b.create<math::TanhOp>(loc, div(x, constant(cap))), constant(cap));
  }
  // x * factor, the factor first rounded to `type` (the activation's element type).
  Value scale(Value x, double factor, Type type) {
    llvm::APFloat rounded(factor);
    bool lost;
    rounded.convert(cast<FloatType>(type).getFloatSemantics(), llvm::APFloat::rmNearestTiesToEven,
                    &lost);
    return mul(x, constant(rounded.convertToDouble()));
  }
  Value layerNorm(Value x, Value weight, Value bias, double eps) {
    Value centered = sub(x, rowMean(x));
    Value var = rowMean(mul(centered, centered));
    Value inv = b.create<math::RsqrtOp>(loc, add(var, constant(eps)));
    Value scaled = mul(mul(centered, inv), weight);
    return bias ? add(scaled, bias) : scaled; // no bias: Cohere's LayerNorm
  }

private:
  OpBuilder &b;
  Location loc;
  int64_t width;
};

// The symbols of the weights an op reads inside a fused kernel, in body-argument order.
SmallVector<FlatSymbolRefAttr> fusedWeights(Operation *op) {
  if (auto norm = dyn_cast<llm::RmsNormOp>(op))
    return {norm.getWeightAttr()};
  if (auto add = dyn_cast<llm::BiasAddOp>(op))
    return {add.getBiasAttr()};
  if (auto norm = dyn_cast<llm::LayerNormOp>(op)) {
    if (!norm.getBiasAttr())
      return {norm.getWeightAttr()};
    return {norm.getWeightAttr(), norm.getBiasAttr()};
  }
  return {};
}

LogicalResult convertGroup(ArrayRef<Operation *> ops, SymbolTable &symbols) {
  llvm::SmallPtrSet<Operation *, 8> members(ops.begin(), ops.end());
  llvm::SetVector<Value> inputs, outputs;
  llvm::SetVector<Attribute> weights;
  for (Operation *op : ops) {
    for (Value operand : op->getOperands())
      if (!members.contains(operand.getDefiningOp()))
        inputs.insert(operand);
    for (FlatSymbolRefAttr w : fusedWeights(op))
      weights.insert(w);
    for (OpResult result : op->getResults())
      if (llvm::any_of(result.getUsers(), [&](Operation *u) { return !members.contains(u); }))
        outputs.insert(result);
  }
  Operation *last = ops.back();
  if (outputs.empty())
    outputs.insert(last->getResult(0)); // dead code still gets a well-formed kernel
  Location loc = last->getLoc();

  OpBuilder builder(last->getContext());
  builder.setInsertionPointAfter(last);
  SmallVector<Type> resultTypes;
  for (Value v : outputs)
    resultTypes.push_back(v.getType());
  auto fused = builder.create<kern::FusedOp>(loc, resultTypes, inputs.getArrayRef(),
                                             builder.getArrayAttr(weights.getArrayRef()));
  Block *body = new Block();
  fused.getBody().push_back(body);
  for (Value input : inputs)
    body->addArgument(elementTypeOf(input), loc);
  for (Attribute w : weights) {
    auto weight = symbols.lookup<llm::WeightOp>(cast<FlatSymbolRefAttr>(w).getValue());
    if (!weight)
      return last->emitOpError() << "weight " << w << " does not name an llm.weight";
    body->addArgument(weight.getTensorType().getElementType(), loc);
  }

  OpBuilder bb = OpBuilder::atBlockEnd(body);
  BodyBuilder gen(bb, loc, widthOf(last->getResult(0)));
  DenseMap<Value, Value> scalar;
  for (auto [input, arg] : llvm::zip(inputs, body->getArguments()))
    scalar[input] = gen.toF32(arg);
  DenseMap<Attribute, Value> weightScalar;
  for (auto [i, w] : llvm::enumerate(weights))
    weightScalar[w] = gen.toF32(body->getArgument(inputs.size() + i));

  for (Operation *op : ops) {
    auto in = [&](unsigned i) { return scalar.lookup(op->getOperand(i)); };
    Value result = llvm::TypeSwitch<Operation *, Value>(op)
                       .Case([&](llm::AddOp) { return gen.add(in(0), in(1)); })
                       .Case([&](llm::MulOp) { return gen.mul(in(0), in(1)); })
                       .Case([&](llm::BiasAddOp a) {
                         return gen.add(in(0), weightScalar.lookup(a.getBiasAttr()));
                       })
                       .Case([&](llm::SiluOp) { return gen.silu(in(0)); })
                       .Case([&](llm::SigmoidOp) { return gen.sigmoid(in(0)); })
                       .Case([&](llm::GeluOp g) { return gen.gelu(in(0), g.getApproximation()); })
                       .Case([&](llm::ScaleOp s) {
                         return gen.scale(in(0), s.getFactor().convertToDouble(),
                                          s.getF32Factor() ? Type(bb.getF32Type())
                                                           : elementTypeOf(s.getResult()));
                       })
                       .Case([&](llm::SoftcapOp s) {
                         return gen.softcap(in(0), s.getCap().convertToDouble());
                       })
                       .Case([&](llm::RmsNormOp n) {
                         std::optional<double> offset;
                         if (n.getWeightOffset())
                           offset = n.getWeightOffset()->convertToDouble();
                         return gen.rmsNorm(in(0), weightScalar.lookup(n.getWeightAttr()),
                                            n.getEps().convertToDouble(), offset);
                       })
                       .Case([&](llm::LayerNormOp n) {
                         return gen.layerNorm(in(0), weightScalar.lookup(n.getWeightAttr()),
                                              n.getBiasAttr()
                                                  ? weightScalar.lookup(n.getBiasAttr())
                                                  : Value(),
                                              n.getEps().convertToDouble());
                       })
                       .Default([](Operation *) { return Value(); });
    if (!result)
      return op->emitOpError() << "cannot be computed in a fused kernel";
    // Round every op's result to the activation type, as the unfused ops would store it:
    // fusing must not change the numbers.
    Type type = elementTypeOf(op->getResult(0));
    if (!type.isF32())
      result = gen.toF32(gen.fromF32(result, type));
    scalar[op->getResult(0)] = result;
  }
  SmallVector<Value> yielded;
  for (Value out : outputs)
    yielded.push_back(gen.fromF32(scalar.lookup(out), elementTypeOf(out)));
  bb.create<kern::YieldOp>(loc, yielded);

  for (auto [out, replacement] : llvm::zip(outputs, fused.getResults()))
    Value(out).replaceUsesWithIf(replacement,
                                 [&](OpOperand &use) { return !members.contains(use.getOwner()); });
  for (Operation *op : llvm::reverse(ops))
    op->erase();
  return success();
}

// One llm op that becomes one library-call kernel (or views, for llm.split).
void convertLibraryOp(Operation *op) {
  OpBuilder b(op);
  Location loc = op->getLoc();
  auto replace = [&](Value v) {
    op->getResult(0).replaceAllUsesWith(v);
    op->erase();
  };
  llvm::TypeSwitch<Operation *>(op)
      .Case([&](llm::LinearOp l) {
        replace(b.create<kern::GemmOp>(loc, l.getType(), l.getInput(), l.getWeightAttr(),
                                       l.getBiasAttr(), IntegerAttr(), UnitAttr()));
      })
      .Case([&](llm::HeadLinearOp l) {
        replace(b.create<kern::GemmOp>(loc, l.getType(), l.getInput(), l.getWeightAttr(),
                                       FlatSymbolRefAttr(), l.getNumHeadsAttr(),
                                       l.getInputRowsAttr()));
      })
      .Case([&](llm::LogitsOp l) {
        replace(b.create<kern::GemmOp>(loc, l.getType(), l.getInput(), l.getWeightAttr(),
                                       FlatSymbolRefAttr(), IntegerAttr(), UnitAttr()));
      })
      .Case([&](llm::EmbeddingOp e) {
        replace(b.create<kern::GatherRowsOp>(loc, e.getType(), Value(), e.getTableAttr(),
                                             e.getIds(), e.getVocabOffsetAttr()));
      })
      .Case([&](llm::GatherTokensOp g) {
        replace(b.create<kern::GatherRowsOp>(loc, g.getType(), g.getInput(), FlatSymbolRefAttr(),
                                             g.getRows(), IntegerAttr()));
      })
      .Case([&](llm::RopeOp r) {
        replace(b.create<kern::RopeOp>(loc, r.getType(), r.getInput(), r.getPositions(),
                                       r->getAttrDictionary()));
      })
      .Case([&](llm::AttentionOp a) {
        replace(b.create<kern::AttentionOp>(loc, a.getType(), a.getQuery(), a.getKey(),
                                            a.getValue(), a->getAttrDictionary()));
      })
      .Case([&](llm::CausalConv1dOp c) {
        replace(b.create<kern::CausalConv1dOp>(loc, c.getType(), c.getInput(),
                                               c->getAttrDictionary()));
      })
      .Case([&](llm::SsmScanOp m) {
        replace(b.create<kern::SsmScanOp>(loc, m.getType(), m.getInput(), m.getDt(), m.getB(),
                                          m.getC(), m->getAttrDictionary()));
      })
      .Case([&](llm::GatedDeltaRuleOp g) {
        replace(b.create<kern::GatedDeltaRuleOp>(loc, g.getType(), g.getQuery(), g.getKey(),
                                                 g.getValue(), g.getA(), g.getB(),
                                                 g->getAttrDictionary()));
      })
      .Case([&](llm::MoeOp m) {
        replace(b.create<kern::MoeOp>(
            loc, m.getType(), m.getInput(), m.getRouterLogits(), m.getShared(), m.getSharedGate(),
            m.getGateAttr(), m.getUpAttr(), m.getDownAttr(), m.getNumExpertsAttr(), m.getTopKAttr(),
            m.getNormalizeTopKAttr(), m.getRoundWeightsAttr(), m.getGateBiasAttr(),
            m.getUpBiasAttr(), m.getDownBiasAttr(), m.getSwigluAlphaAttr(),
            m.getSwigluLimitAttr(), m.getSigmoidScoresAttr(), m.getScoreBiasAttr(),
            m.getNumGroupsAttr(), m.getTopGroupsAttr(), m.getRoutedScaleAttr(),
            m.getGroupTopAttr(), m.getScaleInputsAttr(), m.getNormalizeEpsilonAttr()));
      })
      .Case([&](llm::ConcatOp c) {
        replace(b.create<kern::ConcatOp>(loc, c.getType(), c.getInputs(), c.getNumHeadsAttr(),
                                         c.getSharedAttr()));
      })
      .Case([&](llm::AllReduceOp a) {
        replace(b.create<kern::AllReduceOp>(loc, a.getType(), a.getInput(), a.getGroupSize()));
      })
      .Case([&](llm::AllGatherOp a) {
        replace(b.create<kern::AllGatherOp>(loc, a.getType(), a.getInput(), a.getGroupSize()));
      })
      .Case([&](llm::RecvOp r) { replace(b.create<kern::RecvOp>(loc, r.getType(), r.getStage())); })
      .Case([&](llm::SendOp sendOp) {
        b.create<kern::SendOp>(loc, sendOp.getInput(), sendOp.getStage());
        sendOp.erase();
      })
      .Case([&](llm::SplitOp s) {
        int64_t offset = 0;
        for (Value piece : s.getResults()) {
          piece.replaceAllUsesWith(b.create<kern::ColumnsOp>(loc, piece.getType(), s.getInput(),
                                                             static_cast<uint64_t>(offset)));
          offset += widthOf(piece);
        }
        s->erase();
      });
}

} // namespace

LogicalResult modelc::convertLlmToKern(ModuleOp module) {
  SymbolTable symbols(module);

  // Fusion groups in program order; fusible ops llm-fuse did not group stand alone.
  llvm::MapVector<std::pair<Block *, int64_t>, SmallVector<Operation *>> groups;
  int64_t singleton = -1;
  module.walk([&](Operation *op) {
    if (!llm::isFusible(op))
      return;
    auto id = op->getAttrOfType<IntegerAttr>(llm::kFusionGroupAttr);
    groups[{op->getBlock(), id ? id.getInt() : singleton--}].push_back(op);
  });
  for (auto &entry : groups)
    if (failed(convertGroup(entry.second, symbols)))
      return failure();

  SmallVector<Operation *> library;
  module.walk([&](Operation *op) {
    if (isa<llm::LinearOp, llm::HeadLinearOp, llm::LogitsOp, llm::EmbeddingOp,
            llm::GatherTokensOp, llm::RopeOp, llm::AttentionOp, llm::CausalConv1dOp,
            llm::GatedDeltaRuleOp, llm::SsmScanOp, llm::MoeOp,
            llm::ConcatOp, llm::AllReduceOp, llm::AllGatherOp, llm::SplitOp, llm::RecvOp,
            llm::SendOp>(op))
      library.push_back(op);
  });
  for (Operation *op : library)
    convertLibraryOp(op);
  return success();
}
