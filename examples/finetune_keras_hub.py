"""Fine-tune a Gemma 4 with keras-hub on the job's records: embed a corpus with transcripts, then `fit()`.

    python examples/finetune_keras_hub.py --steps 10
    python examples/finetune_keras_hub.py --model gemma4_instruct_2b --corpus my_corpus.jsonl

By default the model is examples/tiny_gemma4.py's tiny random Gemma 4, created with transformers
and read by keras-hub's checkpoint converter (no download); the job embeds the corpus with its
audio tower. With `--model` a keras-hub preset (name, Kaggle handle or folder) is used: the job
embeds with `--keras_hub_preset`, and its tokenizer is the preset's. Either way the language
model is rebuilt with a stored-audio stage (`stored_audio_backbone`) and trained by `fit()` on a
`tf.data` pipeline over the records. Runs on any Keras backend (`KERAS_BACKEND`, JAX by default).
"""

import functools
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import finetune_common  # noqa: E402
import keras  # noqa: E402
import keras_hub  # noqa: E402

from gemma4_audio_embed.training import LengthBuckets  # noqa: E402
from gemma4_audio_embed.training import PromptTemplate  # noqa: E402
from gemma4_audio_embed.training import TrainingSource  # noqa: E402
from gemma4_audio_embed.training.keras_hub_lm import keras_hub_training_batch  # noqa: E402
from gemma4_audio_embed.training.keras_hub_lm import stored_audio_backbone  # noqa: E402
from gemma4_audio_embed.training.tf_data import tf_dataset  # noqa: E402


def backbone_tokenizer_and_flags(args, folder):
    """`(keras-hub backbone, tokenizer, the job's model flags)`: the tiny random model, or the preset `--model`."""
    if args.model is None:
        import tiny_gemma4

        checkpoint = str(folder / "tiny_gemma4")
        tiny_gemma4.tiny_gemma4(seed=args.seed).save_pretrained(checkpoint)
        backbone = keras_hub.models.Gemma4Backbone.from_preset(
            tiny_gemma4.keras_hub_folder(checkpoint, folder / "keras_hub")
        )
        tokenizer = tiny_gemma4.keras_hub_tokenizer(finetune_common.transcripts(args.corpus))
        return backbone, tokenizer, ("--hf_checkpoint", checkpoint)
    backbone = keras_hub.models.Gemma4Backbone.from_preset(args.model)
    return backbone, keras_hub.models.Gemma4Tokenizer.from_preset(args.model), ("--keras_hub_preset", args.model)


class PrintLoss(keras.callbacks.Callback):
    """Prints each step's loss (one step per epoch, so `logs["loss"]` is that step's)."""

    def on_epoch_end(self, epoch, logs=None):
        finetune_common.print_loss(epoch, logs["loss"])


def main(argv=None):
    args = finetune_common.parser(__doc__.splitlines()[0], "a keras-hub Gemma 4 preset").parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    folder = finetune_common.work_folder(args.output)
    backbone, tokenizer, model_flags = backbone_tokenizer_and_flags(args, folder)
    prefix = finetune_common.embed(args.corpus, folder, *model_flags)

    stored = stored_audio_backbone(backbone)
    del backbone  # its weights are copied
    source = TrainingSource(prefix, tokenizer, PromptTemplate(prompt="<audio>\nTranscribe:", answer=" {text}"))
    buckets = LengthBuckets(source.lengths, max_tokens=args.max_tokens, pad_to_multiple_of=64, seed=args.seed)
    collate = functools.partial(
        keras_hub_training_batch,
        hidden_dim=stored.hidden_dim,
        pad_id=tokenizer.pad_token_id,
        audio_token_id=tokenizer.audio_placeholder_id,
        pad_to_multiple_of=64,
    )
    lm = keras_hub.models.Gemma4CausalLM(backbone=stored, preprocessor=None)
    lm.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
        weighted_metrics=[],
    )
    dataset = tf_dataset(source, buckets, collate).repeat()
    lm.fit(dataset, epochs=args.steps, steps_per_epoch=1, callbacks=[PrintLoss()], verbose=0)


if __name__ == "__main__":
    main()
