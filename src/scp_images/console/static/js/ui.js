// Shared pieces of the page: the error box, notices, status badges and progress bars.
import { Cancelled } from "./api.js";
import { append, byId, h, uid } from "./dom.js";
import { tenantDetail } from "./errors.js";
import { humanBytes, percent } from "./format.js";
import { t } from "./i18n.js";

let skipFocus = true; // the first render, and re-renders the user did not navigate to, keep focus

// A view's frame: the page title, an <h1> that takes focus after navigation (keyboard and screen-reader
// users land on the new content), then the content.
export function page(title, ...content) {
  document.title = `${title} · ${t("app.title")}`;
  const heading = h("h1", { tabindex: "-1" }, title);
  const main = byId("main");
  main.replaceChildren(heading);
  append(main, content);
  if (!skipFocus) heading.focus();
  skipFocus = false;
}

export function keepFocusOnNextRender() {
  skipFocus = true;
}

// Every failure ends here: code, detail and request id, never a silent failure.
export function showError(error) {
  if (error instanceof Cancelled) return;
  const box = byId("error");
  const code = error?.code || (error?.status ? `HTTP ${error.status}` : "");
  const detail = error?.detail ? tenantDetail(error) : t("error.unexpected", { message: error?.message ?? String(error) });
  const rows = [
    code && h("p", {}, h("span", { class: "label" }, `${t("error.code")}: `), h("code", { class: "error-code" }, code)),
    h("p", { class: "error-detail" }, h("span", { class: "label" }, `${t("error.detail")}: `), detail),
    error?.requestId &&
      h("p", {}, h("span", { class: "label" }, `${t("error.request")}: `), h("code", { class: "error-request-id" }, error.requestId)),
  ];
  box.replaceChildren(
    h("h2", {}, t("error.title")),
    ...rows,
    h("button", { type: "button", class: "secondary", onclick: clearError }, t("dismiss")),
  );
  box.hidden = false;
}

export function clearError() {
  const box = byId("error");
  box.hidden = true;
  box.replaceChildren();
}

let pendingNotice = null;

// Navigate, and show `notice` once the new view is there.
export function go(hash, notice = null) {
  pendingNotice = notice;
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

export function takePendingNotice() {
  const text = pendingNotice;
  pendingNotice = null;
  return text;
}

export function notify(text) {
  const box = byId("notice");
  box.replaceChildren(h("p", {}, text));
  box.hidden = false;
}

export function clearNotice() {
  const box = byId("notice");
  box.hidden = true;
  box.replaceChildren();
}

// Run an action, report its failure; resolves to undefined when it failed.
export async function attempt(action) {
  try {
    return await action();
  } catch (error) {
    showError(error);
    return undefined;
  }
}

export function statusBadge(status) {
  const key = `status.${status}`;
  const label = t(key) === key ? status : t(key);
  return h("span", { class: `badge badge-${status}`, "data-status": status }, label);
}

export function visibilityLabel(visibility) {
  const key = `vis.${visibility}`;
  return t(key) === key ? visibility : t(key);
}

// A <progress> with a text twin: bytes read of the total, or only bytes read when the total is unknown.
export function progressBar(name, id = undefined) {
  const bar = h("progress", { max: "100", id, "aria-label": t("progress.label", { name }) });
  const text = h("span", { class: "progress-text" });
  const wrap = h("div", { class: "progress" }, bar, text);
  wrap.update = (read, total) => {
    if (total) {
      const pct = percent(read, total);
      bar.value = pct;
      text.textContent = t("progress.text", { read: humanBytes(read), total: humanBytes(total), percent: pct });
    } else {
      bar.removeAttribute("value");
      text.textContent = t("progress.read", { read: humanBytes(read ?? 0) });
    }
  };
  return wrap;
}

// Modal dialogs. Every open one is listed here so that navigating (Back, Forward, a link) closes it: a
// dialog belongs to the page it was opened on.
const openDialogs = new Set();

export function closeDialogs() {
  for (const dialog of [...openDialogs]) dialog.close();
}

// A <dialog> titled `title` with its own error line (the page's banner sits behind the backdrop). It is
// removed from the page when it closes, however it closes; `onClose` runs then.
export function modal(title, content, onClose = () => {}) {
  const titleId = uid("dialog-title");
  const error = h("div", { class: "error-box dialog-error", role: "alert", hidden: true });
  const dialog = h("dialog", { "aria-labelledby": titleId }, h("h2", { id: titleId }, title), error, content);
  dialog.showError = (failure) => {
    if (failure instanceof Cancelled) return;
    const code = failure?.code || (failure?.status ? `HTTP ${failure.status}` : "");
    error.replaceChildren(
      code ? h("p", {}, h("code", { class: "error-code" }, code)) : null,
      h("p", { class: "error-detail" }, failure?.detail ? tenantDetail(failure) : String(failure?.message ?? failure)),
    );
    error.hidden = false;
  };
  dialog.clearError = () => {
    error.hidden = true;
    error.replaceChildren();
  };
  dialog.addEventListener("close", () => {
    openDialogs.delete(dialog);
    dialog.remove();
    onClose();
  });
  document.body.append(dialog);
  openDialogs.add(dialog);
  dialog.showModal();
  return dialog;
}

export function confirmDialog({ title, body, confirmLabel, danger = true }) {
  return new Promise((resolve) => {
    let answer = false;
    const cancel = h("button", { type: "button", class: "secondary" }, t("cancel"));
    const confirm = h("button", { type: "button", class: danger ? "danger" : "" }, confirmLabel);
    const dialog = modal(title, [body.map((text) => h("p", {}, text)), h("div", { class: "actions" }, cancel, confirm)], () =>
      resolve(answer),
    );
    cancel.addEventListener("click", () => dialog.close());
    confirm.addEventListener("click", () => {
      answer = true;
      dialog.close();
    });
    cancel.focus();
  });
}
