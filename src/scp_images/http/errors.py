"""The one error table: domain error code -> HTTP status, title and the Korean text.

English text comes from the domain error's own template; Korean templates use the same parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from scp_images.domain import errors as e


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    status: int
    title: str
    ko: str


_TABLE: dict[type[e.DomainError], ErrorSpec] = {
    e.Unauthenticated: ErrorSpec(401, "Unauthorized", "요청을 인증할 수 없습니다: {reason}."),
    e.Forbidden: ErrorSpec(403, "Forbidden", "{action} 작업을 수행할 권한이 없습니다."),
    e.NotOwner: ErrorSpec(403, "Forbidden", "이미지 {image_id}의 소유자만 이 작업을 할 수 있습니다."),
    e.NotTheMember: ErrorSpec(
        403, "Forbidden", "멤버 {member_id}만 이미지 {image_id}을(를) 수락하거나 거절할 수 있습니다."
    ),
    e.ImageDeactivated: ErrorSpec(
        403,
        "Forbidden",
        "이미지 {image_id}은(는) 비활성화되어 있습니다. 소유자가 다시 활성화해야 내려받을 수 있습니다.",
    ),
    e.AccountMismatch: ErrorSpec(
        403, "Forbidden", "Scp-AccountId {account_id}이(가) 액세스 키의 계정과 일치하지 않습니다."
    ),
    e.ImportSourceForbidden: ErrorSpec(
        403,
        "Forbidden",
        "이 계정은 {location}을(를) 가져올 수 없습니다: 이 계정의 가져오기 소스 권한 중 이를 포함하는 것이 "
        "없습니다(운영자가 'scp-images admin source grant'로 버킷 권한을 부여합니다).",
    ),
    e.ImportSourceOtherAccount: ErrorSpec(
        403,
        "Forbidden",
        "이 계정은 계정 {account}의 SCP Object Storage에서 가져올 수 없습니다: "
        "Object Storage URL에는 호출한 계정 자신의 계정이 있어야 합니다.",
    ),
    e.InvalidRequest: ErrorSpec(400, "Bad Request", "요청이 올바르지 않습니다: {reason}."),
    e.UnsupportedApiVersion: ErrorSpec(
        400, "Bad Request", "API 버전 {version!r}은(는) 지원되지 않습니다. 지원 버전: {supported}."
    ),
    e.ApiVersionRetired: ErrorSpec(
        400,
        "Bad Request",
        "API 버전 {version!r}은(는) {sunset} 이후 더 이상 지원되지 않습니다. 지원 버전: {supported}.",
    ),
    e.DiskImageRejected: ErrorSpec(400, "Bad Request", "이미지 데이터가 거부되었습니다({reason}): {detail}."),
    e.RestoreMismatch: ErrorSpec(
        400,
        "Bad Request",
        "이 파일은 이미지 {image_id}의 데이터가 아닙니다({detail}). 아무것도 쓰지 않았습니다.",
    ),
    e.ImportSourceRejected: ErrorSpec(400, "Bad Request", "가져오기 URL을 사용할 수 없습니다: {reason}."),
    e.InvalidSourceGrant: ErrorSpec(400, "Bad Request", "가져오기 소스 권한이 올바르지 않습니다: {reason}."),
    e.NotFound: ErrorSpec(404, "Not Found", "리소스를 찾을 수 없습니다."),
    e.ImageNotFound: ErrorSpec(404, "Not Found", "이미지 {image_id}을(를) 찾을 수 없습니다."),
    e.MemberNotFound: ErrorSpec(
        404, "Not Found", "이미지 {image_id}의 멤버 {member_id}을(를) 찾을 수 없습니다."
    ),
    e.AccountNotFound: ErrorSpec(404, "Not Found", "계정 {account_id}을(를) 찾을 수 없습니다."),
    e.ImportNotFound: ErrorSpec(404, "Not Found", "이미지 {image_id}에 가져오기 작업이 없습니다."),
    e.SourceGrantNotFound: ErrorSpec(
        404,
        "Not Found",
        "계정 {account_id}에는 버킷 {bucket}, 접두사 {prefix!r}에 대한 가져오기 소스 권한이 없습니다.",
    ),
    e.ServerNotFound: ErrorSpec(404, "Not Found", "서버 {server_id}을(를) 찾을 수 없습니다."),
    e.AccessKeyNotFound: ErrorSpec(404, "Not Found", "액세스 키 {access_key}을(를) 찾을 수 없습니다."),
    e.Conflict: ErrorSpec(409, "Conflict", "요청이 현재 상태와 충돌합니다: {reason}."),
    e.InvalidImageStatus: ErrorSpec(
        409,
        "Conflict",
        "이미지 {image_id}의 상태가 {status}입니다. 이 작업에는 {expected} 상태가 필요합니다.",
    ),
    e.ImageProtected: ErrorSpec(409, "Conflict", "이미지 {image_id}은(는) 보호되어 있어 삭제할 수 없습니다."),
    e.ImageNotShared: ErrorSpec(
        409,
        "Conflict",
        "이미지 {image_id}의 공개 범위가 {visibility}입니다. 멤버를 추가하려면 shared여야 합니다.",
    ),
    e.MemberExists: ErrorSpec(409, "Conflict", "계정 {member_id}은(는) 이미 이미지 {image_id}의 멤버입니다."),
    e.ConcurrentUpdate: ErrorSpec(
        409, "Conflict", "이미지 {image_id}이(가) 다른 요청에 의해 변경되었습니다. 다시 시도하십시오."
    ),
    e.ImageDataMissing: ErrorSpec(
        409,
        "Conflict",
        "이미지 {image_id}의 데이터가 이미지 저장소에 없습니다. 운영자에게 복구를 요청하십시오.",
    ),
    e.ImageDataCorrupt: ErrorSpec(
        409,
        "Conflict",
        "이미지 {image_id}의 데이터가 무결성 검사에 실패했습니다(체크섬과 일치하지 않습니다). "
        "운영자에게 복구를 요청하십시오.",
    ),
    e.UploadInterrupted: ErrorSpec(
        408,
        "Request Timeout",
        "업로드가 끝나기 전에 중단되었습니다({reason}). 이미지는 다시 대기 상태이니 다시 보내십시오.",
    ),
    e.PayloadTooLarge: ErrorSpec(413, "Payload Too Large", "요청 본문이 {limit}바이트보다 큽니다."),
    e.QuotaExceeded: ErrorSpec(
        413,
        "Payload Too Large",
        "이 계정의 할당량을 초과했습니다: 한도는 {limit}이고 {usage}을(를) 사용 중입니다.",
    ),
    e.ImageCountQuotaExceeded: ErrorSpec(
        413,
        "Payload Too Large",
        "할당량 image_count_total을 초과했습니다: 이 계정은 이미지를 {limit}개까지 가질 수 있으며 현재 "
        "{usage}개가 있습니다. 이미지를 삭제하거나 운영자에게 할당량 상향을 요청하십시오.",
    ),
    e.ImageSizeQuotaExceeded: ErrorSpec(
        413,
        "Payload Too Large",
        "할당량 image_size_total을 초과했습니다: 이 계정은 {limit}바이트까지 저장할 수 있으며 이 요청으로 "
        "{usage}바이트가 됩니다(활성 이미지와 진행 중인 가져오기·업로드). 이미지를 삭제하거나 운영자에게 "
        "할당량 상향을 요청하십시오.",
    ),
    e.UploadingQuotaExceeded: ErrorSpec(
        413,
        "Payload Too Large",
        "할당량 image_count_uploading을 초과했습니다: 이 계정은 가져오기와 업로드를 동시에 {limit}개까지 "
        "실행할 수 있으며 현재 {usage}개를 실행 중입니다. 하나가 끝나기를 기다리거나 운영자에게 할당량 "
        "상향을 요청하십시오.",
    ),
    e.RateLimited: ErrorSpec(
        429, "Too Many Requests", "요청이 너무 많습니다. {retry_after}초 후에 다시 시도하십시오."
    ),
    e.Unavailable: ErrorSpec(503, "Service Unavailable", "서비스를 일시적으로 사용할 수 없습니다: {reason}."),
    e.DomainError: ErrorSpec(500, "Internal Server Error", "내부 오류가 발생했습니다."),
}


def spec_for(error: e.DomainError) -> ErrorSpec:
    for cls in type(error).__mro__:
        spec = _TABLE.get(cls)  # type: ignore[arg-type]
        if spec is not None:
            return spec
    return _TABLE[e.DomainError]


def localised_detail(error: e.DomainError, language: str) -> str:
    if language == "ko-KR":
        spec = spec_for(error)
        template = spec.ko if type(error).template == error.template else None
        if template is not None:
            try:
                return template.format(**error.params)
            except (KeyError, IndexError):
                pass
    return error.message


def envelope(status: int, code: str, title: str, detail: str, request_id: str) -> dict[str, object]:
    return {
        "errors": [
            {"status": status, "code": code, "title": title, "detail": detail, "request_id": request_id}
        ]
    }


def error_body(error: e.DomainError, language: str, request_id: str) -> tuple[int, dict[str, object]]:
    spec = spec_for(error)
    return spec.status, envelope(
        spec.status, error.code, spec.title, localised_detail(error, language), request_id
    )
