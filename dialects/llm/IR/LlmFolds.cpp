// Folds and canonicalization patterns of the llm dialect.
#include "dialects/llm/IR/LlmDialect.h"

#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace modelc::llm;

// A reduction over a group of one rank is the identity (tensor parallelism of 1).
OpFoldResult AllReduceOp::fold(FoldAdaptor) {
  if (getGroupSize() == 1)
    return getInput();
  return {};
}

// Splitting into a single piece is the identity.
LogicalResult SplitOp::fold(FoldAdaptor, SmallVectorImpl<OpFoldResult> &results) {
  if (getNumResults() != 1)
    return failure();
  results.push_back(getInput());
  return success();
}

namespace {

// split(split(x)#i) -> the matching pieces of one finer split(x): one op reads x once.
struct ComposeSplits : public OpRewritePattern<SplitOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SplitOp op, PatternRewriter &rewriter) const override {
    auto producer = op.getInput().getDefiningOp<SplitOp>();
    if (!producer)
      return failure();
    unsigned piece = cast<OpResult>(op.getInput()).getResultNumber();

    SmallVector<Type> types;
    for (unsigned i = 0; i < piece; ++i)
      types.push_back(producer.getResult(i).getType());
    llvm::append_range(types, op.getResultTypes());
    for (unsigned i = piece + 1; i < producer.getNumResults(); ++i)
      types.push_back(producer.getResult(i).getType());

    auto finer = rewriter.create<SplitOp>(op.getLoc(), types, producer.getInput());
    rewriter.replaceOp(op, finer.getResults().slice(piece, op.getNumResults()));
    return success();
  }
};

} // namespace

void SplitOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *context) {
  results.add<ComposeSplits>(context);
}
