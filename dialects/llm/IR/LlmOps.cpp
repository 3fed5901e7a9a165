// Verifiers of the llm ops. Shape rules that involve weights are checked in
// verifySymbolUses, where the weight symbols can be resolved.
#include "dialects/llm/IR/LlmDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

#include <cmath>

using namespace mlir;
using namespace modelc::llm;

#define GET_OP_CLASSES
#include "dialects/llm/LlmOps.cpp.inc"

namespace {

int64_t featureDim(Value activation) {
  return cast<RankedTensorType>(activation.getType()).getDimSize(1);
}

Type elementType(Value v) { return cast<RankedTensorType>(v.getType()).getElementType(); }

// Resolves `symbol` to an llm.weight and checks its shape against `expectedShape`
// (kDynamic entries match anything) and its element type against `expectedElement`.
FailureOr<WeightOp> verifyWeight(Operation *user, SymbolTableCollection &symbols,
                                 FlatSymbolRefAttr symbol, llvm::StringRef role,
                                 ArrayRef<int64_t> expectedShape, Type expectedElement) {
  auto weight = symbols.lookupNearestSymbolFrom<WeightOp>(user, symbol);
  if (!weight)
    return user->emitOpError() << role << " " << symbol << " does not name an llm.weight";
  RankedTensorType type = weight.getTensorType();
  auto fail = [&]() {
    InFlightDiagnostic diag = user->emitOpError() << role << " " << symbol << " has type " << type
                                                  << ", expected shape [";
    llvm::interleaveComma(expectedShape, diag, [&](int64_t d) {
      if (ShapedType::isDynamic(d))
        diag << "?";
      else
        diag << d;
    });
    diag << "] of " << expectedElement;
    return diag;
  };
  if (type.getRank() != static_cast<int64_t>(expectedShape.size()) ||
      type.getElementType() != expectedElement)
    return fail();
  for (auto [actual, expected] : llvm::zip(type.getShape(), expectedShape))
    if (!ShapedType::isDynamic(expected) && actual != expected)
      return fail();
  return weight;
}

} // namespace

LogicalResult modelc::llm::OpTrait::verifySameActivationElementType(Operation *op) {
  Type common;
  auto check = [&](Type type) -> LogicalResult {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || tensor.getRank() != 2 || !isa<FloatType>(tensor.getElementType()))
      return success();
    if (!common)
      common = tensor.getElementType();
    else if (common != tensor.getElementType())
      return op->emitOpError() << "mixes activation element types " << common << " and "
                               << tensor.getElementType();
    return success();
  };
  for (Type t : op->getOperandTypes())
    if (failed(check(t)))
      return failure();
  for (Type t : op->getResultTypes())
    if (failed(check(t)))
      return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// WeightOp
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  RankedTensorType type = getTensorType();
  if (!isa<FloatType>(type.getElementType()))
    return emitOpError() << "weight must have a float element type, got " << type;
  if (type.getRank() < 1 || type.getRank() > 2)
    return emitOpError() << "weight must be rank 1 or 2, got " << type;
  if (getSources().empty())
    return emitOpError() << "weight needs at least one source tensor";
  for (Attribute source : getSources())
    if (cast<StringAttr>(source).getValue().empty())
      return emitOpError() << "source tensor names must not be empty";
  if (getTransposed() && type.getRank() != 2)
    return emitOpError() << "only rank-2 weights can be transposed";
  if (getStride() && !getSlices())
    return emitOpError() << "a stride spaces out slices: it needs some";
  if (getStride() && *getStride() > 4096)
    return emitOpError() << "stride " << *getStride() << " is more than 4096";
  if (std::optional<ArrayAttr> slices = getSlices()) {
    if (slices->size() != getSources().size())
      return emitOpError() << "needs one slice per source, got " << slices->size() << " for "
                           << getSources().size() << " sources";
    for (auto [i, attr] : llvm::enumerate(*slices)) {
      ArrayRef<int64_t> slice = cast<DenseI64ArrayAttr>(attr).asArrayRef();
      if (slice.empty())
        continue;
      if (slice.size() < 3 || slice.size() % 2 == 0)
        return emitOpError() << "slice " << i << " must be [dim, offset, size, ...], got "
                             << slice.size() << " values";
      if (slice[0] < 0 || slice[0] >= type.getRank())
        return emitOpError() << "slice " << i << " cuts dimension " << slice[0] << " of a rank-"
                             << type.getRank() << " weight";
      int64_t total = 0;
      for (size_t r = 1; r < slice.size(); r += 2) {
        if (slice[r] < 0 || slice[r + 1] <= 0)
          return emitOpError() << "slice " << i << " needs offsets >= 0 and sizes > 0, got offset "
                               << slice[r] << " size " << slice[r + 1];
        total += slice[r + 1];
      }
      if (slice[0] != 0 && total != type.getDimSize(slice[0]))
        return emitOpError() << "slice " << i << " keeps " << total << " of dimension " << slice[0]
                             << ", which the weight declares as " << type.getDimSize(slice[0]);
    }
  }
  return success();
}

