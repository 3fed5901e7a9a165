#!/usr/bin/env python3
"""Writes chat-template test vectors rendered by jinja2 itself, configured as transformers does.

Every template is rendered the way `tokenizer.apply_chat_template(..., tokenize=False)` renders
it: transformers' own compiled environment (`_compile_jinja_template`: ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, its `tojson`, `raise_exception`, `strftime_now`,
`namespace`, `dict`) over the variables it passes:

    messages, tools, documents (None), add_generation_prompt, bos_token, eos_token, **extra

Sources:
  - the chat template inside the SmolLM2 GGUF (metadata key tokenizer.chat_template),
  - Llama 4's template as shipped inside the installed transformers package,
  - the public chat templates of well-known instruct models (tokenizer_config.json data),
  - small feature templates that pin down one piece of Jinja behaviour each.

    pip install jinja2==3.1.6 transformers gguf
    python3 scripts/gen-chat-template-goldens.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]

Output: test/goldens/chat-templates.json, read by unittests/template/ChatTemplateTest.cpp.
"""
import ast
import json
import os
import sys

import jinja2
import transformers
from transformers.utils.chat_template_utils import (
    _alias_reasoning_fields,
    _compile_jinja_template,
    _normalize_chat_messages,
)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "test", "goldens", "chat-templates.json")
DEFAULT_GGUF = os.path.expanduser("~/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf")


