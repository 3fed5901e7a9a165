#include "dialects/kern/IR/KernDialect.h"

#include "dialects/llm/IR/LlmDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace modelc::kern;

#include "dialects/kern/KernDialect.cpp.inc"
#include "dialects/kern/KernEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/kern/KernAttrs.cpp.inc"

#define GET_OP_CLASSES
#include "dialects/kern/KernOps.cpp.inc"

void KernDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/kern/KernOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/kern/KernAttrs.cpp.inc"
      >();
  getContext()->loadDialect<arith::ArithDialect, math::MathDialect>();
}

namespace {

int64_t width(Value activation) {
  return cast<RankedTensorType>(activation.getType()).getDimSize(1);
}
Type elementType(Value v) { return cast<RankedTensorType>(v.getType()).getElementType(); }

// The llm.weight named by `symbol`, checked to be `shape` (kDynamic matches anything).
FailureOr<modelc::llm::WeightOp> lookupWeight(Operation *user, SymbolTableCollection &symbols,
                                              SymbolRefAttr symbol, ArrayRef<int64_t> shape) {
  auto weight = symbols.lookupNearestSymbolFrom<modelc::llm::WeightOp>(user, symbol);
  if (!weight)
    return user->emitOpError() << symbol << " does not name an llm.weight";
  ArrayRef<int64_t> actual = weight.getTensorType().getShape();
  bool ok = actual.size() == shape.size();
  for (size_t i = 0; ok && i < shape.size(); ++i)
    ok = ShapedType::isDynamic(shape[i]) || actual[i] == shape[i];
  if (!ok)
    return user->emitOpError() << "weight " << symbol << " has type " << weight.getType()
                               << ", which does not fit this kernel";
  return weight;
}

} // namespace

LogicalResult ColumnsOp::verify() {
  if (elementType(getInput()) != elementType(getResult()))
    return emitOpError() << "cannot change the element type";
  if (static_cast<int64_t>(getOffset()) + width(getResult()) > width(getInput()))
    return emitOpError() << "columns [" << getOffset() << ", " << getOffset() + width(getResult())
                         << ") fall outside the " << width(getInput()) << " input columns";
  return success();
}

OpFoldResult ColumnsOp::fold(FoldAdaptor) {
  if (getOffset() == 0 && getInput().getType() == getResult().getType())
    return getInput();
  return {};
}

LogicalResult GemmOp::verifySymbolUses(SymbolTableCollection &symbols) {
  // Of each head: H blocks of [N, K] (or [K, N] with input_rows).
  const int64_t heads = static_cast<int64_t>(getNumHeads().value_or(1));
  if (width(getResult()) % heads || width(getInput()) % heads)
    return emitOpError() << "input and result features must split into " << heads << " heads";
  const int64_t n = width(getResult()) / heads, k = width(getInput()) / heads;
  if (failed(lookupWeight(*this, symbols, getWeightAttr(),
                          getInputRows() ? SmallVector<int64_t>{heads * k, n}
                                         : SmallVector<int64_t>{heads * n, k})))
    return failure();
  if (getBiasAttr() && failed(lookupWeight(*this, symbols, getBiasAttr(), {n})))
    return failure();
  return success();
}

LogicalResult MoeOp::verifySymbolUses(SymbolTableCollection &symbols) {
  const int64_t d = width(getInput()), e = static_cast<int64_t>(getNumExperts());
  FailureOr<modelc::llm::WeightOp> gate =
      lookupWeight(*this, symbols, getGateAttr(), {ShapedType::kDynamic, d});
  if (failed(gate))
    return failure();
  const int64_t rows = gate->getTensorType().getDimSize(0);
  if (rows % e || width(getRouterLogits()) != e || width(getResult()) != d)
    return emitOpError() << "does not fit " << e << " experts of " << d << " features";
  if (failed(lookupWeight(*this, symbols, getUpAttr(), {rows, d})) ||
      failed(lookupWeight(*this, symbols, getDownAttr(), {e * d, rows / e})))
    return failure();
  for (auto [bias, cols] : {std::pair(getGateBiasAttr(), rows / e),
                            std::pair(getUpBiasAttr(), rows / e), std::pair(getDownBiasAttr(), d)})
    if (bias && failed(lookupWeight(*this, symbols, bias, {e, cols})))
      return failure();
  if (getScoreBiasAttr() && failed(lookupWeight(*this, symbols, getScoreBiasAttr(), {e})))
    return failure();
  return success();
}

LogicalResult GatherRowsOp::verify() {
  if (bool(getSource()) == bool(getTableAttr()))
    return emitOpError() << "reads either a source activation or a table weight";
  if (getSource() && getSource().getType() != getResult().getType())
    return emitOpError() << "result type must match the source type";
  return success();
}

LogicalResult FusedOp::verify() {
  if (getResults().empty())
    return emitOpError() << "needs at least one result";
  int64_t w = getWidth();
  SmallVector<Value> activations(getInputs());
  llvm::append_range(activations, getResults());
  for (Value v : activations)
    if (width(v) != w)
      return emitOpError() << "every input and result must have " << w << " columns, got "
                           << v.getType();
  Block &body = getBody().front();
  size_t expectedArgs = getInputs().size() + getWeights().size();
  if (body.getNumArguments() != expectedArgs)
    return emitOpError() << "body takes " << body.getNumArguments()
                         << " arguments, expected one per input and weight (" << expectedArgs
                         << ")";
  for (auto [input, arg] : llvm::zip(getInputs(), body.getArguments()))
    if (arg.getType() != elementType(input))
      return emitOpError() << "body argument " << arg.getArgNumber() << " has type "
                           << arg.getType() << ", expected " << elementType(input);
  auto yield = dyn_cast<YieldOp>(body.getTerminator());
  if (!yield)
    return emitOpError() << "body must end with kern.yield";
  if (yield.getValues().size() != getResults().size())
    return emitOpError() << "yields " << yield.getValues().size() << " values for "
                         << getResults().size() << " results";
  for (auto [value, result] : llvm::zip(yield.getValues(), getResults()))
    if (value.getType() != elementType(result))
      return emitOpError() << "yields " << value.getType() << " for a result of "
                           << result.getType();
  return success();
}

LogicalResult FusedOp::verifySymbolUses(SymbolTableCollection &symbols) {
  Block &body = getBody().front();
  for (auto [i, attr] : llvm::enumerate(getWeights())) {
    FailureOr<modelc::llm::WeightOp> weight =
        lookupWeight(*this, symbols, cast<SymbolRefAttr>(attr), {getWidth()});
    if (failed(weight))
      return failure();
    Type argType = body.getArgument(getInputs().size() + i).getType();
    if (argType != weight->getTensorType().getElementType())
      return emitOpError() << "body argument for weight " << attr << " has type " << argType
                           << ", expected " << weight->getTensorType().getElementType();
  }
  return success();
}
