"""An offline demo corpus of real audio: synthetic speakers of English and Spanish, and hold music.

Speech comes from Debian's ``espeak-ng`` (formant synthesis): each synthetic speaker is a voice
(en-us, en-gb, en-gb-scotland / es, es-419), a gender variant (espeak's ``+f1``..``+f4``,
``+m1``..``+m4``), a pitch and a speed, reading call-centre sentences with short pauses. A third
of the speakers and of the music pass through a telephony channel made with ``sox`` (300-3400 Hz,
8 kHz, mu-law, line noise), and stay 8 kHz files, so extraction's resampling is exercised. Hold
music is synthesised here (chord progressions of harmonic tones, some of it stereo).

The result is a NeMo manifest of whole recordings with ``language``, ``gender``, ``is_music``,
``speaker``, ``split`` (speaker-disjoint), ``channel``, ``voice``, ``pitch`` and ``speed``.
What it can show: that the pipeline from audio to SAE latents works and finds features that the
audio really carries. What it cannot: anything about real people's voices -- espeak's voices
differ from each other in ways real speakers do not, and its "gender" is a variant setting.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from . import nemo_manifest
from ..errors import VoicesaeError
from ..files import atomic_path, check_output

SENTENCES = {
    "en": [
        "Thank you for calling, your call is important to us.",
        "Please hold while I transfer you to the next available agent.",
        "Could you spell your last name for me, please?",
        "I can see the payment was received on the third of March.",
        "Your account number has eight digits and starts with a four.",
        "Is there anything else I can help you with today?",
        "Let me check the status of your order in our system.",
        "The technician will arrive between nine and eleven tomorrow.",
        "I am sorry for the wait, we are very busy this morning.",
        "Would you like me to send the receipt to your email address?",
        "Press one to continue in English, or stay on the line.",
        "Your new card should arrive within five business days.",
    ],
    "es": [
        "Gracias por llamar, su llamada es muy importante para nosotros.",
        "Por favor espere mientras le transfiero al siguiente agente disponible.",
        "¿Me puede deletrear su apellido, por favor?",
        "Veo que el pago fue recibido el tres de marzo.",
        "Su número de cuenta tiene ocho dígitos y empieza con un cuatro.",
        "¿Hay algo más en lo que le pueda ayudar hoy?",
        "Permítame revisar el estado de su pedido en nuestro sistema.",
        "El técnico llegará mañana entre las nueve y las once.",
        "Disculpe la espera, estamos muy ocupados esta mañana.",
        "¿Quiere que le envíe el recibo a su correo electrónico?",
        "Marque dos para continuar en español, o permanezca en la línea.",
        "Su nueva tarjeta debería llegar en cinco días hábiles.",
    ],
}
VOICES = {"en": ["en-us", "en-gb", "en-gb-scotland"], "es": ["es", "es-419"]}
VARIANTS = {"female": ["f1", "f2", "f3", "f4"], "male": ["m1", "m2", "m3", "m4"]}
PITCH = {"female": (55, 85), "male": (20, 50)}
"""espeak-ng's pitch setting (0-99) per gender."""
SAMPLE_RATE = 16000
PROFILES = {"quick": {"speakers_per_group": 4, "music": 6, "sentences": 6},
            "full": {"speakers_per_group": 12, "music": 16, "sentences": 8}}


