"""What the clerk reads for each verdict: the reason and what to do, in Korean and English.

One entry per ``verifier.errors.ErrorCode`` (a test keeps the map complete), grouped by what
the clerk can do about it; the code itself is shown small, for the help desk. ``{age_ko}`` and
``{age_en}`` in a trust entry are filled with how old the counter's status data is.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from verifier.errors import ErrorCode

__all__ = ["Wording", "wording_for"]


@dataclass(frozen=True, slots=True)
class Wording:
    reason_ko: str
    reason_en: str
    action_ko: str
    action_en: str

    def to_dict(self, **values: Any) -> dict[str, str]:
        return {
            "reason_ko": self.reason_ko.format(**values),
            "reason_en": self.reason_en.format(**values),
            "action_ko": self.action_ko.format(**values),
            "action_en": self.action_en.format(**values),
        }


_UNREADABLE = Wording(
    "읽을 수 없는 증명서 QR입니다",
    "This QR is not a certificate this counter can read",
    "전자지갑 앱에서 QR을 다시 띄워 달라고 요청하세요",
    "Ask the citizen to show the QR again from the wallet app",
)
_FORGED = Wording(
    "서명이 맞지 않습니다: 위조되었을 수 있습니다",
    "The signature does not check: it may be forged",
    "받지 마세요. 다시 제시를 요청하고, 반복되면 위조 대응 절차를 따르세요",
    "Do not accept. Ask for the certificate again; if it repeats, follow the forgery procedure",
)
_ALTERED = Wording(
    "증명서 내용이 변조되었습니다",
    "The certificate's content was altered",
    "받지 마세요. 새 QR을 요청하세요",
    "Do not accept. Ask for a new QR",
)
_UNTRUSTED = Wording(
    "이 창구가 신뢰하지 않는 기관이 발급했습니다",
    "Issued by an agency this counter does not trust",
    "받지 마세요. 새로 등록된 기관이라면 동기화 후 다시 확인하세요",
    "Do not accept. If the agency is newly registered, sync and check again",
)
_NOT_ASKED_TYPE = Wording(
    "요청한 증명서가 아닙니다",
    "Not the certificate asked for",
    "요청한 증명서로 다시 제시해 달라고 하세요",
    "Ask the citizen to present the certificate asked for",
)
_STALE = Wording(
    "이 창구의 신뢰 정보가 {age_ko} 전 것입니다: 동기화가 필요합니다",
    "This counter's trust data is {age_en} old: sync",
    "온라인 상태에서 '지금 동기화'(S)를 누른 뒤 다시 확인하세요",
    "Press Sync now (S) while online, then check again",
)
_NOT_FROM_PHONE = Wording(
    "본인 휴대전화에서 제시된 것이 아닙니다",
    "Not presented from the holder's own phone",
    "본인의 전자지갑 앱에서 제시해 달라고 하세요",
    "Ask the citizen to present it from their own wallet app",
)
_NEW_QR = Wording(
    "이 요청에 대한 응답이 아닙니다",
    "This QR does not answer this counter's request",
    "새 QR을 요청하세요: 이 창구의 요청 QR을 다시 스캔하게 하세요",
    "Ask for a new QR: the phone must scan this counter's request again",
)

_WORDING: dict[ErrorCode, Wording] = {
    **dict.fromkeys(
        (
            ErrorCode.MALFORMED,
            ErrorCode.TOO_LARGE,
            ErrorCode.UNSUPPORTED_FORMAT,
            ErrorCode.WRONG_TOKEN_TYPE,
            ErrorCode.CRITICAL_HEADER,
        ),
        _UNREADABLE,
    ),
    **dict.fromkeys(
        (
            ErrorCode.UNSUPPORTED_ALGORITHM,
            ErrorCode.BAD_SIGNATURE,
            ErrorCode.INVALID_KEY,
            ErrorCode.UNTRUSTED_KEY_REFERENCE,
            ErrorCode.UNKNOWN_KEY,
        ),
        _FORGED,
    ),
    **dict.fromkeys(
        (
            ErrorCode.DISCLOSURE_UNREFERENCED,
            ErrorCode.DISCLOSURE_DUPLICATED,
            ErrorCode.DISCLOSURE_BAD_DIGEST,
            ErrorCode.DISCLOSURE_RESERVED_NAME,
            ErrorCode.SCHEMA_VIOLATION,
        ),
        _ALTERED,
    ),
    **dict.fromkeys(
        (ErrorCode.MISSING_KID, ErrorCode.MISSING_EXP, ErrorCode.MISSING_IAT),
        Wording(
            "이 창구가 받지 않는 형식의 증명서입니다",
            "A certificate in a form this counter does not accept",
            "받지 마세요. 전자지갑 앱에서 다시 발급받아 달라고 하세요",
            "Do not accept. Ask the citizen to have it issued again in the wallet app",
        ),
    ),
    ErrorCode.UNKNOWN_ISSUER: _UNTRUSTED,
    ErrorCode.ISSUER_NOT_AUTHORISED: Wording(
        "발급 기관이 이 증명서를 발급할 권한이 없습니다",
        "The agency is not authorised to issue this certificate",
        "받지 마세요",
        "Do not accept",
    ),
    ErrorCode.CREDENTIAL_TYPE_NOT_ACCEPTED: _NOT_ASKED_TYPE,
    ErrorCode.UNKNOWN_CREDENTIAL_TYPE: _NOT_ASKED_TYPE,
    ErrorCode.EXPIRED: Wording(
        "유효기간이 지난 증명서입니다",
        "The certificate has expired",
        "전자지갑 앱에서 증명서를 새로 발급받아 달라고 하세요",
        "Ask the citizen to renew it in the wallet app",
    ),
    ErrorCode.NOT_YET_VALID: Wording(
        "아직 유효하지 않은 증명서입니다",
        "The certificate is not yet valid",
        "창구 컴퓨터의 시계를 확인하세요",
        "Check this computer's clock",
    ),
    ErrorCode.REVOKED: Wording(
        "폐기된 증명서입니다",
        "Certificate revoked",
        "받지 마세요. 발급 기관에서 새 증명서를 받아야 합니다",
        "Do not accept. The citizen needs a new certificate from the agency",
    ),
    ErrorCode.SUSPENDED: Wording(
        "효력이 정지된 증명서입니다",
        "Certificate suspended",
        "지금은 받지 마세요. 발급 기관에 문의하도록 안내하세요",
        "Do not accept now. The citizen should contact the agency",
    ),
    ErrorCode.STATUS_UNKNOWN: _STALE,
    ErrorCode.STATUS_STALE: _STALE,
    ErrorCode.STATUS_LIST_INVALID: _STALE,
    ErrorCode.KEY_BINDING_MISSING: _NOT_FROM_PHONE,
    ErrorCode.KEY_BINDING_INVALID: _NOT_FROM_PHONE,
    ErrorCode.NONCE_MISMATCH: _NEW_QR,
    ErrorCode.AUDIENCE_MISMATCH: _NEW_QR,
    ErrorCode.PRESENTATION_TOO_OLD: Wording(
        "너무 오래된 QR입니다",
        "The QR is too old",
        "새 QR을 요청하세요",
        "Ask for a new QR",
    ),
    ErrorCode.REQUEST_EXPIRED: Wording(
        "요청 시간이 지났습니다",
        "The request has expired",
        "새 요청(N)을 만들고 새 QR을 요청하세요",
        "Make a new request (N) and ask for a new QR",
    ),
    ErrorCode.MISSING_REQUIRED_CLAIM: Wording(
        "요청한 항목이 모두 제시되지 않았습니다",
        "Not everything asked for was shown",
        "요청한 모든 항목의 제공에 동의해 달라고 하세요",
        "Ask the citizen to agree to share every item asked for",
    ),
    ErrorCode.NOT_REQUESTED: Wording(
        "요청하지 않은 정보가 포함되어 있습니다",
        "The QR shows more than was asked for",
        "받지 마세요. 이 요청에 대한 새 QR을 요청하세요",
        "Do not accept. Ask for a new QR answering this request only",
    ),
}
WORDING = MappingProxyType(_WORDING)
# The codes that mean the counter's own trust data, not the citizen, needs attention.
TRUST_CODES = frozenset(code for code, wording in _WORDING.items() if wording is _STALE)


def wording_for(code: ErrorCode) -> Wording:
    return WORDING[code]
