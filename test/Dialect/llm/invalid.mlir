// RUN: modelc-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{weight must have a float element type}}
llm.weight @w : tensor<4x4xi32> = ["w"]

// -----

// expected-error @+1 {{weight must be rank 1 or 2}}
llm.weight @w : tensor<2x4x4xf32> = ["w"]

// -----

// expected-error @+1 {{weight needs at least one source tensor}}
llm.weight @w : tensor<4x4xf32> = []

// -----

// expected-error @+1 {{source tensor names must not be empty}}
llm.weight @w : tensor<4x4xf32> = [""]

// -----

// expected-error @+1 {{needs one slice per source, got 1 for 2 sources}}
llm.weight @w : tensor<4x4xf32> = ["a", "b"] slices [array<i64: 0, 0, 2>]

// -----

// expected-error @+1 {{slice 0 must be [dim, offset, size, ...], got 2 values}}
llm.weight @w : tensor<4x4xf32> = ["a"] slices [array<i64: 0, 2>]

// -----

// expected-error @+1 {{slice 0 cuts dimension 2 of a rank-2 weight}}
llm.weight @w : tensor<4x4xf32> = ["a"] slices [array<i64: 2, 0, 4>]

// -----

// expected-error @+1 {{slice 0 needs offsets >= 0 and sizes > 0, got offset 0 size 0}}
llm.weight @w : tensor<4x4xf32> = ["a"] slices [array<i64: 0, 0, 0>]

// -----

// expected-error @+1 {{slice 0 keeps 3 of dimension 1, which the weight declares as 4}}
llm.weight @w : tensor<4x4xf32> = ["a"] slices [array<i64: 1, 0, 2, 5, 1>]

// -----

// expected-error @+1 {{only rank-2 weights can be transposed}}
llm.weight @w : tensor<4xf32> = ["w"] transposed

// -----

func.func @weight_outside_module() {
  // expected-error @+1 {{expects parent op 'builtin.module'}}
  "llm.weight"() <{sym_name = "w", type = tensor<4xf32>, sources = ["w"]}> : () -> ()
  return
}

// -----

func.func @missing_weight(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{weight @nope does not name an llm.weight}}
  %y = llm.linear %x, @nope : tensor<?x4xf32> -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

llm.weight @w : tensor<8x4xf32> = ["w"]
func.func @linear_weight_shape(%x: tensor<?x4xf32>) -> tensor<?x6xf32> {
  // expected-error @+1 {{weight @w has type 'tensor<8x4xf32>', expected shape [6, 4] of 'f32'}}
  %y = llm.linear %x, @w : tensor<?x4xf32> -> tensor<?x6xf32>
  return %y : tensor<?x6xf32>
}

// -----

llm.weight @w : tensor<6x4xf16> = ["w"]
func.func @linear_weight_dtype(%x: tensor<?x4xf32>) -> tensor<?x6xf32> {
  // expected-error @+1 {{weight @w has type 'tensor<6x4xf16>', expected shape [6, 4] of 'f32'}}
  %y = llm.linear %x, @w : tensor<?x4xf32> -> tensor<?x6xf32>
  return %y : tensor<?x6xf32>
}

// -----

llm.weight @w : tensor<6x4xf32> = ["w"]
llm.weight @b : tensor<4xf32> = ["b"]
func.func @linear_bias_shape(%x: tensor<?x4xf32>) -> tensor<?x6xf32> {
  // expected-error @+1 {{bias @b has type 'tensor<4xf32>', expected shape [6] of 'f32'}}
  %y = llm.linear %x, @w bias @b : tensor<?x4xf32> -> tensor<?x6xf32>
  return %y : tensor<?x6xf32>
}

// -----

llm.weight @w : tensor<6x4xf32> = ["w"]
func.func @linear_mixed_types(%x: tensor<?x4xf32>) -> tensor<?x6xf16> {
  // expected-error @+1 {{mixes activation element types 'f32' and 'f16'}}
  %y = llm.linear %x, @w : tensor<?x4xf32> -> tensor<?x6xf16>
  return %y : tensor<?x6xf16>
}

// -----

