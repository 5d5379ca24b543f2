"""Session fixtures shared across the test packages."""

from pathlib import Path

import pytest

# Every Chinese character the tests embed with the tiny model is here, so none of
# them tokenises to [UNK].
TINY_VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + list("政府工作报告经济发展增长目标国内生产总值城镇新增就业人口生态环境保护的了是在和年万亿元")
    + ["经济", "发展", "就业"]
)


@pytest.fixture(scope="session")
def tiny_st_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT saved as a sentence-transformers model (mean pooling, 32-d)."""
    pytest.importorskip("sentence_transformers")
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("tiny-st")
    vocab = {token: i for i, token in enumerate(dict.fromkeys(TINY_VOCAB))}
    # transformers 5: BertTokenizerFast(vocab_file=...) silently maps everything to
    # [UNK]; the vocab dict is what works.
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True, tokenize_chinese_chars=True)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    hf_dir = root / "hf"
    BertModel(config).save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)

    transformer = Transformer(str(hf_dir))
    pooling = Pooling(transformer.get_embedding_dimension(), "mean")
    st_dir = root / "tiny-zh-st"
    SentenceTransformer(modules=[transformer, pooling]).save(str(st_dir))
    return st_dir
