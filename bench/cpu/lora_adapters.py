#!/usr/bin/env python3
"""LoRA adapters for a manifest's model shapes, written by PEFT (save_pretrained): rank R on
all seven linears of every layer, A and B random (PEFT starts B at zero). Their values do
not matter to a benchmark; their shapes and names are those of a real adapter for the model.

    python3 bench/cpu/lora_adapters.py MODEL.json OUT_DIR COUNT RANK
        -> OUT_DIR/lora-0 ... lora-(COUNT-1)
"""
import json
import os
import sys

import torch
import transformers
from peft import LoraConfig, get_peft_model

manifest, out, count, rank = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
config = dict(json.load(open(manifest))["config"])
model_type = config.pop("model_type")
hf_config = transformers.AutoConfig.for_model(model_type, **config)
for i in range(count):
    model = transformers.AutoModelForCausalLM.from_config(hf_config, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(
        r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj"]))
    gen = torch.Generator().manual_seed(i)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.02)
    model.save_pretrained(os.path.join(out, "lora-%d" % i))
    print("wrote", os.path.join(out, "lora-%d" % i))
