// One image: the overview first (name, status, size, visibility, OS, created), the actions in a toolbar,
// the forms in dialogs, then every field Show Image 1.3 returns, grouped. While the image is queued or
// importing the page follows it until it settles; a killed image says why and offers only Delete.
import { ApiError } from "../api.js";
import { clearFieldErrors, field, h, setFieldError, sleep } from "../dom.js";
import { checkCount, showAtField, tenantReason } from "../errors.js";
import { humanBytes, humanDate } from "../format.js";
import { fieldLabel, t } from "../i18n.js";
import {
  attempt,
  confirmDialog,
  go,
  keepFocusOnNextRender,
  modal,
  notify,
  page,
  progressBar,
  showError,
  statusBadge,
  visibilityLabel,
} from "../ui.js";

const POLL_MS = 1000;
const SETTLED = new Set(["active", "killed"]);
const BYTES = new Set(["size", "virtual_size"]);
const TIMES = new Set(["created_at", "updated_at"]);
// The property groups, in order; a field the API returns that no group names goes under "Properties".
const GROUPS = [
  ["group.general", ["name", "id", "status", "owner", "owner_account_name", "owner_user_name", "created_at", "updated_at", "protected", "os_hidden"]],
  ["group.os", ["os_distro", "scp_os_version", "scp_os_build_version", "scp_image_type", "scp_original_image_type", "scp_gpu_driver", "scp_k8s_version", "root_device_name", "min_disk", "min_ram"]],
  ["group.data", ["size", "virtual_size", "disk_format", "container_format", "checksum", "os_hash_algo", "os_hash_value", "file", "url", "volumes"]],
  ["group.sharing", ["visibility"]],
];

function fieldValue(name, value) {
  if (value === null || value === undefined) return t("none");
  if (name === "status") return statusBadge(value);
  if (name === "visibility") return visibilityLabel(value);
  if (BYTES.has(name)) return `${humanBytes(value)} (${Number(value).toLocaleString()} B)`;
  if (TIMES.has(name)) return h("time", { datetime: value }, humanDate(value));
  if (typeof value === "boolean") return value ? t("yes") : t("no");
  if (typeof value === "object") return h("code", {}, JSON.stringify(value));
  return String(value);
}

function osText(image) {
  const parts = [image.os_distro, image.scp_os_version].filter((part) => part);
  return parts.length ? parts.join(" ") : t("none");
}

function overview(image, owner) {
  const rows = [
    ["status", t("col.status"), h("span", { id: "header-status" }, statusBadge(image.status))],
    ["size", t("col.size"), humanBytes(image.size)],
    ["visibility", t("col.visibility"), visibilityLabel(image.visibility)],
    ["os", t("detail.os"), osText(image)],
    ["created", t("col.created"), h("time", { datetime: image.created_at }, humanDate(image.created_at))],
  ];
  if (!owner) rows.push(["owner", t("col.owner"), image.owner_account_name ?? image.owner]);
  return h(
    "section",
    { "aria-labelledby": "overview-title" },
    h("h2", { id: "overview-title", class: "visually-hidden" }, t("detail.overview")),
    h(
      "dl",
      { class: "overview", id: "overview" },
      rows.map(([key, dt, dd]) => h("div", { class: "overview-item", "data-item": key }, h("dt", {}, dt), h("dd", {}, dd))),
    ),
  );
}

function failure(job) {
  const reason = tenantReason(job?.reason);
  return h(
    "section",
    { class: "panel warning", id: "failure", role: "status" },
    h("h2", {}, t("detail.killed.title")),
    h("p", { id: "failure-reason", class: "reason" }, reason ? t("detail.killed.reason", { reason }) : t("detail.killed.unknown")),
    h("p", {}, t("detail.killed.next")),
  );
}

function properties(image) {
  const named = new Set(GROUPS.flatMap(([, names]) => names));
  const groups = [...GROUPS, ["group.other", Object.keys(image).filter((name) => !named.has(name))]];
  return h(
    "section",
    { "aria-labelledby": "properties-title", id: "properties" },
    h("h2", { id: "properties-title", class: "visually-hidden" }, t("detail.properties")),
    groups.map(([title, names]) => {
      const shown = names.filter((name) => name in image);
      if (!shown.length) return null;
      const id = `${title.replace(".", "-")}-title`;
      return h(
        "section",
        { class: "group", "aria-labelledby": id },
        h("h2", { id }, t(title)),
        h(
          "dl",
          { class: "properties" },
          shown.map((name) => [
            h("dt", { "data-field": name }, fieldLabel(name), " ", h("code", { class: "field-name" }, name)),
            h("dd", { "data-field": name }, fieldValue(name, image[name])),
          ]),
        ),
      );
    }),
  );
}