ArrayRef<int64_t> WeightOp::getSourceSlice(size_t source) {
  std::optional<ArrayAttr> slices = getSlices();
  if (!slices || source >= slices->size())
    return {};
  return cast<DenseI64ArrayAttr>((*slices)[source]).asArrayRef();
}

//===----------------------------------------------------------------------===//
// Weight users
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyWeight(*this, symbols, getTableAttr(), "table",
                      {ShapedType::kDynamic, featureDim(getResult())}, elementType(getResult()));
}

LogicalResult RmsNormOp::verify() {
  if (!(getEps().convertToDouble() > 0.0))
    return emitOpError() << "eps must be positive";
  return success();
}

LogicalResult RmsNormOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyWeight(*this, symbols, getWeightAttr(), "weight", {featureDim(getInput())},
                      elementType(getInput()));
}

LogicalResult BiasAddOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyWeight(*this, symbols, getBiasAttr(), "bias", {featureDim(getInput())},
                      elementType(getInput()));
}

LogicalResult SoftcapOp::verify() {
  if (!(getCap().convertToDouble() > 0.0))
    return emitOpError() << "cap must be positive";
  return success();
}

LogicalResult LayerNormOp::verify() {
  if (!(getEps().convertToDouble() > 0.0))
    return emitOpError() << "eps must be positive";
  return success();
}

LogicalResult LayerNormOp::verifySymbolUses(SymbolTableCollection &symbols) {
  if (failed(verifyWeight(*this, symbols, getWeightAttr(), "weight", {featureDim(getInput())},
                          elementType(getInput()))))
    return failure();
  if (!getBiasAttr())
    return success();
  return verifyWeight(*this, symbols, getBiasAttr(), "bias", {featureDim(getInput())},
                      elementType(getInput()));
}

LogicalResult LinearOp::verifySymbolUses(SymbolTableCollection &symbols) {
  int64_t out = featureDim(getResult());
  if (failed(verifyWeight(*this, symbols, getWeightAttr(), "weight", {out, featureDim(getInput())},
                          elementType(getInput()))))
    return failure();
  if (FlatSymbolRefAttr bias = getBiasAttr())
    return verifyWeight(*this, symbols, bias, "bias", {out}, elementType(getInput()));
  return success();
}

//===----------------------------------------------------------------------===//
// HeadLinearOp
//===----------------------------------------------------------------------===//

LogicalResult HeadLinearOp::verify() {
  const int64_t heads = getNumHeads();
  if (featureDim(getInput()) % heads || featureDim(getResult()) % heads)
    return emitOpError() << "input (" << featureDim(getInput()) << ") and result ("
                         << featureDim(getResult()) << ") features must split into " << heads
                         << " heads";
  return success();
}

LogicalResult HeadLinearOp::verifySymbolUses(SymbolTableCollection &symbols) {
  const int64_t heads = getNumHeads(), k = featureDim(getInput()) / heads,
                n = featureDim(getResult()) / heads;
  return success(succeeded(verifyWeight(*this, symbols, getWeightAttr(), "weight",
                                        getInputRows() ? SmallVector<int64_t>{heads * k, n}
                                                       : SmallVector<int64_t>{heads * n, k},
                                        elementType(getInput()))));
}

