"""The one error table: domain error -> HTTP status, title and the Korean texts (what happened, and
the next step).

English text comes from the domain error's own template and hint; Korean templates use the same
parameters. Every class with a template of its own has its own row (tests/api/test_error_messages.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from scp_images.domain import errors as e
from scp_images.domain import failures


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    status: int
    title: str
    ko: str  # what happened, with the English template's parameters
    ko_hint: str  # what to do next


_B = (400, "Bad Request")
_U = (401, "Unauthorized")
_F = (403, "Forbidden")
_N = (404, "Not Found")
_C = (409, "Conflict")
_Q = (413, "Payload Too Large")
_CHECK_KEY = "요청에 서명한 액세스 키와 시크릿 키를 확인하십시오."
_FIX = "요청을 고쳐 다시 보내십시오."
_UPLOAD_INSTEAD = "또는 파일을 직접 업로드하십시오."
_QUOTA_NEXT = "이미지를 삭제하거나 운영자에게 할당량 상향을 요청하십시오."
_OPERATOR_RESTORE = "운영자에게 복구를 요청하십시오."

TABLE: dict[type[e.DomainError], ErrorSpec] = {
    e.Unauthenticated: ErrorSpec(*_U, "요청을 인증할 수 없습니다: {reason}.", _CHECK_KEY),
    e.BadCredentials: ErrorSpec(
        *_U,
        "요청을 인증할 수 없습니다: 액세스 키 또는 서명이 올바르지 않습니다.",
        "액세스 키와, 그 키와 함께 만든 시크릿 키인지 확인하십시오(CLI와 SDK는 SCP_ACCESS_KEY와 "
        "SCP_SECRET_KEY, 없으면 ~/.scpconf/credentials.json을 읽습니다).",
    ),
    e.ClockSkew: ErrorSpec(
        *_U,
        "Scp-Timestamp가 허용 시간 범위(서버 시계와 {window}초)를 벗어났습니다.",
        "이 컴퓨터의 시계를 맞추고(NTP) 요청을 다시 보내십시오.",
    ),
    e.TimestampMalformed: ErrorSpec(
        *_U,
        "Scp-Timestamp는 에포크 밀리초를 부호, 공백, 앞자리 0 없이 숫자로만 쓴 값이어야 합니다.",
        "SCP 클라이언트나 SDK로 요청에 다시 서명하십시오. 타임스탬프를 이 형식으로 씁니다.",
    ),
    e.Forbidden: ErrorSpec(
        *_F,
        "{action} 작업을 수행할 권한이 없습니다.",
        "이 작업을 할 수 있는 계정의 키를 쓰거나 운영자에게 문의하십시오.",
    ),
    e.ReaderMayNot: ErrorSpec(
        *_F,
        "이 액세스 키는 reader 역할입니다. 조회, 목록, 내려받기만 할 수 있고 {action} 작업은 할 수 없습니다.",
        "member 역할의 키를 쓰거나 운영자에게 이 키에 그 역할을 달라고 요청하십시오.",
    ),
    e.AdminRequired: ErrorSpec(
        *_F,
        "admin 역할의 키만 {what}을(를) 쓸 수 있습니다.",
        "운영자 계정의 admin 키를 쓰거나 운영자에게 문의하십시오.",
    ),
    e.NotOwner: ErrorSpec(
        *_F, "이미지 {image_id}의 소유자만 이 작업을 할 수 있습니다.", "이미지 소유자 계정의 키를 쓰십시오."
    ),
    e.NotTheMember: ErrorSpec(
        *_F,
        "멤버 {member_id}만 이미지 {image_id}을(를) 수락하거나 거절할 수 있습니다.",
        "계정 {member_id}의 키를 쓰십시오.",
    ),
    e.ImageDeactivated: ErrorSpec(
        *_F,
        "이미지 {image_id}은(는) 비활성화되어 있어 내려받을 수 없습니다.",
        "소유자에게 다시 활성화해 달라고 요청하십시오.",
    ),
    e.AttributeReadOnly: ErrorSpec(
        *_F, "속성 '{name}'은(는) 읽기 전용입니다.", "서비스가 정하는 값입니다. 요청에서 빼십시오."
    ),
    e.AttributeReserved: ErrorSpec(
        *_F,
        "속성 '{name}'은(는) 예약되어 있습니다.",
        "os_glance로 시작하는 이름과 location, locations, deleted, deleted_at은 서비스가 씁니다. 다른 이름을 "
        "쓰십시오.",
    ),
    e.AttributeNotRemovable: ErrorSpec(
        *_F, "속성 {name}은(는) 제거할 수 없습니다.", "제거하는 대신 값을 바꾸십시오(replace)."
    ),
    e.OwnerNotYours: ErrorSpec(
        *_F,
        "'{owner}' 소유의 이미지를 만들 권한이 없습니다.",
        "owner를 빼거나 자신의 프로젝트 ID를 보내십시오.",
    ),
    e.OwnerNotChangeable: ErrorSpec(
        *_F,
        "관리자가 아니면 이미지의 소유자를 바꿀 수 없습니다.",
        "다른 프로젝트에 이미지를 넘기는 일은 관리자만 할 수 있습니다. 패치에서 owner를 빼십시오.",
    ),
    e.LocationsNotShown: ErrorSpec(
        *_F,
        "이 서비스는 이미지 위치(locations)를 보여 주지 않으므로 locations를 {verb}할 수 없습니다.",
        "이미지 데이터는 서비스의 저장소에 있습니다. 데이터를 업로드하거나 가져오십시오.",
    ),
    e.AccountMismatch: ErrorSpec(
        *_F,
        "Scp-AccountId {account_id}이(가) 액세스 키의 계정과 일치하지 않습니다.",
        "Scp-AccountId(--account-id)에 키의 계정 ID를 보내거나 빼십시오.",
    ),
    e.MetadefAdminOnly: ErrorSpec(
        *_F,
        "관리자만 메타데이터 정의를 만들고, 바꾸고, 지울 수 있습니다.",
        "admin 역할의 키를 쓰거나 운영자에게 문의하십시오.",
    ),
    e.ImportSourceForbidden: ErrorSpec(
        *_F,
        "이 계정은 {location}을(를) 가져올 수 없습니다: 이 계정의 가져오기 소스 권한 중 이를 포함하는 것이 "
        "없습니다.",
        "운영자에게 버킷 권한을 요청하거나('scp-images admin source grant') 파일을 직접 업로드하십시오.",
    ),
    e.ImportSourceOtherAccount: ErrorSpec(
        *_F,
        "이 계정은 계정 {account}의 SCP Object Storage에서 가져올 수 없습니다: "
        "Object Storage URL에는 호출한 계정 자신의 계정이 있어야 합니다.",
        "자기 계정의 Object Storage URL을 쓰거나 파일을 직접 업로드하십시오.",
    ),
    e.InvalidRequest: ErrorSpec(*_B, "요청이 올바르지 않습니다: {reason}.", _FIX),
    e.MalformedImageId: ErrorSpec(
        *_B,
        "{value!r}은(는) 이미지 ID가 아닙니다: 이미지 ID는 0b5e8e3a-9d3c-4f7a-8a1e-2c4d6f8a0b1c 같은 "
        "UUID입니다.",
        "ID는 'scp-images image list'(id 열)나 콘솔의 이미지 페이지에서 찾을 수 있습니다.",
    ),
    e.InvalidImageName: ErrorSpec(
        *_B,
        "이미지 이름 {name!r}을(를) 쓸 수 없습니다: 이름은 1~{max_length}자이며 각 글자는 영문자(A-Z, a-z), "
        "숫자, 하이픈 '-', 밑줄 '_' 또는 공백이어야 합니다.",
        "다른 글자('.' 등)는 '-'나 '_'로 바꾸십시오(예: 'ubuntu-22-04').",
    ),
    e.InvalidField: ErrorSpec(*_B, "필드 {field}이(가) 올바르지 않습니다: {rule_ko}.", _FIX),
    e.UnsupportedApiVersion: ErrorSpec(
        *_B,
        "API 버전 {version!r}은(는) 지원되지 않습니다. 지원 버전: {supported}.",
        "Scp-Api-Version 헤더에 지원 버전 중 하나를 보내십시오(예: 'virtualserver 1.3').",
    ),
    e.ApiVersionRetired: ErrorSpec(
        *_B,
        "API 버전 {version!r}은(는) {sunset} 이후 더 이상 지원되지 않습니다. 지원 버전: {supported}.",
        "Scp-Api-Version 헤더에 지원 버전 중 하나를 보내십시오(예: 'virtualserver 1.3').",
    ),
    e.DiskImageRejected: ErrorSpec(
        *_B,
        "이미지 데이터가 거부되었습니다({reason}): {detail}.",
        "qcow2 디스크 이미지를 보내십시오('qemu-img convert -O qcow2 IN OUT.qcow2'로 변환할 수 있습니다).",
    ),
    e.RestoreMismatch: ErrorSpec(
        *_B,
        "이 파일은 이미지 {image_id}의 데이터가 아닙니다({detail}). 아무것도 쓰지 않았습니다.",
        "이 이미지를 백업한 파일을 주십시오.",
    ),
    e.ImportSourceRejected: ErrorSpec(
        *_B,
        "가져오기 URL을 사용할 수 없습니다: {reason}.",
        "URL과 파일이 있는지 확인하십시오. " + _UPLOAD_INSTEAD,
    ),
    e.NoObjectStorage: ErrorSpec(
        *_B,
        "이 서비스에는 오브젝트 스토리지가 설정되어 있지 않아 {location}을(를) 가져올 수 없습니다.",
        "파일을 직접 업로드하십시오('scp-images image create --file' 또는 콘솔의 업로드).",
    ),
    e.InvalidSourceGrant: ErrorSpec(
        *_B,
        "가져오기 소스 권한이 올바르지 않습니다: {reason}.",
        "버킷 이름과, 필요하면 키 접두사를 주십시오.",
    ),
    e.NotFound: ErrorSpec(
        *_N, "리소스를 찾을 수 없습니다.", "ID와, 이 계정이 그것을 볼 수 있는지 확인하십시오."
    ),
    e.ImageNotFound: ErrorSpec(
        *_N,
        "이미지 {image_id}을(를) 찾을 수 없습니다.",
        "'scp-images image list'로 ID를 확인하십시오. 공유받은 이미지는 수락한 뒤에 목록에 나옵니다"
        "('scp-images image pending').",
    ),
    e.MemberNotFound: ErrorSpec(
        *_N,
        "이미지 {image_id}의 멤버 {member_id}을(를) 찾을 수 없습니다.",
        "'scp-images image member list {image_id}'로 멤버를 확인하십시오.",
    ),
    e.AccountNotFound: ErrorSpec(
        *_N,
        "계정 {account_id}을(를) 찾을 수 없습니다.",
        "계정 ID를 확인하십시오(운영자는 'scp-images admin account list'로 볼 수 있습니다).",
    ),
    e.TaskNotFound: ErrorSpec(
        *_N,
        "작업 {task_id}을(를) 찾을 수 없습니다.",
        "ID를 확인하십시오. 'GET /v2/tasks'가 작업을 나열하며, 끝난 작업은 48시간 뒤 만료됩니다.",
    ),
    e.ImportNotFound: ErrorSpec(
        *_N,
        "이미지 {image_id}에 가져오기 작업이 없습니다.",
        "'scp-images image import {image_id} --url …'로 시작하거나 파일을 업로드하십시오.",
    ),
    e.SourceGrantNotFound: ErrorSpec(
        *_N,
        "계정 {account_id}에는 버킷 {bucket}, 접두사 {prefix!r}에 대한 가져오기 소스 권한이 없습니다.",
        "'scp-images admin source list'로 권한 목록을 확인하십시오.",
    ),
    e.ServerNotFound: ErrorSpec(*_N, "서버 {server_id}을(를) 찾을 수 없습니다.", "서버 ID를 확인하십시오."),
    e.MetadefNotFound: ErrorSpec(
        *_N,
        "메타데이터 정의 {kind} {name!r}을(를) 찾을 수 없습니다.",
        "GET /v2/metadefs/namespaces와 네임스페이스의 목록으로 있는 것을 확인하십시오.",
    ),
    e.AccessKeyNotFound: ErrorSpec(
        *_N,
        "액세스 키 {access_key}을(를) 찾을 수 없습니다.",
        "'scp-images admin key list'로 키 목록을 확인하십시오.",
    ),
    e.Conflict: ErrorSpec(
        *_C, "요청이 현재 상태와 충돌합니다: {reason}.", "현재 상태를 확인하고 다시 시도하십시오."
    ),
    e.AdminNeedsOperatorAccount: ErrorSpec(
        *_C,
        "계정 {account_id}은(는) 운영자 계정이 아닙니다. 운영자 계정의 키만 admin 역할을 가질 수 있습니다.",
        "먼저 계정을 표시하거나('scp-images admin account set {account_id} --operator') "
        "키에 member 또는 reader 역할을 주십시오.",
    ),
    e.OperatorAccountHasAdmins: ErrorSpec(
        *_C,
        "계정 {account_id}에 아직 admin 역할의 키가 있습니다: {keys}.",
        "먼저 그 키들에 다른 역할을 주거나('scp-images admin key set KEY --role member') 삭제한 뒤 "
        "계정 표시를 해제하십시오.",
    ),
    e.InvalidImageStatus: ErrorSpec(
        *_C,
        "이미지 {image_id}의 상태가 {status}입니다. 이 작업에는 {expected} 상태가 필요합니다.",
        "'scp-images image show {image_id}'로 상태를 확인하고 {expected}이(가) 되면 다시 시도하십시오.",
    ),
    e.ImageProtected: ErrorSpec(
        *_C,
        "이미지 {image_id}은(는) 보호되어 있어 삭제할 수 없습니다.",
        "먼저 보호를 해제하십시오: scp-images image update {image_id} --no-protected.",
    ),
    e.ImageNotShared: ErrorSpec(
        *_C,
        "이미지 {image_id}의 공개 범위가 {visibility}입니다. 공유(shared) 이미지만 멤버를 가질 수 있습니다.",
        "먼저 공유하십시오: scp-images image share {image_id}.",
    ),
    e.PropertyMissing: ErrorSpec(
        *_C,
        "속성 {name}이(가) 없습니다.",
        "바꾸거나 제거하는 대신 추가하십시오(add). 이미지를 조회하면 속성이 보입니다.",
    ),
    e.PropertyPresent: ErrorSpec(
        *_C,
        "속성 {name}이(가) 이미 있습니다.",
        "대신 값을 바꾸십시오(replace). draft-4 패치 형식(v2.0)의 add는 새 속성만 만듭니다.",
    ),
    e.UnknownStore: ErrorSpec(
        *_C,
        "저장소 {store}은(는) 이 서비스에 없습니다.",
        "GET /v2/info/stores가 하나뿐인 저장소를 알려 줍니다. stores를 빼면 그 저장소를 씁니다.",
    ),
    e.MemberExists: ErrorSpec(
        *_C,
        "계정 {member_id}은(는) 이미 이미지 {image_id}의 멤버입니다.",
        "할 일이 없습니다. 'scp-images image member show {image_id} {member_id}'로 응답 상태를 보십시오.",
    ),
    e.ConcurrentUpdate: ErrorSpec(
        *_C, "이미지 {image_id}이(가) 다른 요청에 의해 변경되었습니다.", "요청을 다시 보내십시오."
    ),
    e.ImageDataMissing: ErrorSpec(
        *_C, "이미지 {image_id}의 데이터가 이미지 저장소에 없습니다.", _OPERATOR_RESTORE
    ),
    e.ImageDataCorrupt: ErrorSpec(
        *_C,
        "이미지 {image_id}의 데이터가 무결성 검사에 실패했습니다(체크섬과 일치하지 않습니다).",
        _OPERATOR_RESTORE,
    ),
    e.MetadefExists: ErrorSpec(
        *_C,
        "메타데이터 정의 {kind} {name!r}이(가) 이미 있습니다.",
        "다른 이름을 쓰거나 PUT으로 기존 정의를 바꾸십시오.",
    ),
    e.MetadefProtected: ErrorSpec(
        *_C,
        "네임스페이스 {namespace!r}은(는) 보호되어 있어 정의를 지울 수 없습니다.",
        "먼저 PUT /v2/metadefs/namespaces/{namespace}로 protected를 false로 바꾸십시오.",
    ),
    e.MetadefLimitReached: ErrorSpec(
        *_Q,
        "메타데이터 정의 {kind}은(는) {where} 최대 {limit}개까지 둘 수 있습니다.",
        "필요 없는 정의를 먼저 지우십시오.",
    ),
    e.UploadInterrupted: ErrorSpec(
        408,
        "Request Timeout",
        "업로드가 끝나기 전에 중단되었습니다({reason}). 이미지는 다시 대기 상태입니다.",
        "파일을 다시 보내십시오.",
    ),
    e.PayloadTooLarge: ErrorSpec(
        *_Q,
        "요청 본문이 {limit}바이트보다 큽니다.",
        "본문을 줄이십시오. 이미지의 바이트는 JSON 본문이 아니라 이미지 파일로 업로드합니다.",
    ),
    e.QuotaExceeded: ErrorSpec(
        *_Q, "이 계정의 할당량을 초과했습니다: 한도는 {limit}이고 {usage}을(를) 사용 중입니다.", _QUOTA_NEXT
    ),
    e.ImageCountQuotaExceeded: ErrorSpec(
        *_Q,
        "할당량 image_count_total을 초과했습니다: 이 계정은 이미지를 {limit}개까지 가질 수 있으며 현재 "
        "{usage}개가 있습니다.",
        _QUOTA_NEXT,
    ),
    e.ImageSizeQuotaExceeded: ErrorSpec(
        *_Q,
        "할당량 image_size_total을 초과했습니다: 이 계정은 {limit}바이트까지 저장할 수 있으며 이 요청으로 "
        "{usage}바이트가 됩니다(활성 이미지와 진행 중인 가져오기·업로드).",
        _QUOTA_NEXT,
    ),
    e.UploadingQuotaExceeded: ErrorSpec(
        *_Q,
        "할당량 image_count_uploading을 초과했습니다: 이 계정은 가져오기와 업로드를 동시에 {limit}개까지 "
        "실행할 수 있으며 현재 {usage}개를 실행 중입니다.",
        "하나가 끝나기를 기다리거나 운영자에게 할당량 상향을 요청하십시오.",
    ),
    e.RateLimited: ErrorSpec(
        429, "Too Many Requests", "요청이 너무 많습니다.", "{retry_after}초 후에 다시 시도하십시오."
    ),
    e.Unavailable: ErrorSpec(
        503,
        "Service Unavailable",
        "서비스를 일시적으로 사용할 수 없습니다: {reason}.",
        "잠시 후 다시 시도하십시오. 계속되면 운영자에게 알리십시오.",
    ),
    e.DomainError: ErrorSpec(
        500,
        "Internal Server Error",
        "내부 오류가 발생했습니다.",
        "다시 시도하십시오. 계속 실패하면 운영자에게 요청 ID를 알려 주십시오.",
    ),
}


def spec_for_class(error_class: type[e.DomainError]) -> ErrorSpec:
    for cls in error_class.__mro__:
        spec = TABLE.get(cls)
        if spec is not None:
            return spec
    return TABLE[e.DomainError]


def spec_for(error: e.DomainError) -> ErrorSpec:
    return spec_for_class(type(error))


# The fixed ``reason`` texts of the generic errors, in Korean (a reason built from the request, with
# names or numbers in it, stays as written).
REASONS_PARAM_KO: dict[str, str] = {
    "the audit trail cannot be written": "감사 기록을 쓸 수 없습니다",
    "the database cannot be reached": "데이터베이스에 연결할 수 없습니다",
    "the image store cannot be reached": "이미지 저장소에 연결할 수 없습니다",
    "the upload stopped before it was stored": "업로드가 저장되기 전에 멈췄습니다",
    "the client disconnected": "클라이언트 연결이 끊겼습니다",
    "this signature was already used": "이 서명은 이미 사용되었습니다",
    "the owner of an image cannot be its member": "이미지 소유자는 그 이미지의 멤버가 될 수 없습니다",
    "the body is not valid JSON": "본문이 올바른 JSON이 아닙니다",
    "the body must be a JSON object": "본문은 JSON 객체여야 합니다",
    "query parameters may not contain NUL characters": "쿼리 매개변수에 NUL 문자를 쓸 수 없습니다",
    "status must be pending, accepted or rejected": "status는 pending, accepted, rejected 중 하나여야 합니다",
    "visibility must be one of public, community, shared, private": (
        "visibility는 public, community, shared, private 중 하나여야 합니다"
    ),
}


def localised_detail(error: e.DomainError, language: str) -> str:
    """The error's text in the caller's language: what happened, then the next step."""
    if language == "ko-KR" and type(error).template == error.template:
        spec = spec_for(error)  # a class with its own template has its own row (a test checks)
        params = error.params
        reason = params.get("reason")
        if isinstance(reason, str) and reason in REASONS_PARAM_KO:
            params = {**params, "reason": REASONS_PARAM_KO[reason]}
        ko_hint = spec.ko_hint
        if isinstance(error, e.DiskImageRejected) and error.reason in REASONS_KO:
            ko_hint = REASONS_KO[error.reason][1]  # the next step depends on the refusal's rule
        return e.compose(spec.ko, ko_hint, params)
    return error.message


_KO_QCOW2 = "qcow2 디스크 이미지를 보내십시오('qemu-img convert -O qcow2 IN OUT.qcow2'로 변환할 수 있습니다)."
_KO_FLATTEN = "'qemu-img convert -O qcow2 IN OUT.qcow2'로 하나의 독립된 파일로 만들어 보내십시오."
_KO_SMALLER = "더 작은 이미지를 보내거나 운영자에게 한도를 문의하십시오."
_KO_ONE_VMDK = (
    "디스크를 하나의 monolithicSparse 또는 streamOptimized VMDK나 OVA로 다시 내보내 보내십시오"
    "('qemu-img convert -O vmdk -o subformat=streamOptimized IN OUT.vmdk')."
)
_KO_DAMAGED = "파일이 손상되었거나 완전하지 않습니다. 디스크를 다시 내보내 전체 파일을 보내십시오."

# Import failure codes (scp_images.domain.failures): what happened and the next step, in Korean. The
# stored English text follows in parentheses: it carries the figures (offsets, sizes, names).
REASONS_KO: dict[str, tuple[str, str]] = {
    "not_qcow2": (
        "데이터가 이 서비스가 받는 형식의 디스크 이미지가 아닙니다",
        "받는 형식(qcow2, VMDK, OVA, VHDX, VHD, VDI)의 디스크 이미지를 보내거나 'qemu-img convert -O qcow2 "
        "IN OUT.qcow2'로 변환하십시오. raw 디스크라면 그렇게 밝히십시오(CLI는 '--input-format raw', "
        "SCP 업로드와 가져오기는 input_format=raw, OpenStack API는 disk_format raw).",
    ),
    "truncated": ("파일이 중간에 끝납니다", "파일이 완전하지 않습니다. 전체 파일을 다시 보내십시오."),
    "bad_geometry": ("qcow2 구조가 올바르지 않습니다", _KO_QCOW2),
    "corrupt": (
        "이미지가 손상된 것으로 표시되어 있습니다",
        "'qemu-img check -r all'로 복구하거나 다시 변환해 보내십시오.",
    ),
    "unknown_incompatible_features": ("이 서비스가 모르는 qcow2 기능을 씁니다", _KO_QCOW2),
    "polyglot": ("파일이 qcow2이면서 다른 형식이기도 합니다", _KO_QCOW2),
    "format_mismatch": (
        "데이터가 이미지의 디스크 형식과 맞지 않습니다",
        "파일의 디스크 형식으로 이미지를 만들거나 파일을 변환하십시오.",
    ),
    "encrypted": (
        "이미지가 암호화되어 있습니다",
        "암호화하지 않은 이미지를 보내십시오('qemu-img convert -O qcow2', 암호화 없이).",
    ),
    "backing_file": ("이미지가 백킹 파일을 가리킵니다", _KO_FLATTEN),
    "external_data_file": ("이미지가 외부 데이터 파일을 씁니다", _KO_FLATTEN),
    "too_large": ("이미지가 크기 한도보다 큽니다", _KO_SMALLER),
    "virtual_size_too_large": ("디스크의 가상 크기가 한도보다 큽니다", _KO_SMALLER),
    # formats converted into qcow2, and the converter
    "unknown_format": (
        "데이터가 허용된 형식의 디스크 이미지가 아닙니다",
        "허용된 형식(qcow2, VMDK, OVA, VHDX, VHD, VDI)의 디스크 이미지를 보내십시오. raw 디스크라면 "
        "그렇게 밝히십시오(CLI는 '--input-format raw', SCP 업로드와 가져오기는 input_format=raw, "
        "OpenStack API는 disk_format raw).",
    ),
    "format_not_accepted": (
        "이 서비스는 이 형식을 받지 않습니다",
        "'qemu-img convert -O qcow2 IN OUT.qcow2'로 변환해 보내거나 운영자에게 문의하십시오.",
    ),
    "vmdk_descriptor_only": ("VMDK 데이터가 디스크립터 밖의 다른 파일에 있습니다", _KO_ONE_VMDK),
    "vmdk_create_type": ("이 종류(createType)의 VMDK는 받지 않습니다", _KO_ONE_VMDK),
    "vmdk_extent": ("VMDK 익스텐트가 허용되지 않습니다", _KO_ONE_VMDK),
    "vmdk_parent": (
        "부모 디스크가 필요한 델타(스냅샷) VMDK입니다",
        "스냅샷을 통합하거나 체인을 하나의 파일로 변환해 보내십시오.",
    ),
    "vmdk_protocol": ("VMDK 디스크립터에 프로토콜이나 JSON 파일 이름이 있습니다", _KO_ONE_VMDK),
    "vmdk_header": ("VMDK 헤더가 올바르지 않습니다", _KO_DAMAGED),
    "vmdk_outside_file": ("VMDK 구조가 파일 밖을 가리킵니다", _KO_DAMAGED),
    "vhdx_parent": (
        "부모 디스크가 필요한 차이점 보관용 VHDX입니다",
        "부모 디스크에 병합한 뒤(Hyper-V: 디스크 편집, 병합) 병합된 디스크를 보내십시오.",
    ),
    "vhdx_structure": ("VHDX 구조가 올바르지 않습니다", _KO_DAMAGED),
    "vhd_checksum": ("VHD 푸터의 체크섬이 맞지 않습니다", _KO_DAMAGED),
    "vhd_disk_type": (
        "이 종류의 VHD는 받지 않습니다",
        "고정 또는 동적 VHD를 보내십시오. 차이점 보관용 디스크는 먼저 부모에 병합하십시오.",
    ),
    "vhd_structure": ("VHD 구조가 올바르지 않습니다", _KO_DAMAGED),
    "vdi_image_type": (
        "이 종류의 VDI는 받지 않습니다",
        "일반(normal) 또는 고정(fixed) VDI를 보내십시오. 스냅샷을 먼저 병합하거나 디스크를 복제하십시오.",
    ),
    "vdi_structure": ("VDI 구조가 올바르지 않습니다", _KO_DAMAGED),
    "ova_member": (
        "OVA에 허용되지 않는 항목이 있습니다",
        "OVA를 다시 내보내십시오. 항목은 평범한 이름의 일반 파일이어야 합니다.",
    ),
    "ova_descriptor": (
        "OVA의 OVF 디스크립터가 올바르지 않습니다",
        "OVA를 다시 내보내십시오. DTD와 엔티티가 없는 OVF 디스크립터 하나가 있어야 합니다.",
    ),
    "ova_disks": (
        "OVA에 디스크가 정확히 하나 있지 않습니다",
        "디스크가 하나인 OVA를 보내거나 그 디스크의 VMDK만 업로드하십시오.",
    ),
    "conversion_failed": (
        "디스크를 qcow2로 변환하지 못했습니다",
        "'qemu-img check'로 디스크를 확인한 뒤 다시 보내십시오. 계속 실패하면 운영자에게 이미지 ID를 "
        "알려 주십시오.",
    ),
    "conversion_timeout": (
        "변환이 시간 한도 안에 끝나지 않았습니다",
        "더 작은 디스크를 보내거나 운영자에게 변환 시간 한도를 문의하십시오.",
    ),
    "conversion_output": (
        "변환된 디스크가 검사를 통과하지 못했습니다",
        "운영자에게 이미지 ID를 알려 주십시오.",
    ),
    "no_temp_space": (
        "서버에 지금 디스크를 변환할 공간이 없습니다",
        "나중에 다시 시도하거나 운영자에게 문의하십시오.",
    ),
    "source_rejected": (
        "가져오기 소스를 읽을 수 없습니다",
        "URL과 파일이 있는지 확인하십시오. " + _UPLOAD_INSTEAD,
    ),
    "no_object_storage": (
        "이 서비스에는 오브젝트 스토리지가 설정되어 있지 않습니다",
        "파일을 직접 업로드하십시오('scp-images image create --file' 또는 콘솔의 업로드).",
    ),
    "source_forbidden": (
        "이 계정은 이 소스에서 가져올 수 없습니다",
        "운영자에게 버킷 권한을 요청하거나 파일을 직접 업로드하십시오.",
    ),
    "quota_exceeded": (
        "계정의 할당량을 초과했습니다",
        "이미지를 삭제하거나 운영자에게 할당량 상향을 요청한 뒤 다시 가져오십시오.",
    ),
    "interrupted": (
        "가져오기 또는 업로드가 끝나기 전에 중단되었습니다",
        "다시 시작하십시오: 'scp-images image import ID --url …' 또는 파일을 다시 업로드하십시오.",
    ),
    "not_importable": (
        "가져오는 동안 이미지가 바뀌었습니다",
        "'scp-images image show ID'로 이미지를 확인하십시오.",
    ),
    "refused": ("요청이 거부되었습니다", "요청을 고쳐 다시 가져오십시오."),
    "internal": (
        "내부 오류로 실패했습니다",
        "다시 시도하십시오. 계속 실패하면 운영자에게 이미지 ID를 알려 주십시오.",
    ),
}


def localised_reason(reason: str | None, language: str) -> str | None:
    """A stored import failure reason in the caller's language: its code first (stable, for scripts),
    then what happened and the next step."""
    if reason is None or language != "ko-KR":
        return failures.render(reason)
    code, text = failures.split(reason)
    if code is None:
        return reason
    what, next_step = REASONS_KO[code]
    return f"{code}: {what}({text}). {next_step}"


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
