// RUN: modelc-opt %s -canonicalize -split-input-file | FileCheck %s

// A reduction over one rank is the identity.
// CHECK-LABEL: func.func @all_reduce_single_rank
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>)
// CHECK-NOT: llm.all_reduce
// CHECK: return %[[X]]
func.func @all_reduce_single_rank(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %y = llm.all_reduce %x {group_size = 1 : i64} : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// With several ranks the reduction stays.
// CHECK-LABEL: func.func @all_reduce_two_ranks
// CHECK: llm.all_reduce %{{.*}} {group_size = 2 : i64}
func.func @all_reduce_two_ranks(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %y = llm.all_reduce %x {group_size = 2 : i64} : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// CHECK-LABEL: func.func @split_one_piece
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>)
// CHECK-NOT: llm.split
// CHECK: return %[[X]]
func.func @split_one_piece(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %y = llm.split %x : tensor<?x8xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// A split of a split piece becomes one finer split of the original value.
// CHECK-LABEL: func.func @compose_splits
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>)
// CHECK: %[[S:.*]]:4 = llm.split %[[X]] : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x2xf32>, tensor<?x6xf32>, tensor<?x4xf32>
// CHECK-NOT: llm.split
// CHECK-NEXT: return %[[S]]#0, %[[S]]#1, %[[S]]#2, %[[S]]#3
func.func @compose_splits(%x: tensor<?x16xf32>)
    -> (tensor<?x4xf32>, tensor<?x2xf32>, tensor<?x6xf32>, tensor<?x4xf32>) {
  %a, %b, %c = llm.split %x : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x8xf32>, tensor<?x4xf32>
  %b0, %b1 = llm.split %b : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x6xf32>
  return %a, %b0, %b1, %c : tensor<?x4xf32>, tensor<?x2xf32>, tensor<?x6xf32>, tensor<?x4xf32>
}

// -----

// Pure ops whose results are unused disappear; attention (it writes the KV cache) and
// send (it feeds another stage) stay.
llm.weight @w : tensor<8x8xf32> = ["w"]
// CHECK-LABEL: func.func @dead_code
// CHECK-NOT: llm.linear
// CHECK-NOT: llm.silu
// CHECK: llm.attention
// CHECK: llm.send
func.func @dead_code(%x: tensor<?x8xf32>, %b: !llm.batch) {
  %y = llm.linear %x, @w : tensor<?x8xf32> -> tensor<?x8xf32>
  %z = llm.silu %y : tensor<?x8xf32>
  %a = llm.attention %x, %x, %x, %b {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f64} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32> -> tensor<?x8xf32>
  llm.send %x to 1 : tensor<?x8xf32>
  return
}

// -----

// When the piece is used elsewhere too, both splits stay.
// CHECK-LABEL: func.func @compose_splits_shared_piece
// CHECK-COUNT-2: llm.split
func.func @compose_splits_shared_piece(%x: tensor<?x16xf32>) -> (tensor<?x8xf32>, tensor<?x2xf32>) {
  %a, %b = llm.split %x : tensor<?x16xf32> -> tensor<?x8xf32>, tensor<?x8xf32>
  %b0, %b1 = llm.split %b : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x6xf32>
  return %b, %b0 : tensor<?x8xf32>, tensor<?x2xf32>
}