func.func @static_token_dim(%x: tensor<4x4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{operand #0 must be activation tensor<?xDxfloat>}}
  %y = llm.silu %x : tensor<4x4xf32>
  return %y : tensor<4x4xf32>
}

// -----

llm.weight @t : tensor<32x8xf32> = ["t"]
func.func @embedding_width(%ids: tensor<?xi32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{table @t has type 'tensor<32x8xf32>', expected shape [?, 4] of 'f32'}}
  %x = llm.embedding %ids, @t : tensor<?xi32> -> tensor<?x4xf32>
  return %x : tensor<?x4xf32>
}

// -----

llm.weight @t : tensor<32x8xf32> = ["t"]
func.func @embedding_ids(%ids: tensor<?xi64>) -> tensor<?x8xf32> {
  // expected-error @+1 {{operand #0 must be token vector tensor<?xi32>}}
  %x = llm.embedding %ids, @t : tensor<?xi64> -> tensor<?x8xf32>
  return %x : tensor<?x8xf32>
}

// -----

llm.weight @n : tensor<8xf32> = ["n"]
func.func @rms_norm_eps(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{eps must be positive}}
  %y = llm.rms_norm %x, @n {eps = 0.0 : f64} : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @n : tensor<4xf32> = ["n"]
func.func @rms_norm_weight(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{weight @n has type 'tensor<4xf32>', expected shape [8] of 'f32'}}
  %y = llm.rms_norm %x, @n {eps = 1.0e-5 : f64} : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @n : tensor<8xf32> = ["n"]
func.func @layer_norm_eps(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{eps must be positive}}
  %y = llm.layer_norm %x, @n, @n {eps = -1.0 : f64} : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @n : tensor<8xf32> = ["n"]
llm.weight @b : tensor<7xf32> = ["b"]
func.func @layer_norm_bias(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{bias @b has type 'tensor<7xf32>', expected shape [8] of 'f32'}}
  %y = llm.layer_norm %x, @n, @b {eps = 1.0e-5 : f64} : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @rope_heads(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{num_heads * head_dim = 12 does not match the feature dimension 8}}
  %y = llm.rope %x, %pos {num_heads = 3 : i64, head_dim = 4 : i64, rotary_dim = 4 : i64, theta = 1.0e4 : f64} : tensor<?x8xf32>, tensor<?xi32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @rope_rotary_odd(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{rotary_dim 3 must be even and at most head_dim 4}}
  %y = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, rotary_dim = 3 : i64, theta = 1.0e4 : f64} : tensor<?x8xf32>, tensor<?xi32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @rope_rotary_wide(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{rotary_dim 6 must be even and at most head_dim 4}}
  %y = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, rotary_dim = 6 : i64, theta = 1.0e4 : f64} : tensor<?x8xf32>, tensor<?xi32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @rope_rotating_nothing(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{rotary_dim 0 rotates nothing: it needs a norm or a temperature}}
  %y = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, rotary_dim = 0 : i64, theta = 1.0e4 : f64} : tensor<?x8xf32>, tensor<?xi32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @rope_theta(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{theta must be positive}}
  %y = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, rotary_dim = 4 : i64, theta = 0.0 : f64} : tensor<?x8xf32>, tensor<?xi32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @hn : tensor<4xf32> = ["hn"]
func.func @rope_norm_without_eps(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{norm_weight needs norm_eps}}
  %y = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, rotary_dim = 4 : i64, theta = 1.0e4 : f64, norm_weight = @hn} : tensor<?x8xf32>, tensor<?xi32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @hn : tensor<4xf32> = ["hn"]
func.func @rope_norm_eps(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{norm_eps must be positive}}
  %y = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, rotary_dim = 4 : i64, theta = 1.0e4 : f64, norm_weight = @hn, norm_eps = 0.0 : f64} : tensor<?x8xf32>, tensor<?xi32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @hn : tensor<8xf32> = ["hn"]