//===----------------------------------------------------------------------===//
// MoeOp
//===----------------------------------------------------------------------===//

LogicalResult MoeOp::verify() {
  const int64_t experts = static_cast<int64_t>(getNumExperts());
  if (featureDim(getRouterLogits()) != experts)
    return emitOpError() << "router_logits has " << featureDim(getRouterLogits()) << " columns for "
                         << experts << " experts";
  if (getTopK() > static_cast<uint64_t>(experts))
    return emitOpError() << "top_k " << getTopK() << " is more than the " << experts << " experts";
  if (featureDim(getResult()) != featureDim(getInput()))
    return emitOpError() << "result width " << featureDim(getResult())
                         << " differs from the input width " << featureDim(getInput());
  if (getShared() && featureDim(getShared()) != featureDim(getInput()))
    return emitOpError() << "shared has " << featureDim(getShared()) << " columns, not "
                         << featureDim(getInput());
  if (getSharedGate() && (!getShared() || featureDim(getSharedGate()) != 1))
    return emitOpError() << "shared_gate must be one column scaling a shared expert";
  if (bool(getSwigluAlpha()) != bool(getSwigluLimit()))
    return emitOpError() << "swiglu_alpha and swiglu_limit go together";
  if (getSwigluLimit() && !(getSwigluLimit()->convertToDouble() > 0.0 &&
                            std::isfinite(getSwigluAlpha()->convertToDouble())))
    return emitOpError() << "swiglu_limit must be positive and swiglu_alpha finite";
  if (getGroupTop() && !getNumGroups())
    return emitOpError() << "group_top needs num_groups";
  if (bool(getNumGroups()) != bool(getTopGroups()))
    return emitOpError() << "num_groups and top_groups go together";
  if (getNumGroups()) {
    const uint64_t groups = *getNumGroups(), top = *getTopGroups();
    if (getNumExperts() % groups || getNumExperts() / groups < 2 || top > groups ||
        getTopK() > top * (getNumExperts() / groups))
      return emitOpError() << "num_groups must split the experts into groups of two or more, "
                              "and top_groups of them must hold top_k experts";
    if (getGroupTop() && *getGroupTop() > getNumExperts() / groups)
      return emitOpError() << "group_top " << *getGroupTop() << " is more than a group's "
                           << getNumExperts() / groups << " experts";
  }
  if (getRoutedScale() && !(getRoutedScale()->convertToDouble() > 0.0 &&
                            getRoutedScale()->convertToDouble() < 1e30))
    return emitOpError() << "routed_scale must be positive";
  return success();
}

LogicalResult MoeOp::verifySymbolUses(SymbolTableCollection &symbols) {
  const int64_t d = featureDim(getInput()), experts = static_cast<int64_t>(getNumExperts());
  Type element = elementType(getInput());
  FailureOr<WeightOp> gate =
      verifyWeight(*this, symbols, getGateAttr(), "gate", {ShapedType::kDynamic, d}, element);
  if (failed(gate))
    return failure();
  const int64_t rows = gate->getTensorType().getDimSize(0);
  if (rows % experts)
    return emitOpError() << "gate " << getGateAttr() << " has " << rows
                         << " rows, not a multiple of the " << experts << " experts";
  if (failed(verifyWeight(*this, symbols, getUpAttr(), "up", {rows, d}, element)) ||
      failed(verifyWeight(*this, symbols, getDownAttr(), "down", {experts * d, rows / experts},
                          element)))
    return failure();
  // Biases: one row per expert.
  for (auto [bias, role, cols] : {std::tuple(getGateBiasAttr(), "gate_bias", rows / experts),
                                  std::tuple(getUpBiasAttr(), "up_bias", rows / experts),
                                  std::tuple(getDownBiasAttr(), "down_bias", d)})
    if (bias && failed(verifyWeight(*this, symbols, bias, role, {experts, cols}, element)))
      return failure();
  if (getScoreBiasAttr() &&
      failed(verifyWeight(*this, symbols, getScoreBiasAttr(), "score_bias", {experts}, element)))
    return failure();
  return success();
}

