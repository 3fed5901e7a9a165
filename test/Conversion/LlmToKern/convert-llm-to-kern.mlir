// RUN: modelc-opt %s -split-input-file -llm-fuse -convert-llm-to-kern | FileCheck %s
// RUN: modelc-opt %s -split-input-file -convert-llm-to-kern | FileCheck %s --check-prefix=UNFUSED

// Residual add + RMSNorm: one kernel with two results (the new residual stream and the
// normalized rows), a row reduction, the weight as the last body argument.
llm.weight @n : tensor<8xf32> = ["n"]
// CHECK-LABEL: func.func @add_norm
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[O:.*]]: tensor<?x8xf32>)
// CHECK: %[[F:.*]]:2 = kern.fused ins(%[[X]], %[[O]] : tensor<?x8xf32>, tensor<?x8xf32>) weights([@n]) -> tensor<?x8xf32>, tensor<?x8xf32> {
// CHECK: ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %[[W:.*]]: f32):
// CHECK:   %[[S:.*]] = arith.addf %[[A]], %[[B]] : f32
// CHECK:   %[[SQ:.*]] = arith.mulf %[[S]], %[[S]] : f32
// CHECK:   %[[SUM:.*]] = kern.reduce <add> %[[SQ]] : f32
// CHECK:   %[[MEAN:.*]] = arith.divf %[[SUM]], %{{.*}} : f32
// CHECK:   %[[VAR:.*]] = arith.addf %[[MEAN]], %{{.*}} : f32
// CHECK:   %[[INV:.*]] = math.rsqrt %[[VAR]] : f32
// CHECK:   %[[N:.*]] = arith.mulf %[[S]], %[[INV]] : f32
// CHECK:   %[[Y:.*]] = arith.mulf %[[N]], %[[W]] : f32
// CHECK:   kern.yield %[[S]], %[[Y]] : f32, f32
// CHECK: return %[[F]]#0, %[[F]]#1
// UNFUSED-LABEL: func.func @add_norm
// UNFUSED-COUNT-2: kern.fused
func.func @add_norm(%x: tensor<?x8xf32>, %o: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %r = llm.add %x, %o : tensor<?x8xf32>
  %h = llm.rms_norm %r, @n {eps = 1.0e-5 : f64} : tensor<?x8xf32>
  return %r, %h : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// A merged gate/up GEMM: the pieces are column views, SiLU and the product one kernel.
llm.weight @gu : tensor<32x8xf16> = ["g", "u"]
// CHECK-LABEL: func.func @gated_mlp
// CHECK: %[[GU:.*]] = kern.gemm %{{.*}}, @gu : tensor<?x8xf16> -> tensor<?x32xf16>
// CHECK-DAG: %[[G:.*]] = kern.columns %[[GU]][0] : tensor<?x32xf16> -> tensor<?x16xf16>
// CHECK-DAG: %[[U:.*]] = kern.columns %[[GU]][16] : tensor<?x32xf16> -> tensor<?x16xf16>
// CHECK: kern.fused ins(%[[G]], %[[U]] : tensor<?x16xf16>, tensor<?x16xf16>) weights([]) -> tensor<?x16xf16> {
// CHECK: ^bb0(%[[A:.*]]: f16, %[[B:.*]]: f16):
// CHECK:   %[[AF:.*]] = arith.extf %[[A]] : f16 to f32
// CHECK:   arith.negf %[[AF]]
// CHECK:   math.exp
// CHECK:   arith.divf %[[AF]]
// Each op's result is rounded to f16 as the unfused op would store it.
// CHECK:   arith.truncf {{.*}} : f32 to f16
// CHECK:   arith.mulf
// CHECK:   kern.yield {{.*}} : f16
func.func @gated_mlp(%x: tensor<?x8xf16>) -> tensor<?x16xf16> {
  %gu = llm.linear %x, @gu : tensor<?x8xf16> -> tensor<?x32xf16>
  %g, %u = llm.split %gu : tensor<?x32xf16> -> tensor<?x16xf16>, tensor<?x16xf16>
  %s = llm.silu %g : tensor<?x16xf16>
  %m = llm.mul %s, %u : tensor<?x16xf16>
  return %m : tensor<?x16xf16>
}

// -----

// LayerNorm (mean, centred variance) and the tanh GELU.
llm.weight @w : tensor<8xf32> = ["w"]
llm.weight @b : tensor<8xf32> = ["b"]
// CHECK-LABEL: func.func @layer_norm_gelu
// CHECK: kern.fused ins(%{{.*}} : tensor<?x8xf32>) weights([@w, @b])
// CHECK: %[[SUM:.*]] = kern.reduce <add> %{{.*}} : f32
// CHECK: %[[MEAN:.*]] = arith.divf %[[SUM]]
// CHECK: %[[C:.*]] = arith.subf %{{.*}}, %[[MEAN]] : f32
// CHECK: %[[C2:.*]] = arith.mulf %[[C]], %[[C]] : f32
// CHECK: kern.reduce <add> %[[C2]] : f32
// CHECK: math.rsqrt
// CHECK: math.tanh
// CHECK: kern.fused
// CHECK: math.erf
func.func @layer_norm_gelu(%x: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %h = llm.layer_norm %x, @w, @b {eps = 1.0e-5 : f64} : tensor<?x8xf32>
  %g = llm.gelu %h {approximation = #llm.gelu_approximation<tanh>} : tensor<?x8xf32>
  %e = llm.gelu %x {approximation = #llm.gelu_approximation<none>} : tensor<?x8xf32>
  return %g, %e : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// Cohere's LayerNorm: no bias, so nothing added after the weight.
llm.weight @w : tensor<8xf32> = ["w"]
// CHECK-LABEL: func.func @layer_norm_without_bias
// CHECK: kern.fused ins(%{{.*}} : tensor<?x8xf32>) weights([@w])
// CHECK: %[[INV:.*]] = math.rsqrt
// CHECK: %[[N:.*]] = arith.mulf %{{.*}}, %[[INV]] : f32
// CHECK-NEXT: %[[S:.*]] = arith.mulf %[[N]], %{{.*}} : f32
// CHECK-NEXT: kern.yield %[[S]] : f32
func.func @layer_norm_without_bias(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %h = llm.layer_norm %x, @w {eps = 1.0e-5 : f64} : tensor<?x8xf32>
  return %h : tensor<?x8xf32>
}

// -----

// Gemma: embeddings scaled by a constant rounded to the activation type (sqrt(64) = 8 is
// exact; 33.94 in bf16 is 34), and an RMSNorm whose weight is stored as w - 1: the body
// adds the offset to the weight in f32 before scaling. Both fuse into one kernel.
llm.weight @g : tensor<8xbf16> = ["g"]
// CHECK-LABEL: func.func @gemma_scale_norm
// CHECK: kern.fused ins(%{{.*}} : tensor<?x8xbf16>) weights([@g]) -> tensor<?x8xbf16>, tensor<?x8xbf16> {
// CHECK: ^bb0(%[[A:.*]]: bf16, %[[W:.*]]: bf16):
// CHECK: %[[AF:.*]] = arith.extf %[[A]] : bf16 to f32
// CHECK: %[[WF:.*]] = arith.extf %[[W]] : bf16 to f32
// CHECK: %[[C34:.*]] = arith.constant 3.400000e+01 : f32
// CHECK: %[[S:.*]] = arith.mulf %[[AF]], %[[C34]] : f32
// CHECK: math.rsqrt
// CHECK: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[W1:.*]] = arith.addf %[[ONE]], %[[WF]] : f32
// CHECK: arith.mulf %{{.*}}, %[[W1]] : f32
// UNFUSED-LABEL: func.func @gemma_scale_norm
// UNFUSED-COUNT-2: kern.fused
func.func @gemma_scale_norm(%x: tensor<?x8xbf16>) -> (tensor<?x8xbf16>, tensor<?x8xbf16>) {
  %s = llm.scale %x {factor = 33.941125496954278 : f64} : tensor<?x8xbf16>
  %h = llm.rms_norm %s, @g {eps = 1.0e-6 : f64, weight_offset = 1.0 : f64} : tensor<?x8xbf16>
  return %s, %h : tensor<?x8xbf16>, tensor<?x8xbf16>
}

// -----

// Granite: with f32_factor the factor stays an f32 constant (0.22), where a bf16 one would
// be 0.2197.
// CHECK-LABEL: func.func @granite_scale
// CHECK: arith.constant 2.200000e-01 : f32
// UNFUSED-LABEL: func.func @granite_scale
func.func @granite_scale(%x: tensor<?x8xbf16>) -> tensor<?x8xbf16> {
  %s = llm.scale %x {factor = 0.22 : f64, f32_factor} : tensor<?x8xbf16>
  return %s : tensor<?x8xbf16>
}


// -----

// A mixture of experts is one library kernel with llm.moe's weights and attributes; the
// router is a GEMM like any linear.
// CHECK-LABEL: func.func @experts
// CHECK: %[[L:.*]] = kern.gemm %[[X:.*]], @router : tensor<?x8xbf16> -> tensor<?x4xbf16>
// CHECK-NEXT: kern.moe %[[X]], %[[L]] experts(@eg, @eu, @ed) {normalize_top_k, num_experts = 4 : i64, round_weights, top_k = 2 : i64} : tensor<?x8xbf16>, tensor<?x4xbf16> -> tensor<?x8xbf16>
llm.weight @router : tensor<4x8xbf16> = ["r"]
llm.weight @eg : tensor<48x8xbf16> = ["eg"]
llm.weight @eu : tensor<48x8xbf16> = ["eu"]
llm.weight @ed : tensor<32x12xbf16> = ["ed"]
func.func @experts(%x: tensor<?x8xbf16>) -> tensor<?x8xbf16> {
  %l = llm.linear %x, @router : tensor<?x8xbf16> -> tensor<?x4xbf16>
  %y = llm.moe %x, %l experts(@eg, @eu, @ed) {num_experts = 4 : i64, top_k = 2 : i64, normalize_top_k, round_weights} : tensor<?x8xbf16>, tensor<?x4xbf16> -> tensor<?x8xbf16>
  return %y : tensor<?x8xbf16>
}

// -----

// The per-request convolution is a library kernel carrying its attributes; the gating
// multiplies around it stay generated code.
llm.weight @conv : tensor<8x3xf32> = ["conv"]
// CHECK-LABEL: func.func @short_conv
// CHECK: %[[G:.*]] = kern.fused
// CHECK: %[[C:.*]] = kern.causal_conv1d %[[G]] {kernel_size = 3 : i64, state = 2 : i64, weight = @conv} : tensor<?x8xf32>
// CHECK: kern.fused ins(%{{.*}}, %[[C]]
func.func @short_conv(%b: tensor<?x8xf32>, %x: tensor<?x8xf32>, %c: tensor<?x8xf32>, %batch: !llm.batch) -> tensor<?x8xf32> {
  %bx = llm.mul %b, %x : tensor<?x8xf32>
  %conv = llm.causal_conv1d %bx, %batch {state = 2 : i64, kernel_size = 3 : i64, weight = @conv} : tensor<?x8xf32> -> tensor<?x8xf32>
  %y = llm.mul %c, %conv : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// The gated delta rule is a library kernel too; the sigmoid of a gate fuses with the multiply
// it feeds.
llm.weight @al : tensor<4xf32> = ["A_log"]
llm.weight @dt : tensor<4xf32> = ["dt_bias"]
// CHECK-LABEL: func.func @gated_delta
// CHECK: %[[O:.*]] = kern.gated_delta_rule %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {a_log = @al, dt_bias = @dt, key_head_dim = 4 : i64, num_k_heads = 2 : i64, num_v_heads = 4 : i64, state = 0 : i64, value_head_dim = 2 : i64}
// CHECK: kern.fused ins(%{{.*}}, %[[O]] : tensor<?x8xf32>, tensor<?x8xf32>)
// CHECK: arith.divf
// CHECK: arith.mulf
func.func @gated_delta(%q: tensor<?x8xf32>, %v: tensor<?x8xf32>, %a: tensor<?x4xf32>, %g: tensor<?x8xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  %o = llm.gated_delta_rule %q, %q, %v, %a, %a, %b {state = 0 : i64, num_k_heads = 2 : i64, num_v_heads = 4 : i64, key_head_dim = 4 : i64, value_head_dim = 2 : i64, a_log = @al, dt_bias = @dt} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  %s = llm.sigmoid %g : tensor<?x8xf32>
  %y = llm.mul %o, %s : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Library kernels: embedding, attention (with its attributes), sampled rows, LM head in f32.
llm.weight @e : tensor<16x8xf16> = ["e"]
// CHECK-LABEL: func.func @library
// CHECK: %[[X:.*]] = kern.gather_rows @e[%{{.*}}] : tensor<?xi32> -> tensor<?x8xf16>
// CHECK: kern.rope %[[X]], %{{.*}} {head_dim = 4 : i64, num_heads = 2 : i64, rotary_dim = 4 : i64, theta = 1.000000e+04 : f64} : tensor<?x8xf16>, tensor<?xi32>
// CHECK: %[[A:.*]] = kern.attention %{{.*}}, %[[X]], %[[X]] {head_dim = 4 : i64, layer = 3 : i64, num_heads = 2 : i64, num_kv_heads = 2 : i64, scale = 5.000000e-01 : f64}
// CHECK: %[[R:.*]] = kern.gather_rows %[[A]] : tensor<?x8xf16>[%{{.*}}] : tensor<?xi32> -> tensor<?x8xf16>
// CHECK: kern.gemm %[[R]], @e : tensor<?x8xf16> -> tensor<?x16xf32>
// CHECK-NOT: llm.
func.func @library(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %b: !llm.batch, %rows: tensor<?xi32>) -> tensor<?x16xf32> {
  %x = llm.embedding %ids, @e : tensor<?xi32> -> tensor<?x8xf16>
  %q = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, rotary_dim = 4 : i64, theta = 1.0e4 : f64} : tensor<?x8xf16>, tensor<?xi32>
  %a = llm.attention %q, %x, %x, %b {layer = 3 : i64, num_heads = 2 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f64} : tensor<?x8xf16>, tensor<?x8xf16>, tensor<?x8xf16> -> tensor<?x8xf16>
  %r = llm.gather_tokens %a, %rows : tensor<?x8xf16>, tensor<?xi32>
  %l = llm.logits %r, @e : tensor<?x8xf16> -> tensor<?x16xf32>
  return %l : tensor<?x16xf32>
}