def gguf_chat_template(path):
    import gguf

    reader = gguf.GGUFReader(path)
    field = reader.fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def transformers_llama4_template():
    # Read as data (ast), so the processor module and its image dependencies are not imported.
    path = os.path.join(os.path.dirname(transformers.__file__), "models", "llama4", "processing_llama4.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "chat_template":
            return ast.literal_eval(node.value)
    raise RuntimeError("no chat_template in " + path)


# (name, source, bos_token, eos_token, extra variables)
def templates(gguf_path):
    return [
        ("smollm2-135m-instruct-gguf", gguf_chat_template(gguf_path), "<|im_start|>", "<|im_end|>", {}),
        (
            "chatml",
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
            "<s>", "</s>", {},
        ),
        (
            "llama-2-chat",
            "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
            "<s>", "</s>", {},
        ),
        (
            "llama-3-instruct",
            "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
            "<|begin_of_text|>", "<|eot_id|>", {},
        ),
        (
            "llama-3.1-instruct",
            "{{- bos_token }}\n{%- if custom_tools is defined %}\n    {%- set tools = custom_tools %}\n{%- endif %}\n{%- if not tools_in_user_message is defined %}\n    {%- set tools_in_user_message = true %}\n{%- endif %}\n{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n{%- endif %}\n{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n\n{#- This block extracts the system message, so we can slot it into the right place. #}\n{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n\n{#- System message + builtin tools #}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n{%- if builtin_tools is defined or tools is not none %}\n    {{- \"Environment: ipython\\n\" }}\n{%- endif %}\n{%- if builtin_tools is defined %}\n    {{- \"Tools: \" + builtin_tools | reject('equalto', 'code_interpreter') | join(\", \") + \"\\n\\n\"}}\n{%- endif %}\n{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n{%- if tools is not none and not tools_in_user_message %}\n    {{- \"You have access to the following functions. To call a function, please respond with JSON for a function call.\" }}\n    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n    {{- \"Do not use variables.\\n\\n\" }}\n    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- \"\\n\\n\" }}\n    {%- endfor %}\n{%- endif %}\n{{- system_message }}\n{{- \"<|eot_id|>\" }}\n\n{#- Custom tools are passed in a user message with some extra guidance #}\n{%- if tools_in_user_message and not tools is none %}\n    {#- Extract the first user message so we can plug it in here #}\n    {%- if messages | length != 0 %}\n        {%- set first_user_message = messages[0]['content']|trim %}\n        {%- set messages = messages[1:] %}\n    {%- else %}\n        {{- raise_exception(\"Cannot put tools in the first user message when there's no first user message!\") }}\n{%- endif %}\n    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n    {{- \"Given the following functions, please respond with a JSON for a function call \" }}\n    {{- \"with its proper arguments that best answers the given prompt.\\n\\n\" }}\n    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n    {{- \"Do not use variables.\\n\\n\" }}\n    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- \"\\n\\n\" }}\n    {%- endfor %}\n    {{- first_user_message + \"<|eot_id|>\"}}\n{%- endif %}\n\n{%- for message in messages %}\n    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n    {%- elif 'tool_calls' in message %}\n        {%- if not message.tool_calls|length == 1 %}\n            {{- raise_exception(\"This model only supports single tool-calls at once!\") }}\n        {%- endif %}\n        {%- set tool_call = message.tool_calls[0].function %}\n        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}\n            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n            {{- \"<|python_tag|>\" + tool_call.name + \".call(\" }}\n            {%- for arg_name, arg_val in tool_call.arguments | items %}\n                {{- arg_name + '=\"' + arg_val + '\"' }}\n                {%- if not loop.last %}\n                    {{- \", \" }}\n                {%- endif %}\n                {%- endfor %}\n            {{- \")\" }}\n        {%- else  %}\n            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n            {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n            {{- '\"parameters\": ' }}\n            {{- tool_call.arguments | tojson }}\n            {{- \"}\" }}\n        {%- endif %}\n        {%- if builtin_tools is defined %}\n            {#- This means we're in ipython mode #}\n            {{- \"<|eom_id|>\" }}\n        {%- else %}\n            {{- \"<|eot_id|>\" }}\n        {%- endif %}\n    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n        {%- if message.content is mapping or message.content is iterable %}\n            {{- message.content | tojson }}\n        {%- else %}\n            {{- message.content }}\n        {%- endif %}\n        {{- \"<|eot_id|>\" }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n",
            "<|begin_of_text|>", "<|eot_id|>", {},
        ),
        (
            "llama-3.1-instruct-builtin-tools",
            None,  # the llama-3.1-instruct source, with builtin_tools passed
            "<|begin_of_text|>", "<|eot_id|>", {"builtin_tools": ["brave_search", "wolfram_alpha", "code_interpreter"], "date_string": "14 Mar 2025"},
        ),
        ("llama-4", transformers_llama4_template(), "<|begin_of_text|>", "<|eot|>", {"date_string": "14 Mar 2025"}),
        (
            "mistral-7b-instruct-v0.1",
            "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
            "<s>", "</s>", {},
        ),
        (
            "mixtral-8x7b-instruct-v0.1",
            "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
            "<s>", "</s>", {},
        ),
        (
            "mistral-instruct-v1-system",
            "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}\n    {%- endif %}\n    {%- if message['role'] == 'user' %}\n        {%- if loop.first and system_message is defined %}\n            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n        {%- else %}\n            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n        {%- endif %}\n    {%- elif message['role'] == 'assistant' %}\n        {{- ' ' + message['content'] + eos_token}}\n    {%- else %}\n        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}\n    {%- endif %}\n{%- endfor %}\n",
            "<s>", "</s>", {},
        ),
        (
            "mistral-7b-instruct-v0.3",
            '{%- if messages[0]["role"] == "system" %}\n    {%- set system_message = messages[0]["content"] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}\n\n{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}\n{%- set ns = namespace() %}\n{%- set ns.index = 0 %}\n{%- for message in loop_messages %}\n    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}\n        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}\n            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}\n        {%- endif %}\n        {%- set ns.index = ns.index + 1 %}\n    {%- endif %}\n{%- endfor %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if message["role"] == "user" %}\n        {%- if tools is not none and (message == user_messages[-1]) %}\n            {{- "[AVAILABLE_TOOLS] [" }}\n            {%- for tool in tools %}\n                {%- set tool = tool.function %}\n                {{- \'{"type": "function", "function": {\' }}\n                {%- for key, val in tool.items() if key != "return" %}\n                    {%- if val is string %}\n                        {{- \'"\' + key + \'": "\' + val + \'"\' }}\n                    {%- else %}\n                        {{- \'"\' + key + \'": \' + val|tojson }}\n                    {%- endif %}\n                    {%- if not loop.last %}\n                        {{- ", " }}\n                    {%- endif %}\n                {%- endfor %}\n                {{- "}}" }}\n                {%- if not loop.last %}\n                    {{- ", " }}\n                {%- else %}\n                    {{- "]" }}\n                {%- endif %}\n            {%- endfor %}\n            {{- "[/AVAILABLE_TOOLS]" }}\n            {%- endif %}\n        {%- if loop.last and system_message is defined %}\n            {{- "[INST] " + system_message + "\\n\\n" + message["content"] + "[/INST]" }}\n        {%- else %}\n            {{- "[INST] " + message["content"] + "[/INST]" }}\n        {%- endif %}\n    {%- elif message.tool_calls is defined and message.tool_calls is not none %}\n        {{- "[TOOL_CALLS] [" }}\n        {%- for tool_call in message.tool_calls %}\n            {%- set out = tool_call.function|tojson %}\n            {{- out[:-1] }}\n            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}\n                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}\n            {%- endif %}\n            {{- \', "id": "\' + tool_call.id + \'"}\' }}\n            {%- if not loop.last %}\n                {{- ", " }}\n            {%- else %}\n                {{- "]" + eos_token }}\n            {%- endif %}\n        {%- endfor %}\n    {%- elif message["role"] == "assistant" %}\n        {{- " " + message["content"]|trim + eos_token}}\n    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}\n        {%- if message.content is defined and message.content.content is defined %}\n            {%- set content = message.content.content %}\n        {%- else %}\n            {%- set content = message.content %}\n        {%- endif %}\n        {{- \'[TOOL_RESULTS] {"content": \' + content|string + ", " }}\n        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}\n            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}\n        {%- endif %}\n        {{- \'"call_id": "\' + message.tool_call_id + \'"}[/TOOL_RESULTS]\' }}\n    {%- else %}\n        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}\n    {%- endif %}\n{%- endfor %}\n',
            "<s>", "</s>", {},
        ),
        (
            "mistral-large-2411-v7",
            "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + '[/INST]' }}{% elif message['role'] == 'system' %}{{ '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}{% else %}{{ raise_exception('Only user, system and assistant roles are supported!') }}{% endif %}{% endfor %}",
            "<s>", "</s>", {},
        ),
        (
            "qwen2-instruct",
            "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
            None, "<|im_end|>", {},
        ),
        (
            "qwen2.5-instruct",
            "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n    {%- endif %}\n    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n        {{- \"\\n\" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}\n{%- for message in messages %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n    {%- elif message.role == \"assistant\" %}\n        {{- '<|im_start|>' + message.role }}\n        {%- if message.content %}\n            {{- '\\n' + message.content }}\n        {%- endif %}\n        {%- for tool_call in message.tool_calls %}\n            {%- if tool_call.function is defined %}\n                {%- set tool_call = tool_call.function %}\n            {%- endif %}\n            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n            {{- tool_call.name }}\n            {{- '\", \"arguments\": ' }}\n            {{- tool_call.arguments | tojson }}\n            {{- '}\\n</tool_call>' }}\n        {%- endfor %}\n        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}\n        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n        {{- message.content }}\n        {{- '\\n</tool_response>' }}\n        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n",
            None, "<|im_end|>", {},
        ),
        (
            # A Qwen3-style template (reversed loop with a namespace, string methods, thinking
            # switch), as published in the MiniMind tokenizer_config.json.
            "qwen3-style",
            "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0].role == 'system' %}\n        {{- messages[0].content + '\\n\\n' }}\n    {%- endif %}\n    {{- \"# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n        {{- \"\\n\" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n{%- else %}\n {%- if messages[0]['role'] == 'system' -%}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else -%}\n        {{- '<|im_start|>system\\nYou are a helpful assistant<|im_end|>\\n' }}\n {%- endif %}\n{%- endif %}\n{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n{%- for message in messages[::-1] %}\n    {%- set index = (messages|length - 1) - loop.index0 %}\n    {%- if ns.multi_step_tool and message.role == \"user\" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}\n        {%- set ns.multi_step_tool = false %}\n        {%- set ns.last_query_index = index %}\n    {%- endif %}\n{%- endfor %}\n{%- for message in messages %}\n    {%- if message.content is string %}\n        {%- set content = message.content %}\n    {%- else %}\n        {%- set content = '' %}\n    {%- endif %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) %}\n        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}\n    {%- elif message.role == \"assistant\" %}\n   {{- '<|im_start|>' + message.role + '\\n' + content }}\n  {%- if message.tool_calls %}\n            {%- for tool_call in message.tool_calls %}\n                {%- if (loop.first and content) or (not loop.first) %}\n                    {{- '\\n' }}\n                {%- endif %}\n                {%- if tool_call.function %}\n                    {%- set tool_call = tool_call.function %}\n                {%- endif %}\n                {{- '<tool_call>\\n{\"name\": \"' }}\n                {{- tool_call.name }}\n                {{- '\", \"arguments\": ' }}\n                {%- if tool_call.arguments is string %}\n                    {{- tool_call.arguments }}\n                {%- else %}\n                    {{- tool_call.arguments | tojson }}\n                {%- endif %}\n                {{- '}\\n</tool_call>' }}\n            {%- endfor %}\n        {%- endif %}\n        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}\n        {%- if loop.first or (messages[loop.index0 - 1].role != \"tool\") %}\n            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n        {{- content }}\n        {{- '\\n</tool_response>' }}\n        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n    {%- if enable_thinking is defined and enable_thinking is false %}\n        {{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- endif %}\n{%- endif %}",
            "<|im_start|>", "<|im_end|>", {"enable_thinking": False},
        ),
        (
            "zephyr-tinyllama",
            "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
            "<s>", "</s>", {},
        ),
        (
            "gemma-7b-it",
            "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}",
            "<bos>", "<eos>", {},
        ),
        (
            "phi-3-mini",
            "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}",
            "<s>", "<|endoftext|>", {},
        ),
        (
            "phi-3-mini-user-only",
            "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}",
            "<s>", "<|endoftext|>", {},
        ),
        (
            "phi-3-vision",
            "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n' }}{% endfor %}{% if add_generation_prompt and messages[-1]['role'] != 'assistant' %}{{- '<|assistant|>\n' -}}{% endif %}",
            "<s>", "<|endoftext|>", {},
        ),
        (
            "phi-4",
            "{% for message in messages %}{% if (message['role'] == 'system') %}{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}}{% elif (message['role'] == 'user') %}{{'<|im_start|>user<|im_sep|>' + message['content'] + '<|im_end|><|im_start|>assistant<|im_sep|>'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|im_end|>'}}{% endif %}{% endfor %}",
            "<|endoftext|>", "<|im_end|>", {},
        ),
        (
            "deepseek-r1",
            "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%- else %}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}",
            "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", {},
        ),
        (
            "deepseek-coder-instruct",
            "{% if not add_generation_prompt is defined %}\n{% set add_generation_prompt = false %}\n{% endif %}\n{%- set ns = namespace(found=false) -%}\n{%- for message in messages -%}\n    {%- if message['role'] == 'system' -%}\n        {%- set ns.found = true -%}\n    {%- endif -%}\n{%- endfor -%}\n{{bos_token}}{%- if not ns.found -%}\n{{'You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\\n'}}\n{%- endif %}\n{%- for message in messages %}\n    {%- if message['role'] == 'system' %}\n{{ message['content'] }}\n    {%- else %}\n        {%- if message['role'] == 'user' %}\n{{'### Instruction:\\n' + message['content'] + '\\n'}}\n        {%- else %}\n{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{% if add_generation_prompt %}\n{{'### Response:'}}\n{% endif %}",
            "<｜begin▁of▁sentence｜>", "<|EOT|>", {},
        ),
        (
            "granite-3.0-instruct",
            "{%- if tools %}\n    {{- '<|start_of_role|>available_tools<|end_of_role|>\n' }}\n    {%- for tool in tools %}\n    {{- tool | tojson(indent=4) }}\n    {%- if not loop.last %}\n        {{- '\n\n' }}\n    {%- endif %}\n    {%- endfor %}\n    {{- '<|end_of_text|>\n' }}\n{%- endif %}\n{%- for message in messages %}\n    {%- if message['role'] == 'system' %}\n    {{- '<|start_of_role|>system<|end_of_role|>' + message['content'] + '<|end_of_text|>\n' }}\n    {%- elif message['role'] == 'user' %}\n    {{- '<|start_of_role|>user<|end_of_role|>' + message['content'] + '<|end_of_text|>\n' }}\n    {%- elif message['role'] == 'assistant' %}\n    {{- '<|start_of_role|>assistant<|end_of_role|>'  + message['content'] + '<|end_of_text|>\n' }}\n    {%- elif message['role'] == 'assistant_tool_call' %}\n    {{- '<|start_of_role|>assistant<|end_of_role|><|tool_call|>' + message['content'] + '<|end_of_text|>\n' }}\n    {%- elif message['role'] == 'tool_response' %}\n    {{- '<|start_of_role|>tool_response<|end_of_role|>' + message['content'] + '<|end_of_text|>\n' }}\n    {%- endif %}\n    {%- if loop.last and add_generation_prompt %}\n    {{- '<|start_of_role|>assistant<|end_of_role|>' }}\n    {%- endif %}\n{%- endfor %}",
            None, "<|end_of_text|>", {},
        ),
        (
            "chatglm4",
            "[gMASK]<sop>{% for item in messages %}{% if item['tools'] is defined %}<|system|>\n你是一个名为 ChatGLM 的人工智能助手。你是基于智谱AI训练的语言模型 GLM-4 模型开发的，你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具{% set tools = item['tools'] %}{% for tool in tools %}{% if tool['type'] == 'function' %}\n\n## {{ tool['function']['name'] }}\n\n{{ tool['function'] | tojson(indent=4) }}\n......{% endif %}{% endfor %}{% endif %}{% if item['content'] %}<|{{ item['role'] }}|>{{ item['metadata'] }}\n{{ item['content'] }}{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
            None, "<|endoftext|>", {},
        ),
        (
            "idefics2",
            "{% for message in messages %}{{message['role'].capitalize()}}{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}",
            "<s>", "</s>", {},
        ),
        (
            "command-r-plus",
            "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% elif false == true %}{% set loop_messages = messages %}{% set system_message = 'You are Command-R, a brilliant, sophisticated, AI-assistant trained to assist human users by providing thorough responses. You are trained by Cohere.' %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% if system_message != false %}{{ '<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>' + system_message + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% set content = message['content'] %}{% if message['role'] == 'user' %}{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% elif message['role'] == 'assistant' %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>'  + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}",
            "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>", {},
        ),
        (
            "openchat-3.5",
            "{{ bos_token }}{% for message in messages %}{{ 'GPT4 Correct ' + message['role'].title() + ': ' + message['content'] + '<|end_of_turn|>'}}{% endfor %}{% if add_generation_prompt %}{{ 'GPT4 Correct Assistant:' }}{% endif %}",
            "<s>", "<|end_of_turn|>", {},
        ),
        (
            "fusionnet-34b",
            "{%- for idx in range(0, messages|length) -%}\n{%- if messages[idx]['role'] == 'user' -%}\n{%- if idx > 1 -%}\n{{- bos_token + '[INST] ' + messages[idx]['content'] + ' [/INST]' -}}\n{%- else -%}\n{{- messages[idx]['content'] + ' [/INST]' -}}\n{%- endif -%}\n{% elif messages[idx]['role'] == 'system' %}\n{{- '[INST] <<SYS>>\\n' + messages[idx]['content'] + '\\n<</SYS>>\\n\\n' -}}\n{%- elif messages[idx]['role'] == 'assistant' -%}\n{{- ' '  + messages[idx]['content'] + ' ' + eos_token -}}\n{% endif %}\n{% endfor %}",
            "<s>", "</s>", {},
        ),
        (
            "vigogne-2-chat",
            "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% elif true == true and not '<<SYS>>' in messages[0]['content'] %}{% set loop_messages = messages %}{% set system_message = 'Vous êtes Vigogne, un assistant IA créé par Zaion Lab. Vous suivez extrêmement bien les instructions. Aidez autant que vous le pouvez.' %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'system' %}{{ '<<SYS>>\\n' + content.strip() + '\\n<</SYS>>\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
            "<s>", "</s>", {},
        ),
    ]


SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City name, e.g. \"Paris\""},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7.5},
            },
            "required": ["location"],
        },
    },
}
TOOL_TURNS = [
    {"role": "user", "content": "What's the weather in Paris?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call12345",
                "type": "function",
                "function": {"name": "get_weather", "arguments": {"location": "Paris", "unit": "celsius", "days": 1}},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": '{"temperature": 22.5, "sky": "clear"}'},
    {"role": "assistant", "content": "It is 22.5 °C and clear in Paris."},
]

# (name, messages, tools, add_generation_prompt values)
CONVERSATIONS = [
    ("system-user", [SYSTEM, {"role": "user", "content": "Hello!"}], None, [True, False]),
    ("user-only", [{"role": "user", "content": "What is 2+2?"}], None, [True, False]),
    (
        "multi-turn",
        [
            SYSTEM,
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Tell me a joke."},
        ],
        None,
        [True, False],
    ),
    (
        "ends-with-assistant",
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there."}],
        None,
        [False],
    ),
    (
        "unicode",
        [
            {"role": "user", "content": "Héllo wörld 🦙 — 你好，世界！ Привет, καλημέρα"},
            {"role": "assistant", "content": "¡Hola! 👋🏽 ça va? 👨‍👩‍👧 ß ﬁ"},
            {"role": "user", "content": "日本語で答えて 🇯🇵\u00a0\u2003"},
        ],
        None,
        [True],
    ),
    (
        "quotes-newlines",
        [
            {"role": "system", "content": "Use \"quotes\" and 'apostrophes'.\nA second line with \\n that is not a newline."},
            {"role": "user", "content": "Line1\nLine2\r\nLine3\ttab  \n\n"},
            {"role": "assistant", "content": '  {"json": true, "list": [1, 2]}  '},
            {"role": "user", "content": "{{ not a template }} {% raw %} <b>&amp;</b> \\u00e9"},
        ],
        None,
        [True],
    ),
    (
        "whitespace",
        [
            {"role": "system", "content": "  padded system  "},
            {"role": "user", "content": "\n\n  spaced user\t\n"},
            {"role": "assistant", "content": "   I am an assistant   "},
            {"role": "user", "content": "Another question"},
        ],
        None,
        [True],
    ),
    ("non-alternating", [{"role": "user", "content": "A"}, {"role": "user", "content": "B"}], None, [True]),
    (
        "assistant-first",
        [{"role": "assistant", "content": "I speak first."}, {"role": "user", "content": "OK."}],
        None,
        [True],
    ),
    ("empty", [], None, [True]),
    ("tools", [SYSTEM] + TOOL_TURNS, [WEATHER_TOOL], [True]),
    ("tools-no-system", TOOL_TURNS[:1], [WEATHER_TOOL], [True]),
    (
        "reasoning",
        [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "<think>\nTwo plus two.\n</think>\n\nIt is 4."},
            {"role": "user", "content": "And 3+3?"},
        ],
        None,
        [True],
    ),
    (
        "multimodal",
        [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe this picture."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "A llama on a hill."}]},
        ],
        None,
        [True],
    ),
    (
        "tool-message-no-tools",
        [{"role": "user", "content": "Hi"}, {"role": "tool", "content": "42"}],
        None,
        [True],
    ),
]


