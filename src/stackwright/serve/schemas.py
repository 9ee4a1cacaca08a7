"""Request bodies of the APIs the server speaks, as editors and their plugins send them.

Unknown fields are ignored (clients send many we do not use); fields we cannot honour are refused
with a 400 rather than silently dropped. Defaults are each API's own.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_N = 16
MAX_STOP = 8


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _stops(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else list(value)
    if len(stops) > MAX_STOP:
        raise ValueError(f"at most {MAX_STOP} stop sequences")
    return [s for s in stops if s]


class OpenAICompletion(_Body):
    """``POST /v1/completions`` (OpenAI's legacy completions API)."""

    model: str | None = None
    prompt: str | list[str] = ""
    suffix: str | None = None
    max_tokens: int | None = Field(16, ge=0)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=MAX_N)
    stream: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None
    echo: bool = False
    logprobs: int | None = None
    best_of: int | None = None
    ignore_eos: bool = False  # as vLLM: keep generating past end-of-text
    timeout: float | None = Field(None, gt=0.0)  # seconds; the server's default when absent

    @field_validator("stop")
    @classmethod
    def _check_stop(cls, value: str | list[str] | None) -> list[str]:
        return _stops(value)

    @field_validator("prompt")
    @classmethod
    def _check_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not 1 <= len(value) <= MAX_N:
            raise ValueError(f"between 1 and {MAX_N} prompts")
        return value


class Segments(_Body):
    prefix: str = ""
    suffix: str | None = None


class TabbyCompletion(_Body):
    """Tabby's completion request: ``{"language", "segments": {"prefix", "suffix"}}``."""

    language: str | None = None
    segments: Segments
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    seed: int | None = None
    max_tokens: int | None = Field(None, ge=0)


class TGIParameters(_Body):
    max_new_tokens: int | None = Field(20, ge=0)
    temperature: float | None = Field(None, gt=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, lt=1.0)
    do_sample: bool = False
    stop: list[str] = Field(default_factory=list, max_length=MAX_STOP)
    seed: int | None = None
    return_full_text: bool = False
    details: bool = False


class TGIGenerate(_Body):
    """TGI's ``/generate`` and ``/generate_stream`` (what llm-vscode sends)."""

    inputs: str
    parameters: TGIParameters = Field(default_factory=TGIParameters)
    stream: bool = False


class Infill(_Body):
    """llama.cpp's ``/infill``: the prompt is ``input_prefix`` (then ``prompt``) before the cursor."""

    input_prefix: str = ""
    input_suffix: str = ""
    prompt: str = ""
    n_predict: int = Field(-1, ge=-1)
    temperature: float = Field(0.8, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    stop: list[str] = Field(default_factory=list, max_length=MAX_STOP)
    seed: int | None = Field(None)
    stream: bool = False


class Event(_Body):
    """Tabby's ``/v1/events``: what the editor did with a suggestion."""

    type: Literal["view", "select", "dismiss"]
    completion_id: str = Field(..., max_length=200)
    choice_index: int = Field(0, ge=0)