const PHASES = new Set(["receiving", "inspecting", "converting", "hashing", "storing"]);

// Where the job is after the bytes arrived; a conversion shows its percentage as a bar. A phase this
// console does not know is shown as the server names it (as text, like every tenant-reachable value).
function phaseOf(job) {
  const label = PHASES.has(job.phase) ? t(`phase.${job.phase}`) : String(job.phase);
  const phase = h("span", { id: "import-phase", "data-phase": job.phase }, label);
  if (job.phase !== "converting" || job.status !== "running" || typeof job.percent !== "number") return phase;
  const bar = h("progress", { max: "100", value: String(job.percent), id: "convert-progress", "aria-label": t("phase.converting") });
  return h("div", { class: "progress" }, phase, bar, h("span", { class: "progress-text", id: "convert-percent" }, `${job.percent}%`));
}

// The disk as it was sent: its format, size and, once the conversion computed it, SHA-512 (null before).
function originalOf(original) {
  const shown = [
    h("span", { "data-format": original.disk_format }, String(original.disk_format).toUpperCase()),
    `, ${humanBytes(original.size)}`,
  ];
  if (typeof original.sha512 === "string") {
    shown.push(" · SHA-512 ", h("code", { class: "hash" }, original.sha512));
  }
  return h("span", { id: "import-original" }, ...shown);
}

function importSection(image, job) {
  const rows = [];
  if (job) {
    const progress = progressBar(image.name);
    // A finished job's total is what it read, even when the size was not known while it ran.
    const total = job.status === "succeeded" ? job.bytes_read : job.bytes_total;
    progress.update(job.bytes_read, total);
    rows.push(
      [t("detail.import.status"), h("span", { id: "import-status", "data-status": job.status }, t(`job.${job.status}`))],
      [t("detail.import.url"), job.url ? h("code", {}, job.url) : t("detail.import.upload")],
      [t("detail.import.read"), job.status === "failed" ? humanBytes(job.bytes_read) : progress],
      [t("detail.import.started"), humanDate(job.started_at)],
      [t("detail.import.finished"), humanDate(job.finished_at)],
    );
    if (job.phase) rows.push([t("detail.import.phase"), phaseOf(job)]);
    if (job.original) rows.push([t("detail.import.original"), originalOf(job.original)]);
    if (job.reason) rows.push([t("detail.import.reason"), h("span", { id: "import-reason", class: "reason" }, tenantReason(job.reason))]);
  }
  return h(
    "section",
    { "aria-labelledby": "import-title", id: "import" },
    h("h2", { id: "import-title" }, t("detail.import")),
    job ? h("dl", { class: "properties" }, rows.map(([dt, dd]) => [h("dt", {}, dt), h("dd", {}, dd)])) : h("p", {}, t("detail.no.import")),
  );
}

