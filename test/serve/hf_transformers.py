# Loads a `parley export` folder with Hugging Face transformers (AutoTokenizer + AutoModelForCausalLM, torch CPU) and
# prints JSON: logits for given ids, the chat-template ids of given messages, and a greedy generation that stops at
# generation_config's end-of-turn ids. Usage: python hf_transformers.py EXPORT_DIR '{"ids": [...], "messages": [...], "max_new_tokens": n}'
import json
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    d, arg = sys.argv[1], json.loads(sys.argv[2])
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([arg["ids"]])).logits[0]
        chat = tok.apply_chat_template(arg["messages"], add_generation_prompt=True, tokenize=True)
        if isinstance(chat, dict) or hasattr(chat, "input_ids"):
            chat = chat["input_ids"]
        out = model.generate(torch.tensor([chat]), max_new_tokens=arg["max_new_tokens"], do_sample=False)
    print(json.dumps({
        "logits": logits.tolist(),
        "chat_ids": list(chat),
        "generated": out[0, len(chat):].tolist(),
        "eos": model.generation_config.eos_token_id,
    }))


main()