func.func @rope_norm_shape(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{norm_weight @hn has type 'tensor<8xf32>', expected shape [4] of 'f32'}}
  %y = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, rotary_dim = 4 : i64, theta = 1.0e4 : f64, norm_weight = @hn, norm_eps = 1.0e-6 : f64} : tensor<?x8xf32>, tensor<?xi32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @rope_zero_heads(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{attribute 'num_heads' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = llm.rope %x, %pos {num_heads = 0 : i64, head_dim = 4 : i64, rotary_dim = 4 : i64, theta = 1.0e4 : f64} : tensor<?x8xf32>, tensor<?xi32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @rope_scaling_factor(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{llama3 rope scaling factor must be >= 1, got 5.000000e-01}}
  %y = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, rotary_dim = 4 : i64, theta = 1.0e4 : f64, scaling = #llm.llama3_scaling<factor = 0.5, low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position = 8192>} : tensor<?x8xf32>, tensor<?xi32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @rope_scaling_band(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{llama3 rope scaling needs 0 < low_freq_factor <= high_freq_factor}}
  %y = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, rotary_dim = 4 : i64, theta = 1.0e4 : f64, scaling = #llm.llama3_scaling<factor = 8.0, low_freq_factor = 4.0, high_freq_factor = 1.0, original_max_position = 8192>} : tensor<?x8xf32>, tensor<?xi32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @attention_gqa(%q: tensor<?x12xf32>, %kv: tensor<?x8xf32>, %b: !llm.batch) -> tensor<?x12xf32> {
  // expected-error @+1 {{num_kv_heads 2 does not divide num_heads 3}}
  %a = llm.attention %q, %kv, %kv, %b {layer = 0 : i64, num_heads = 3 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f64} : tensor<?x12xf32>, tensor<?x8xf32>, tensor<?x8xf32> -> tensor<?x12xf32>
  return %a : tensor<?x12xf32>
}

// -----

func.func @attention_query_width(%q: tensor<?x12xf32>, %kv: tensor<?x4xf32>, %b: !llm.batch) -> tensor<?x12xf32> {
  // expected-error @+1 {{query has 12 features, expected num_heads * head_dim = 8}}
  %a = llm.attention %q, %kv, %kv, %b {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64, scale = 0.5 : f64} : tensor<?x12xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x12xf32>
  return %a : tensor<?x12xf32>
}

// -----

func.func @attention_kv_width(%q: tensor<?x8xf32>, %kv: tensor<?x8xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{key needs num_kv_heads * head_dim = 4 features, got 8}}
  %a = llm.attention %q, %kv, %kv, %b {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64, scale = 0.5 : f64} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32> -> tensor<?x8xf32>
  return %a : tensor<?x8xf32>
}

// -----

func.func @attention_result(%q: tensor<?x8xf32>, %kv: tensor<?x4xf32>, %b: !llm.batch) -> tensor<?x4xf32> {
  // expected-error @+1 {{result has 4 features, expected num_heads * head_dim = 8}}
  %a = llm.attention %q, %kv, %kv, %b {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64, scale = 0.5 : f64} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x4xf32>
  return %a : tensor<?x4xf32>
}

// -----

func.func @attention_scale(%q: tensor<?x8xf32>, %kv: tensor<?x4xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{scale must be positive}}
  %a = llm.attention %q, %kv, %kv, %b {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64, scale = 0.0 : f64} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %a : tensor<?x8xf32>
}

// -----

func.func @attention_layer(%q: tensor<?x8xf32>, %kv: tensor<?x4xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{attribute 'layer' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %a = llm.attention %q, %kv, %kv, %b {layer = -1 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64, scale = 0.5 : f64} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %a : tensor<?x8xf32>
}

// -----

func.func @split_widths(%x: tensor<?x8xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{result widths add up to 7, but the input has 8 features}}
  %a, %b = llm.split %x : tensor<?x8xf32> -> tensor<?x4xf32>, tensor<?x3xf32>
  return %a : tensor<?x4xf32>
}

// -----

func.func @split_none(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{needs at least one result}}
  "llm.split"(%x) : (tensor<?x8xf32>) -> ()
  return
}

// -----

llm.weight @lm : tensor<32x8xf32> = ["lm"]
func.func @logits_f16(%x: tensor<?x8xf32>) -> tensor<?x32xf16> {
  // expected-error @+1 {{logits must be f32, got 'tensor<?x32xf16>'}}
  %l = llm.logits %x, @lm : tensor<?x8xf32> -> tensor<?x32xf16>
  return %l : tensor<?x32xf16>
}

// -----

