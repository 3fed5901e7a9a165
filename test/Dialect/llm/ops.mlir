// RUN: modelc-opt %s | FileCheck %s
// RUN: modelc-opt %s | modelc-opt | FileCheck %s
// RUN: modelc-opt -mlir-print-op-generic %s | modelc-opt | FileCheck %s

// A tensor-parallel shard: rows 8-15 of one source, all of another.
// CHECK: llm.weight @shard : tensor<12x8xf32> = ["a", "b"] slices [array<i64: 0, 8, 8>, array<i64>]
llm.weight @shard : tensor<12x8xf32> = ["a", "b"] slices [array<i64: 0, 8, 8>, array<i64>]

// CHECK-LABEL: llm.weight @embed : tensor<32x8xf32> = ["model.embed_tokens.weight"]
llm.weight @embed : tensor<32x8xf32> = ["model.embed_tokens.weight"]
// CHECK: llm.weight @norm : tensor<8xf32> = ["model.norm.weight"]
llm.weight @norm : tensor<8xf32> = ["model.norm.weight"]
// CHECK: llm.weight @norm_bias : tensor<8xf32> = ["ln.bias"]
llm.weight @norm_bias : tensor<8xf32> = ["ln.bias"]
// CHECK: llm.weight @qkv : tensor<16x8xf32> = ["q.weight", "k.weight", "v.weight"]
llm.weight @qkv : tensor<16x8xf32> = ["q.weight", "k.weight", "v.weight"]
// CHECK: llm.weight @qkv_bias : tensor<16xf32> = ["q.bias", "k.bias", "v.bias"]
llm.weight @qkv_bias : tensor<16xf32> = ["q.bias", "k.bias", "v.bias"]
// CHECK: llm.weight @c_fc : tensor<8x8xf32> = ["h.0.mlp.c_fc.weight"] transposed
llm.weight @c_fc : tensor<8x8xf32> = ["h.0.mlp.c_fc.weight"] transposed
// CHECK: llm.weight @k_norm : tensor<4xf32> = ["k_norm.weight"]
llm.weight @k_norm : tensor<4xf32> = ["k_norm.weight"]

// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%[[IDS:.*]]: tensor<?xi32>, %[[POS:.*]]: tensor<?xi32>, %[[BATCH:.*]]: !llm.batch, %[[ROWS:.*]]: tensor<?xi32>)
func.func @forward(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %batch: !llm.batch,
                   %rows: tensor<?xi32>) -> tensor<?x32xf32> {
  // CHECK: %[[X:.*]] = llm.embedding %[[IDS]], @embed : tensor<?xi32> -> tensor<?x8xf32>
  %x = llm.embedding %ids, @embed : tensor<?xi32> -> tensor<?x8xf32>
  // CHECK: llm.rms_norm %[[X]], @norm {eps = 1.000000e-05 : f64} : tensor<?x8xf32>
  %h = llm.rms_norm %x, @norm {eps = 1.0e-5 : f64} : tensor<?x8xf32>
  // CHECK: llm.layer_norm %[[X]], @norm, @norm_bias {eps = 1.000000e-05 : f64} : tensor<?x8xf32>
  %ln = llm.layer_norm %x, @norm, @norm_bias {eps = 1.0e-5 : f64} : tensor<?x8xf32>
  // Cohere's: no bias.
  // CHECK: llm.layer_norm %[[X]], @norm {eps = 1.000000e-05 : f64} : tensor<?x8xf32>
  %lnc = llm.layer_norm %x, @norm {eps = 1.0e-5 : f64} : tensor<?x8xf32>
  // BERT's token type 0, added to every row.
  // CHECK: llm.bias_add %[[X]], @norm_bias : tensor<?x8xf32>
  %typed = llm.bias_add %x, @norm_bias : tensor<?x8xf32>
  // CHECK: llm.linear %{{.*}}, @qkv bias @qkv_bias : tensor<?x8xf32> -> tensor<?x16xf32>
  %qkv = llm.linear %h, @qkv bias @qkv_bias : tensor<?x8xf32> -> tensor<?x16xf32>
  // CHECK: llm.split %{{.*}} : tensor<?x16xf32> -> tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32>
  %q, %k, %v = llm.split %qkv : tensor<?x16xf32> -> tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32>
  // CHECK: llm.rope %{{.*}}, %[[POS]] {head_dim = 4 : i64, num_heads = 2 : i64, rotary_dim = 4 : i64, scaling = #llm.llama3_scaling<factor = 8.000000e+00, low_freq_factor = 1.000000e+00, high_freq_factor = 4.000000e+00, original_max_position = 8192>, theta = 5.000000e+05 : f64} : tensor<?x8xf32>, tensor<?xi32>
  %qr = llm.rope %q, %pos {num_heads = 2 : i64, head_dim = 4 : i64, rotary_dim = 4 : i64,
                           theta = 500000.0 : f64,
                           scaling = #llm.llama3_scaling<factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position = 8192>} : tensor<?x8xf32>, tensor<?xi32>
  // CHECK: llm.rope %{{.*}}, %[[POS]] {head_dim = 4 : i64, interleaved, num_heads = 1 : i64, rotary_dim = 2 : i64, theta = 1.000000e+04 : f64} : tensor<?x4xf32>, tensor<?xi32>
  %kr0 = llm.rope %k, %pos {num_heads = 1 : i64, head_dim = 4 : i64, rotary_dim = 2 : i64,
                           theta = 10000.0 : f64, interleaved} : tensor<?x4xf32>, tensor<?xi32>
  // Qwen3: each head RMS-normalized (weight [head_dim]) before the rotation.
  // CHECK: llm.rope %{{.*}}, %[[POS]] {head_dim = 4 : i64, norm_eps = 9.9999999999999995E-7 : f64, norm_weight = @k_norm, num_heads = 1 : i64, rotary_dim = 4 : i64, theta = 1.000000e+06 : f64} : tensor<?x4xf32>, tensor<?xi32>
  %kr = llm.rope %kr0, %pos {num_heads = 1 : i64, head_dim = 4 : i64, rotary_dim = 4 : i64,
                            theta = 1000000.0 : f64, norm_weight = @k_norm, norm_eps = 1.0e-6 : f64}
        : tensor<?x4xf32>, tensor<?xi32>
  // CHECK: llm.attention %{{.*}}, %{{.*}}, %{{.*}}, %[[BATCH]] {head_dim = 4 : i64, layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, scale = 5.000000e-01 : f64, sliding_window = 4096 : i64} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  %a = llm.attention %qr, %kr, %v, %batch {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64,
                                           head_dim = 4 : i64, scale = 0.5 : f64, sliding_window = 4096 : i64}
       : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  // An encoder's: every position of the request, after the query's too.
  // CHECK: llm.attention %{{.*}}, %{{.*}}, %{{.*}}, %[[BATCH]] {bidirectional, head_dim = 4 : i64, layer = 1 : i64
  %enc = llm.attention %qr, %kr, %v, %batch {layer = 1 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64,
                                             head_dim = 4 : i64, scale = 0.5 : f64, bidirectional}
       : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  // CHECK: llm.linear %{{.*}}, @c_fc : tensor<?x8xf32> -> tensor<?x8xf32>
  %f = llm.linear %a, @c_fc : tensor<?x8xf32> -> tensor<?x8xf32>
  // CHECK: llm.silu %{{.*}} : tensor<?x8xf32>
  %s = llm.silu %f : tensor<?x8xf32>
  // CHECK: llm.gelu %{{.*}} {approximation = #llm.gelu_approximation<tanh>} : tensor<?x8xf32>
  %g = llm.gelu %s {approximation = #llm.gelu_approximation<tanh>} : tensor<?x8xf32>
  // CHECK: llm.gelu %{{.*}} {approximation = #llm.gelu_approximation<none>} : tensor<?x8xf32>
  %g2 = llm.gelu %g {approximation = #llm.gelu_approximation<none>} : tensor<?x8xf32>
  // CHECK: llm.mul %{{.*}}, %{{.*}} : tensor<?x8xf32>
  %m = llm.mul %g2, %ln : tensor<?x8xf32>
  // CHECK: llm.add %[[X]], %{{.*}} : tensor<?x8xf32>
  %r = llm.add %x, %m : tensor<?x8xf32>
  // CHECK: llm.all_reduce %{{.*}} {group_size = 2 : i64} : tensor<?x8xf32>
  %ar = llm.all_reduce %r {group_size = 2 : i64} : tensor<?x8xf32>
  // CHECK: llm.all_gather %{{.*}} {group_size = 2 : i64} : tensor<?x8xf32> -> tensor<?x16xf32>
  %ag = llm.all_gather %ar {group_size = 2 : i64} : tensor<?x8xf32> -> tensor<?x16xf32>
  // CHECK: llm.embedding %{{.*}}, @embed {vocab_offset = 16 : i64}
  %shard = llm.embedding %rows, @embed {vocab_offset = 16 : i64} : tensor<?xi32> -> tensor<?x8xf32>
  // CHECK: llm.send %{{.*}} to 1 : tensor<?x8xf32>
  llm.send %ar to 1 : tensor<?x8xf32>
  // CHECK: llm.recv %[[BATCH]] from 0 : tensor<?x8xf32>
  %rv = llm.recv %batch from 0 : tensor<?x8xf32>
  // CHECK: llm.gather_tokens %{{.*}}, %[[ROWS]] : tensor<?x8xf32>, tensor<?xi32>
  %sel = llm.gather_tokens %rv, %rows : tensor<?x8xf32>, tensor<?xi32>
  // CHECK: llm.logits %{{.*}}, @embed : tensor<?x8xf32> -> tensor<?x32xf32>
  %logits = llm.logits %sel, @embed : tensor<?x8xf32> -> tensor<?x32xf32>
  return %logits : tensor<?x32xf32>
}

// f16 and bf16 activations are first-class; logits stay f32.
llm.weight @w16 : tensor<8x8xf16> = ["w"]
llm.weight @lm16 : tensor<32x8xf16> = ["lm_head.weight"]
// CHECK-LABEL: func.func @half
func.func @half(%x: tensor<?x8xf16>) -> tensor<?x32xf32> {
  // CHECK: llm.linear %{{.*}}, @w16 : tensor<?x8xf16> -> tensor<?x8xf16>
  %y = llm.linear %x, @w16 : tensor<?x8xf16> -> tensor<?x8xf16>
  // CHECK: llm.logits %{{.*}}, @lm16 : tensor<?x8xf16> -> tensor<?x32xf32>
  %l = llm.logits %y, @lm16 : tensor<?x8xf16> -> tensor<?x32xf32>
  return %l : tensor<?x32xf32>
}

// gpt-oss: a weight that is every other row of each transposed expert matrix of a stack
// (stride), attention sinks, and experts with biases and the clamped SwiGLU.
// CHECK: llm.weight @go.gate : tensor<64x16xf32> = ["gate_up_proj"] transposed slices [array<i64: 0, 0, 64>] stride 2
// CHECK: llm.weight @go.gbias : tensor<2x32xf32> = ["gate_up_proj_bias"] slices [array<i64: 1, 0, 32>] stride 2
llm.weight @go.gate : tensor<64x16xf32> = ["gate_up_proj"] transposed slices [array<i64: 0, 0, 64>] stride 2
llm.weight @go.up : tensor<64x16xf32> = ["gate_up_proj"] transposed slices [array<i64: 0, 1, 64>] stride 2
llm.weight @go.down : tensor<32x32xf32> = ["down_proj"] transposed
llm.weight @go.gbias : tensor<2x32xf32> = ["gate_up_proj_bias"] slices [array<i64: 1, 0, 32>] stride 2
llm.weight @go.dbias : tensor<2x16xf32> = ["down_proj_bias"]
llm.weight @go.sinks : tensor<2xf32> = ["sinks"]
// CHECK-LABEL: func.func @gpt_oss
func.func @gpt_oss(%x: tensor<?x16xf32>, %r: tensor<?x2xf32>, %q: tensor<?x8xf32>, %kv: tensor<?x4xf32>, %b: !llm.batch) -> (tensor<?x16xf32>, tensor<?x8xf32>) {
  // CHECK: llm.moe %{{.*}}, %{{.*}} experts(@go.gate, @go.up, @go.down) {down_bias = @go.dbias, gate_bias = @go.gbias, normalize_top_k, num_experts = 2 : i64, swiglu_alpha = 1.702000e+00 : f64, swiglu_limit = 7.000000e+00 : f64, top_k = 1 : i64}
  %y = llm.moe %x, %r experts(@go.gate, @go.up, @go.down) {num_experts = 2 : i64, top_k = 1 : i64, normalize_top_k, gate_bias = @go.gbias, down_bias = @go.dbias, swiglu_alpha = 1.702 : f64, swiglu_limit = 7.0 : f64} : tensor<?x16xf32>, tensor<?x2xf32> -> tensor<?x16xf32>
  // CHECK: llm.attention {{.*}}sinks = @go.sinks
  %a = llm.attention %q, %kv, %kv, %b {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64, scale = 0.5 : f64, sinks = @go.sinks} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %y, %a : tensor<?x16xf32>, tensor<?x8xf32>
}

// A short convolution (LFM2's): B x convolved per feature over the request's last 3 tokens,
// whose window is its recurrent state 0; with a bias and SiLU (Mamba 2's).
llm.weight @sc.conv : tensor<8x3xf32> = ["conv.weight"]
llm.weight @sc.bias : tensor<8xf32> = ["conv.bias"]
// CHECK-LABEL: func.func @short_conv
func.func @short_conv(%x: tensor<?x8xf32>, %batch: !llm.batch) -> tensor<?x8xf32> {
  // CHECK: llm.causal_conv1d %{{.*}}, %{{.*}} {kernel_size = 3 : i64, state = 0 : i64, weight = @sc.conv} : tensor<?x8xf32> -> tensor<?x8xf32>
  %c = llm.causal_conv1d %x, %batch {state = 0 : i64, kernel_size = 3 : i64, weight = @sc.conv} : tensor<?x8xf32> -> tensor<?x8xf32>
  // CHECK: llm.causal_conv1d {{.*}}activation = "silu", bias = @sc.bias
  %d = llm.causal_conv1d %c, %batch {state = 1 : i64, kernel_size = 3 : i64, weight = @sc.conv, bias = @sc.bias, activation = "silu"} : tensor<?x8xf32> -> tensor<?x8xf32>
  return %d : tensor<?x8xf32>
}

// Gated DeltaNet's recurrence (Qwen3.5's linear attention): 2 query/key heads of 4, 4 value
// heads of 2, its state matrices the request's recurrent state 2; the gated attention's
// sigmoid.
llm.weight @gdn.a_log : tensor<4xf32> = ["A_log"]
llm.weight @gdn.dt_bias : tensor<4xf32> = ["dt_bias"]
// CHECK-LABEL: func.func @gated_delta
func.func @gated_delta(%q: tensor<?x8xf32>, %k: tensor<?x8xf32>, %v: tensor<?x8xf32>, %a: tensor<?x4xf32>, %b: tensor<?x4xf32>, %batch: !llm.batch) -> tensor<?x8xf32> {
  // CHECK: llm.gated_delta_rule %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {a_log = @gdn.a_log, dt_bias = @gdn.dt_bias, key_head_dim = 4 : i64, num_k_heads = 2 : i64, num_v_heads = 4 : i64, state = 2 : i64, value_head_dim = 2 : i64} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  %o = llm.gated_delta_rule %q, %k, %v, %a, %b, %batch {state = 2 : i64, num_k_heads = 2 : i64, num_v_heads = 4 : i64, key_head_dim = 4 : i64, value_head_dim = 2 : i64, a_log = @gdn.a_log, dt_bias = @gdn.dt_bias} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  // CHECK: llm.sigmoid %{{.*}} : tensor<?x8xf32>
  %s = llm.sigmoid %o : tensor<?x8xf32>
  return %s : tensor<?x8xf32>
}

// Mamba 2's selective scan: 4 heads of 2 over 3 states in 2 groups, its state matrices the
// request's recurrent state 1.
llm.weight @ssm.a_log : tensor<4xf32> = ["A_log"]
llm.weight @ssm.dt_bias : tensor<4xf32> = ["dt_bias"]
llm.weight @ssm.d : tensor<4xf32> = ["D"]
// CHECK-LABEL: func.func @ssm
func.func @ssm(%x: tensor<?x8xf32>, %dt: tensor<?x4xf32>, %bc: tensor<?x6xf32>, %batch: !llm.batch) -> tensor<?x8xf32> {
  // CHECK: llm.ssm_scan %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {a_log = @ssm.a_log, d = @ssm.d, dt_bias = @ssm.dt_bias, head_dim = 2 : i64, num_groups = 2 : i64, num_heads = 4 : i64, state = 1 : i64, state_size = 3 : i64} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x6xf32>, tensor<?x6xf32> -> tensor<?x8xf32>
  %y = llm.ssm_scan %x, %dt, %bc, %bc, %batch {state = 1 : i64, num_heads = 4 : i64, head_dim = 2 : i64, num_groups = 2 : i64, state_size = 3 : i64, a_log = @ssm.a_log, dt_bias = @ssm.dt_bias, d = @ssm.d} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x6xf32>, tensor<?x6xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