def context_for(conversation, template, add_generation_prompt):
    _, messages, tools, _ = conversation
    _, _, bos, eos, extra = template
    ctx = {
        "messages": messages,
        "tools": tools,
        "documents": None,
        "add_generation_prompt": add_generation_prompt,
    }
    if bos is not None:
        ctx["bos_token"] = bos
    if eos is not None:
        ctx["eos_token"] = eos
    ctx.update(extra)
    return ctx


def render(source, ctx):
    try:
        return {"expected": _compile_jinja_template(source).render(**ctx)}
    except Exception as e:  # the error a caller of apply_chat_template would see
        return {"error": {"type": type(e).__name__, "message": str(e)}}


# Feature cases: (name, source, context). Each pins down one piece of Jinja behaviour.
FEATURES = [
    # Whitespace control, trim_blocks, lstrip_blocks, trailing newline.
    ("ws-trim-blocks", "{% if true %}\nyes\n{% endif %}\nafter\n", {}),
    ("ws-lstrip-blocks", "a\n    {% if true %}\n    b\n    {% endif %}\nc", {}),
    ("ws-lstrip-not-variables", "a\n    {{ 'x' }}\n    {# c #}\nb", {}),
    ("ws-minus-both", "a   \n  {%- if true -%}  \n  b  \n  {%- endif -%}  \n  c", {}),
    ("ws-minus-variable", "a  {{- 'x' -}}  b\n{{ 'y' }}  \n", {}),
    ("ws-plus-disables", "a\n    {%+ if true +%}\nb\n    {%+ endif %}\nc", {}),
    ("ws-comment-trim", "a\n{# comment #}\nb\n  {#- c -#}  \nd", {}),
    ("ws-crlf-source", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc\r\n", {}),
    ("ws-raw", "{% raw %}{{ x }}{% if %}{% endraw %}|{%- raw -%}  {{y}}  {%- endraw -%}|", {}),
    ("ws-tag-after-output", "{{ 'a' }}   {% if true %}b{% endif %}", {}),
    ("ws-unicode-space", "x\u3000{%- if true %}y{% endif %}", {}),
    ("ws-keep-two-trailing-newlines", "a\n\n", {}),
    # Literals and output.
    ("lit-strings", "{{ 'a\\'b' }}|{{ \"c\\\"d\" }}|{{ 'tab\\there' }}|{{ '\\u00e9\\x41\\101\\q\\\n' }}|{{ 'adj' 'acent' }}|{{ 'é\\é' }}", {}),
    ("lit-string-bad-escape", "{{ 'a\\N' }}", {}),
    ("lit-numbers", "{{ 1 }}|{{ -2 }}|{{ 1.5 }}|{{ 1e3 }}|{{ 1_000 }}|{{ 0x1F }}|{{ 0.1 + 0.2 }}|{{ 1e16 }}|{{ 1e-5 }}|{{ 123456789012345.0 }}|{{ 2.5e-3 }}", {}),
    ("lit-constants", "{{ true }}|{{ True }}|{{ false }}|{{ none }}|{{ None }}", {}),
    ("lit-containers", "{{ [1, 'a', none, true, 1.0] }}|{{ {'k': 'v', 'n': [1, (2, 3)]} }}|{{ (1,) }}|{{ () }}|{{ [] }}|{{ {} }}", {}),
    ("repr-quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n', 'é🦙'] }}", {}),
    ("output-json-values", "{{ v }}|{{ v.a }}|{{ v.b }}|{{ v.c }}|{{ v.d }}|{{ v.e }}", {"v": {"a": 1, "b": 2.0, "c": None, "d": [True, "x"], "e": {"z": 1, "a": 2}}}),
    # Operators.
    ("op-arith", "{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 6 / 3 }}|{{ 2 ** 10 }}|{{ 2 ** -1 }}|{{ 7.5 // 2 }}|{{ -7.5 % 2 }}|{{ 1 + 2 * 3 - 4 }}", {}),
    ("op-concat", "{{ 'a' ~ 1 ~ none ~ true ~ undefinedvar ~ [1] }}|{{ 'ab' * 3 }}|{{ [1] * 2 }}|{{ [1] + [2] }}", {}),
    ("op-compare", "{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}|{{ 1 == 1.0 }}|{{ true == 1 }}|{{ 'a' < 'b' }}|{{ [1, 2] < [1, 3] }}|{{ 'a' != 'a' }}|{{ none == none }}|{{ 'é' > 'z' }}", {}),
    ("op-logic", "{{ 1 and 2 }}|{{ 0 and 2 }}|{{ 0 or 'x' }}|{{ '' or [] }}|{{ not 0 }}|{{ not 'a' }}|{{ none or 'd' }}", {}),
    ("op-in", "{{ 'b' in 'abc' }}|{{ 2 in [1, 2] }}|{{ 'k' in {'k': 1} }}|{{ 'z' not in 'abc' }}|{{ 'x' in undefinedvar }}", {}),
    ("op-condexpr", "{{ 'y' if true else 'n' }}|{{ 'y' if false else 'n' }}|{{ 'only' if false }}|{{ 1 if 0 else 2 if 0 else 3 }}", {}),
    ("op-unary", "{{ -x }}|{{ - x | abs }}|{{ -(1 + 2) }}|{{ +3 }}", {"x": 5}),
    ("op-precedence", "{{ not true == false }}|{{ 2 * 3 ~ 4 }}|{{ 1 - 2 - 3 }}|{{ 2 ** 3 ** 2 }}|{{ 'a' ~ 'b' | upper }}", {}),
    ("op-type-error", "{{ 'a' + 1 }}", {}),
    ("op-zero-division", "{{ 1 // 0 }}", {}),
    # Variables, attributes, subscripts, undefined.
    ("undef-print", "[{{ missing }}]|{{ missing is defined }}|{{ missing | default('d') }}|{{ missing | length }}|{% for x in missing %}x{% endfor %}", {}),
    ("undef-attr-of-undef", "{{ missing.attr }}", {}),
    ("undef-missing-key", "[{{ d.nokey }}]|[{{ d['nokey'] }}]|{{ d.nokey is defined }}", {"d": {"a": 1}}),
    ("undef-key-of-missing-key", "{{ d.nokey.deeper }}", {"d": {"a": 1}}),
    ("undef-index-out-of-range", "[{{ l[5] }}]|{{ l[5] is defined }}|{{ l[-1] }}", {"l": [1, 2]}),
    ("undef-arith", "{{ missing + 1 }}", {}),
    ("undef-none-attr", "[{{ n.x }}]|{{ n is none }}|{{ n }}", {"n": None}),
    ("undef-equality", "{{ missing == missing }}|{{ missing == none }}|{{ missing != 1 }}", {}),
    ("subscript-forms", "{{ d.a }}|{{ d['a'] }}|{{ l.0 }}|{{ l[1] }}|{{ l[-1] }}|{{ s[0] }}|{{ s[-1] }}|{{ d.items is defined }}", {"d": {"a": 1}, "l": [1, 2, 3], "s": "héllo"}),
    ("slices", "{{ l[1:] }}|{{ l[:-1] }}|{{ l[::-1] }}|{{ l[::2] }}|{{ l[-2:] }}|{{ l[5:] }}|{{ s[1:3] }}|{{ s[::-1] }}|{{ s[:-1] }}", {"l": [1, 2, 3, 4], "s": "añb🦙c"}),
    # Statements.
    ("if-elif-else", "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
    ("for-loop-vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}|{{ loop.nextitem }}];{% endfor %}", {}),
    ("for-else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1] %}{{ x }}{% else %}no{% endfor %}", {}),
    ("for-filter", "{% for x in range(10) if x % 3 == 0 %}{{ x }}:{{ loop.index }}/{{ loop.length }},{% endfor %}", {}),
    ("for-unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}|{% for k in d %}{{ k }}{% endfor %}", {"d": {"z": 1, "a": 2, "m": 3}}),
    ("for-nested-loop", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ b }}{% endfor %}{{ loop.index }};{% endfor %}", {}),
    ("for-break-continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("for-cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b') }}{% endfor %}", {}),
    ("for-scoping", "{% set c = 0 %}{% for i in range(3) %}{{ c }}{% set c = c + 1 %}{{ c }},{% endfor %}|{{ c }}", {}),
    ("for-string-items", "{% for ch in 'h🦙é' %}[{{ ch }}]{% endfor %}", {}),
    ("set-and-if-scope", "{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}", {}),
    ("set-tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}", {}),
    ("set-block", "{% set body %}  hi {{ 1 + 1 }}  {% endset %}[{{ body }}]{% set up | upper %}abc{% endset %}{{ up }}", {}),
    ("set-shadows-context", "{% set messages = messages[1:] %}{{ messages | length }}", {"messages": [1, 2, 3]}),
    ("namespace", "{% set ns = namespace(found=false, n=0) %}{% for x in [1, 2, 3] %}{% if x > 1 %}{% set ns.found = true %}{% set ns.n = ns.n + x %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.n }} {{ ns['n'] }}", {}),
    ("namespace-from-dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", {}),
    ("macro", "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }} {{ greet(name='X') }}", {}),
    ("macro-sees-globals", "{% macro m() %}{{ g }}-{{ late }}{% endmacro %}{% set late = 'L' %}{{ m() }}", {"g": "G"}),
    ("macro-recursive", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(6) }}", {}),
    ("macro-varargs-kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}", {}),
    ("macro-closure-in-loop", "{% for i in [1, 2] %}{% macro m() %}<{{ i }}>{% endmacro %}{{ m() }}{% endfor %}", {}),
    ("macro-too-many-arguments", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}", {}),
    ("macro-unknown-keyword", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=1) }}", {}),
    ("call-block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inside{% endcall %}", {}),
    ("filter-block", "{% filter upper %}abc {{ 'd' }}{% endfilter %}", {}),
    ("with-block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    ("generation-tag", "{% generation %}kept{% endgeneration %}", {}),
    ("raise-exception", "{% if true %}{{ raise_exception('Bad \"roles\": ' ~ 3) }}{% endif %}", {}),
    ("unknown-filter-in-untaken-branch", "{% if false %}{{ x | nofilter }}{% endif %}{{ 'a' | nofilter if false else 'ok' }}", {}),
    ("unknown-filter-in-taken-branch", "{% if true %}{{ 1 | nofilter }}{% endif %}", {}),
    # Filters.
    ("filter-strings", "{{ '  a b  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ 'aBc' | upper }}|{{ 'aBc' | lower }}|{{ 'hello world' | capitalize }}|{{ \"hello-world they're (x)\" | title }}|{{ 'aaa' | replace('a', 'b', 2) }}", {}),
    ("filter-length", "{{ 'héllo' | length }}|{{ [1, 2] | count }}|{{ {'a': 1} | length }}|{{ '🦙' | length }}", {}),
    ("filter-first-last", "{{ [1, 2, 3] | first }}|{{ [1, 2, 3] | last }}|{{ 'abc' | first }}|{{ 'abc' | last }}|[{{ [] | first }}]", {}),
    ("filter-join", "{{ [1, 'a', none] | join(', ') }}|{{ 'abc' | join('-') }}|{{ users | join(',', attribute='name') }}", {"users": [{"name": "a"}, {"name": "b"}]}),
    ("filter-default", "{{ missing | default('d') }}|{{ '' | default('d') }}|{{ '' | default('d', true) }}|{{ none | default('d') }}|{{ none | d('d', boolean=true) }}", {}),
    ("filter-tojson", "{{ v | tojson }}|{{ s | tojson }}|{{ none | tojson }}|{{ 1.0 | tojson }}|{{ [] | tojson(indent=2) }}", {"v": {"b": [1, 2.5, None, True], "a": "é\"\n\\\u0001🦙<>&'"}, "s": "x"}),
    ("filter-tojson-indent", "{{ v | tojson(indent=2) }}\n{{ v | tojson(indent='\t') }}\n{{ v | tojson(sort_keys=true) }}\n{{ v | tojson(separators=(',', ':')) }}", {"v": {"z": {"k": [1, {}, []]}, "a": [], "m": {"x": None}}}),
    ("filter-tojson-ensure-ascii", "{{ s | tojson(ensure_ascii=true) }}", {"s": "é🦙"}),
    ("filter-numbers", "{{ '42' | int }}|{{ '4.7' | int }}|{{ 'x' | int }}|{{ 'x' | int(7) }}|{{ 3.9 | int }}|{{ '2.5' | float }}|{{ 3 | float }}|{{ -3 | abs }}|{{ 2.567 | round(2) }}|{{ 2.5 | round }}|{{ 2.4 | round(0, 'ceil') }}|{{ true | int }}", {}),
    ("filter-string-list", "{{ 12 | string }}|{{ none | string }}|{{ [1] | string }}|{{ 'ab' | list }}|{{ {'a': 1} | list }}|{{ {'a': 1, 'b': [2]} | items | list }}", {}),
    ("filter-indent", "{{ 'a\nb\n\nc' | indent }}|{{ 'a\nb' | indent(2, true) }}|{{ 'a\n\nb' | indent('--', blank=true) }}|{{ 'x\r\ny\n' | indent(1) }}", {}),
    ("filter-map-select", "{{ users | map(attribute='name') | join(',') }}|{{ users | selectattr('admin') | map(attribute='name') | list }}|{{ users | rejectattr('admin') | list | length }}|{{ users | selectattr('name', 'equalto', 'b') | list }}|{{ [1, 2, 3, 4] | select('odd') | list }}|{{ ['a', 'B'] | map('upper') | list }}|{{ [1, 0, 2] | select | list }}|{{ users | map(attribute='missing', default='?') | list }}", {"users": [{"name": "a", "admin": True}, {"name": "b", "admin": False}]}),
    ("filter-sort-unique", "{{ ['b', 'A', 'c'] | sort }}|{{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}|{{ [3, 1, 2] | sort(reverse=true) }}|{{ users | sort(attribute='age') | map(attribute='n') | join }}|{{ ['a', 'A', 'b', 'a'] | unique | list }}", {"users": [{"n": "x", "age": 3}, {"n": "y", "age": 1}]}),
    ("filter-min-max-sum", "{{ [3, 1, 2] | min }}|{{ [3, 1, 2] | max }}|{{ [1, 2, 3] | sum }}|{{ items | sum(attribute='v') }}|{{ ['b', 'A'] | max }}", {"items": [{"v": 1}, {"v": 2.5}]}),
    ("filter-reverse", "{{ 'abc' | reverse }}|{{ [1, 2, 3] | reverse | list }}", {}),
    ("filter-dictsort", "{% for k, v in d | dictsort %}{{ k }}{{ v }}{% endfor %}|{% for k, v in d | dictsort(reverse=true) %}{{ k }}{% endfor %}", {"d": {"b": 1, "A": 2, "c": 3}}),
    ("filter-attr-escape-safe", "{{ d | attr('a') }}|{{ '<a href=\"x\">&</a>' | e }}|{{ 'x' | safe }}", {"d": {"a": 1}}),
    ("filter-chained-args", "{{ messages | selectattr('role', 'equalto', 'user') | list | length }}|{{ messages | map(attribute='role') | unique | join(',') }}", {"messages": [{"role": "user"}, {"role": "assistant"}, {"role": "user"}]}),
    # Tests.
    ("tests-types", "{{ 's' is string }}{{ 1 is string }}{{ {} is mapping }}{{ [] is mapping }}{{ [] is iterable }}{{ 's' is iterable }}{{ 1 is iterable }}{{ missing is iterable }}{{ 1 is number }}{{ 1.5 is number }}{{ true is number }}{{ 's' is number }}{{ [] is sequence }}{{ 's' is sequence }}{{ {} is sequence }}{{ true is boolean }}{{ 1 is boolean }}{{ none is none }}{{ 1 is integer }}{{ 1.0 is float }}{{ true is integer }}", {}),
    ("tests-values", "{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ 1 is eq 1 }}{{ 2 is gt 1 }}{{ 'a' is in 'abc' }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ x is not none }}{{ x is not defined }}{{ true is true }}{{ 0 is false }}{{ none is sameas none }}{{ range is callable }}", {"x": 1}),
    # String and dict methods.
    ("methods-strip", "[{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ 'xxhixx'.strip('x') }}][{{ '\n\tx\u00a0'.strip() }}][{{ 'abc'.lstrip('ab') }}]", {"s": "  pad  "}),
    ("methods-split", "{{ 'a b  c'.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ '<think>x</think>y'.split('</think>')[-1] }}|{{ ''.split() }}|{{ 'a\nb\r\nc'.splitlines() }}|{{ '  x  y '.split(' ') }}", {}),
    ("methods-affixes", "{{ 'hello'.startswith('he') }}{{ 'hello'.endswith('lo') }}{{ 'hello'.startswith(('x', 'h')) }}{{ 'hello'.endswith('x') }}|{{ 'hello'.removeprefix('he') }}|{{ 'hello'.removesuffix('lo') }}", {}),
    ("methods-case", "{{ 'Hello World'.upper() }}|{{ 'Hello World'.lower() }}|{{ \"they're bill's friends\".title() }}|{{ 'hELLO'.capitalize() }}|{{ 'aBc'.swapcase() }}", {}),
    ("methods-find-replace", "{{ 'hello'.find('l') }}|{{ 'hello'.rfind('l') }}|{{ 'hello'.find('z') }}|{{ 'hello'.count('l') }}|{{ 'a-b-c'.replace('-', '+') }}|{{ 'a-b-c'.replace('-', '', 1) }}|{{ ', '.join(['a', 'b']) }}|{{ 'héllo'.index('l') }}", {}),
    ("methods-predicates", "{{ '123'.isdigit() }}{{ 'abc'.isalpha() }}{{ 'a1'.isalnum() }}{{ '  '.isspace() }}{{ 'abc'.islower() }}{{ 'ABC'.isupper() }}{{ ''.isdigit() }}", {}),
    ("methods-dict", "{{ d.keys() | list }}|{{ d.values() | list }}|{{ d.items() | list }}|{{ d.get('a') }}|{{ d.get('zz') }}|{{ d.get('zz', 'dflt') }}|{{ d.get('a', 'dflt') }}", {"d": {"b": 2, "a": 1}}),
    ("percent-format", "{{ '%s|%5.2f|%-4d|%03d|%x|%r|%%' % ('é', 3.14159, 7, 5, 255, 'q') }}|{{ '%(a)s=%(b)d' % {'a': 'k', 'b': 2} }}|{{ '%s' % [1] }}|{{ '%s and %s' | format('x', 'y') }}", {}),
    ("percent-format-error", "{{ '%s %s' % ('one',) }}", {}),
    ("in-unhashable", "{{ {'a': 1} in {'a': 1} }}", {}),
    ("methods-list", "{{ [1, 2, 3].index(2) }}|{{ [1, 2, 2].count(2) }}", {}),
    ("methods-immutable", "{% set l = [1] %}{{ l.append(2) }}", {}),
    # Globals.
    ("globals-range", "{{ range(3) | list }}|{{ range(1, 7, 2) | list }}|{{ range(5, 0, -2) | list }}|{{ range(0) | list }}", {}),
    ("globals-dict", "{{ dict(a=1, b='x') }}|{{ dict([('k', 2)]) }}", {}),
    ("globals-range-too-big", "{{ range(200000) | length }}", {}),
    # Template-level errors a caller must see.
    ("error-undefined-call", "{{ nofunction() }}", {}),
    ("error-iterate-int", "{% for x in 5 %}{% endfor %}", {}),
    ("error-unclosed-for", "line one\n{% for x in y %}\nbody", {}),
    ("error-unknown-tag", "{% frobnicate %}", {}),
    ("error-unknown-filter", "{{ 1 | nofilter }}", {}),
    ("error-bad-expression", "{{ 1 + }}", {}),
    ("error-unclosed-string", "{{ 'abc }}", {}),
    ("error-unclosed-comment", "{# abc", {}),
    ("error-endif-mismatch", "{% if true %}{% endfor %}", {}),
    ("error-break-outside-loop", "{% break %}", {}),
]