llm.weight @lm : tensor<32x4xf32> = ["lm"]
func.func @logits_weight(%x: tensor<?x8xf32>) -> tensor<?x32xf32> {
  // expected-error @+1 {{weight @lm has type 'tensor<32x4xf32>', expected shape [32, 8] of 'f32'}}
  %l = llm.logits %x, @lm : tensor<?x8xf32> -> tensor<?x32xf32>
  return %l : tensor<?x32xf32>
}

// -----

func.func @all_reduce_group(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{attribute 'group_size' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = llm.all_reduce %x {group_size = 0 : i64} : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @add_types(%x: tensor<?x8xf32>, %y: tensor<?x8xf16>) -> tensor<?x8xf32> {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %z = "llm.add"(%x, %y) : (tensor<?x8xf32>, tensor<?x8xf16>) -> tensor<?x8xf32>
  return %z : tensor<?x8xf32>
}

// -----

func.func @gather(%x: tensor<?x8xf32>) -> tensor<?x12xf32> {
  // expected-error @+1 {{result width must be 2 x the input width 8, got 12}}
  %0 = llm.all_gather %x {group_size = 2 : i64} : tensor<?x8xf32> -> tensor<?x12xf32>
  return %0 : tensor<?x12xf32>
}

// -----

llm.weight @eg : tensor<48x8xf32> = ["eg"]
llm.weight @eu : tensor<48x8xf32> = ["eu"]
llm.weight @ed : tensor<32x12xf32> = ["ed"]
func.func @moe_router_width(%x: tensor<?x8xf32>, %r: tensor<?x3xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{router_logits has 3 columns for 4 experts}}
  %y = llm.moe %x, %r experts(@eg, @eu, @ed) {num_experts = 4 : i64, top_k = 2 : i64} : tensor<?x8xf32>, tensor<?x3xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @eg : tensor<48x8xf32> = ["eg"]
llm.weight @eu : tensor<48x8xf32> = ["eu"]
llm.weight @ed : tensor<32x12xf32> = ["ed"]
func.func @moe_top_k(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{top_k 5 is more than the 4 experts}}
  %y = llm.moe %x, %r experts(@eg, @eu, @ed) {num_experts = 4 : i64, top_k = 5 : i64} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @eg : tensor<50x8xf32> = ["eg"]
llm.weight @eu : tensor<50x8xf32> = ["eu"]
llm.weight @ed : tensor<32x12xf32> = ["ed"]
func.func @moe_gate_rows(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{gate @eg has 50 rows, not a multiple of the 4 experts}}
  %y = llm.moe %x, %r experts(@eg, @eu, @ed) {num_experts = 4 : i64, top_k = 2 : i64} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @eg : tensor<48x8xf32> = ["eg"]
llm.weight @eu : tensor<48x8xf32> = ["eu"]
llm.weight @ed : tensor<32x8xf32> = ["ed"]
func.func @moe_down(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{down @ed has type 'tensor<32x8xf32>', expected shape [32, 12] of 'f32'}}
  %y = llm.moe %x, %r experts(@eg, @eu, @ed) {num_experts = 4 : i64, top_k = 2 : i64} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @eg : tensor<48x8xf32> = ["eg"]
llm.weight @eu : tensor<48x8xf32> = ["eu"]
llm.weight @ed : tensor<32x12xf32> = ["ed"]
func.func @moe_gate_alone(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>, %g: tensor<?x1xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{shared_gate must be one column scaling a shared expert}}
  %y = llm.moe %x, %r shared_gate %g experts(@eg, @eu, @ed) {num_experts = 4 : i64, top_k = 2 : i64} : tensor<?x8xf32>, tensor<?x4xf32> shared_gate tensor<?x1xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// expected-error @+1 {{a stride spaces out slices: it needs some}}
llm.weight @w : tensor<4x4xf32> = ["a"] stride 2

// -----

llm.weight @eg : tensor<48x8xf32> = ["eg"]
llm.weight @eu : tensor<48x8xf32> = ["eu"]
llm.weight @ed : tensor<32x12xf32> = ["ed"]
func.func @moe_swiglu_half(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{swiglu_alpha and swiglu_limit go together}}
  %y = llm.moe %x, %r experts(@eg, @eu, @ed) {num_experts = 4 : i64, top_k = 2 : i64, swiglu_limit = 7.0 : f64} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @eg : tensor<48x8xf32> = ["eg"]
llm.weight @eu : tensor<48x8xf32> = ["eu"]
llm.weight @ed : tensor<32x12xf32> = ["ed"]
llm.weight @eb : tensor<4x8xf32> = ["eb"]
func.func @moe_bias_width(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{gate_bias @eb has type 'tensor<4x8xf32>', expected shape [4, 12] of 'f32'}}
  %y = llm.moe %x, %r experts(@eg, @eu, @ed) {num_experts = 4 : i64, top_k = 2 : i64, gate_bias = @eb} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @sinks : tensor<3xf32> = ["sinks"]
func.func @attention_sinks(%q: tensor<?x64xf32>, %kv: tensor<?x32xf32>, %b: !llm.batch) -> tensor<?x64xf32> {
  // expected-error @+1 {{sinks @sinks has type 'tensor<3xf32>', expected shape [4] of 'f32'}}
  %a = llm.attention %q, %kv, %kv, %b {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 16 : i64, scale = 0.25 : f64, sinks = @sinks} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x64xf32>
  return %a : tensor<?x64xf32>
}

// -----

llm.weight @eg : tensor<48x8xf32> = ["eg"]
llm.weight @eu : tensor<48x8xf32> = ["eu"]
llm.weight @ed : tensor<32x12xf32> = ["ed"]
llm.weight @sb : tensor<5xf32> = ["sb"]
func.func @moe_bias_of_other_experts(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{score_bias @sb has type 'tensor<5xf32>', expected shape [4] of 'f32'}}
  %y = llm.moe %x, %r experts(@eg, @eu, @ed) {num_experts = 4 : i64, top_k = 2 : i64, score_bias = @sb} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @eg : tensor<48x8xf32> = ["eg"]
llm.weight @eu : tensor<48x8xf32> = ["eu"]
llm.weight @ed : tensor<32x12xf32> = ["ed"]
func.func @moe_groups_too_small(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{num_groups must split the experts into groups of two or more, and top_groups of them must hold top_k experts}}
  %y = llm.moe %x, %r experts(@eg, @eu, @ed) {num_experts = 4 : i64, top_k = 2 : i64, sigmoid_scores, num_groups = 4 : i64, top_groups = 1 : i64} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @eg : tensor<48x8xf32> = ["eg"]
llm.weight @eu : tensor<48x8xf32> = ["eu"]
llm.weight @ed : tensor<32x12xf32> = ["ed"]
llm.weight @sb : tensor<3xf32> = ["sb"]
func.func @moe_score_bias_shape(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{score_bias}}
  %y = llm.moe %x, %r experts(@eg, @eu, @ed) {num_experts = 4 : i64, top_k = 2 : i64, sigmoid_scores, score_bias = @sb} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @attention_value_width(%q: tensor<?x8xf32>, %k: tensor<?x4xf32>, %v: tensor<?x4xf32>, %b: !llm.batch) -> tensor<?x6xf32> {
  // expected-error @+1 {{value needs num_kv_heads * value_head_dim = 3 features, got 4}}
  %a = llm.attention %q, %k, %v, %b {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64, value_head_dim = 3 : i64, scale = 0.5 : f64} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x6xf32>
  return %a : tensor<?x6xf32>
}

// -----

func.func @attention_value_result(%q: tensor<?x8xf32>, %k: tensor<?x4xf32>, %v: tensor<?x3xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{result has 8 features, expected num_heads * value_head_dim = 6}}
  %a = llm.attention %q, %k, %v, %b {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64, value_head_dim = 3 : i64, scale = 0.5 : f64} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x3xf32> -> tensor<?x8xf32>
  return %a : tensor<?x8xf32>
}

// -----

func.func @concat_heads(%a: tensor<?x6xf32>, %s: tensor<?x2xf32>) -> tensor<?x12xf32> {
  // expected-error @+1 {{input 0 has 6 features, not a whole number of 4 heads}}
  %c = llm.concat %a, %s {num_heads = 4 : i64, shared = array<i64: 1>} : tensor<?x6xf32>, tensor<?x2xf32> -> tensor<?x12xf32>
  return %c : tensor<?x12xf32>
}

// -----

func.func @concat_width(%a: tensor<?x8xf32>, %s: tensor<?x2xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{result has 8 features, expected 4 heads of 4}}
  %c = llm.concat %s, %a {num_heads = 4 : i64, shared = array<i64: 0>} : tensor<?x2xf32>, tensor<?x8xf32> -> tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// -----

func.func @concat_shared_index(%a: tensor<?x8xf32>, %s: tensor<?x2xf32>) -> tensor<?x16xf32> {
  // expected-error @+1 {{shared must list input indices in increasing order, got 2}}
  %c = llm.concat %s, %a {num_heads = 4 : i64, shared = array<i64: 2>} : tensor<?x2xf32>, tensor<?x8xf32> -> tensor<?x16xf32>
  return %c : tensor<?x16xf32>
}

// -----

llm.weight @eg : tensor<48x8xf32> = ["eg"]
llm.weight @eu : tensor<48x8xf32> = ["eu"]
llm.weight @ed : tensor<32x12xf32> = ["ed"]
func.func @moe_group_top(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{group_top 3 is more than a group's 2 experts}}
  %y = llm.moe %x, %r experts(@eg, @eu, @ed) {num_experts = 4 : i64, top_k = 2 : i64, num_groups = 2 : i64, top_groups = 1 : i64, group_top = 3 : i64} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @head_linear_heads(%x: tensor<?x6xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{input (6) and result (8) features must split into 4 heads}}
  %y = llm.head_linear %x, @w {num_heads = 4 : i64} : tensor<?x6xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @w : tensor<4x8xf32> = ["w"]
func.func @head_linear_weight(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{weight @w has type 'tensor<4x8xf32>', expected shape [8, 4]}}
  %y = llm.head_linear %x, @w {num_heads = 2 : i64, input_rows} : tensor<?x8xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @attention_value_in_key(%q: tensor<?x8xf32>, %k: tensor<?x4xf32>, %v: tensor<?x4xf32>, %b: !llm.batch) -> tensor<?x6xf32> {
  // expected-error @+1 {{value_in_key needs the key as the value and a value_head_dim of at most head_dim}}
  %a = llm.attention %q, %k, %v, %b {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64, value_head_dim = 3 : i64, value_in_key, scale = 0.5 : f64} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x6xf32>
  return %a : tensor<?x6xf32>
}

// -----

func.func @rope_temperature_half(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{temperature_floor and temperature_scale go together}}
  %y = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, rotary_dim = 0 : i64, theta = 1.0e4 : f64, temperature_floor = 8192 : i64} : tensor<?x8xf32>, tensor<?xi32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @attention_chunks_and_window(%q: tensor<?x8xf32>, %kv: tensor<?x4xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{chunk_size and sliding_window exclude each other}}
  %a = llm.attention %q, %kv, %kv, %b {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64, scale = 0.5 : f64, sliding_window = 8 : i64, chunk_size = 8 : i64} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %a : tensor<?x8xf32>
}

// -----

func.func @attention_bidirectional_window(%q: tensor<?x8xf32>, %kv: tensor<?x4xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{bidirectional excludes chunk_size and sliding_window}}
  %a = llm.attention %q, %kv, %kv, %b {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64, scale = 0.5 : f64, sliding_window = 8 : i64, bidirectional} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %a : tensor<?x8xf32>
}

