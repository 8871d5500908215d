"""Pre-training throughput on a GPU: agree's BertForPreTraining against Hugging Face's, same configuration.

    python benchmarks/gpu_pretrain.py [--preset base] [--batch-size 32] [--length 128] [--steps 20]

Both train in bf16 autocast with fused AdamW (what pretrain.py and the Hugging Face Trainer do on CUDA), on
the same random batch with 15% masked positions; Hugging Face scores every position (labels -100 elsewhere),
agree only the masked ones. The contenders take turns step by step; medians are reported. Needs
transformers besides agree's requirements. Runs on the CPU too (slowly), for a quick check.
"""
import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bert import IGNORE_INDEX, BertConfig, BertForPreTraining, pretraining_loss  # noqa: E402
from throughput import hugging_face_config  # noqa: E402  the same model in transformers, as on the CPU
from agree.training import make_optimizer  # noqa: E402

VOCAB_SIZE = 30_522  # bert-base-uncased's, so the parameter count is the familiar 110 M


def random_batch(batch_size, length, predictions, device):
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, VOCAB_SIZE, (batch_size, length), generator=generator)
    positions = torch.stack([torch.randperm(length - 1, generator=generator)[:predictions] + 1
                             for _ in range(batch_size)]).sort(dim=1).values
    labels = input_ids.gather(1, positions)
    everywhere = torch.full_like(input_ids, IGNORE_INDEX).scatter(1, positions, labels)
    batch = {"input_ids": input_ids, "segment_ids": (torch.arange(length) >= length // 2).long().expand(
        batch_size, -1).contiguous(), "masked_positions": positions, "masked_labels": labels,
        "labels_everywhere": everywhere, "nsp_labels": torch.randint(0, 2, (batch_size,), generator=generator)}
    return {name: tensor.to(device) for name, tensor in batch.items()}


def our_loss(model, batch):
    mlm_logits, nsp_logits = model(batch["input_ids"], batch["segment_ids"], batch["masked_positions"])
    return pretraining_loss(mlm_logits, batch["masked_labels"], nsp_logits, batch["nsp_labels"])[0]


def step_function(model, loss_of, device):
    optimizer = make_optimizer(model, 1e-4, weight_decay=0.01)  # fused AdamW, BERT's parameter groups
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step():
        with autocast:
            loss = loss_of()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return step


def timed(steps, warmup, contenders, device):
    seconds = {name: [] for name in contenders}
    for index in range(warmup + steps):
        for name, step in contenders.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if index >= warmup:
                seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in seconds.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="base", choices=["tiny", "small", "base"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = BertConfig.preset(args.preset, vocab_size=VOCAB_SIZE)
    batch = random_batch(args.batch_size, args.length, round(0.15 * args.length), device)
    contenders = {}
    for attention in ("written", "fused"):
        ours = BertForPreTraining(replace(config, attention=attention)).to(device).train()
        contenders[f"agree ({attention} attention)"] = step_function(ours, lambda m=ours: our_loss(m, batch),
                                                                     device)
    import transformers
    theirs = transformers.BertForPreTraining(hugging_face_config(config)).to(device).train()
    contenders["transformers BertForPreTraining (sdpa)"] = step_function(theirs, lambda: theirs(
        input_ids=batch["input_ids"], token_type_ids=batch["segment_ids"], labels=batch["labels_everywhere"],
        next_sentence_label=batch["nsp_labels"]).loss, device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"{name}, torch {torch.__version__}, preset {args.preset}, batch {args.batch_size}×{args.length}, "
          f"bf16 autocast: {device.type == 'cuda'}")
    medians = timed(args.steps, args.warmup, contenders, device)
    reference = medians["transformers BertForPreTraining (sdpa)"]
    tokens = args.batch_size * args.length
    for contender, seconds in medians.items():
        print(f"  {contender:<42} {seconds * 1000:8.1f} ms/step  {tokens / seconds:>10,.0f} tokens/s  "
              f"{reference / seconds:5.2f}x")


if __name__ == "__main__":
    main()
