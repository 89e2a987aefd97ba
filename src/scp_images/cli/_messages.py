"""The CLI's own words (done lines, usage errors, progress labels, client-side errors) in en-US and
ko-KR, keyed by message id: one small catalogue, so a Korean user reads Korean from our code as from
the server. The language is chosen once per run (``--language``, ``SCP_LANGUAGE``, ``language`` in
``~/.scpconf/config.json``; en-US by default) before anything is printed."""

from __future__ import annotations

from typing import Any

# id -> (en-US, ko-KR); both take the same {parameters}.
MESSAGES: dict[str, tuple[str, str]] = {
    "error": ("error:", "오류:"),
    "request_id": ("request id {request_id}", "요청 ID {request_id}"),
    # done lines
    "deleted": ("image {image_id} deleted", "이미지 {image_id}을(를) 삭제했습니다"),
    "import_started": (
        "import of image {image_id} started; follow it with 'scp-images image wait {image_id}'",
        "이미지 {image_id}의 가져오기를 시작했습니다. 'scp-images image wait {image_id}'로 지켜보십시오",
    ),
    "saved": ("saved {path}", "{path}에 저장했습니다"),
    "shared": ("image {image_id} is shared", "이미지 {image_id}을(를) 공유했습니다"),
    "member_removed": (
        "member {member_id} removed from image {image_id}",
        "이미지 {image_id}에서 멤버 {member_id}을(를) 제거했습니다",
    ),
    "more_may_follow": (
        "more may follow: --marker {marker} (or --all)",
        "더 있을 수 있습니다: --marker {marker} (또는 --all)",
    ),
    # naming an image (cli/_resolve.py)
    "ref_names_several": (
        "{count} images are named {ref}: give one of these ids",
        "이름이 {ref}인 이미지가 {count}개 있습니다: 다음 ID 중 하나를 주십시오",
    ),
    "ref_prefix_several": (
        "{count} image ids start with {ref}: give more of the id",
        "{ref}(으)로 시작하는 이미지 ID가 {count}개 있습니다: ID를 더 길게 주십시오",
    ),
    "ref_prefix_short": (" (an id prefix has at least 8 characters)", " (ID 접두사는 8자 이상입니다)"),
    "ref_not_found": (
        "no image has the id, name or id prefix {ref}{short}\n"
        "see the images you can use: scp-images image list",
        "ID, 이름 또는 ID 접두사가 {ref}인 이미지가 없습니다{short}\n"
        "쓸 수 있는 이미지를 보려면: scp-images image list",
    ),
    # progress labels
    "uploading": ("uploading {name}", "{name} 업로드 중"),
    "downloading": ("downloading {image_id}", "{image_id} 내려받는 중"),
    "waiting_for": ("waiting for {status}", "{status} 상태를 기다리는 중"),
    # the phases of an import after its bytes were sent (cli/_progress.py PhaseBar)
    "phase_waiting": ("waiting", "기다리는 중"),
    "phase_receiving": ("receiving", "받는 중"),
    "phase_inspecting": ("inspecting", "검사 중"),
    "phase_converting": ("converting", "qcow2로 변환 중"),
    "phase_hashing": ("hashing", "해시 계산 중"),
    "phase_storing": ("storing", "저장 중"),
    "converted": (
        "{name} was converted from {original} into qcow2",
        "{name}을(를) {original}에서 qcow2로 변환했습니다",
    ),
    # usage errors
    "url_or_file": ("give exactly one of --url and --file", "--url과 --file 중 정확히 하나를 주십시오"),
    "nothing_to_change": (
        "nothing to change: give --min-disk, --min-ram, --protected/--no-protected or --visibility",
        "바꿀 것이 없습니다: --min-disk, --min-ram, --protected/--no-protected 또는 --visibility를 주십시오",
    ),
    "not_a_directory": (
        "{path} is not a directory: give an existing directory, or a file in one",
        "{path}은(는) 디렉터리가 아닙니다: 있는 디렉터리나 그 안의 파일을 주십시오",
    ),
    "give_member_id": (
        "give MEMBER_ID (your account id) or --account-id",
        "MEMBER_ID(자기 계정 ID)나 --account-id를 주십시오",
    ),
    "missing_settings": ("missing {what}", "설정이 없습니다: {what}"),
    "setting_endpoint": (
        "endpoint (--endpoint, SCP_ENDPOINT or endpoint in ~/.scpconf/config.json)",
        "엔드포인트(--endpoint, SCP_ENDPOINT 또는 ~/.scpconf/config.json의 endpoint)",
    ),
    "setting_access_key": (
        "access key (--access-key, SCP_ACCESS_KEY or ~/.scpconf/credentials.json)",
        "액세스 키(--access-key, SCP_ACCESS_KEY 또는 ~/.scpconf/credentials.json)",
    ),
    "setting_secret_key": (
        "secret key (--secret-key, SCP_SECRET_KEY or ~/.scpconf/credentials.json)",
        "시크릿 키(--secret-key, SCP_SECRET_KEY 또는 ~/.scpconf/credentials.json)",
    ),
    "unreadable_settings": (
        "cannot read {path}: {detail} — fix or remove the file",
        "{path}을(를) 읽을 수 없습니다: {detail} — 파일을 고치거나 지우십시오",
    ),
    # create --file that the server refused
    "upload_refused_removed": (
        "image {image_id} was removed: its upload was refused (keep such an image with --keep-failed)",
        "업로드가 거부되어 이미지 {image_id}을(를) 삭제했습니다(남기려면 --keep-failed)",
    ),
    "upload_refused_kept": (
        "image {image_id} was kept: see why with 'scp-images image import-status {image_id}', "
        "remove it with 'scp-images image delete {image_id}'",
        "이미지 {image_id}을(를) 남겼습니다: 'scp-images image import-status {image_id}'로 이유를 보고 "
        "'scp-images image delete {image_id}'로 지울 수 있습니다",
    ),
    "upload_cleanup_failed": (
        "image {image_id} could not be removed ({detail}); "
        "remove it with 'scp-images image delete {image_id}'",
        "이미지 {image_id}을(를) 지우지 못했습니다({detail}). "
        "'scp-images image delete {image_id}'로 지우십시오",
    ),
    # create --file whose conversion the server refused (the image ended killed)
    "conversion_refused_removed": (
        "image {image_id} was removed: its conversion was refused (keep such an image with --keep-failed)",
        "변환이 거부되어 이미지 {image_id}을(를) 삭제했습니다(남기려면 --keep-failed)",
    ),
    # the SDK's own failures
    "killed": (
        "image {image_id} was killed: {reason}",
        "이미지 {image_id}이(가) 실패(killed)했습니다: {reason}",
    ),
    "no_reason": (
        "no reason recorded; see 'scp-images image import-status {image_id}'",
        "기록된 이유가 없습니다. 'scp-images image import-status {image_id}'를 보십시오",
    ),
    "wait_timeout": (
        "image {image_id} is still {status} after {timeout}s (waiting for {wanted}): wait longer with "
        "--timeout, or see 'scp-images image import-status {image_id}'",
        "{timeout}초가 지났지만 이미지 {image_id}은(는) 아직 {status} 상태입니다({wanted} 대기 중): "
        "--timeout으로 더 기다리거나 'scp-images image import-status {image_id}'를 보십시오",
    ),
    "integrity": (
        "{detail}; nothing was saved — download it again, and if it repeats, tell the operator",
        "내려받은 데이터가 이미지의 체크섬과 맞지 않습니다({detail}). 아무것도 저장하지 않았습니다 — "
        "다시 내려받고, 반복되면 운영자에게 알리십시오",
    ),
    # reaching the server
    "conn_refused": (
        "cannot reach {endpoint}: connection refused — is the server running? start it with "
        "scp-images serve, or set SCP_ENDPOINT",
        "{endpoint}에 연결할 수 없습니다: 연결이 거부되었습니다 — 서버가 실행 중입니까? "
        "scp-images serve로 시작하거나 SCP_ENDPOINT를 설정하십시오",
    ),
    "tls_to_plain": (
        "cannot reach {endpoint}: the server speaks plain http, not https — use {fixed}",
        "{endpoint}에 연결할 수 없습니다: 서버는 https가 아니라 일반 http로 응답합니다 — "
        "{fixed}을(를) 쓰십시오",
    ),
    "plain_to_tls": (
        "cannot reach {endpoint}: the server speaks https (TLS), not plain http — use {fixed}",
        "{endpoint}에 연결할 수 없습니다: 서버는 일반 http가 아니라 https(TLS)로 응답합니다 — "
        "{fixed}을(를) 쓰십시오",
    ),
    "tls_failed": (
        "cannot reach {endpoint}: TLS failed ({detail}) — check the endpoint's scheme and the "
        "server's certificate",
        "{endpoint}에 연결할 수 없습니다: TLS가 실패했습니다({detail}) — 엔드포인트의 스킴과 서버 인증서를 "
        "확인하십시오",
    ),
    "unknown_host": (
        "cannot reach {endpoint}: the host name {host} is not known — check SCP_ENDPOINT (or --endpoint)",
        "{endpoint}에 연결할 수 없습니다: 호스트 이름 {host}을(를) 찾을 수 없습니다 — SCP_ENDPOINT(또는 "
        "--endpoint)를 확인하십시오",
    ),
    "timed_out": (
        "no answer from {endpoint} in time — check that the server is up and reachable, and try again",
        "{endpoint}이(가) 제시간에 응답하지 않습니다 — 서버가 실행 중이고 닿을 수 있는지 확인한 뒤 다시 "
        "시도하십시오",
    ),
    "transport": (
        "cannot reach {endpoint}: {detail} — check SCP_ENDPOINT (or --endpoint) and try again",
        "{endpoint}에 연결할 수 없습니다: {detail} — SCP_ENDPOINT(또는 --endpoint)를 확인하고 다시 "
        "시도하십시오",
    ),
    "endpoint_path": (
        "the endpoint {endpoint} ends in {path}, which scp-images adds itself — drop it: use {fixed}",
        "엔드포인트 {endpoint}이(가) {path}(으)로 끝납니다. 이 경로는 scp-images가 직접 붙입니다 — "
        "빼고 {fixed}을(를) 쓰십시오",
    ),
    "not_found_path": (
        "{endpoint} has no scp-images API at this path — check SCP_ENDPOINT (the server's base URL, "
        "e.g. http://127.0.0.1:8080)",
        "{endpoint}의 이 경로에는 scp-images API가 없습니다 — SCP_ENDPOINT(서버의 기본 URL, 예: "
        "http://127.0.0.1:8080)를 확인하십시오",
    ),
}

_LANGUAGES = ("en-US", "ko-KR")
_current = ["en-US"]


def use_language(language: str) -> None:
    _current[0] = language if language in _LANGUAGES else "en-US"


def language() -> str:
    return _current[0]


def t(message_id: str, **params: Any) -> str:
    """The message in the run's language, its parameters filled in."""
    en, ko = MESSAGES[message_id]
    return (ko if _current[0] == "ko-KR" else en).format(**params)