// -----

llm.weight @t : tensor<4xf32> = ["t"]
func.func @bias_add_width(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{bias @t has type 'tensor<4xf32>', expected shape [8] of 'f32'}}
  %y = llm.bias_add %x, @t : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @attention_chunk_zero(%q: tensor<?x8xf32>, %kv: tensor<?x4xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{attribute 'chunk_size' failed to satisfy constraint}}
  %a = llm.attention %q, %kv, %kv, %b {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 4 : i64, scale = 0.5 : f64, chunk_size = 0 : i64} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %a : tensor<?x8xf32>
}

// -----

llm.weight @c : tensor<8x4xf32> = ["c"]
func.func @conv_weight_shape(%x: tensor<?x8xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{weight @c has type 'tensor<8x4xf32>', expected shape [8, 3] of 'f32'}}
  %c = llm.causal_conv1d %x, %b {state = 0 : i64, kernel_size = 3 : i64, weight = @c} : tensor<?x8xf32> -> tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// -----

llm.weight @c : tensor<8x3xf32> = ["c"]
func.func @conv_activation(%x: tensor<?x8xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{activation must be "silu" (or absent), got "gelu"}}
  %c = llm.causal_conv1d %x, %b {state = 0 : i64, kernel_size = 3 : i64, weight = @c, activation = "gelu"} : tensor<?x8xf32> -> tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// -----

