"""Several LoRA adapters over one base: each request decodes through its own adapter, in one batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from server_process import start_server, stop_server

pytest.importorskip("peft")


def _adapter(base: Path, out: Path, seed: int) -> Path:
    """A LoRA adapter with random, non-zero updates (peft initialises B to zero; here it is not)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from stackwright.model.lora import LoraSettings

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=LoraSettings().target_pattern(),
                        init_lora_weights=False, task_type="CAUSAL_LM")
    adapted = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in adapted.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    adapted.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def adapters(random_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {"alpha": _adapter(random_model, root / "alpha", 1),
            "beta": _adapter(random_model, root / "beta", 2)}


def _reference(base: Path, adapter: Path | None, ids: list[int], n: int) -> list[int]:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor([ids]), max_new_tokens=n, do_sample=False, eos_token_id=0,
                             pad_token_id=0)
    new = out[0, len(ids):].tolist()
    return new[:new.index(0)] if 0 in new else new


def test_a_mixed_batch_decodes_each_row_through_its_own_adapter(random_model: Path,
                                                                adapters: dict[str, Path]) -> None:
    from stackwright.model.generate import load_model
    from stackwright.model.lora import load_adapters
    from stackwright.model.tokenizer import visible
    from stackwright.serve.engine import Engine, GenerationRequest

    loaded = load_model(random_model, device="cpu")
    load_adapters(loaded.model, adapters)
    engine = Engine(loaded, max_batch=4, adapters=tuple(adapters)).start()
    try:
        ids = loaded.tokenizer.encode(["def parse(line):\n    return line.split(',')\n\ndef "])[0]
        names: list[Any] = [None, "alpha", "beta", "alpha", None, "beta"]
        tickets = [engine.submit(GenerationRequest(ids, 16, adapter=name)) for name in names]
        for ticket in tickets:
            assert ticket.wait(60)
        wanted = {name: visible(loaded.tokenizer.decode(_reference(random_model, adapters.get(name), ids,
                                                                    16))) for name in (None, "alpha", "beta")}
        assert len(set(wanted.values())) == 3, "the adapters should change the output"
        assert [t.text for t in tickets] == [wanted[name] for name in names]
        with pytest.raises(ValueError, match="no adapter"):
            engine.submit(GenerationRequest(ids, 4, adapter="gamma"))
    finally:
        engine.stop()


def test_the_server_serves_each_adapter_by_model_name(random_model: Path, adapters: dict[str, Path]) -> None:
    server = start_server(random_model, "--name", "base", "--adapter", f"alpha={adapters['alpha']}",
                          "--adapter", f"beta={adapters['beta']}")
    try:
        listed = httpx.get(server.url + "/v1/models", timeout=10).json()["data"]
        assert [(m["id"], m.get("parent")) for m in listed] == [("base", None), ("alpha", "base"),
                                                                ("beta", "base")]
        texts = {}
        for name in ("base", "alpha", "beta"):
            answer = httpx.post(server.url + "/v1/completions", timeout=60, json={
                "model": name, "prompt": "import os\n\n\ndef main(", "max_tokens": 12, "temperature": 0})
            assert answer.status_code == 200, answer.text
            assert answer.json()["model"] == name
            texts[name] = answer.json()["choices"][0]["text"]
        assert len(set(texts.values())) == 3
        unknown = httpx.post(server.url + "/v1/completions", timeout=30,
                             json={"model": "gamma", "prompt": "x", "max_tokens": 2})
        assert unknown.status_code == 404 and "gamma" in unknown.json()["error"]["message"]
    finally:
        stop_server(server)