LogicalResult AllGatherOp::verify() {
  if (featureDim(getResult()) != featureDim(getInput()) * getGroupSize())
    return emitOpError() << "result width must be " << getGroupSize() << " x the input width "
                         << featureDim(getInput()) << ", got " << featureDim(getResult());
  return success();
}

LogicalResult LogitsOp::verify() {
  if (!elementType(getResult()).isF32())
    return emitOpError() << "logits must be f32, got " << getResult().getType();
  return success();
}

LogicalResult LogitsOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyWeight(*this, symbols, getWeightAttr(), "weight",
                      {featureDim(getResult()), featureDim(getInput())}, elementType(getInput()));
}

//===----------------------------------------------------------------------===//
// RopeOp
//===----------------------------------------------------------------------===//

LogicalResult RopeOp::verify() {
  int64_t heads = getNumHeads(), headDim = getHeadDim(), rotary = getRotaryDim();
  if (heads * headDim != featureDim(getInput()))
    return emitOpError() << "num_heads * head_dim = " << heads * headDim
                         << " does not match the feature dimension " << featureDim(getInput());
  if (rotary > headDim || rotary % 2 != 0)
    return emitOpError() << "rotary_dim " << rotary << " must be even and at most head_dim "
                         << headDim;
  if (rotary == 0 && !getNormEps() && !getTemperatureFloor())
    return emitOpError() << "rotary_dim 0 rotates nothing: it needs a norm or a temperature";
  if (!(getTheta().convertToDouble() > 0.0))
    return emitOpError() << "theta must be positive";
  if (getNormWeight() && !getNormEps())
    return emitOpError() << "norm_weight needs norm_eps";
  if (bool(getTemperatureFloor()) != bool(getTemperatureScale()))
    return emitOpError() << "temperature_floor and temperature_scale go together";
  if (getTemperatureOffset() && !getTemperatureFloor())
    return emitOpError() << "temperature_offset needs temperature_floor";
  if (getTemperatureScale() && !std::isfinite(getTemperatureScale()->convertToDouble()))
    return emitOpError() << "temperature_scale must be finite";
  if (getNormEps() && !(getNormEps()->convertToDouble() > 0.0))
    return emitOpError() << "norm_eps must be positive";
  if (getNormWeightOffset() && !getNormWeight())
    return emitOpError() << "norm_weight_offset needs a norm_weight";
  if (getLinearScaling() && !(getLinearScaling()->convertToDouble() >= 1.0))
    return emitOpError() << "linear_scaling must be at least 1";
  if (std::optional<ArrayRef<double>> factors = getFrequencyFactors()) {
    if (static_cast<int64_t>(factors->size()) * 2 != rotary)
      return emitOpError() << "frequency_factors needs rotary_dim / 2 = " << rotary / 2
                           << " values, got " << factors->size();
    if (!llvm::all_of(*factors, [](double f) { return f > 0.0; }))
      return emitOpError() << "frequency_factors must be positive";
  }
  if (getMagnitude() && !(getMagnitude()->convertToDouble() > 0.0))
    return emitOpError() << "magnitude must be positive";
  return success();
}