llm.weight @c : tensor<8x1xf32> = ["c"]
func.func @conv_one_tap(%x: tensor<?x8xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{attribute 'kernel_size' failed to satisfy constraint}}
  %c = llm.causal_conv1d %x, %b {state = 0 : i64, kernel_size = 1 : i64, weight = @c} : tensor<?x8xf32> -> tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// -----

llm.weight @al : tensor<4xf32> = ["A_log"]
llm.weight @dt : tensor<4xf32> = ["dt_bias"]
func.func @delta_heads(%q: tensor<?x8xf32>, %v: tensor<?x8xf32>, %a: tensor<?x4xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{num_k_heads 3 does not divide num_v_heads 4}}
  %o = llm.gated_delta_rule %q, %q, %v, %a, %a, %b {state = 0 : i64, num_k_heads = 3 : i64, num_v_heads = 4 : i64, key_head_dim = 4 : i64, value_head_dim = 2 : i64, a_log = @al, dt_bias = @dt} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %o : tensor<?x8xf32>
}

// -----

llm.weight @al : tensor<4xf32> = ["A_log"]
llm.weight @dt : tensor<4xf32> = ["dt_bias"]
func.func @delta_gates(%q: tensor<?x8xf32>, %v: tensor<?x8xf32>, %a: tensor<?x2xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{a and b need one feature per value head (4), got 2 and 2}}
  %o = llm.gated_delta_rule %q, %q, %v, %a, %a, %b {state = 0 : i64, num_k_heads = 2 : i64, num_v_heads = 4 : i64, key_head_dim = 4 : i64, value_head_dim = 2 : i64, a_log = @al, dt_bias = @dt} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xf32> -> tensor<?x8xf32>
  return %o : tensor<?x8xf32>
}