async function loadJob(api, image) {
  try {
    return await api.get(`/v1/images/${image.id}/import`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

async function download(ctx, image) {
  const link = await ctx.api.request("POST", `/v1/images/${image.id}/download-link`);
  // The link is on this server; open it on the origin this page came from (behind a TLS proxy without
  // SCP_IMAGES_PUBLIC_URLS the server may name itself http://…, which a secure page may not download from).
  const target = new URL(link.url);
  const href = `${location.origin}${target.pathname}${target.search}`;
  // The browser streams the file to disk itself (Content-Disposition: attachment): no bytes pass through
  // this page, and redirects to an object store are followed like any navigation.
  const anchor = h("a", { href, download: "", hidden: true });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  notify(t("detail.download.started", { name: image.name, expires: humanDate(link.expires_at) }));
}

async function remove(ctx, image) {
  const body = [t("delete.body", { name: image.name, id: image.id })];
  if (image.protected) body.push(t("delete.protected"));
  const yes = await confirmDialog({ title: t("delete.title"), body, confirmLabel: t("delete.confirm", { name: image.name }) });
  if (!yes) return;
  const done = await attempt(async () => {
    await ctx.api.request("DELETE", `/v1/images/${image.id}`);
    return true;
  });
  if (done) go("#/images", t("delete.done", { name: image.name }));
}

function numberControl(name, value) {
  return h("input", { name, type: "number", min: "0", step: "1", value: String(value), inputmode: "numeric" });
}

function editDialog(ctx, image) {
  const minDisk = numberControl("min_disk", image.min_disk);
  const minRam = numberControl("min_ram", image.min_ram);
  const controls = { min_disk: minDisk, min_ram: minRam };
  const save = h("button", { type: "submit" }, t("detail.save"));
  const cancel = h("button", { type: "button", class: "secondary" }, t("cancel"));
  const form = h(
    "form",
    { novalidate: true },
    h("div", { class: "row" }, field(t("detail.min_disk"), minDisk), field(t("detail.min_ram"), minRam)),
    h("div", { class: "actions" }, save, cancel),
  );
  const dialog = modal(t("detail.edit.title", { name: image.name }), form);
  cancel.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    dialog.clearError();
    clearFieldErrors(form);
    const wrong = Object.entries(controls).filter(([name, control]) => checkCount(control.value) && setFieldError(control, t(`rule.${name}`)));
    if (wrong.length) return wrong[0][1].focus();
    const body = { min_disk: Number(minDisk.value), min_ram: Number(minRam.value) };
    save.disabled = true;
    try {
      const updated = await ctx.api.request("PUT", `/v1/images/${image.id}`, { body });
      dialog.close();
      rerender(ctx, t("detail.saved", { name: updated.name }));
    } catch (error) {
      if (!showAtField(error, controls, form)) dialog.showError(error);
    } finally {
      save.disabled = false;
    }
  });
  minDisk.focus();
}

async function setProtected(ctx, image, value) {
  const updated = await attempt(() => ctx.api.request("PUT", `/v1/images/${image.id}`, { body: { protected: value } }));
  if (updated) rerender(ctx, t(value ? "detail.protected.done" : "detail.unprotected.done", { name: updated.name }));
}

async function share(ctx, image) {
  const ok = await attempt(async () => (await ctx.api.request("POST", `/v1/images/${image.id}/share`)) ?? true);
  if (ok) rerender(ctx, t("members.shared", { name: image.name }));
}

// Members of a shared image, in a dialog: the list, remove, and add by account id (errors at the field).
function membersDialog(ctx, image) {
  const list = h("div", { id: "members" }, h("p", {}, t("loading")));
  const account = h("input", { name: "member_id", autocomplete: "off", spellcheck: "false" });
  const form = h("form", { class: "inline", novalidate: true }, field(t("members.account"), account), h("div", { class: "actions" }, h("button", { type: "submit" }, t("members.add"))));
  const close = h("button", { type: "button", class: "secondary" }, t("close"));
  const dialog = modal(t("members.dialog", { name: image.name }), [list, form, h("div", { class: "actions" }, close)]);
  dialog.classList.add("wide");
  close.addEventListener("click", () => dialog.close());
  const refresh = async () => {
    const { members } = await ctx.api.get(`/v1/images/${image.id}/members`);
    list.replaceChildren(memberTable(ctx, image, members, dialog, refresh));
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    dialog.clearError();
    clearFieldErrors(form);
    const member = account.value.trim();
    if (!member) return setFieldError(account, t("rule.member_id")) && account.focus();
    try {
      await ctx.api.request("POST", `/v1/images/${image.id}/members`, { body: { member_id: member } });
      account.value = "";
      await refresh();
      notify(t("members.added", { member }));
    } catch (error) {
      if (!showAtField(error, { member_id: account }, form)) dialog.showError(error);
    }
  });
  refresh().catch((error) => dialog.showError(error));
  account.focus();
}

