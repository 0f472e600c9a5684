"""From recordings to embeddings (needs the ``audio`` extra: NeMo, silero-vad, resemblyzer).

* ``nemo_manifest``  NeMo-style audio manifests (JSON lines): read with row/field errors, write
* ``clip``           one clip for a speaker model: mono, resampled, bad audio named by reason
* ``segments``       the paper's 4-8 s non-silent segments (SoX's silence rule or silero-vad)
* ``speaker_model``  NeMo TitaNet (.nemo, pretrained name, or config with random weights), resemblyzer
* ``extract``        a NeMo manifest -> embeddings + metadata + data manifest; resumable, nothing lost
* ``ray_engine``     the same extraction as Ray Data batch inference (the ``ray`` extra)
* ``demo_corpus``    an offline audio corpus: espeak-ng speakers (en/es), hold music, telephony
"""