def require_tools(*tools: str) -> None:
    """A clear error when a system program the corpus needs is missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise VoicesaeError(f"the demo corpus needs the system program(s) {missing}: install them "
                            f"(apt-get install {' '.join(missing)}; make test does this when run as root or with sudo)")


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise VoicesaeError(f"{' '.join(cmd[:3])} ... failed ({done.returncode}): {done.stderr.strip()[:300]}")


def _read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return x.mean(axis=1), sr


def speak(text: str, voice: str, variant: str, pitch: int, speed: int, tmp: Path) -> np.ndarray:
    """One sentence from espeak-ng, at SAMPLE_RATE."""
    import soxr
    wav = tmp / "sentence.wav"
    _run(["espeak-ng", "-v", f"{voice}+{variant}", "-p", str(pitch), "-s", str(speed), "-w", str(wav), text])
    x, sr = _read(wav)
    loud = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())
    x = x[loud[0]: loud[-1] + 1]  # espeak pads each sentence with silence; the corpus sets its own pauses
    return soxr.resample(x, sr, SAMPLE_RATE).astype(np.float32)


def hold_music(seconds: float, rng, stereo: bool = False) -> np.ndarray:
    """A loop of four chords (I-V-vi-IV) of harmonic tones with soft attacks; (n,) or (n, 2)."""
    root = 220.0 * 2 ** (rng.integers(-5, 6) / 12)
    chord_len = rng.uniform(0.8, 1.4)
    progression = [(0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12)]
    t = np.arange(int(chord_len * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.minimum(t / 0.05, 1.0) * np.exp(-t * rng.uniform(0.5, 2.0))
    chords = []
    for steps in progression:
        tone = sum(np.sin(2 * np.pi * root * 2 ** (s / 12) * h * t) / h ** 1.5 for s in steps for h in (1, 2, 3))
        chords.append(tone * envelope)
    loop = np.concatenate(chords)
    x = np.tile(loop, int(np.ceil(seconds * SAMPLE_RATE / len(loop))))[: int(seconds * SAMPLE_RATE)]
    x = 0.5 * x / np.abs(x).max()
    if stereo:  # a slightly delayed, quieter right channel
        right = np.concatenate([np.zeros(80), x[:-80]]) * 0.8
        x = np.stack([x, right], axis=1)
    return x.astype(np.float32)


def telephone(x: np.ndarray, out: Path, noise: float, rng, tmp: Path) -> None:
    """Write ``x`` through a telephony channel: line noise, 300-3400 Hz, 8 kHz, mu-law."""
    import soundfile as sf
    clean = tmp / "clean.wav"
    mono = x if x.ndim == 1 else x.mean(axis=1)
    sf.write(str(clean), mono + noise * rng.standard_normal(len(mono)).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    with atomic_path(out, suffix=".wav") as part:
        # -R: sox's dither is random otherwise, and the corpus must be the same on every run
        _run(["sox", "-V1", "-R", str(clean), "-r", "8000", "-e", "mu-law", "-b", "8", "-t", "wav", str(part),
              "sinc", "300-3400"])


def _write(x: np.ndarray, out: Path) -> None:
    import soundfile as sf
    with atomic_path(out, suffix=".wav") as part:
        sf.write(str(part), x, SAMPLE_RATE, subtype="PCM_16", format="WAV")


def _recording(x: np.ndarray, path: Path, channel: str, rng, tmp: Path, **fields) -> dict:
    """Write one recording (through the telephony channel or as 16 kHz PCM) and return its manifest row."""
    import soundfile as sf
    if channel == "telephone":
        telephone(x, path, rng.uniform(0.0008, 0.002), rng, tmp)
    else:
        _write(x, path)
    return {"audio_filepath": str(path), "offset": 0.0, "duration": round(sf.info(str(path)).duration, 4),
            "channel": channel, **fields}


def generate(out_dir: str | Path, profile: str = "quick", seed: int = 0, quiet: bool = False) -> Path:
    """Write the corpus's audio into ``out_dir/audio`` and its NeMo manifest ``out_dir/recordings.json``."""
    from tqdm import tqdm

    if profile not in PROFILES:
        raise VoicesaeError(f"demo corpus profile {profile!r}: expected one of {sorted(PROFILES)}")
    out_dir = check_output(out_dir, (), "--out", kind="folder")
    require_tools("espeak-ng", "sox")
    p = PROFILES[profile]
    rng = np.random.default_rng(seed)
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "tmp"
    tmp.mkdir(exist_ok=True)
    plan = [(lang, gender, i) for lang in ("en", "es") for gender in ("female", "male")
            for i in range(p["speakers_per_group"])]
    rows = []
    for n, (lang, gender, i) in enumerate(tqdm(plan, desc="demo corpus: speakers", unit="speaker", disable=quiet)):
        speaker = f"{lang}-{gender[0]}{i:02d}"
        voice = VOICES[lang][i % len(VOICES[lang])]
        variant = VARIANTS[gender][i % len(VARIANTS[gender])]
        pitch, speed = int(rng.integers(*PITCH[gender])), int(rng.integers(135, 185))
        order = rng.permutation(len(SENTENCES[lang]))[: p["sentences"]]
        pieces = []
        for j, s in enumerate(order):
            pieces.append(speak(SENTENCES[lang][s], voice, variant, pitch, speed, tmp))
            # short pauses join sentences; a long one after the middle splits the recording in two
            gap = 1.2 if j == len(order) // 2 - 1 else rng.uniform(0.15, 0.4)
            pieces.append(np.zeros(int(gap * SAMPLE_RATE), np.float32))
        x = np.concatenate([np.zeros(int(0.5 * SAMPLE_RATE), np.float32), *pieces])
        x = 0.7 * x / np.abs(x).max()
        rows.append(_recording(x, out_dir / "audio" / f"{speaker}.wav", "telephone" if n % 3 == 2 else "clean", rng, tmp,
                               label=speaker, id=speaker, speaker=speaker, language=lang, gender=gender, is_music=0,
                               split="test" if i % 4 == 3 else "train", voice=f"{voice}+{variant}", pitch=pitch,
                               speed=speed))
    for i in range(p["music"]):
        stereo = i % 3 == 1
        x = hold_music(rng.uniform(14, 26), rng, stereo=stereo)
        rows.append(_recording(x, out_dir / "audio" / f"music-{i:02d}.wav", "telephone" if i % 3 == 2 else "clean",
                               rng, tmp, label="music", id=f"music-{i:02d}", speaker="", language="none",
                               gender="none", is_music=1, split="test" if i % 4 == 3 else "train",
                               voice="stereo" if stereo else "mono", pitch=-1, speed=-1))
    shutil.rmtree(tmp, ignore_errors=True)
    return nemo_manifest.write(out_dir / "recordings.json", rows)


COLUMNS = {
    "channel": "clean (16 kHz PCM) or telephone (300-3400 Hz, 8 kHz mu-law, line noise)",
    "voice": "espeak-ng voice+variant of the synthetic speaker (music: mono or stereo)",
    "pitch": "espeak-ng pitch setting 0-99 (-1 for music)",
    "speed": "espeak-ng speed, words per minute (-1 for music)",
}
"""Meanings of the corpus's own metadata columns, for the data manifest (``extract(columns=...)``)."""