# Message lists as a client sends them, for the messages transformers hands the template
# (apply_chat_template drops null-valued keys, render_jinja_template aliases reasoning).
NORMALIZE = [
    (
        "nulls-and-reasoning",
        [
            {"role": "user", "content": "hi", "name": None},
            {"role": "assistant", "content": None, "reasoning_content": "because", "tool_calls": [{"id": "x"}]},
            {"role": "assistant", "content": "ok", "thinking": "hmm", "reasoning": "ignored"},
            {"role": "assistant", "content": "ok", "reasoning": "r", "thinking": None},
        ],
    ),
]


def main():
    gguf_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_GGUF
    tmpl_list = templates(gguf_path)
    sources = {name: source for name, source, *_ in tmpl_list if source is not None}
    out_templates = []
    cases = []
    for tmpl in tmpl_list:
        name, source, bos, eos, extra = tmpl
        if source is None:
            source = sources[name.rsplit("-builtin-tools", 1)[0]]
            tmpl = (name, source, bos, eos, extra)
        entry = {"name": name, "source": source, "extra": extra}
        if bos is not None:
            entry["bos_token"] = bos
        if eos is not None:
            entry["eos_token"] = eos
        out_templates.append(entry)
        for conv in CONVERSATIONS:
            for agp in conv[3]:
                case = {"template": name, "conversation": conv[0], "add_generation_prompt": agp}
                case.update(render(source, context_for(conv, tmpl, agp)))
                cases.append(case)
    features = []
    for name, source, ctx in FEATURES:
        case = {"name": name, "source": source, "context": ctx}
        case.update(render(source, ctx))
        features.append(case)
    normalize = [
        {"name": name, "messages": messages,
         "expected": _alias_reasoning_fields(_normalize_chat_messages(messages))}
        for name, messages in NORMALIZE
    ]
    doc = {
        "generator": "scripts/gen-chat-template-goldens.py",
        "jinja2": jinja2.__version__,
        "transformers": transformers.__version__,
        "context": "messages, tools, documents (null), add_generation_prompt, bos_token, eos_token, then extra",
        "conversations": [{"name": n, "messages": m, "tools": t} for n, m, t, _ in CONVERSATIONS],
        "templates": out_templates,
        "cases": cases,
        "features": features,
        "normalize": normalize,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    failed = sum(1 for c in cases if "error" in c)
    print(f"{OUT}: {len(out_templates)} templates, {len(cases)} cases ({failed} expected errors), "
          f"{len(features)} feature cases")


if __name__ == "__main__":
    main()