LogicalResult RopeOp::verifySymbolUses(SymbolTableCollection &symbols) {
  if (!getNormWeightAttr())
    return success();
  return verifyWeight(*this, symbols, getNormWeightAttr(), "norm_weight", {getHeadDim()},
                      elementType(getInput()));
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  int64_t heads = getNumHeads(), kvHeads = getNumKvHeads(), headDim = getHeadDim();
  if (heads % kvHeads != 0)
    return emitOpError() << "num_kv_heads " << kvHeads << " does not divide num_heads " << heads;
  if (featureDim(getQuery()) != heads * headDim)
    return emitOpError() << "query has " << featureDim(getQuery())
                         << " features, expected num_heads * head_dim = " << heads * headDim;
  const int64_t valueDim = getValueDim();
  if (featureDim(getKey()) != kvHeads * headDim)
    return emitOpError() << "key needs num_kv_heads * head_dim = " << kvHeads * headDim
                         << " features, got " << featureDim(getKey());
  if (getValueInKey() && (getValue() != getKey() || !getValueHeadDim() || valueDim > headDim))
    return emitOpError() << "value_in_key needs the key as the value and a value_head_dim of "
                            "at most head_dim";
  if (!getValueInKey() && featureDim(getValue()) != kvHeads * valueDim)
    return emitOpError() << "value needs num_kv_heads * " << (getValueHeadDim() ? "value_head_dim" : "head_dim")
                         << " = " << kvHeads * valueDim << " features, got "
                         << featureDim(getValue());
  if (featureDim(getResult()) != heads * valueDim)
    return emitOpError() << "result has " << featureDim(getResult())
                         << " features, expected num_heads * "
                         << (getValueHeadDim() ? "value_head_dim" : "head_dim") << " = "
                         << heads * valueDim;
  if (!(getScale().convertToDouble() > 0.0))
    return emitOpError() << "scale must be positive";
  if (getLogitSoftcap() && !(getLogitSoftcap()->convertToDouble() > 0.0))
    return emitOpError() << "logit_softcap must be positive";
  if (getChunkSize() && getSlidingWindow())
    return emitOpError() << "chunk_size and sliding_window exclude each other";
  if (getBidirectional() && (getChunkSize() || getSlidingWindow()))
    return emitOpError() << "bidirectional excludes chunk_size and sliding_window";
  return success();
}

LogicalResult AttentionOp::verifySymbolUses(SymbolTableCollection &symbols) {
  if (!getSinksAttr())
    return success();
  return verifyWeight(*this, symbols, getSinksAttr(), "sinks", {getNumHeads()},
                      elementType(getQuery()));
}

//===----------------------------------------------------------------------===//
// CausalConv1dOp
//===----------------------------------------------------------------------===//

LogicalResult CausalConv1dOp::verify() {
  if (std::optional<StringRef> act = getActivation(); act && *act != "silu")
    return emitOpError() << "activation must be \"silu\" (or absent), got \"" << *act << "\"";
  if (getKernelSize() > 64)
    return emitOpError() << "kernel_size " << getKernelSize() << " is over 64";
  return success();
}

LogicalResult CausalConv1dOp::verifySymbolUses(SymbolTableCollection &symbols) {
  const int64_t c = featureDim(getInput());
  if (failed(verifyWeight(*this, symbols, getWeightAttr(), "weight",
                          {c, static_cast<int64_t>(getKernelSize())},
                          elementType(getInput()))))
    return failure();
  if (!getBiasAttr())
    return success();
  return verifyWeight(*this, symbols, getBiasAttr(), "bias", {c}, elementType(getInput()));
}

//===----------------------------------------------------------------------===//
// GatedDeltaRuleOp
//===----------------------------------------------------------------------===//

LogicalResult GatedDeltaRuleOp::verify() {
  const int64_t kh = getNumKHeads(), vh = getNumVHeads(), dk = getKeyHeadDim(),
                dv = getValueHeadDim();
  if (vh % kh != 0)
    return emitOpError() << "num_k_heads " << kh << " does not divide num_v_heads " << vh;
  if (featureDim(getQuery()) != kh * dk || featureDim(getKey()) != kh * dk)
    return emitOpError() << "query and key need num_k_heads * key_head_dim = " << kh * dk
                         << " features, got " << featureDim(getQuery()) << " and "
                         << featureDim(getKey());
  if (featureDim(getValue()) != vh * dv || featureDim(getResult()) != vh * dv)
    return emitOpError() << "value and result need num_v_heads * value_head_dim = " << vh * dv
                         << " features, got " << featureDim(getValue()) << " and "
                         << featureDim(getResult());
  if (featureDim(getA()) != vh || featureDim(getB()) != vh)
    return emitOpError() << "a and b need one feature per value head (" << vh << "), got "
                         << featureDim(getA()) << " and " << featureDim(getB());
  if (dk > 1024 || dv > 1024)
    return emitOpError() << "key_head_dim and value_head_dim must be at most 1024";
  return success();
}

