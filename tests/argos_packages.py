"""Tiny, offline, deterministic Argos Translate packages for Haven's tests.

Each package is a genuine ``.argosmodel`` archive that Argos installs and runs like a real
one: ``metadata.json``, a SentencePiece model trained here on a few sentences, a
one-layer CTranslate2 Transformer whose weights are set by hand so that output step t
copies source position t through a phrasebook (word-by-word translation; unknown pieces
are copied unchanged), and a tiny ONNX sentence splitter in MiniSBD's format (every
``.!?`` ends a sentence). Building one takes well under a second.

``build_packages(folder)`` writes the pairs the tests use:
- German as a language Haven has no catalog for (``de→en`` and ``en→de``): understood
  through the English pivot, answered by machine translation with the notice;
- French, Portuguese and Arabic to English: catalog languages whose messages the model
  reads through the pivot.
"""

import io
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import sentencepiece as spm
from ctranslate2.specs import transformer_spec


def train_sentencepiece(sentences, prefix, words, vocab_size=200):
    """Train a unigram SentencePiece model on `sentences` (no network, ~0.1 s).

    Every phrasebook word becomes one word-initial piece ("▁hola") via user_defined_symbols.
    """
    buf = (
        io.BytesIO()
    )  # model_writer (not model_prefix) keeps the output byte-for-byte reproducible
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=buf,
        user_defined_symbols=sorted({"▁" + w for w in words}),
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,  # small corpus: let it pick fewer pieces
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        minloglevel=2,
        num_threads=1,  # deterministic output
    )
    Path(str(prefix) + ".model").write_bytes(buf.getvalue())
    return spm.SentencePieceProcessor(model_proto=buf.getvalue())


def build_ct2_model(out_dir, pieces, mapping, max_positions=1100, n_freq=32):
    """Hand-built CTranslate2 Transformer: out[t] = mapping[src[t]] (identity default).

    pieces:  vocabulary list (index == sentencepiece id); must contain <unk>, <s>, </s>
    mapping: dict source_piece -> target_piece (both in `pieces`)
    Layout of the d_model = 2V + 4K dims: [token one-hot | zero-mean sin/cos position | output].
    The position table covers CTranslate2's defaults (max_input_length=1024,
    max_decoding_length=256), so no input length makes CTranslate2 raise.
    """
    V, K = len(pieces), n_freq
    PD = 4 * K
    d = 2 * V + PD
    TOK, POS, OUT = 0, V, V + PD
    idx = {p: i for i, p in enumerate(pieces)}
    f32 = np.float32

    spec = transformer_spec.TransformerSpec.from_config(num_layers=(1, 1), num_heads=1)
    enc, dec = spec.encoder, spec.decoder
    enc.scale_embeddings = False
    dec.scale_embeddings = False

    emb = np.zeros((V, d), f32)
    emb[np.arange(V), TOK + np.arange(V)] = 1.0
    w = 3.0 * (2 * np.pi / 4096 / 3.0) ** (np.arange(K) / (K - 1))  # multi-scale frequencies
    ang = np.outer(np.arange(max_positions), w)
    pos = np.zeros((max_positions, d), f32)
    pos[:, POS : POS + PD] = np.concatenate(
        [np.sin(ang), np.cos(ang), -np.sin(ang), -np.cos(ang)], 1
    )
    enc.embeddings[0].weight = emb
    dec.embeddings.weight = emb.copy()
    enc.position_encodings.encodings = pos
    dec.position_encodings.encodings = pos.copy()

    # Every embedding+position vector has mean 1/d and sum of squares 1+2K, so LayerNorm
    # is the same affine map for all of them; beta = mu/sigma turns it into x/sigma.
    mu = 1.0 / d
    sigma = float(np.sqrt((1.0 + 2 * K) / d - mu * mu + 1e-6))

    def ln(spec_ln, beta=0.0):
        spec_ln.gamma = np.ones(d, f32)
        spec_ln.beta = np.full(d, beta, f32)

    def zero_linear(lin, out_dim, in_dim):
        lin.weight = np.zeros((out_dim, in_dim), f32)
        lin.bias = np.zeros(out_dim, f32)

    FF = 4
    for layer in (enc.layer[0], dec.layer[0]):
        # self-attention and FFN contribute nothing (zero output projections)
        ln(layer.self_attention.layer_norm)
        zero_linear(layer.self_attention.linear[0], 3 * d, d)  # fused QKV
        zero_linear(layer.self_attention.linear[1], d, d)
        ln(layer.ffn.layer_norm)
        zero_linear(layer.ffn.linear_0, FF, d)
        zero_linear(layer.ffn.linear_1, d, FF)

    ln(enc.layer_norm, mu / sigma)  # encoder output = x / sigma

    # Cross attention: query/key compare positions, value carries the source token
    att = dec.layer[0].attention
    ln(att.layer_norm, mu / sigma)  # normalized decoder state = y / sigma
    gap = 2 * 7.0 / sigma**2 / np.sqrt(d)  # logit gap per unit of query scale
    s = 40.0 / gap  # => >= ~40 nats between right/wrong position
    q = np.zeros((d, d), f32)
    q[np.arange(PD), POS + np.arange(PD)] = s
    att.linear[0].weight = q
    att.linear[0].bias = np.zeros(d, f32)
    kv = np.zeros((2 * d, d), f32)
    kv[np.arange(PD), POS + np.arange(PD)] = 1.0  # keys
    kv[d + np.arange(V), TOK + np.arange(V)] = 1.0  # values
    att.linear[1].weight = kv
    att.linear[1].bias = np.zeros(2 * d, f32)
    o = np.zeros((d, d), f32)
    for src_i, piece in enumerate(pieces):
        tgt_i = idx.get(mapping.get(piece, piece), src_i)
        o[OUT + tgt_i, src_i] = 1.0
    att.linear[2].weight = o
    att.linear[2].bias = np.zeros(d, f32)

    ln(dec.layer_norm)
    proj = np.zeros((V, d), f32)
    proj[np.arange(V), OUT + np.arange(V)] = 10.0
    dec.projection.weight = proj
    dec.projection.bias = np.zeros(V, f32)

    spec.register_source_vocabulary(pieces)
    spec.register_target_vocabulary(pieces)
    spec.config.add_source_eos = True  # source "... </s>" -> decoder copies </s> and stops
    spec.validate()
    spec.optimize(quantization=None)
    spec.save(str(out_dir))


