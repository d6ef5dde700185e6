"""Presenting at a counter (docs/wallet.md): a counter's request read and shown, accepted,
signed or refused; presets; the citizen's history. Each handler calls one service function."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from servicekit.http_errors import NO_STORE
from wallet_api import answering, presentation_history, presenting
from wallet_api.api.answers import DPOP_RESPONSES, account_of, answer
from wallet_api.api.deps import AccountDep, DeploymentDep
from wallet_api.presenting import AnswerFormat

__all__ = ["router"]

router = APIRouter(tags=["Presentations"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found`: no such presentation, or another account's"}
}
_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "`untrusted_request` (the description starts with the request's "
                         "fault: `expired`, `unregistered_client`, `over_asking`, …), "
                         "`invalid_request`, `invalid_signature`"},
    409: {"description": "`request_replayed`, `no_matching_credential`, `credential_unusable`, "
                         "`no_unused_copy`, `wrong_state`"},
    502: {"description": "`counter_unavailable`: the counter's server did not answer"},
    503: {"description": "`trust_unavailable`"},
}  # fmt: skip
_ID = 128
_PATH_ELEMENT = str | int


class PresetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    client_id: str = Field(min_length=1, max_length=_ID)
    purpose_id: str = Field(min_length=1, max_length=64)


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    request: str | None = Field(
        default=None,
        min_length=1,
        max_length=16384,
        description="The counter's request: the JR1 QR text, the compact JWS, or an "
        "`openid4vp://?client_id=…&request_uri=…` link",
    )
    preset: PresetIn | None = Field(default=None, description="A one-way preset (GET /presets)")

    @model_validator(mode="after")
    def _one_of(self) -> RequestIn:
        if (self.request is None) == (self.preset is None):
            raise ValueError("exactly one of `request` and `preset`")
        return self


class AnswerFormatIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    format: Literal["text", "png", "svg"] = Field(
        default="text",
        description="`text` (the envelope: the phone draws the QR), `png` or `svg` besides",
    )


class SignatureIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    signature: str = Field(
        min_length=1, max_length=200, description="The KB-JWT's signature, base64url"
    )


class OfflineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    client_id: str = Field(min_length=1, max_length=_ID)
    purpose: dict[str, Annotated[str, Field(max_length=200)]] = Field(max_length=2)
    copy_id: str = Field(min_length=1, max_length=64, description="The copy used (My data)")
    disclosed: list[list[_PATH_ELEMENT]] = Field(max_length=64)
    request_hash: str = Field(min_length=64, max_length=64)
    answered_at: int


@router.post(
    "/presentations",
    status_code=201,
    summary="A counter's request (or a preset): who asks, why, and exactly what would be shown",
    responses={**DPOP_RESPONSES, **_REFUSALS},
)
def ask(body: RequestIn, device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    account_id = account_of(device)
    if body.preset is not None:
        view = presenting.ask_preset(
            deployment,
            account_id,
            client_id=body.preset.client_id,
            purpose_id=body.preset.purpose_id,
        )
    else:
        assert body.request is not None  # noqa: S101 - exactly one, by the model
        view = presenting.ask(deployment, account_id, request=body.request)
    return answer(deployment, view, 201)


@router.post(
    "/presentations/offline",
    status_code=201,
    summary="Report an answer the phone built without network (its copy is marked used)",
    responses={**DPOP_RESPONSES, **_NOT_FOUND, **_REFUSALS},
)
def report_offline(body: OfflineIn, device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    entry = presentation_history.record_offline(
        deployment,
        account_of(device),
        client_id=body.client_id,
        purpose=body.purpose,
        copy_id=body.copy_id,
        disclosed=body.disclosed,
        request_hash=body.request_hash,
        answered_at=body.answered_at,
    )
    return answer(deployment, entry, 201)


@router.post(
    "/presentations/{presentation_id}/accept",
    summary="Yes: an unused copy is taken; the KB-JWT's signing input",
    responses={**DPOP_RESPONSES, **_NOT_FOUND, **_REFUSALS},
)
def accept(
    presentation_id: str, body: AnswerFormatIn, device: AccountDep, deployment: DeploymentDep
) -> JSONResponse:
    signing = answering.accept(
        deployment, account_of(device), presentation_id, answer_format=AnswerFormat(body.format)
    )
    return answer(deployment, signing)


@router.post(
    "/presentations/{presentation_id}/signature",
    summary="The phone's signature: the answer (a JG1 envelope, or posted to the counter)",
    responses={**DPOP_RESPONSES, **_NOT_FOUND, **_REFUSALS},
)
def sign(
    presentation_id: str, body: SignatureIn, device: AccountDep, deployment: DeploymentDep
) -> JSONResponse:
    signed = answering.sign(
        deployment, account_of(device), presentation_id, signature=body.signature
    )
    return answer(deployment, signed)


@router.post(
    "/presentations/{presentation_id}/refuse",
    summary="No: nothing is disclosed (an online counter is told access_denied)",
    responses={**DPOP_RESPONSES, **_NOT_FOUND, **_REFUSALS},
)
def refuse(presentation_id: str, device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    return answer(deployment, answering.refuse(deployment, account_of(device), presentation_id))


@router.get(
    "/presentations",
    summary="The history: to whom, why, which claims (no values), when",
    responses=DPOP_RESPONSES,
)
def history(device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    entries = presentation_history.list_presentations(deployment, account_of(device))
    return answer(deployment, {"presentations": entries})


@router.get(
    "/presentations/{presentation_id}",
    summary="One presentation of the history",
    responses={**DPOP_RESPONSES, **_NOT_FOUND},
)
def read(presentation_id: str, device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    entry = presentation_history.get_presentation(deployment, account_of(device), presentation_id)
    return answer(deployment, entry)


@router.delete(
    "/presentations/{presentation_id}",
    status_code=204,
    summary="Delete one presentation from the history",
    responses={**DPOP_RESPONSES, **_NOT_FOUND},
)
def delete(presentation_id: str, device: AccountDep, deployment: DeploymentDep) -> Response:
    presentation_history.delete_presentation(deployment, account_of(device), presentation_id)
    return Response(status_code=204, headers={**NO_STORE})


@router.get(
    "/presets",
    summary="One-way presets: registered purposes a counter with no screen accepts",
    responses=DPOP_RESPONSES,
)
def presets(device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    account_of(device)
    return answer(deployment, {"presets": presentation_history.list_presets(deployment)})