LogicalResult GatedDeltaRuleOp::verifySymbolUses(SymbolTableCollection &symbols) {
  const Type t = elementType(getQuery());
  const int64_t heads = static_cast<int64_t>(getNumVHeads());
  if (failed(verifyWeight(*this, symbols, getALogAttr(), "a_log", {heads}, t)))
    return failure();
  return verifyWeight(*this, symbols, getDtBiasAttr(), "dt_bias", {heads}, t);
}

//===----------------------------------------------------------------------===//
// SsmScanOp
//===----------------------------------------------------------------------===//

LogicalResult SsmScanOp::verify() {
  const int64_t h = getNumHeads(), p = getHeadDim(), g = getNumGroups(), n = getStateSize();
  if (h % g != 0)
    return emitOpError() << "num_groups " << g << " does not divide num_heads " << h;
  if (featureDim(getInput()) != h * p || featureDim(getResult()) != h * p)
    return emitOpError() << "input and result need num_heads * head_dim = " << h * p
                         << " features, got " << featureDim(getInput()) << " and "
                         << featureDim(getResult());
  if (featureDim(getDt()) != h)
    return emitOpError() << "dt needs one feature per head (" << h << "), got "
                         << featureDim(getDt());
  if (featureDim(getB()) != g * n || featureDim(getC()) != g * n)
    return emitOpError() << "b and c need num_groups * state_size = " << g * n
                         << " features, got " << featureDim(getB()) << " and "
                         << featureDim(getC());
  if (p > 4096 || n > 4096)
    return emitOpError() << "head_dim and state_size must be at most 4096";
  return success();
}

LogicalResult SsmScanOp::verifySymbolUses(SymbolTableCollection &symbols) {
  const Type t = elementType(getInput());
  for (auto [ref, role] : {std::pair(getALogAttr(), "a_log"), std::pair(getDtBiasAttr(), "dt_bias"),
                           std::pair(getDAttr(), "d")})
    if (failed(verifyWeight(*this, symbols, ref, role, {static_cast<int64_t>(getNumHeads())}, t)))
      return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// ConcatOp
//===----------------------------------------------------------------------===//

LogicalResult ConcatOp::verify() {
  const int64_t heads = getNumHeads();
  if (getInputs().empty())
    return emitOpError() << "needs at least one input";
  ArrayRef<int64_t> shared = getShared().value_or(ArrayRef<int64_t>());
  for (auto [i, index] : llvm::enumerate(shared))
    if (index < 0 || index >= static_cast<int64_t>(getInputs().size()) ||
        (i > 0 && index <= shared[i - 1]))
      return emitOpError() << "shared must list input indices in increasing order, got "
                           << index;
  int64_t perHead = 0;
  for (auto [i, input] : llvm::enumerate(getInputs())) {
    const int64_t width = featureDim(input);
    if (llvm::is_contained(shared, static_cast<int64_t>(i))) {
      perHead += width;
    } else if (width % heads) {
      return emitOpError() << "input " << i << " has " << width
                           << " features, not a whole number of " << heads << " heads";
    } else {
      perHead += width / heads;
    }
  }
  if (featureDim(getResult()) != heads * perHead)
    return emitOpError() << "result has " << featureDim(getResult()) << " features, expected "
                         << heads << " heads of " << perHead;
  return success();
}

//===----------------------------------------------------------------------===//
// SplitOp
//===----------------------------------------------------------------------===//

LogicalResult SplitOp::verify() {
  if (getResults().empty())
    return emitOpError() << "needs at least one result";
  int64_t total = 0;
  for (Value result : getResults())
    total += featureDim(result);
  if (total != featureDim(getInput()))
    return emitOpError() << "result widths add up to " << total << ", but the input has "
                         << featureDim(getInput()) << " features";
  return success();
}
