// RUN: modelc-opt %s -llm-merge-linears -split-input-file | FileCheck %s
// RUN: modelc-opt %s -llm-merge-linears=min-group-size=4 -split-input-file | FileCheck %s --check-prefix=MIN4

// Q, K and V read the same normalized input: one GEMM over the concatenated weight.
llm.weight @l0.q_proj : tensor<8x8xf32> = ["model.layers.0.self_attn.q_proj.weight"]
llm.weight @l0.k_proj : tensor<4x8xf32> = ["model.layers.0.self_attn.k_proj.weight"]
llm.weight @l0.v_proj : tensor<4x8xf32> = ["model.layers.0.self_attn.v_proj.weight"]
// CHECK-NOT: llm.weight @l0.q_proj
// CHECK: llm.weight @l0.q_proj_k_proj_v_proj : tensor<16x8xf32> = ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight"]
// CHECK-LABEL: func.func @qkv
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>)
// CHECK: %[[M:.*]] = llm.linear %[[X]], @l0.q_proj_k_proj_v_proj : tensor<?x8xf32> -> tensor<?x16xf32>
// CHECK: %[[S:.*]]:3 = llm.split %[[M]] : tensor<?x16xf32> -> tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32>
// CHECK: return %[[S]]#0, %[[S]]#1, %[[S]]#2
// MIN4-LABEL: func.func @qkv
// MIN4-COUNT-3: llm.linear
func.func @qkv(%x: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32>) {
  %q = llm.linear %x, @l0.q_proj : tensor<?x8xf32> -> tensor<?x8xf32>
  %k = llm.linear %x, @l0.k_proj : tensor<?x8xf32> -> tensor<?x4xf32>
  %v = llm.linear %x, @l0.v_proj : tensor<?x8xf32> -> tensor<?x4xf32>
  return %q, %k, %v : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

// Biases are merged along with the weights (Qwen2's QKV bias).
llm.weight @q : tensor<8x8xf32> = ["q.weight"]
llm.weight @k : tensor<4x8xf32> = ["k.weight"]
llm.weight @qb : tensor<8xf32> = ["q.bias"]
llm.weight @kb : tensor<4xf32> = ["k.bias"]
// CHECK: llm.weight @[[W:.*]] : tensor<12x8xf32> = ["q.weight", "k.weight"]
// CHECK: llm.weight @[[B:.*]] : tensor<12xf32> = ["q.bias", "k.bias"]
// CHECK-LABEL: func.func @with_bias
// CHECK: llm.linear %{{.*}}, @[[W]] bias @[[B]] : tensor<?x8xf32> -> tensor<?x12xf32>
func.func @with_bias(%x: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x4xf32>) {
  %q = llm.linear %x, @q bias @qb : tensor<?x8xf32> -> tensor<?x8xf32>
  %k = llm.linear %x, @k bias @kb : tensor<?x8xf32> -> tensor<?x4xf32>
  return %q, %k : tensor<?x8xf32>, tensor<?x4xf32>
}

// -----

// A linear with a bias and one without do not share a GEMM; neither do different inputs.
llm.weight @a : tensor<8x8xf32> = ["a"]
llm.weight @b : tensor<8x8xf32> = ["b"]
llm.weight @bias : tensor<8xf32> = ["bias"]
// CHECK-LABEL: func.func @no_merge
// CHECK-NOT: llm.split
// CHECK-COUNT-3: llm.linear
// CHECK-NOT: llm.split
func.func @no_merge(%x: tensor<?x8xf32>, %y: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %p = llm.linear %x, @a bias @bias : tensor<?x8xf32> -> tensor<?x8xf32>
  %q = llm.linear %x, @b : tensor<?x8xf32> -> tensor<?x8xf32>
  %r = llm.linear %y, @a : tensor<?x8xf32> -> tensor<?x8xf32>
  return %p, %q, %r : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// A weight still used elsewhere is kept; transposed (Conv1D) weights merge with each other.
llm.weight @g : tensor<16x8xf32> = ["gate"] transposed
llm.weight @u : tensor<16x8xf32> = ["up"] transposed
// CHECK: llm.weight @g : tensor<16x8xf32> = ["gate"] transposed
// CHECK: llm.weight @g_u : tensor<32x8xf32> = ["gate", "up"] transposed
// CHECK-LABEL: func.func @gate_up
// CHECK: llm.linear %{{.*}}, @g_u : tensor<?x8xf32> -> tensor<?x32xf32>
// CHECK: llm.linear %{{.*}}, @g : tensor<?x8xf32> -> tensor<?x16xf32>
func.func @gate_up(%x: tensor<?x8xf32>, %y: tensor<?x8xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>) {
  %g = llm.linear %x, @g : tensor<?x8xf32> -> tensor<?x16xf32>
  %u = llm.linear %x, @u : tensor<?x8xf32> -> tensor<?x16xf32>
  %o = llm.linear %y, @g : tensor<?x8xf32> -> tensor<?x16xf32>
  return %g, %u, %o : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// Shards (llm-partition runs first) keep their slices in the merged weight.
llm.weight @sq : tensor<4x8xf32> = ["q.weight"] slices [array<i64: 0, 4, 4>]
llm.weight @sk : tensor<2x8xf32> = ["k.weight"] slices [array<i64: 0, 2, 2>]
// CHECK: llm.weight @sq_sk : tensor<6x8xf32> = ["q.weight", "k.weight"] slices [array<i64: 0, 4, 4>, array<i64: 0, 2, 2>]
// CHECK-LABEL: func.func @shards
func.func @shards(%x: tensor<?x8xf32>) -> (tensor<?x4xf32>, tensor<?x2xf32>) {
  %q = llm.linear %x, @sq : tensor<?x8xf32> -> tensor<?x4xf32>
  %k = llm.linear %x, @sk : tensor<?x8xf32> -> tensor<?x2xf32>
  return %q, %k : tensor<?x4xf32>, tensor<?x2xf32>
}

// -----

// Weights merge only within one storage type (a GGUF file's block type, kept by the plan):
// Q and K (Q4_K) become one GEMM whose weight keeps the type; V (Q6_K) stays on its own.
llm.weight @sq : tensor<8x8xf32> = ["q.weight"] storage "Q4_K"
llm.weight @sk : tensor<4x8xf32> = ["k.weight"] storage "Q4_K"
llm.weight @sv : tensor<4x8xf32> = ["v.weight"] storage "Q6_K"
// CHECK-DAG: llm.weight @[[QK:.*]] : tensor<12x8xf32> = ["q.weight", "k.weight"] storage "Q4_K"
// CHECK-DAG: llm.weight @sv : tensor<4x8xf32> = ["v.weight"] storage "Q6_K"
// CHECK-LABEL: func.func @mixed_storage
// CHECK: llm.linear %{{.*}}, @[[QK]] : tensor<?x8xf32> -> tensor<?x12xf32>
// CHECK: llm.linear %{{.*}}, @sv : tensor<?x8xf32> -> tensor<?x4xf32>
func.func @mixed_storage(%x: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32>) {
  %q = llm.linear %x, @sq : tensor<?x8xf32> -> tensor<?x8xf32>
  %k = llm.linear %x, @sk : tensor<?x8xf32> -> tensor<?x4xf32>
  %v = llm.linear %x, @sv : tensor<?x8xf32> -> tensor<?x4xf32>
  return %q, %k, %v : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32>
}
