// The public SCP API, called from the browser with signed requests (same origin as the console).
import { language, t } from "./i18n.js";
import { signedHeaders } from "./signing.js";

export const API_VERSION = "virtualserver 1.3";

export class ApiError extends Error {
  constructor({ status = 0, code = "", title = "", detail = "", requestId = "" }) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.title = title;
    this.detail = detail;
    this.requestId = requestId;
  }
}

export class Cancelled extends Error {}

export function apiUrl(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.append(name, String(value));
  }
  const text = params.toString();
  return `${window.location.origin}${path}${text ? `?${text}` : ""}`;
}

// SCP's envelope ({"errors": [{status, code, title, detail, request_id}]}), or what we can say otherwise.
export function errorFrom(status, bodyText, requestIdHeader) {
  try {
    const first = JSON.parse(bodyText).errors[0];
    return new ApiError({
      status: first.status ?? status,
      code: first.code ?? "",
      title: first.title ?? "",
      detail: first.detail ?? first.message ?? "",
      requestId: first.request_id ?? requestIdHeader ?? "",
    });
  } catch {
    return new ApiError({ status, code: `HTTP ${status}`, detail: t("error.http", { status }), requestId: requestIdHeader ?? "" });
  }
}

async function headersFor(credentials, method, url, extra = {}) {
  return {
    ...(await signedHeaders(method, url, credentials)),
    "Scp-Api-Version": API_VERSION,
    "Accept-Language": language(),
    Accept: "application/json",
    ...extra,
  };
}

export class Api {
  constructor(credentials) {
    this.credentials = credentials;
  }

  async request(method, path, { query, body } = {}) {
    const url = apiUrl(path, query);
    const extra = body === undefined ? {} : { "Content-Type": "application/json" };
    const init = {
      method,
      headers: await headersFor(this.credentials, method, url, extra),
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
    };
    let response;
    try {
      response = await fetch(url, init);
    } catch {
      throw new ApiError({ code: "network", detail: t("error.network") });
    }
    const text = await response.text();
    if (!response.ok) throw errorFrom(response.status, text, response.headers.get("X-Request-Id"));
    return text ? JSON.parse(text) : null;
  }

  get(path, query) {
    return this.request("GET", path, { query });
  }

  // Streams a File from disk with XMLHttpRequest (fetch has no upload progress). The browser reads the
  // file as it sends it, so a large file is never held in page memory.
  upload(path, file, onProgress, query = {}) {
    const xhr = new XMLHttpRequest();
    const url = apiUrl(path, query);
    let cancelled = false;
    const done = (async () => {
      const headers = await headersFor(this.credentials, "PUT", url, { "Content-Type": "application/octet-stream" });
      if (cancelled) throw new Cancelled();
      return new Promise((resolve, reject) => {
        xhr.open("PUT", url);
        for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
        xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded, event.total || file.size));
        xhr.addEventListener("load", () => {
          if (xhr.status >= 200 && xhr.status < 300) resolve();
          else reject(errorFrom(xhr.status, xhr.responseText, xhr.getResponseHeader("X-Request-Id")));
        });
        xhr.addEventListener("abort", () => reject(new Cancelled()));
        xhr.addEventListener("error", () => reject(new ApiError({ code: "network", detail: t("error.network") })));
        xhr.send(file);
      });
    })();
    return {
      done,
      cancel: () => {
        cancelled = true;
        xhr.abort();
      },
    };
  }
}