// -----

llm.weight @al : tensor<2xf32> = ["A_log"]
llm.weight @dt : tensor<4xf32> = ["dt_bias"]
func.func @delta_weight(%q: tensor<?x8xf32>, %v: tensor<?x8xf32>, %a: tensor<?x4xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{a_log @al has type 'tensor<2xf32>', expected shape [4] of 'f32'}}
  %o = llm.gated_delta_rule %q, %q, %v, %a, %a, %b {state = 0 : i64, num_k_heads = 2 : i64, num_v_heads = 4 : i64, key_head_dim = 4 : i64, value_head_dim = 2 : i64, a_log = @al, dt_bias = @dt} : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return %o : tensor<?x8xf32>
}

// -----

llm.weight @al : tensor<4xf32> = ["A_log"]
llm.weight @dt : tensor<4xf32> = ["dt_bias"]
llm.weight @d : tensor<4xf32> = ["D"]
func.func @ssm_groups(%x: tensor<?x8xf32>, %dt: tensor<?x4xf32>, %bc: tensor<?x9xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{num_groups 3 does not divide num_heads 4}}
  %y = llm.ssm_scan %x, %dt, %bc, %bc, %b {state = 0 : i64, num_heads = 4 : i64, head_dim = 2 : i64, num_groups = 3 : i64, state_size = 3 : i64, a_log = @al, dt_bias = @dt, d = @d} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x9xf32>, tensor<?x9xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

llm.weight @al : tensor<4xf32> = ["A_log"]
llm.weight @dt : tensor<4xf32> = ["dt_bias"]
llm.weight @d : tensor<4xf32> = ["D"]
func.func @ssm_bc(%x: tensor<?x8xf32>, %dt: tensor<?x4xf32>, %bc: tensor<?x5xf32>, %b: !llm.batch) -> tensor<?x8xf32> {
  // expected-error @+1 {{b and c need num_groups * state_size = 6 features, got 5 and 5}}
  %y = llm.ssm_scan %x, %dt, %bc, %bc, %b {state = 0 : i64, num_heads = 4 : i64, head_dim = 2 : i64, num_groups = 2 : i64, state_size = 3 : i64, a_log = @al, dt_bias = @dt, d = @d} : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x5xf32>, tensor<?x5xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