function memberTable(ctx, image, members, dialog, refresh) {
  if (!members.length) return h("p", {}, t("members.empty"));
  const row = (m) => {
    const removeButton = h("button", { type: "button", class: "secondary" }, t("members.remove", { member: m.member_id }));
    removeButton.addEventListener("click", async () => {
      dialog.clearError();
      try {
        await ctx.api.request("DELETE", `/v1/images/${image.id}/members/${m.member_id}`);
        await refresh();
        notify(t("members.removed", { member: m.member_id }));
      } catch (error) {
        dialog.showError(error);
      }
    });
    return h(
      "tr",
      { "data-member-id": m.member_id },
      h("th", { scope: "row" }, h("code", {}, m.member_id)),
      h("td", { "data-label": t("members.col.status") }, statusBadge(m.status)),
      h("td", { "data-label": t("members.col.updated") }, humanDate(m.updated_at)),
      h("td", {}, removeButton),
    );
  };
  const head = ["members.col.member", "members.col.status", "members.col.updated", "col.actions"];
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": t("members.title"), tabindex: "0" },
    h("table", { id: "member-table", class: "cards" }, h("thead", {}, h("tr", {}, head.map((k) => h("th", { scope: "col" }, t(k))))), h("tbody", {}, members.map(row))),
  );
}

// The toolbar: what this caller can do with this image now. A killed image can only be deleted.
function toolbar(ctx, image, owner) {
  const button = (label, onclick, extra = {}) => h("button", { type: "button", onclick, ...extra }, label);
  const killed = image.status === "killed";
  const buttons = [];
  if (owner && !killed) {
    if (image.visibility === "private" && image.status === "active") buttons.push(button(t("detail.share"), () => share(ctx, image)));
    if (image.visibility === "shared") buttons.push(button(t("detail.members"), () => membersDialog(ctx, image), { class: "secondary" }));
    buttons.push(button(t("detail.edit"), () => editDialog(ctx, image), { class: "secondary" }));
    buttons.push(
      button(image.protected ? t("detail.unprotect") : t("detail.protect"), () => setProtected(ctx, image, !image.protected), {
        class: "secondary",
      }),
    );
  }
  if (image.status === "active") buttons.push(button(t("detail.download"), () => download(ctx, image).catch(showError), { class: "secondary" }));
  if (owner) buttons.push(button(t("detail.delete"), () => remove(ctx, image), { class: "danger" }));
  const notes = [];
  if (owner && image.protected) notes.push(h("p", { class: "note", id: "protected-note" }, t("detail.protected.note")));
  if (!owner) notes.push(h("p", { class: "note" }, t("detail.not.owner", { owner: image.owner_account_name ?? image.owner })));
  return [buttons.length ? h("div", { class: "actions toolbar", role: "group", "aria-label": t("detail.actions"), id: "toolbar" }, buttons) : null, notes];
}

function rerender(ctx, notice) {
  keepFocusOnNextRender();
  detailView(ctx)
    .then(() => notice && notify(notice))
    .catch(showError);
}

// Poll until the image is active or killed; then say so and draw the page again.
async function follow(ctx, image, owner) {
  const status = document.getElementById("following");
  while (ctx.live.active) {
    await sleep(POLL_MS);
    if (!ctx.live.active) return;
    const current = await ctx.api.get(`/v1/images/${image.id}`);
    const job = owner ? await loadJob(ctx.api, current) : null;
    if (!ctx.live.active) return;
    document.getElementById("import")?.replaceWith(importSection(current, job));
    document.getElementById("header-status")?.replaceChildren(statusBadge(current.status));
    if (SETTLED.has(current.status)) {
      status?.remove();
      const reason = tenantReason(job?.reason) ?? "";
      const notice =
        current.status === "active" ? t("detail.now.active", { name: current.name }) : t("detail.now.killed", { name: current.name, reason });
      rerender(ctx, notice);
      return;
    }
  }
}

export async function detailView(ctx) {
  const [id] = ctx.params;
  const image = await ctx.api.get(`/v1/images/${id}`);
  const owner = image.owner === ctx.credentials.accountId;
  const job = owner ? await loadJob(ctx.api, image) : null;
  if (!ctx.live.active) return;
  const moving = !SETTLED.has(image.status) && (job !== null || !owner);
  page(
    image.name,
    h("p", { class: "back" }, h("a", { href: "#/images" }, t("detail.back"))),
    overview(image, owner),
    image.status === "killed" ? failure(job) : null,
    moving ? h("p", { id: "following", class: "note", role: "status" }, t("detail.following")) : null,
    toolbar(ctx, image, owner),
    owner && image.status !== "active" ? importSection(image, job) : null,
    properties(image),
    owner && image.status === "active" ? importSection(image, job) : null,
  );
  if (moving) follow(ctx, image, owner).catch(showError);
}