def build_minisbd_onnx(path, lang="xx"):
    """Tiny ONNX model in MiniSBD's format: every char ends a token, .!? end a sentence."""
    import onnx
    from onnx import TensorProto, helper

    chars = [chr(c) for c in range(32, 127)] + list("¡¿áéíóúñüàèìòùçâêîôûäëïöÿ。！？")
    units = ["<PAD>", "<UNK>"] + chars
    table = np.zeros((len(units), 5), np.float32)
    table[:, 1] = 10.0  # class 1 = end of token
    for ch in ".!?。！？":
        i = units.index(ch)
        table[i, 1] = 0.0
        table[i, 2] = 10.0  # class 2 = end of token + end of sentence
    g = helper.make_graph(
        [helper.make_node("Gather", ["table", "units"], ["logits"], axis=0)],
        "tiny_sbd",
        [
            helper.make_tensor_value_info("units", TensorProto.INT64, ["B", "T"]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", "T", "F"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", "T", 5])],
        [helper.make_tensor("table", TensorProto.FLOAT, table.shape, table.flatten().tolist())],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    vocab = {
        "lang": lang,
        "idx": 0,
        "cutoff": 0,
        "lower": False,
        "_unit2id": {u: i for i, u in enumerate(units)},
        "_id2unit": units,
    }
    config = {
        "skip_newline": False,
        "max_seqlen": 1000,
        "no_ssplit": False,
        "batch_size": 32,
        "feat_funcs": [],
        "use_dictionary": False,
        "num_dict_feat": 0,
    }
    for k, v in {
        "lang_code": lang,
        "config": json.dumps(config),
        "vocab": json.dumps(vocab),
        "lexicon": "null",
    }.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def build_package(out_file, from_code, from_name, to_code, to_name, phrasebook, corpus):
    """phrasebook: list of (source_word, target_word)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / f"translate-{from_code}_{to_code}-0_0_1"
        (root / "model").mkdir(parents=True)
        (root / "minisbd").mkdir()
        # make every phrasebook word a single piece on both sides
        phrasebook = list(phrasebook) + [(a.capitalize(), b.capitalize()) for a, b in phrasebook]
        words = [w for pair in phrasebook for w in pair]
        sp = train_sentencepiece(corpus, Path(tmp) / "sp", words, vocab_size=200)
        shutil.copy(Path(tmp) / "sp.model", root / "sentencepiece.model")
        pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
        mapping = {}
        for s, t in phrasebook:
            ps, pt = sp.encode(s, out_type=str), sp.encode(t, out_type=str)
            if len(ps) != len(pt):
                raise ValueError(f"unequal segmentation: {ps} / {pt}")
            mapping.update(zip(ps, pt, strict=True))
        build_ct2_model(root / "model", pieces, mapping)
        build_minisbd_onnx(root / "minisbd" / f"{from_code}.onnx", from_code)
        (root / "metadata.json").write_text(
            json.dumps(
                {
                    "package_version": "0.0.1",
                    "argos_version": "1.9",
                    "type": "translate",
                    "from_code": from_code,
                    "from_name": from_name,
                    "to_code": to_code,
                    "to_name": to_name,
                },
                indent=2,
            )
        )
        (root / "README.md").write_text("Tiny synthetic test package (not a real MT model).\n")
        with zipfile.ZipFile(out_file, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(root.rglob("*")):
                z.write(p, p.relative_to(root.parent))
    return out_file


# (source word, English word): one word to one word, so segmentations line up.
GERMAN = [
    ("hallo", "hello"),
    ("danke", "thanks"),
    ("hilfe", "help"),
    ("ich", "i"),
    ("brauche", "need"),
    ("essen", "food"),
    ("in", "in"),
    ("mein", "my"),
    ("meinen", "my"),
    ("chef", "boss"),
    ("nahm", "took"),
    ("pass", "passport"),
    ("er", "he"),
    ("hat", "has"),
    ("ein", "a"),
    ("messer", "knife"),
    ("arbeit", "work"),
    ("wo", "where"),
]
FRENCH = [
    ("bonjour", "hello"),
    ("mon", "my"),
    ("patron", "boss"),
    ("a", "has"),
    ("pris", "taken"),
    ("passeport", "passport"),
    ("merci", "thanks"),
    ("aide", "help"),
    ("je", "i"),
    ("veux", "want"),
    ("mourir", "die"),
]
PORTUGUESE = [
    ("olá", "hello"),
    ("meu", "my"),
    ("patrão", "boss"),
    ("pegou", "took"),
    ("passaporte", "passport"),
    ("obrigado", "thanks"),
    ("ajuda", "help"),
]
ARABIC = [
    ("مرحبا", "hello"),
    ("ساعدني", "help"),
    ("طعام", "food"),
    ("جواز", "passport"),
    ("شكرا", "thanks"),
    ("رئيسي", "boss"),
    ("أخذ", "took"),
]
# English to German for replies: a few frequent words, the rest copied.
ENGLISH_TO_GERMAN = [
    ("where", "wo"),
    ("should", "soll"),
    ("i", "ich"),
    ("look", "suchen"),
    ("for", "für"),
    ("help", "hilfe"),
    ("you", "du"),
    ("the", "die"),
    ("is", "ist"),
    ("and", "und"),
    ("not", "nicht"),
    ("here", "hier"),
    ("food", "essen"),
    ("it", "es"),
    ("can", "kann"),
    ("may", "kann"),
    ("contain", "enthalten"),
    ("mistakes", "fehler"),
    ("from", "aus"),
    ("english", "englisch"),
    ("machine", "maschine"),
    ("translated", "übersetzt"),
]

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "hello world.",
    "i need help now!",
    "where should i look for food?",
    "my boss took my passport.",
]


def _corpus(pairs):
    corpus = []
    for source, target in pairs:
        corpus += [source] * 20 + [target] * 20
    return corpus + SENTENCES * 5


PACKAGES = {
    ("de", "German", "en", "English"): GERMAN,
    ("en", "English", "de", "German"): ENGLISH_TO_GERMAN,
    ("fr", "French", "en", "English"): FRENCH,
    ("pt", "Portuguese", "en", "English"): PORTUGUESE,
    ("ar", "Arabic", "en", "English"): ARABIC,
}


def build_packages(folder: Path) -> dict[str, Path]:
    """Every test package, as ``{"de-en": path, ...}``."""
    folder.mkdir(parents=True, exist_ok=True)
    built = {}
    for (source, source_name, target, target_name), phrasebook in PACKAGES.items():
        path = folder / f"translate-{source}_{target}.argosmodel"
        if not path.exists():
            build_package(path, source, source_name, target, target_name, phrasebook,
                          _corpus(phrasebook))  # fmt: skip
        built[f"{source}-{target}"] = path
    return built


def build_without_splitter(source: Path, destination: Path) -> Path:
    """A copy of a package with its sentence splitter removed (Argos would download one)."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(destination, "w") as out:
        for item in archive.infolist():
            if "/minisbd/" not in item.filename:
                out.writestr(item, archive.read(item.filename))
    return destination


if __name__ == "__main__":
    for name, path in build_packages(
        Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-argos")
    ).items():
        print(name, path, path.stat().st_size)
