"""Fine-tune a Gemma 4 with transformers on the job's records: embed a corpus with transcripts, then train.

    python examples/finetune_transformers.py --steps 10
    python examples/finetune_transformers.py --model google/gemma-4-E2B-it --corpus my_corpus.jsonl

By default the model is examples/tiny_gemma4.py's tiny random Gemma 4 (no download): it is saved,
the job embeds the corpus with its audio tower (`--hf_checkpoint`), and its language model trains
on the records. With `--model` a real checkpoint (a Hub id or folder) and its tokenizer are used
the same way. The audio tower never runs during training: the records stand in for it.
"""

import itertools

import finetune_common
import torch

from gemma4_audio_embed.training import LengthBuckets
from gemma4_audio_embed.training import PromptTemplate
from gemma4_audio_embed.training import TrainingSource
from gemma4_audio_embed.training import transformers_lm_inputs
from gemma4_audio_embed.training.torch_loader import torch_data_loader


def model_and_tokenizer(args, folder):
    """`(model, tokenizer, checkpoint for --hf_checkpoint)`: the tiny random model saved in `folder`, or `--model`."""
    if args.model is None:
        import tiny_gemma4

        model = tiny_gemma4.tiny_gemma4(seed=args.seed)
        checkpoint = str(folder / "tiny_gemma4")
        model.save_pretrained(checkpoint)
        return model, tiny_gemma4.transformers_tokenizer(finetune_common.transcripts(args.corpus)), checkpoint
    import transformers

    model = transformers.Gemma4ForConditionalGeneration.from_pretrained(args.model, dtype=torch.bfloat16)
    return model, transformers.AutoTokenizer.from_pretrained(args.model), args.model


def batches(loader, buckets):
    """The loader's batches, epoch after epoch, each epoch in a new order."""
    for epoch in itertools.count():
        buckets.set_epoch(epoch)
        yield from loader


def main(argv=None):
    args = finetune_common.parser(__doc__.splitlines()[0], "a transformers Gemma 4 checkpoint").parse_args(argv)
    torch.manual_seed(args.seed)
    folder = finetune_common.work_folder(args.output)
    model, tokenizer, checkpoint = model_and_tokenizer(args, folder)
    prefix = finetune_common.embed(args.corpus, folder, "--hf_checkpoint", checkpoint)

    source = TrainingSource(prefix, tokenizer, PromptTemplate(prompt="<audio>\nTranscribe:", answer=" {text}"))
    buckets = LengthBuckets(source.lengths, max_tokens=args.max_tokens, pad_to_multiple_of=64, seed=args.seed)
    loader = torch_data_loader(source, buckets)
    optimizer = torch.optim.AdamW((p for p in model.parameters() if p.requires_grad), lr=args.learning_rate)
    model.train()
    for step, batch in zip(range(args.steps), batches(loader, buckets)):
        inputs = transformers_lm_inputs(
            model, batch["input_ids"], batch["attention_mask"], batch["embeddings"], batch["clip_keys"]
        )
        loss = model(**inputs, labels=batch["labels"].to(model.device)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        finetune_common.print_loss(step, loss.item())


if __name__ == "__main__":
    main()
