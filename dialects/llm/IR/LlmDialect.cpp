#include "dialects/llm/IR/LlmDialect.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace modelc::llm;

#include "dialects/llm/LlmDialect.cpp.inc"
#include "dialects/llm/LlmEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/llm/LlmAttrs.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/llm/LlmTypes.cpp.inc"

void LlmDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/llm/LlmOps.cpp.inc"
      >();
  registerTypes();
  registerAttributes();
}

void LlmDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "dialects/llm/LlmTypes.cpp.inc"
      >();
}

void LlmDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/llm/LlmAttrs.cpp.inc"
      >();
}

LogicalResult Llama3RopeScalingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                            APFloat factorValue, APFloat lowValue,
                                            APFloat highValue, int64_t originalMaxPosition) {
  double factor = factorValue.convertToDouble(), lowFreqFactor = lowValue.convertToDouble(),
         highFreqFactor = highValue.convertToDouble();
  if (!(factor >= 1.0))
    return emitError() << "llama3 rope scaling factor must be >= 1, got " << factor;
  if (!(lowFreqFactor > 0.0) || !(highFreqFactor >= lowFreqFactor))
    return emitError() << "llama3 rope scaling needs 0 < low_freq_factor <= high_freq_factor, got "
                       << lowFreqFactor << " and " << highFreqFactor;
  if (originalMaxPosition <= 0)
    return emitError() << "llama3 rope scaling original_max_position must be positive";
  return success();
}
